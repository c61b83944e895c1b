"""Training speed of this checkout against another revision of minigpt, in one run.

    git worktree add /tmp/minigpt-old <rev>
    python bench/compare_revisions.py /tmp/minigpt-old [--rounds 5] [--steps 10]

For each configuration of bench/bench_train.py it times full training steps (forward +
backward + AdamW, float32) of the old tree and of this one, alternating in fresh processes
round after round so that both see the same machine noise, and prints the best tokens/s of
each and their ratio (this / old). A refactor that claims "no slower" should show ratios
of about 1.0 or more here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CONFIGS = [(65, 128, 4, 4, 64, 12), (512, 128, 4, 4, 128, 16), (1000, 256, 4, 4, 128, 8)]

# Runs in a fresh interpreter with the tree to measure first on sys.path.
TIMER = """
import json, sys, time
import numpy as np
import minigpt
from minigpt import GPT, AdamW, GPTConfig
V, C, L, H, T, B = json.loads(sys.argv[1]); steps = int(sys.argv[2])
model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=H, d_model=C), seed=0)
opt = AdamW(model.params, lr=1e-3)
rng = np.random.default_rng(0)
x = rng.integers(0, V, size=(B, T)); y = rng.integers(0, V, size=(B, T))
def step():
    model.forward(x, y); opt.step(model.backward())
step()  # warm-up
times = []
for _ in range(steps):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
print(json.dumps({"file": minigpt.__file__, "tokens_per_sec": B * T / min(times)}))
"""


def measure(tree: Path, config, steps: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", TIMER, json.dumps(config), str(steps)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert Path(result["file"]).resolve().is_relative_to(tree.resolve()), result["file"]
    return result["tokens_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="a checkout of the revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for config in CONFIGS:
        best = {"old": 0.0, "new": 0.0}
        for _ in range(args.rounds):
            best["old"] = max(best["old"], measure(args.old, config, args.steps))
            best["new"] = max(best["new"], measure(HERE, config, args.steps))
        rows.append({"config": config, "old_tokens_per_sec": best["old"], "new_tokens_per_sec": best["new"],
                     "ratio": best["new"] / best["old"]})
        print(f"{str(config):28s} old {best['old']:9,.0f} tok/s   new {best['new']:9,.0f} tok/s   "
              f"new/old {best['new'] / best['old']:.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"old": str(args.old), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
