"""Benchmark minigpt's byte-level BPE against Hugging Face ``tokenizers``.

    python bench/bench_bpe.py                       # the "pydoc" corpus
    python bench/bench_bpe.py --text data/tinyshakespeare.txt --vocab-size 1024

Both tokenizers are trained on the same text to the same vocabulary size,
then encode that same text. The table shows training time, encoding time and
compression (UTF-8 bytes per token: higher means fewer, longer tokens).
HF is measured twice: fed the text as one string (the same input minigpt
gets) and fed it in pieces of 200 lines (its usual, multi-threaded use).

Hugging Face ``tokenizers`` is written in Rust and is *not* a minigpt
dependency; install it just for this script (``pip install tokenizers``). If it
is missing, only minigpt is measured.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from minigpt.tokenizer import SPECIAL_TOKENS, BPETokenizer

DEFAULT_TEXT_FALLBACK = Path("/work/shared/data/tinyshakespeare.txt")


def load_benchmark_text(path: str | None) -> tuple[str, str]:
    """Return ``(text, description)``: the file at ``path``, else the pydoc corpus."""
    if path is not None:
        return Path(path).read_text(encoding="utf-8"), str(path)
    try:
        from minigpt.corpora import load_text
    except ImportError:
        print(f"note: minigpt.data is not available; using {DEFAULT_TEXT_FALLBACK}")
        return DEFAULT_TEXT_FALLBACK.read_text(encoding="utf-8"), str(DEFAULT_TEXT_FALLBACK)
    return load_text("pydoc"), 'minigpt.load_text("pydoc")'


def timed(fn):
    """Run ``fn()`` once; return ``(result, seconds)``."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_minigpt(text: str, vocab_size: int) -> dict:
    tok, train_s = timed(lambda: BPETokenizer.train(text, vocab_size, special_tokens=SPECIAL_TOKENS))
    # A freshly trained tokenizer has an empty chunk cache, so this measures
    # a cold encode, the same as a first call in a notebook.
    ids, encode_s = timed(lambda: tok.encode(text))
    assert tok.decode(ids) == text, "minigpt round trip failed"
    return {
        "vocab": tok.vocab_size,
        "merges": tok.n_merges,
        "train_s": train_s,
        "encode_s": encode_s,
        "n_tokens": len(ids),
    }


def bench_huggingface(text: str, vocab_size: int, batched: bool) -> dict:
    """Train and encode with Hugging Face ``tokenizers`` (imported by the caller's check)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # GPT-2 style byte-level pre-tokenisation, like minigpt's. add_prefix_space
    # is off because minigpt does not add a space before the text.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # Matching vocabulary sizes: HF's `vocab_size` counts everything in the
    # vocabulary -- the special tokens, the initial alphabet and the merges.
    # Passing the full 256-symbol byte alphabet as `initial_alphabet` makes
    # that alphabet exactly minigpt's 256 byte tokens (without it HF would only
    # include bytes that occur in the text and learn more merges instead).
    # So both end with 256 bytes + the same 4 special tokens + the same number
    # of merges; main() checks this.
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if batched:
        # How HF is normally used: many pieces (here 200 lines each), which it
        # processes in parallel on all CPU cores. Pre-tokenisation restarts at
        # each piece, so the token count can differ very slightly.
        lines = text.splitlines(keepends=True)
        pieces = ["".join(lines[i : i + 200]) for i in range(0, len(lines), 200)]
        _, train_s = timed(lambda: tok.train_from_iterator(pieces, trainer=trainer))
        encodings, encode_s = timed(lambda: tok.encode_batch(pieces))
        n_tokens = sum(len(e.ids) for e in encodings)
    else:
        # The whole text as one sequence: exactly the chunks minigpt sees.
        _, train_s = timed(lambda: tok.train_from_iterator([text], trainer=trainer))
        encoding, encode_s = timed(lambda: tok.encode(text))
        n_tokens = len(encoding.ids)
    n_merges = tok.get_vocab_size() - 256 - len(SPECIAL_TOKENS)
    return {
        "vocab": tok.get_vocab_size(),
        "merges": n_merges,
        "train_s": train_s,
        "encode_s": encode_s,
        "n_tokens": n_tokens,
    }


def best_of(repeats: int, run) -> dict:
    """Call ``run()`` ``repeats`` times; keep the fastest train and encode times.

    Timings on a shared machine are noisy; the minimum is the least disturbed.
    """
    results = [run() for _ in range(repeats)]
    best = dict(results[0])
    best["train_s"] = min(r["train_s"] for r in results)
    best["encode_s"] = min(r["encode_s"] for r in results)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="UTF-8 text file (default: the pydoc corpus from minigpt.data)")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="runs per tokenizer; the fastest is reported")
    args = parser.parse_args(argv)

    text, source = load_benchmark_text(args.text)
    n_bytes = len(text.encode("utf-8"))
    print(f"text: {source}  ({len(text):,} characters, {n_bytes / 1e6:.2f} MB UTF-8)")
    print(f"vocab_size: {args.vocab_size} = 256 bytes + {len(SPECIAL_TOKENS)} special tokens + merges")
    print(f"times: fastest of {args.repeats} runs\n")

    results = {"minigpt": best_of(args.repeats, lambda: bench_minigpt(text, args.vocab_size))}
    try:
        import tokenizers  # noqa: F401  (only checking that it is installed)
    except ImportError:
        print(
            "note: Hugging Face `tokenizers` is not installed (pip install tokenizers); measuring minigpt alone\n"
        )
    else:
        results["HF (one string)"] = best_of(
            args.repeats, lambda: bench_huggingface(text, args.vocab_size, batched=False)
        )
        results["HF (batched)"] = best_of(
            args.repeats, lambda: bench_huggingface(text, args.vocab_size, batched=True)
        )
        for name, r in results.items():
            if r["vocab"] != results["minigpt"]["vocab"]:
                print(
                    f"warning: vocabulary sizes differ: minigpt {results['minigpt']['vocab']}, {name} {r['vocab']}"
                )

    header = f"{'':17}{'vocab':>7}{'merges':>8}{'train (s)':>11}{'encode (s)':>12}{'tokens':>10}{'bytes/token':>13}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:17}{r['vocab']:>7}{r['merges']:>8}{r['train_s']:>11.3f}{r['encode_s']:>12.3f}"
            f"{r['n_tokens']:>10,}{n_bytes / r['n_tokens']:>13.3f}"
        )

    if len(results) == 1:
        return
    print()
    mg = results["minigpt"]
    for name, hf in results.items():
        if name == "minigpt":
            continue
        print(
            f"minigpt / {name}: train time x{mg['train_s'] / hf['train_s']:.2f}, "
            f"encode time x{mg['encode_s'] / hf['encode_s']:.2f}, "
            f"bytes/token x{hf['n_tokens'] / mg['n_tokens']:.3f}"
        )
    print(f"\n(CPU cores available: {os.cpu_count()}; HF uses all of them, minigpt one.)")


if __name__ == "__main__":
    main()
