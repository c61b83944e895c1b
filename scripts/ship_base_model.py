"""Ship a base-model run as the reference base model (``minigpt/reference/base/``).

    python scripts/ship_base_model.py runs/base [--dest minigpt/reference/base]

``RUN`` is the output of ``scripts/train_base_model.py``. Its best checkpoint (the one
with the lowest validation loss) is rounded to float16 and stored without the optimizer
(about 1.7 MB), so the shipped file is exactly the model that is measured here: its
validation loss over the whole validation text and its greedy accuracy on the held-out
*test* expressions are recomputed from the rounded weights and written, with the run's
settings, loss curve and timings, to ``DEST/report.json``. Chapters 7 and 8 quote that
report, and ``minigpt.reference.load_stage("pretrain")`` loads the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from minigpt import load_checkpoint, save_checkpoint, sessions
from minigpt.fileio import atomic_write
from minigpt.train import evaluate_loss

# The command that made the shipped run (train_base_model.py sizes --max-iters from a
# time budget unless it is given; this fixes it, so the command repeats the run).
COMMAND = ("OPENBLAS_NUM_THREADS=1 python scripts/train_base_model.py --out runs/base "
           "--tokenizer bpe-digits --max-iters 3657")
# Every this many steps of the per-step curves is kept (the eval points are all kept).
KEEP_EVERY = 10
# What chapter 1 quotes of the tokenizer comparison (bench/results/), shipped so that the
# chapter also runs where the repository's bench/ folder is not (Colab, a pip install).
FULL_RUN_FIELDS = ("model", "tokenizer", "chars_per_token", "train_seconds", "train_flops", "tokens_seen",
                   "val_nats_per_char", "test_accuracy")


def tokenizer_choice(results: Path) -> dict:
    """The full base-model runs of each tokenizer (their summary) and the short three-way bench."""
    full = {}
    for name in ("char", "bpe_digits"):
        run = json.loads((results / f"base_model_{name}.json").read_text(encoding="utf-8"))
        full[name] = {key: run[key] for key in FULL_RUN_FIELDS}
    short = json.loads((results / "tokenizer_choice.json").read_text(encoding="utf-8"))
    return {"full_runs": full, "short_runs": short,
            "made_by": {"full_runs": "scripts/train_base_model.py --tokenizer {char,bpe-digits}",
                        "short_runs": "bench/tokenizer_choice.py"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output directory of scripts/train_base_model.py")
    parser.add_argument("--dest", type=Path, default=Path("minigpt/reference/base"))
    parser.add_argument("--bench-results", type=Path, default=Path("bench/results"),
                        help="where the tokenizer comparison's results are")
    args = parser.parse_args()
    run = json.loads((args.run / "report.json").read_text(encoding="utf-8"))
    checkpoint = load_checkpoint(args.run / "best.npz")
    model, tokenizer = checkpoint["model"], checkpoint["tokenizer"]
    for p in model.params.values():  # the shipped weights are float16: measure those
        p[...] = p.astype(np.float16).astype(p.dtype)

    seed = run["train_config"]["seed"]
    _, val_text = sessions.python_corpus(docs_fraction=run["docs_fraction"], seed=seed)
    val_ids = np.array(tokenizer.encode(val_text), dtype=np.int64)
    val_loss = evaluate_loss(model, val_ids)
    test = sessions.held_out_expressions(100, split="test", seed=seed)
    completions = sessions.complete(model, tokenizer, test, max_new_tokens=64)
    accuracy = sessions.score_completions(test, completions)

    history = run["history"]
    kept = slice(None, None, KEEP_EVERY)
    report = {
        "command": COMMAND,
        "model": run["model"], "parameters": run["parameters"], "train_config": run["train_config"],
        "tokenizer": run["tokenizer"], "docs_fraction": run["docs_fraction"],
        "train_chars": run["train_chars"], "val_chars": run["val_chars"],
        "chars_per_token": run["chars_per_token"], "val_tokens": len(val_ids),
        "tokens_seen": run["tokens_seen"], "passes": run["passes"], "train_flops": run["train_flops"],
        "train_seconds": run["train_seconds"], "tokens_per_second": run["tokens_per_second"],
        "best_step": run["best_step"],
        "history": {
            "step": history["step"][kept], "train_loss": history["train_loss"][kept], "lr": history["lr"][kept],
            "eval_step": history["eval_step"], "eval_train_loss": history["eval_train_loss"],
            "val_loss": history["val_loss"],
        },
        # measured here on the float16 weights:
        "val_loss": val_loss, "val_nats_per_char": val_loss / run["chars_per_token"],
        "test_per_family": 100, "test_accuracy": accuracy,
        "samples": [{"family": e.family, "expr": e.expr, "answer": e.answer, "completion": c}
                    for e, c in list(zip(test, completions))[:: max(1, len(test) // 40)]],
        "tokenizer_choice": tokenizer_choice(args.bench_results),
    }
    args.dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.dest / "model.npz", model, tokenizer, storage_dtype=np.float16, stage="pretrain",
                    step=checkpoint.get("step"))
    text = json.dumps(report, indent=1)
    atomic_write(args.dest / "report.json", lambda f: f.write(text.encode("utf-8")))
    overall = accuracy["overall"]
    print(f"shipped to {args.dest}: val loss {val_loss:.4f}, test accuracy {overall['accuracy']:.3f} "
          f"+- {overall['se']:.3f}; families below 50%: "
          f"{[f for f, s in accuracy['families'].items() if s['accuracy'] < 0.5]}")


if __name__ == "__main__":
    main()
