"""Generation speed: minigpt with and without its KV cache, and PyTorch with a KV cache.

    python bench/bench_generate.py [--new-tokens 256] [--repeats 3]

Greedy decoding, batch 1, a 16-token prompt, on the (vocab 1000, d_model 256, 4 layers,
4 heads) model with a 512-position context (3.5M parameters), so that prompt + 256 new
tokens fit without sliding the window.  Prints tokens/s and ratios measured in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from common import machine_summary
from minigpt import GPT, GPTConfig


def best_time(fn, repeats):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    cfg = GPTConfig(vocab_size=1000, block_size=512, n_layer=4, n_head=4, d_model=256)
    model = GPT(cfg, seed=0)
    prompt = np.random.default_rng(0).integers(0, 1000, (1, 16))
    n = args.new_tokens
    print(machine_summary())
    print(f"model: {model.num_parameters():,} parameters; greedy, batch 1, {n} new tokens after 16\n")

    cached_out = model.generate(prompt, n, temperature=0)
    uncached_out = model.generate(prompt, n, temperature=0, use_cache=False)
    assert np.array_equal(cached_out, uncached_out), "cache changed the output"

    results = {
        "minigpt, KV cache": best_time(lambda: model.generate(prompt, n, temperature=0), args.repeats),
        "minigpt, no cache": best_time(lambda: model.generate(prompt, n, temperature=0, use_cache=False),
                                       max(1, args.repeats - 2)),
    }
    try:
        import torch

        from torch_reference import TorchGPT
        torch.set_num_threads(os.cpu_count())
        ref = TorchGPT(cfg)
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        ref.eval()
        t_prompt = torch.from_numpy(prompt)
        torch_out = ref.generate_greedy(t_prompt, n).numpy()
        agree = int((torch_out == cached_out).all(axis=0).sum()) - 16
        print(f"PyTorch agrees with minigpt on {agree} of {n} greedy tokens")
        results["PyTorch, KV cache"] = best_time(lambda: ref.generate_greedy(t_prompt, n), args.repeats)
    except ImportError:
        print("PyTorch not installed (pip install torch==2.13.0): minigpt only")

    for name, seconds in results.items():
        print(f"{name:20s} {n / seconds:10,.0f} tokens/s  ({seconds * 1000 / n:.2f} ms/token)")
    base = results["minigpt, KV cache"]
    print(f"\nKV cache speed-up over recomputation: {results['minigpt, no cache'] / base:.1f}x")
    if "PyTorch, KV cache" in results:
        print(f"minigpt / PyTorch (both cached): {results['PyTorch, KV cache'] / base:.2f}x")
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"machine": machine_summary(), "new_tokens": n,
                       "tokens_per_sec": {k: n / v for k, v in results.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
