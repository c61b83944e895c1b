"""Command line: ``python -m minigpt train ...`` and ``python -m minigpt sample ...``.

Every failure a user can cause (a bad option, a missing corpus, a corrupt checkpoint)
ends with one line on stderr saying what is wrong and a non-zero exit, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (usage is in --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m minigpt", description="A GPT in NumPy: train it, sample from it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a GPT on a corpus and write a checkpoint",
                       description="Train a GPT on a corpus and write OUT/ckpt.npz (+ OUT/ckpt.json, "
                                   "OUT/history.json). The defaults train a 0.87M-parameter model "
                                   "on the embedded Python-docs corpus in about two minutes on 2 cores.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = t.add_argument_group("data")
    d.add_argument("--corpus", default="pydoc",
                   help='"pydoc" (embedded, no network), "tinyshakespeare" (downloaded once, '
                        'or set MINIGPT_TINYSHAKESPEARE to a local copy), or a path to a UTF-8 text file')
    d.add_argument("--tokenizer", choices=["char", "bpe"], default="bpe", help="character-level or byte-level BPE")
    d.add_argument("--vocab-size", type=_positive_int, default=512, help="BPE vocabulary size (ignored for char)")
    d.add_argument("--val-fraction", type=float, default=0.1, help="share of the text (its end) held out")
    m = t.add_argument_group("model")
    m.add_argument("--block-size", type=_positive_int, default=64, help="context length in tokens")
    m.add_argument("--n-layer", type=_positive_int, default=4)
    m.add_argument("--n-head", type=_positive_int, default=4)
    m.add_argument("--d-model", type=_positive_int, default=128)
    o = t.add_argument_group("optimisation")
    o.add_argument("--max-iters", type=_positive_int, default=500)
    o.add_argument("--batch-size", type=_positive_int, default=12)
    o.add_argument("--learning-rate", type=float, default=1e-3)
    o.add_argument("--min-lr", type=float, default=1e-4)
    o.add_argument("--warmup-iters", type=int, default=50)
    o.add_argument("--weight-decay", type=float, default=0.1)
    o.add_argument("--beta2", type=float, default=0.99)
    o.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm (0: off)")
    o.add_argument("--eval-interval", type=_positive_int, default=100)
    o.add_argument("--eval-iters", type=_positive_int, default=20)
    o.add_argument("--seed", type=int, default=1337, help="model initialisation, batches and sampling")
    t.add_argument("--out", type=Path, default=Path("runs/minigpt"), help="output folder")
    t.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.npz")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a checkpoint written by `train`.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--checkpoint", type=Path, required=True, help="path to a ckpt.npz")
    s.add_argument("--prompt", default="\n", help="text to continue")
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, default=0.8, help="0 for greedy decoding")
    s.add_argument("--top-k", type=_positive_int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--num-samples", type=_positive_int, default=1)
    s.add_argument("--seed", type=int, default=0)
    pl = sub.add_parser("pipeline", help="run every stage: pre-training, SFT, reward model, PPO, DPO, evaluation",
                        description="Run the whole course: corpus -> tokenizer -> pre-training -> SFT -> reward "
                                    "model -> PPO -> DPO -> evaluation. Writes OUT/checkpoints/*.npz, "
                                    "OUT/report.json, OUT/samples.json and OUT/plots/*.png.",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    pl.add_argument("--out", type=Path, required=True, help="output folder")
    pl.add_argument("--quick", action="store_true", help="a reduced run of a few minutes (what the tests use)")
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def cmd_pipeline(args) -> int:
    from .pipeline import Pipeline, PipelineConfig

    config = PipelineConfig.quick() if args.quick else PipelineConfig()
    config.seed = args.seed
    Pipeline(args.out, config, progress=not args.no_progress).run()
    return 0


def cmd_train(args) -> int:
    from . import (GPT, BPETokenizer, CharTokenizer, GPTConfig, TrainConfig, load_checkpoint, load_text,
                   train, train_val_split)
    from .corpora import corpus_info
    from .train import evaluate_loss

    out = args.out
    ckpt_path = out / "ckpt.npz"
    text = load_text(args.corpus)
    info = corpus_info(text)
    print(f"corpus {args.corpus}: {info['chars']:,} characters, sha256 {info['sha256'][:12]}")

    config = TrainConfig(
        max_iters=args.max_iters, batch_size=args.batch_size, learning_rate=args.learning_rate,
        min_lr=args.min_lr, warmup_iters=args.warmup_iters, weight_decay=args.weight_decay,
        beta2=args.beta2, grad_clip=args.grad_clip, eval_interval=args.eval_interval,
        eval_iters=args.eval_iters, seed=args.seed,
    )
    optimizer, start_step, history = None, 0, None
    if args.resume:
        ck = load_checkpoint(ckpt_path)
        model, tokenizer = ck["model"], ck["tokenizer"]
        optimizer, start_step, history = ck["optimizer"], ck.get("step", 0), ck.get("history")
        print(f"resuming from {ckpt_path} at step {start_step}")
    else:
        t0 = time.perf_counter()
        if args.tokenizer == "char":
            tokenizer = CharTokenizer.train(text)
        else:
            tokenizer = BPETokenizer.train(text, args.vocab_size)
        print(f"{args.tokenizer} tokenizer: {tokenizer.vocab_size} tokens ({time.perf_counter() - t0:.1f} s)")
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, args.val_fraction)
    print(f"{len(ids):,} tokens ({info['bytes'] / len(ids):.2f} bytes/token): "
          f"{len(train_ids):,} train, {len(val_ids):,} validation")
    if not args.resume:
        gpt_config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size,
                               n_layer=args.n_layer, n_head=args.n_head, d_model=args.d_model)
        model = GPT(gpt_config, seed=args.seed)
    print(f"model: {model.num_parameters():,} parameters, {model.config}")

    history = train(model, train_ids, val_ids, config, optimizer=optimizer, start_step=start_step,
                    history=history, checkpoint_path=ckpt_path, tokenizer=tokenizer,
                    progress=not args.no_progress)
    val_loss = evaluate_loss(model, val_ids)
    (out / "history.json").write_text(json.dumps(history))
    print(f"validation loss over the whole split: {val_loss:.4f} (perplexity {np.exp(val_loss):.1f}); "
          f"checkpoint: {ckpt_path}")
    prompt = np.array([tokenizer.encode(text[:1])], dtype=np.int64)
    sample = model.generate(prompt, 120, temperature=0.8, seed=args.seed)
    print("sample:\n" + tokenizer.decode(sample[0]))
    return 0


def cmd_sample(args) -> int:
    from . import load_checkpoint

    ck = load_checkpoint(args.checkpoint)
    model, tokenizer = ck["model"], ck["tokenizer"]
    if tokenizer is None:
        raise ValueError(f"{args.checkpoint} holds no tokenizer, so text prompts cannot be encoded")
    if args.temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.max_new_tokens < 0:
        raise ValueError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
    ids = tokenizer.encode(args.prompt)
    if len(ids) == 0:
        raise ValueError("the prompt encodes to no tokens; give at least one character")
    prompt = np.array([ids[-model.config.block_size:]] * args.num_samples, dtype=np.int64)
    out = model.generate(prompt, args.max_new_tokens, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    for i, row in enumerate(out):
        if args.num_samples > 1:
            print(f"--- sample {i + 1}")
        print(tokenizer.decode(row))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "pipeline": cmd_pipeline}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("minigpt: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, FloatingPointError, TypeError) as exc:
        print(f"minigpt {args.command}: error: {exc}", file=sys.stderr)
        return 1
