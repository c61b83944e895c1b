"""The reference runs shipped with the package: the base model (chapters 7-8) and the
models and numbers of Part II (chapters 9-13).

The **base model** (``minigpt/reference/base/``) is the GPT of chapter 7 pre-trained on the
Python corpus (interpreter sessions and documentation, ``minigpt.sessions``) by
``scripts/train_base_model.py`` in 16 minutes on one core, and stored by
``scripts/ship_base_model.py`` (float16; the report's loss and accuracies are measured on
exactly those weights)::

    base = reference.load_stage("pretrain")   # dict: model, tokenizer, config, ...
    base_report = reference.load_base_report()  # its loss curve, per-family accuracy, command

Part II of the book (SFT, reward models, PPO, DPO, GRPO, evaluation: chapters 9-14) studies
models whose training takes longer than a notebook should. Its run, ``python -m minigpt
pipeline`` (``minigpt.alignment``: two training seeds, one core each), was made once; the
combined ``report.json``, each seed's ``seed_<s>/report.json`` and ``samples.json``, and seed
0's checkpoints (``seed_0/checkpoints/*.npz``, float16, about 1.7 MB each) live in
``minigpt/reference/`` and the chapters load them from there::

    from minigpt import reference
    sft = reference.load_stage("sft")          # dict: model, tokenizer, config, ...
    report = reference.load_report()           # the test table over both seeds, paired against SFT
    run = reference.load_seed_report(0)        # one seed's every stage: curves, choices, timings
    data = reference.task_data()               # the same train / dev / test questions

The float16 weights are exactly the models the report evaluated (the run rounds them before
evaluating), so a chapter re-computing a greedy answer gets the report's. Numbers that come
from *sampling* (accuracy at temperature 1, KL, samples) are reproduced exactly only on a CPU
whose BLAS kernels round the same way: elsewhere a matrix product can differ in its last bit,
a sampled token can then change, and a recomputed mean moves by a fraction of its standard
error.

To use another run (your own, or ``--quick`` while developing), point the environment
variable ``MINIGPT_REFERENCE`` at its output directory, or pass ``directory=``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .checkpoint import load_checkpoint

PACKAGE_DIR = Path(__file__).parent / "reference"
STAGES = ("pretrain", "sft", "reward_model", "ppo", "dpo", "grpo", "grpo_rm", "rft")
# The base model's folder inside a reference directory.
BASE = "base"


def reference_dir(directory=None) -> Path:
    """Where the reference run lives: ``directory``, else ``$MINIGPT_REFERENCE``, else
    the copy inside the package."""
    chosen = directory or os.environ.get("MINIGPT_REFERENCE") or PACKAGE_DIR
    path = Path(chosen)
    if not (path / "report.json").is_file():
        raise FileNotFoundError(
            f"no reference run in {path} (report.json is missing). Run "
            "`python -m minigpt pipeline --out DIR` and pass directory=DIR or set MINIGPT_REFERENCE=DIR."
        )
    return path


def load_report(directory=None) -> dict:
    """The run's ``report.json``: its configuration, the test table combined over its training
    seeds (``alignment.combine_seeds``: ``report["test"][stage]``, ``report["paired"][stage]``,
    ``report["test"]["baselines"]``), what was chosen on dev and the timings."""
    return json.loads((reference_dir(directory) / "report.json").read_text(encoding="utf-8"))


def load_samples(directory=None, seed: int = 0) -> dict:
    """Sampled answers to test questions for each stage (``samples.json``; in a run of several
    seeds, that of ``seed``)."""
    root = reference_dir(directory)
    path = root / f"seed_{seed}" / "samples.json"
    return json.loads((path if path.is_file() else root / "samples.json").read_text(encoding="utf-8"))


def load_stage(stage: str, directory=None, seed: int = 0) -> dict:
    """The checkpoint of one stage (``load_checkpoint``'s dict: model, tokenizer, ...).

    stage: one of ``STAGES``.  The reward model comes back as a ``RewardModel``.
    ``"pretrain"`` is the base model (``base/model.npz``): the directory's if it has one,
    else the package's.
    In a run of several seeds the checkpoints are those of ``seed`` (``seed_<s>/checkpoints``).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the reference run has {', '.join(STAGES)}")
    root = reference_dir(directory)
    if stage == "pretrain":      # the run's own base model, else the package's (every run starts from it)
        base = root / BASE / "model.npz"
        return load_checkpoint(base if base.is_file() else PACKAGE_DIR / BASE / "model.npz")
    folder = root / f"seed_{seed}" / "checkpoints"
    if folder.is_dir():
        return load_checkpoint(folder / f"{stage}.npz")
    if (root / f"seed_{seed}").is_dir() or seed != 0:
        shipped = sorted(p.parent.name for p in root.glob("seed_*/checkpoints"))
        raise FileNotFoundError(f"the run in {root} keeps no checkpoints for seed {seed} (only its report); "
                                f"checkpoints are shipped for {', '.join(shipped) or 'no seed'}")
    return load_checkpoint(root / "checkpoints" / f"{stage}.npz")      # a single-seed run


def load_base_report(directory=None) -> dict:
    """The base model's ``report.json``: its command, settings, loss curve, validation loss and
    greedy accuracy per operation family on the held-out test expressions."""
    path = reference_dir(directory) / BASE / "report.json"
    if not path.is_file():      # a run without its own base model started from the package's
        path = PACKAGE_DIR / BASE / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"no base model report at {path}; make one with scripts/ship_base_model.py")
    return json.loads(path.read_text(encoding="utf-8"))


def load_seed_report(seed: int = 0, directory=None) -> dict:
    """One training seed's full report (``alignment.run_alignment``'s): every stage's record
    (SFT's learning rates, the reward model's data-size curve and calibration, best-of-n, the
    PPO and GRPO curves, DPO's learning rates), the test table of that seed and its timings."""
    root = reference_dir(directory)
    path = root / f"seed_{seed}" / "report.json"
    if not path.is_file():
        seeds = sorted(p.name for p in root.glob("seed_*"))
        raise FileNotFoundError(f"the reference run has no seed {seed} ({path} is missing); it has {seeds or 'none'}")
    return json.loads(path.read_text(encoding="utf-8"))


def alignment_config(directory=None):
    """The run's ``AlignmentConfig`` (sizes, budgets, learning rates), rebuilt from the report."""
    from .alignment import AlignmentConfig
    return AlignmentConfig.from_dict(load_report(directory)["config"])


def task_data(directory=None) -> dict:
    """The run's train, dev and test questions (``alignment.task_data``), exactly as it used them."""
    from .alignment import task_data as split
    return split(alignment_config(directory))
