"""nanoGPT's CPU Shakespeare run, reproduced with minigpt, timed against PyTorch.

    MINIGPT_TINYSHAKESPEARE=/path/to/input.txt python bench/shakespeare.py [--only minigpt|torch]

Settings are those nanoGPT's README gives for a CPU run of its character-level
Shakespeare config: block 64, batch 12, 4 layers, 4 heads, width 128, no dropout, 2000
iterations, learning rate 1e-3 with 100 warmup steps decaying to 1e-4 at step 2000,
beta2 0.99, weight decay 0.1, gradient clipping 1.0.  nanoGPT reports a validation loss
of about 1.88 for it.

Both implementations train the same architecture on the same batches (drawn by
minigpt's sampler from the same seeds) with the same optimizer settings and the same
periodic evaluation (every 250 steps, 20 batches each of train and val), and both are
scored the same way at the end: mean loss over the WHOLE validation split in
non-overlapping 64-character windows.  Wall time covers the training loop and its
periodic evaluations, not the final scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from common import machine_summary
from minigpt import GPT, CharTokenizer, GPTConfig, TrainConfig, load_text, train, train_val_split
from minigpt.data import get_batch
from minigpt.train import evaluate_loss

CONFIG = TrainConfig(max_iters=2000, batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
                     lr_decay_iters=2000, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
                     eval_interval=250, eval_iters=20, seed=1337)


def run_minigpt(cfg, train_ids, val_ids):
    model = GPT(cfg, seed=0)
    t = time.perf_counter()
    train(model, train_ids, val_ids, CONFIG, progress=False)
    seconds = time.perf_counter() - t
    return seconds, evaluate_loss(model, val_ids, block_size=64, batch_size=64)


def run_torch(cfg, train_ids, val_ids):
    import torch

    from torch_reference import TorchGPT, decay_groups
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = TorchGPT(cfg)
    opt = torch.optim.AdamW(decay_groups(model, CONFIG.weight_decay), lr=CONFIG.learning_rate,
                            betas=(CONFIG.beta1, CONFIG.beta2))

    @torch.no_grad()
    def estimate(ids):
        rng = np.random.default_rng([CONFIG.seed, 2**31 - 1])
        losses = []
        for _ in range(CONFIG.eval_iters):
            x, y = get_batch(ids, CONFIG.batch_size, 64, rng)
            losses.append(model(torch.from_numpy(x), torch.from_numpy(y))[1].item())
        return float(np.mean(losses))

    t = time.perf_counter()
    for step in range(CONFIG.max_iters + 1):
        if step % CONFIG.eval_interval == 0 or step == CONFIG.max_iters:
            estimate(train_ids), estimate(val_ids)
        if step == CONFIG.max_iters:
            break
        for group in opt.param_groups:
            group["lr"] = CONFIG.lr_at(step)
        x, y = get_batch(train_ids, CONFIG.batch_size, 64, np.random.default_rng([CONFIG.seed, step]))
        _, loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CONFIG.grad_clip)
        opt.step()
    seconds = time.perf_counter() - t
    with torch.no_grad():
        n = (len(val_ids) - 1) // 64
        x = torch.from_numpy(val_ids[: n * 64].reshape(n, 64))
        y = torch.from_numpy(val_ids[1: n * 64 + 1].reshape(n, 64))
        total = sum(model(x[i:i + 64], y[i:i + 64])[1].item() * y[i:i + 64].numel() for i in range(0, n, 64))
    return seconds, total / (n * 64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", default="tinyshakespeare", help="corpus name or path (default: tinyshakespeare)")
    parser.add_argument("--only", choices=["minigpt", "torch"], default=None)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    text = load_text(args.text)
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, 0.1)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=4, n_head=4, d_model=128)
    print(machine_summary())
    print(f"{len(text):,} characters, vocab {tok.vocab_size}, {len(train_ids):,} train / {len(val_ids):,} val; "
          f"{GPT(cfg).num_parameters():,} parameters\n", flush=True)

    results = {}
    runners = {"minigpt": run_minigpt, "torch": run_torch}
    for name, run in runners.items():
        if args.only and name != args.only:
            continue
        if name == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                print("PyTorch not installed (pip install torch==2.13.0): skipping its run")
                continue
        seconds, val_loss = run(cfg, train_ids, val_ids)
        results[name] = {"seconds": seconds, "val_loss": val_loss}
        print(f"{name:8s} {seconds:7.1f} s   val loss (whole split) {val_loss:.4f}", flush=True)
    if len(results) == 2:
        print(f"\nwall time minigpt / PyTorch: {results['minigpt']['seconds'] / results['torch']['seconds']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_summary(), **results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
