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
    """FLOPs of one training step: see ``minigpt.model.training_flops``."""
    from minigpt.model import GPTConfig, training_flops
    cfg = GPTConfig(vocab_size=vocab_size, block_size=seq_len, n_layer=n_layer, n_head=1, d_model=d_model)
    return training_flops(cfg, batch, seq_len)


def machine_summary() -> str:
    try:
        import threadpoolctl
        blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, {i['num_threads']} threads)"
                for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        blas = ["(install threadpoolctl to see the BLAS)"]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
            f"BLAS: {'; '.join(blas)}")
