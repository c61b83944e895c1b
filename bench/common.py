"""Helpers shared by the benchmarks: machine peak, FLOP counts, timing."""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def matmul_peak_gflops(n=1024, repeats=20, dtype=np.float32) -> float:
    """This machine's float32 matrix-multiply throughput (best of several timings)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32).astype(dtype)
    b = rng.random((n, n), dtype=np.float32).astype(dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_step_flops(vocab_size, d_model, n_layer, seq_len, batch) -> float:
    """Floating-point operations of one training step (forward + backward).

    Matrix multiplies only (they are >95% of the work): 2 FLOPs per multiply-add in the
    forward pass and twice that in the backward pass (gradients of inputs and weights).
    Per token and layer the forward pass does qkv 6C^2, output projection 2C^2, MLP 16C^2,
    attention scores and mixing 4TC (the full T x T product, as computed); plus the LM
    head's 2CV per token.
    """
    C, T, L, V = d_model, seq_len, n_layer, vocab_size
    forward_per_token = L * (24 * C * C + 4 * T * C) + 2 * C * V
    return 3 * forward_per_token * T * batch


def machine_summary() -> str:
    try:
        import threadpoolctl
        blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, {i['num_threads']} threads)"
                for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        blas = ["(install threadpoolctl to see the BLAS)"]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
            f"BLAS: {'; '.join(blas)}")
