"""Train the base model on the Python corpus and measure it: loss, and accuracy per family.

    python scripts/train_base_model.py --out runs/base [--minutes 25]

The corpus is ``minigpt.sessions.python_corpus`` (interpreter sessions mixed with the pydoc
text; validation = held-out documents and expressions of the validation split), read as
characters (``--tokenizer char``) or as a 512-token BPE that never merges digits. The model is a 4-layer GPT of width 128 (about 0.8M parameters: for a
25-minute budget on 2 cores, the size that the compute-optimal rule of about 20 tokens per
parameter suggests). Training runs ``--max-iters`` steps (by default as many as fit in
``--minutes`` at the speed measured on the first steps), evaluating every
``--eval-interval`` steps and keeping the checkpoint with the best validation loss.
Then the best checkpoint completes held-out *test* expressions (greedy), and the report
(``OUT/report.json``) holds the loss curve, the best and final validation loss, the
accuracy of every operation family with its standard error, tokens per second and times.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from minigpt import GPT, BPETokenizer, CharTokenizer, GPTConfig, TrainConfig, load_checkpoint, sessions, train
from minigpt.fileio import atomic_write
from minigpt.model import training_flops
from minigpt.tokenizer import DIGITS_PATTERN
from minigpt.train import evaluate_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=25.0, help="training budget, to size --max-iters")
    parser.add_argument("--max-iters", type=int, default=None, help="steps (default: what fits in --minutes)")
    parser.add_argument("--tokenizer", choices=["char", "bpe-digits"], default="char",
                        help="characters, or a 512-token BPE whose pre-tokenizer splits digits")
    parser.add_argument("--docs-fraction", type=float, default=0.05)
    parser.add_argument("--block-size", type=int, default=None,
                        help="context in tokens (default: about 128 characters)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--per-family", type=int, default=100, help="test expressions per family")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    train_text, val_text = sessions.python_corpus(docs_fraction=args.docs_fraction, seed=args.seed)
    if args.tokenizer == "char":
        tokenizer = CharTokenizer.train(train_text + val_text)
    else:  # merges learned on the first million characters, digits never merged
        tokenizer = BPETokenizer.train(train_text[:1_000_000], 512, pattern=DIGITS_PATTERN)
    train_ids = np.array(tokenizer.encode(train_text), dtype=np.int64)
    val_ids = np.array(tokenizer.encode(val_text), dtype=np.int64)
    chars_per_token = len(val_text) / len(val_ids)
    if args.block_size is None:
        args.block_size = int(round(128 / chars_per_token))
    corpus_seconds = time.perf_counter() - start
    print(f"corpus: {len(train_text):,} training and {len(val_text):,} validation characters, "
          f"{chars_per_token:.2f} characters a token ({corpus_seconds:.0f} s)", flush=True)

    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, d_model=args.d_model)
    model = GPT(config, seed=args.seed)
    max_iters = args.max_iters
    if max_iters is None:  # time a few steps, then size the run to the budget
        probe = GPT(config, seed=args.seed)
        t0 = time.perf_counter()
        train(probe, train_ids, val_ids, TrainConfig(max_iters=10, batch_size=args.batch_size, eval_interval=10,
                                                     eval_iters=1), progress=False)
        per_step = (time.perf_counter() - t0) / 10
        max_iters = int(args.minutes * 60 / per_step / 1.05)  # 5% for the evaluations
        print(f"{per_step:.3f} s a step: {max_iters} steps fit in {args.minutes} minutes", flush=True)
    train_config = TrainConfig(max_iters=max_iters, batch_size=args.batch_size, learning_rate=args.learning_rate,
                               min_lr=args.learning_rate / 10, warmup_iters=200, eval_interval=args.eval_interval,
                               eval_iters=20, seed=args.seed)

    ckpt, best_ckpt = args.out / "ckpt.npz", args.out / "best.npz"
    t0 = time.perf_counter()
    history = train(model, train_ids, val_ids, train_config, checkpoint_path=ckpt, best_path=best_ckpt,
                    tokenizer=tokenizer, progress=False)
    train_seconds = time.perf_counter() - t0
    i = int(np.argmin(history["val_loss"]))
    best = {"val_loss": history["val_loss"][i], "step": history["eval_step"][i]}

    best_model = load_checkpoint(best_ckpt)["model"]
    val_loss = evaluate_loss(best_model, val_ids)
    test = sessions.held_out_expressions(args.per_family, split="test", seed=args.seed)
    t0 = time.perf_counter()
    completions = sessions.complete(best_model, tokenizer, test, max_new_tokens=64)
    score = sessions.score_completions(test, completions)
    tokens = max_iters * args.batch_size * args.block_size
    report = {
        "command": "python scripts/train_base_model.py " + " ".join(f"--{k.replace('_', '-')} {v}"
                                                                    for k, v in vars(args).items()),
        "model": config.to_dict(), "parameters": model.num_parameters(), "train_config": train_config.to_dict(),
        "tokenizer": args.tokenizer, "docs_fraction": args.docs_fraction, "chars_per_token": chars_per_token,
        "train_chars": len(train_text), "val_chars": len(val_text), "tokens_seen": tokens,
        "val_nats_per_char": val_loss / chars_per_token,
        "passes": tokens / len(train_ids), "train_flops": max_iters * training_flops(config, args.batch_size,
                                                                                      args.block_size),
        "train_seconds": train_seconds, "tokens_per_second": tokens / train_seconds,
        "history": history, "best_step": best["step"], "best_val_loss_estimate": best["val_loss"],
        "final_val_loss_estimate": history["val_loss"][-1], "val_loss": val_loss,
        "test_accuracy": score, "completion_seconds": time.perf_counter() - t0,
        "samples": [{"family": e.family, "expr": e.expr, "answer": e.answer, "completion": c}
                    for e, c in list(zip(test, completions))[:: max(1, len(test) // 40)]],
        "total_seconds": time.perf_counter() - start,
    }
    text = json.dumps(report, indent=1)
    atomic_write(args.out / "report.json", lambda f: f.write(text.encode("utf-8")))
    print(f"{train_seconds / 60:.1f} min, {report['tokens_per_second']:,.0f} tokens/s, "
          f"{report['passes']:.2f} passes; val loss {val_loss:.4f} ({val_loss / chars_per_token:.4f} per character) (best estimate {best['val_loss']:.4f} at step "
          f"{best['step']}, final {history['val_loss'][-1]:.4f})")
    for family, s in score["families"].items():
        print(f"  {family:9s} {s['accuracy']:.2f} +- {s['se']:.2f}")
    print(f"  mean over families {score['overall']['accuracy']:.3f} +- {score['overall']['se']:.3f}")


if __name__ == "__main__":
    main()
