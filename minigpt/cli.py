"""Command line: ``python -m minigpt train ...``, ``sample ...``, and ``pipeline ...`` (Part II's run).

Every failure a user can cause (a bad option, a missing corpus, a corrupt or foreign
checkpoint, an existing run) ends with one line on stderr, ``... error: <what is wrong
and what to do>``, and exit status 2 (argparse's convention), not a traceback.

``train`` never replaces a finished checkpoint unless asked: ``--resume`` continues it,
``--overwrite`` starts again in its place.  A resumed run takes its settings from the
checkpoint; only the options given on the command line change them.  That is why the
settings' options have no argparse default (``default=SUPPRESS``: an option that was not
given is absent from the parsed arguments) and their defaults live in ``DEFAULTS``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from .checks import arg_type, check_float, check_int
from .train import SETTINGS, TrainConfig, check_history

# The settings of `train` and their values for a new run, in three groups:
DATA_DEFAULTS = {"corpus": "pydoc", "tokenizer": "bpe", "vocab_size": 512, "val_fraction": 0.1,
                 "docs_fraction": 0.25}
MODEL_DEFAULTS = {"block_size": 64, "n_layer": 4, "n_head": 4, "d_model": 128}
# TrainConfig's own fields and defaults (one home: the dataclass); block_size is a model
# option above. SETTINGS in minigpt.train says what each accepts.
TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.name not in MODEL_DEFAULTS}
DEFAULTS = {**DATA_DEFAULTS, **MODEL_DEFAULTS, **TRAIN_DEFAULTS}
# What the other settings accept (a resumed run checks the values saved in its checkpoint too).
CHECKS = {"vocab_size": (check_int, dict(minimum=1)), "val_fraction": (check_float, dict(above=0, below=1)),
          "docs_fraction": (check_float, dict(above=0, maximum=1)),
          **{name: (check_int, dict(minimum=1)) for name in MODEL_DEFAULTS}}
NAMED_CORPORA = ("pydoc", "tinyshakespeare", "python")
TRAIN_HELP = {"grad_clip": "max global gradient norm (0: off)",
              "lr_decay_iters": "last step of the cosine decay (default: max_iters)",
              "seed": "model initialisation, batches and sampling"}

MAX_NEW_TOKENS = 1_000_000        # per sample
MAX_SAMPLE_TOKENS = 10_000_000    # over all samples of one `sample` command


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (usage is in --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _option(name):
    return "--" + name.replace("_", "-")


def _setting(group, name, help="", **kwargs):
    """An option of a `train` setting: absent from the parsed arguments unless given."""
    check, bounds = SETTINGS[name] if name in SETTINGS else CHECKS.get(name, (None, None))
    if check is not None:
        kwargs["type"] = arg_type(check, **bounds)
    default = DEFAULTS[name]
    if default is None:  # an optional setting: its help says what None means
        text = help
    else:
        text = f"{help} (default: {default})" if help else f"default: {default}"
    group.add_argument(_option(name), default=argparse.SUPPRESS, help=text, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m minigpt", description="A GPT in NumPy: train it, sample from it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a GPT on a corpus and write a checkpoint",
                       description="Train a GPT on a corpus and write OUT/ckpt.npz (+ OUT/ckpt.json, "
                                   "OUT/history.json). The model's defaults are nanoGPT's small CPU "
                                   "model (0.87M parameters with a 512-token BPE); the optimisation "
                                   "defaults are minigpt.TrainConfig's. "
                                   "With --resume, every setting not given on the command line is the "
                                   "one saved in the checkpoint.")
    d = t.add_argument_group("data")
    _setting(d, "corpus", '"pydoc" (embedded, no network), "python" (interpreter sessions mixed with the '
                          'pydoc text, minigpt.sessions.python_corpus), "tinyshakespeare" (downloaded once, '
                          'or set MINIGPT_TINYSHAKESPEARE to a local copy), or a path to a UTF-8 text file')
    _setting(d, "tokenizer", "character-level or byte-level BPE", choices=["char", "bpe"])
    _setting(d, "vocab_size", "BPE vocabulary size (ignored for char)")
    _setting(d, "val_fraction", "share held out: the end of the text, or for \"python\" a random share "
                                "of the documents (and expressions of the validation split)")
    _setting(d, "docs_fraction", 'for "python": share of the training characters that are documentation')
    m = t.add_argument_group("model")
    _setting(m, "block_size", "context length in tokens")
    for name in ("n_layer", "n_head", "d_model"):
        _setting(m, name)
    o = t.add_argument_group("optimisation")
    for name in TRAIN_DEFAULTS:  # every TrainConfig field, in its order
        _setting(o, name, TRAIN_HELP.get(name, ""))
    t.add_argument("--out", type=Path, default=Path("runs/minigpt"), help="output folder (default: runs/minigpt)")
    t.add_argument("--resume", action="store_true", help="continue the run in OUT/ckpt.npz, with its saved settings")
    t.add_argument("--overwrite", action="store_true", help="replace the checkpoint in OUT with a new run")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a checkpoint written by `train`.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--checkpoint", type=Path, required=True, help="path to a ckpt.npz")
    s.add_argument("--prompt", default="\n", help="text to continue")
    s.add_argument("--max-new-tokens", type=arg_type(check_int, minimum=0, maximum=MAX_NEW_TOKENS), default=200,
                   help=f"tokens to generate after the prompt (at most {MAX_NEW_TOKENS:,})")
    s.add_argument("--temperature", type=arg_type(check_float, minimum=0), default=0.8, help="0 for greedy decoding")
    s.add_argument("--top-k", type=arg_type(check_int, minimum=1), default=None, help="keep the k most likely tokens")
    s.add_argument("--top-p", type=arg_type(check_float, above=0, maximum=1), default=None,
                   help="keep the most likely tokens whose probabilities add up to p")
    s.add_argument("--num-samples", type=arg_type(check_int, minimum=1), default=1, help="samples to draw")
    s.add_argument("--seed", type=arg_type(check_int, minimum=0), default=0, help="seed of the sampling")
    al = sub.add_parser("pipeline", help="Part II on the Python assistant: SFT, reward models, best-of-n, PPO, "
                        "DPO, GRPO, rejection sampling",
                        description="From the base model (the shipped one, or --base CHECKPOINT): SFT -> "
                                    "preference data -> reward models -> best-of-n -> PPO -> DPO -> GRPO (verifier "
                                    "and reward model) -> rejection-sampling fine-tuning -> the test table. "
                                    "Writes OUT/report.json, "
                                    "OUT/samples.json and OUT/checkpoints/*.npz as each stage finishes (with "
                                    "several seeds, in OUT/seed_<s>/). The shipped reference run is "
                                    "`python -m minigpt pipeline --out runs/reference` (two seeds, two cores).",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    al.add_argument("--out", type=Path, required=True, help="output folder")
    al.add_argument("--base", type=Path, default=None, help="base model checkpoint (default: the shipped one)")
    al.add_argument("--quick", action="store_true", help="every stage at toy sizes (a minute or two)")
    al.add_argument("--seeds", type=arg_type(check_int, minimum=0), nargs="+", default=[0, 1],
                    help="training seeds (the same questions for each); with two or more, OUT/seed_<s>/ holds each "
                         "run and OUT/report.json compares them")
    al.add_argument("--workers", type=arg_type(check_int, minimum=1), default=2,
                    help="seeds run at the same time, one process (one core) each")
    al.add_argument("--overwrite", action="store_true", help="replace an earlier run in OUT")
    return parser


def cmd_pipeline(args) -> int:
    from dataclasses import replace

    from .alignment import AlignmentConfig, run_alignment, run_seeds
    from .checkpoint import load_checkpoint
    from .reference import load_stage

    base = load_checkpoint(args.base) if args.base else load_stage("pretrain")
    if base["tokenizer"] is None:
        raise ValueError(f"{args.base} has no tokenizer; the base model must be saved with its tokenizer")
    config = AlignmentConfig.quick() if args.quick else AlignmentConfig()
    if len(args.seeds) == 1:
        report = run_alignment(base, args.out, replace(config, seed=args.seeds[0]), overwrite=args.overwrite)
    else:
        report = run_seeds(args.out, config, tuple(args.seeds), base_path=args.base, workers=args.workers,
                           overwrite=args.overwrite)
    print(f"done in {report['timings_seconds']['total']:.0f} s; report: {args.out / 'report.json'}")
    return 0


def _corpus_texts(settings) -> tuple[str, str]:
    """(training text, validation text) of a run; the validation text is "" when it is
    the end of the one text (``train_val_split`` cuts it from the token ids)."""
    from .corpora import load_text

    if settings["corpus"] == "python":
        from .sessions import python_corpus

        return python_corpus(docs_fraction=settings["docs_fraction"], val_fraction=settings["val_fraction"])
    return load_text(settings["corpus"]), ""


def _corpus_setting(corpus: str) -> str:
    """A corpus as saved in a checkpoint: a name, or a file's absolute path (so that
    --resume finds it from any folder)."""
    return corpus if corpus in NAMED_CORPORA else str(Path(corpus).expanduser().resolve())


def _resume(ckpt_path, given):
    """The checkpoint in ``ckpt_path`` and the settings to continue it with: those saved
    in it, except the ones ``given`` on the command line.  Returns (checkpoint, settings,
    overrides) where overrides lists the changed ones as text."""
    from . import GPT, load_checkpoint

    if not ckpt_path.is_file():
        raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist; drop --resume to start a new run")
    ck = load_checkpoint(ckpt_path)
    model, tokenizer = ck["model"], ck["tokenizer"]
    if not isinstance(model, GPT):
        raise ValueError(f"{ckpt_path} holds a reward model; --resume continues a language model written by `train`")
    if tokenizer is None or ck["optimizer"] is None or not isinstance(ck.get("train_config"), dict):
        missing = "tokenizer" if tokenizer is None else "optimizer state or training settings"
        raise ValueError(f"{ckpt_path} holds no {missing} (it was saved for inference, not by `train`), "
                         "so it cannot be resumed; start a new run with --overwrite or another --out")
    check_int(ck.get("step"), f"{ckpt_path}: step", minimum=0)
    if ck.get("history") is not None:
        try:
            check_history(ck["history"])
        except ValueError as exc:
            raise ValueError(f"{ckpt_path}: {exc}") from None

    run_settings = ck.get("run_settings") or {}  # written by this command; absent if made by train()
    if not isinstance(run_settings, dict) or not isinstance(run_settings.get("corpus", ""), str):
        raise ValueError(f"{ckpt_path}: run_settings is not what `train` writes ({run_settings!r:.80})")
    saved = {k: v for k, v in run_settings.items() if k in DATA_DEFAULTS}
    for name, value in saved.items():
        if name in CHECKS:
            CHECKS[name][0](value, f"{ckpt_path}: run_settings.{name}", **CHECKS[name][1])
    saved["tokenizer"] = tokenizer.TYPE  # the model and tokenizer are what they are
    saved.setdefault("vocab_size", tokenizer.vocab_size)
    saved.update({k: v for k, v in model.config.to_dict().items() if k in MODEL_DEFAULTS})
    saved.update({k: ck["train_config"][k] for k in TRAIN_DEFAULTS if k in ck["train_config"]})

    overrides = []
    for name, value in given.items():
        if name not in saved or value == saved[name]:
            continue
        if name == "vocab_size" and saved["tokenizer"] == "char":
            continue  # ignored for a character tokenizer, as in a new run
        if name in MODEL_DEFAULTS or name in ("tokenizer", "vocab_size"):
            raise ValueError(f"{_option(name)} {value} differs from the run in {ckpt_path} ({name}={saved[name]}): "
                             f"a resumed run keeps its model and tokenizer; drop {_option(name)}, or start a new "
                             "run with --overwrite or another --out")
        overrides.append(f"{_option(name)} {value} (saved: {saved[name]})")
    settings = {**saved, **given}
    unknown = [name for name in ("corpus", "val_fraction") if name not in settings]
    if unknown:
        raise ValueError(f"{ckpt_path} does not say which {' and '.join(map(_option, unknown))} it was trained "
                         f"with; give {'them' if len(unknown) > 1 else 'it'} on the command line")
    return ck, settings, overrides


def cmd_train(args) -> int:
    from . import GPT, BPETokenizer, CharTokenizer, GPTConfig, TrainConfig, train, train_val_split
    from .corpora import corpus_info
    from .fileio import atomic_write, check_writable
    from .train import evaluate_loss

    out = args.out
    ckpt_path = out / "ckpt.npz"
    given = {name: value for name, value in vars(args).items() if name in DEFAULTS}  # typed by the user
    if "corpus" in given:
        given["corpus"] = _corpus_setting(given["corpus"])
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    optimizer, start_step, history, train_config = None, 0, None, {}
    if args.resume:
        ck, settings, overrides = _resume(ckpt_path, given)
        model, tokenizer = ck["model"], ck["tokenizer"]
        optimizer, start_step, history = ck["optimizer"], ck["step"], ck.get("history")
        train_config = ck["train_config"]
        print(f"resuming from {ckpt_path} at step {start_step} with the settings saved in it"
              + (f"; changed on the command line: {', '.join(overrides)}" if overrides else ""))
    else:
        if ckpt_path.exists() and not args.overwrite:
            raise FileExistsError(f"{ckpt_path} already holds a trained model; pass --resume to continue it, "
                                  "--overwrite to replace it, or choose another --out")
        settings = {**DEFAULTS, **given}
        settings["corpus"] = _corpus_setting(settings["corpus"])
    try:
        config = TrainConfig.from_dict({**train_config, **{k: settings[k] for k in TRAIN_DEFAULTS}})
    except ValueError as exc:
        raise ValueError(f"{ckpt_path}: {exc}" if args.resume else str(exc)) from None
    check_writable(out)

    train_text, val_text = _corpus_texts(settings)
    text = train_text + val_text
    info = corpus_info(text)
    print(f"corpus {settings['corpus']}: {info['chars']:,} characters, sha256 {info['sha256'][:12]}")
    trained_on = (ck.get("run_settings") or {}).get("corpus_sha256") if args.resume else None
    if trained_on not in (None, info["sha256"]):
        print(f"note: this text differs from the one the checkpoint was trained on (sha256 {str(trained_on)[:12]})")
    if not args.resume:
        t0 = time.perf_counter()
        if settings["tokenizer"] == "char":
            tokenizer = CharTokenizer.train(text)
        else:
            tokenizer = BPETokenizer.train(train_text, settings["vocab_size"])
        print(f"{settings['tokenizer']} tokenizer: {tokenizer.vocab_size} tokens ({time.perf_counter() - t0:.1f} s)")
    if val_text:
        train_ids = np.asarray(tokenizer.encode(train_text), dtype=np.int64)
        val_ids = np.asarray(tokenizer.encode(val_text), dtype=np.int64)
        ids = np.concatenate([train_ids, val_ids])
    else:
        ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
        train_ids, val_ids = train_val_split(ids, settings["val_fraction"])
    print(f"{len(ids):,} tokens ({info['bytes'] / len(ids):.2f} bytes/token): "
          f"{len(train_ids):,} train, {len(val_ids):,} validation")
    if args.resume:
        # the optimizer's own copies of the settings a command line may have changed
        optimizer.betas = (config.beta1, config.beta2)
        optimizer.weight_decay = config.weight_decay
    else:
        gpt_config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=settings["block_size"],
                               n_layer=settings["n_layer"], n_head=settings["n_head"], d_model=settings["d_model"])
        model = GPT(gpt_config, seed=config.seed)
    print(f"model: {model.num_parameters():,} parameters, {model.config}")

    run_settings = {**{k: settings[k] for k in DATA_DEFAULTS}, "corpus_sha256": info["sha256"]}
    history = train(model, train_ids, val_ids, config, optimizer=optimizer, start_step=start_step,
                    history=history, checkpoint_path=ckpt_path, tokenizer=tokenizer,
                    progress=not args.no_progress, run_settings=run_settings)
    val_loss = evaluate_loss(model, val_ids)
    history_text = json.dumps(history)
    atomic_write(out / "history.json", lambda f: f.write(history_text.encode("utf-8")))
    print(f"validation loss over the whole split: {val_loss:.4f} (perplexity {np.exp(val_loss):.1f}); "
          f"checkpoint: {ckpt_path}")
    prompt = np.array([tokenizer.encode(text[:1])], dtype=np.int64)
    sample = model.generate(prompt, 120, temperature=0.8, seed=config.seed)
    print("sample:\n" + tokenizer.decode(sample[0]))
    return 0


def cmd_sample(args) -> int:
    from . import GPT, load_checkpoint

    ck = load_checkpoint(args.checkpoint)
    model, tokenizer = ck["model"], ck["tokenizer"]
    if not isinstance(model, GPT):
        raise ValueError(f"{args.checkpoint} holds a reward model, which scores text but does not generate it; "
                         "sample from a language model's checkpoint (e.g. sft.npz, ppo.npz or dpo.npz)")
    if tokenizer is None:
        raise ValueError(f"{args.checkpoint} holds no tokenizer, so text prompts cannot be encoded")
    total = args.num_samples * args.max_new_tokens
    if total > MAX_SAMPLE_TOKENS:
        raise ValueError(f"--num-samples {args.num_samples} x --max-new-tokens {args.max_new_tokens} = {total:,} "
                         f"tokens; one command generates at most {MAX_SAMPLE_TOKENS:,}: ask for fewer")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"{parser.prog} {args.command}"  # as in argparse's own errors
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted (files already written are kept)", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"{prefix}: error: not enough memory ({exc}); ask for smaller sizes", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError, FloatingPointError, TypeError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return 2
