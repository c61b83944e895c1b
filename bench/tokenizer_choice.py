"""Which tokenizer for the Python corpus? Characters against BPE, at equal training compute.

    python bench/tokenizer_choice.py [--steps 400] [--out bench/results/tokenizer_choice.json]

Three tokenizers of the chapter-7 corpus (``minigpt.sessions.python_corpus()``):
  * ``char``         one token per character;
  * ``bpe``          byte-level BPE, 512 tokens, GPT-2's pre-tokenizer (numbers kept whole,
                     so BPE merges digits unevenly: "157" -> "15" "7", but "21" -> "2" "1");
  * ``bpe-digits``   the same with every digit its own pre-token (``DIGITS_PATTERN``), as
                     several open models do.
The same GPT (d_model 128, 4 layers, 4 heads) trains on each for the same number of steps of
32 windows of about 128 characters (128 character tokens, 80 BPE tokens), so each sees
about the same text and the compute differs only by the head's size (reported as FLOPs).
Compared: validation loss in nats per *character* (the only unit the tokenizers share) and
greedy accuracy on held-out test expressions, per operation family. Nothing here is timed:
the numbers are the same on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from minigpt import GPT, BPETokenizer, CharTokenizer, GPTConfig, TrainConfig, sessions, train
from minigpt.model import training_flops
from minigpt.tokenizer import DEFAULT_PATTERN, DIGITS_PATTERN
from minigpt.train import evaluate_loss

WINDOW_CHARS = 128
BATCH = 32


def build_tokenizers(train_text: str) -> dict:
    sample = train_text[:1_000_000]  # BPE merges learned on the first million characters
    return {
        "char": CharTokenizer.train(train_text + "\n"),
        "bpe": BPETokenizer.train(sample, 512, special_tokens=(), pattern=DEFAULT_PATTERN),
        "bpe-digits": BPETokenizer.train(sample, 512, special_tokens=(), pattern=DIGITS_PATTERN),
    }


def run(name, tokenizer, train_text, val_text, test, steps, seed) -> dict:
    train_ids = np.array(tokenizer.encode(train_text), dtype=np.int64)
    val_ids = np.array(tokenizer.encode(val_text), dtype=np.int64)
    chars_per_token = len(val_text) / len(val_ids)
    block = int(round(WINDOW_CHARS / chars_per_token))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block, n_layer=4, n_head=4, d_model=128)
    model = GPT(config, seed=seed)
    cfg = TrainConfig(max_iters=steps, batch_size=BATCH, learning_rate=2e-3, min_lr=2e-4, warmup_iters=50,
                      eval_interval=steps, eval_iters=5, seed=seed)
    start = time.perf_counter()
    train(model, train_ids, val_ids, cfg, progress=False)
    seconds = time.perf_counter() - start
    nats_per_token = evaluate_loss(model, val_ids)
    completions = sessions.complete(model, tokenizer, test, max_new_tokens=int(48 / chars_per_token) + 4)
    score = sessions.score_completions(test, completions)
    return {
        "tokenizer": name,
        "vocab_size": tokenizer.vocab_size,
        "chars_per_token": chars_per_token,
        "block_size": block,
        "train_tokens": steps * BATCH * block,
        "train_chars": round(steps * BATCH * block * chars_per_token),
        "train_flops": steps * training_flops(config, BATCH, block),
        "val_nats_per_token": nats_per_token,
        "val_nats_per_char": nats_per_token / chars_per_token,
        "accuracy": score["overall"]["accuracy"],
        "accuracy_se": score["overall"]["se"],
        "families": {f: s["accuracy"] for f, s in score["families"].items()},
        "seconds_busy_machine": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--per-family", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/tokenizer_choice.json"))
    args = parser.parse_args()
    train_text, val_text = sessions.python_corpus(seed=args.seed)
    test = sessions.held_out_expressions(args.per_family, split="test", seed=args.seed)
    results = []
    for name, tokenizer in build_tokenizers(train_text).items():
        result = run(name, tokenizer, train_text, val_text, test, args.steps, args.seed)
        results.append(result)
        print(f"{name:11s} {result['chars_per_token']:.2f} chars/token, {result['val_nats_per_char']:.3f} nats/char, "
              f"accuracy {result['accuracy']:.3f} +- {result['accuracy_se']:.3f}, "
              f"{result['train_flops'] / 1e12:.2f} TFLOP", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": args.steps, "per_family": args.per_family, "runs": results}, indent=1))
    print("families:", " ".join(f"{f[:5]:>6s}" for f in results[0]["families"]))
    for r in results:
        print(f"{r['tokenizer']:11s}", " ".join(f"{a:6.2f}" for a in r["families"].values()))


if __name__ == "__main__":
    main()
