"""Part II's hot loops in this checkout against another revision of minigpt, in one run.

    git worktree add /tmp/minigpt-old <rev>
    python bench/compare_part2.py /tmp/minigpt-old [--rounds 3] [--json bench/results/part2.json]

Three workloads of the reference run, each from the shipped seed-0 SFT model on one core:

* ``rollout``: 256 replies sampled at temperature 1 (a GRPO iteration's rollout: 32
  questions x 8 replies, up to 40 tokens, stopping at ``<|end|>``);
* ``grpo``: three GRPO iterations with the verifier (the run's settings);
* ``dpo``: ``stage_dpo`` on the pairs of 60 questions, both learning rates.

Each is timed in a fresh interpreter, the old tree and this one alternating round after
round so that both see the same machine noise; the best time of each is kept. Each process
also prints a digest of what it produced (the replies' tokens, the trained weights): a change
that claims "faster, same numbers" must show the same digest for both trees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
WORKLOADS = ("rollout", "grpo", "dpo")

# Runs in a fresh interpreter with the tree to measure first on sys.path.
TIMER = """
import hashlib, json, sys, time
from dataclasses import replace
import numpy as np
import minigpt
from minigpt import alignment, reference
from minigpt.sft import answer_prompts, prompt_ids

workload = sys.argv[1]
config = reference.alignment_config()
shipped = reference.load_stage("sft", seed=0)
tokenizer, sft = shipped["tokenizer"], shipped["model"]
data = alignment.task_data(config)
digest = hashlib.sha256()

def weights(model):
    for name in sorted(model.params):
        digest.update(np.ascontiguousarray(model.params[name]).tobytes())

t0 = time.perf_counter()
if workload == "rollout":
    prompts = [prompt_ids(tokenizer, e.question) for e in data["train"][:32] for _ in range(8)]
    replies = answer_prompts(sft, prompts, tokenizer.special_tokens["<|end|>"], 40, np.random.default_rng(0))
    for reply in replies:
        digest.update(np.asarray(reply, dtype=np.int64).tobytes())
elif workload == "grpo":
    small = replace(config, grpo=replace(config.grpo, iterations=3), curve_questions=15)
    policy, _ = alignment.stage_grpo(sft, tokenizer, data, small)
    weights(policy)
elif workload == "dpo":
    small = replace(config, preference_questions=60, preference_dev_questions=15)
    groups, _, _ = alignment.stage_preferences(sft, tokenizer, data, small)
    t0 = time.perf_counter()       # the pairs are made by sampling: time DPO alone
    model, _ = alignment.stage_dpo(sft, tokenizer, groups, data, small)
    weights(model)
seconds = time.perf_counter() - t0
print(json.dumps({"file": minigpt.__file__, "seconds": seconds, "digest": digest.hexdigest()}))
"""


def measure(tree: Path, workload: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", TIMER, workload], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(tree.resolve()), result["file"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="a checkout of the revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for workload in args.workloads:
        best, digests = {"old": float("inf"), "new": float("inf")}, {"old": set(), "new": set()}
        for _ in range(args.rounds):
            for name, tree in (("old", args.old), ("new", HERE)):
                result = measure(tree, workload)
                best[name] = min(best[name], result["seconds"])
                digests[name].add(result["digest"])
        same = digests["old"] == digests["new"] and len(digests["new"]) == 1
        rows.append({"workload": workload, "old_seconds": best["old"], "new_seconds": best["new"],
                     "speedup": best["old"] / best["new"], "same_numbers": same})
        print(f"{workload:8s} old {best['old']:7.2f} s   new {best['new']:7.2f} s   "
              f"old/new {best['old'] / best['new']:.3f}   same numbers: {same}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"old": str(args.old), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
