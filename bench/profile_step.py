"""Where does a training step's time go?  Times every layer function of minigpt.layers,
the LM head, and AdamW, over several steps, and prints a table.

    python bench/profile_step.py [--config 512,128,4,4,128,16] [--steps 20]

It wraps each function with a timer (a few microseconds of overhead per call); the
"other" row is what is left of the step's wall time: Python glue, residual additions,
batch sampling, gradient clipping.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

from minigpt import GPT, AdamW, GPTConfig
from minigpt import layers as L
from minigpt import model as model_module
from minigpt.data import get_batch
from minigpt.optim import clip_grad_norm

WRAPPED = ["embedding_forward", "embedding_backward", "linear_forward", "linear_backward",
           "layernorm_forward", "layernorm_backward", "gelu_forward", "gelu_backward",
           "attention_forward", "attention_backward", "cross_entropy_forward", "cross_entropy_backward"]


def profile(config_tuple, steps=20, warmup=3):
    vocab, d, layers, heads, seq_len, batch = config_tuple
    cfg = GPTConfig(vocab_size=vocab, block_size=seq_len, n_layer=layers, n_head=heads, d_model=d)
    model = GPT(cfg, seed=0)
    opt = AdamW(model.params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    data = np.random.default_rng(1).integers(0, vocab, 100_000)
    rng = np.random.default_rng(0)
    totals = defaultdict(float)
    originals = {name: getattr(L, name) for name in WRAPPED}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[name] += time.perf_counter() - t
            return out
        return wrapper

    def step():
        x, y = get_batch(data, batch, seq_len, rng)
        model.forward(x, y)
        grads = model.backward()
        clip_grad_norm(grads, 1.0)
        t = time.perf_counter()
        opt.step(grads)
        totals["AdamW"] += time.perf_counter() - t

    for _ in range(warmup):
        step()
    totals.clear()
    for name, fn in originals.items():  # model.py calls them as L.<name>, so patch the module
        setattr(L, name, timed(name, fn))
    try:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    finally:
        for name, fn in originals.items():
            setattr(L, name, fn)
    flops = model_module.training_flops(cfg, batch, seq_len)
    return {k: v / steps for k, v in totals.items()}, wall / steps, flops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="512,128,4,4,128,16", help="vocab,d_model,layers,heads,seq_len,batch")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    config = tuple(int(v) for v in args.config.split(","))
    per_fn, step_time, flops = profile(config, args.steps)
    print(f"config {config}: {step_time * 1000:.1f} ms per step, {flops / 1e9:.2f} GFLOP per step")
    accounted = sum(per_fn.values())
    rows = sorted(per_fn.items(), key=lambda kv: -kv[1]) + [("other (glue, residuals, head, clipping)",
                                                             step_time - accounted)]
    for name, seconds in rows:
        print(f"  {name:42s} {seconds * 1000:7.2f} ms  {seconds / step_time:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
