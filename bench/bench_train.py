"""Training throughput: minigpt against PyTorch eager on the same model, same machine.

    python bench/bench_train.py [--steps 20] [--rounds 3]

For each configuration (vocab, d_model, layers, heads, seq_len, batch) it times full
training steps (forward + backward + AdamW, float32), alternating minigpt and PyTorch in
rounds so both see the same machine noise, and prints tokens/s, their ratio, and model
FLOP utilisation (MFU) against this machine's measured float32 matmul throughput.
PyTorch runs with as many threads as NumPy's BLAS (the machine's cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from common import machine_summary, matmul_peak_gflops, train_step_flops
from minigpt import GPT, AdamW, GPTConfig
from minigpt.data import get_batch
from minigpt.optim import clip_grad_norm

CONFIGS = [  # (vocab, d_model, layers, heads, seq_len, batch)
    (65, 128, 4, 4, 64, 12),
    (512, 128, 4, 4, 128, 16),
    (1000, 256, 4, 4, 128, 8),
]


def minigpt_stepper(cfg, batch, seq_len, data):
    model = GPT(cfg, seed=0)
    opt = AdamW(model.params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)

    def step():
        x, y = get_batch(data, batch, seq_len, rng)
        model.forward(x, y)
        grads = model.backward()
        clip_grad_norm(grads, 1.0)
        opt.step(grads)
    return step


def torch_stepper(cfg, batch, seq_len, data):
    import torch

    from torch_reference import TorchGPT, decay_groups
    torch.manual_seed(0)
    model = TorchGPT(cfg)
    opt = torch.optim.AdamW(decay_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)

    def step():
        x, y = get_batch(data, batch, seq_len, rng)
        _, loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def time_steps(step, n):
    t = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t) / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best round counts")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    have_torch = False
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(os.cpu_count())
            have_torch = True
        except ImportError:
            print("PyTorch not installed (pip install torch==2.13.0): timing minigpt alone")
    print(machine_summary())
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (1024^3, best of 20): {peak:.1f} GFLOP/s\n")
    header = f"{'vocab,d,L,H,T,B':>24} {'minigpt tok/s':>14} {'MFU':>6}"
    if have_torch:
        header += f" {'torch tok/s':>12} {'MFU':>6} {'minigpt/torch':>14}"
    print(header)
    rows = []
    for vocab, d, layers, heads, seq_len, batch in CONFIGS:
        cfg = GPTConfig(vocab_size=vocab, block_size=seq_len, n_layer=layers, n_head=heads, d_model=d)
        data = np.random.default_rng(1).integers(0, vocab, 200_000)
        steppers = {"minigpt": minigpt_stepper(cfg, batch, seq_len, data)}
        if have_torch:
            steppers["torch"] = torch_stepper(cfg, batch, seq_len, data)
        best = {name: float("inf") for name in steppers}
        for name, step in steppers.items():
            time_steps(step, 3)  # warm up: allocations, thread pools
        for _ in range(args.rounds):
            for name, step in steppers.items():
                best[name] = min(best[name], time_steps(step, args.steps))
        flops = train_step_flops(vocab, d, layers, seq_len, batch)
        tokens = batch * seq_len
        row = f"{str((vocab, d, layers, heads, seq_len, batch)):>24} {tokens / best['minigpt']:14,.0f} " \
              f"{flops / best['minigpt'] / 1e9 / peak:6.1%}"
        if have_torch:
            row += f" {tokens / best['torch']:12,.0f} {flops / best['torch'] / 1e9 / peak:6.1%} " \
                   f"{best['torch'] / best['minigpt']:13.2f}x"
        print(row, flush=True)
        rows.append({"config": [vocab, d, layers, heads, seq_len, batch], "flops_per_step": flops,
                     **{f"{name}_tokens_per_sec": tokens / t for name, t in best.items()},
                     **{f"{name}_mfu": flops / t / 1e9 / peak for name, t in best.items()}})
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"machine": machine_summary(), "matmul_peak_gflops": peak, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
