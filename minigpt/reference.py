"""The reference runs shipped with the package: the base model (chapters 7-8) and the
models and numbers of Part II (chapters 9-13).

The **base model** (``minigpt/reference/base/``) is the GPT of chapter 7 pre-trained on the
Python corpus (interpreter sessions and documentation, ``minigpt.sessions``) by
``scripts/train_base_model.py`` in 16 minutes on one core, and stored by
``scripts/ship_base_model.py`` (float16; the report's loss and accuracies are measured on
exactly those weights)::

    base = reference.load_stage("pretrain")   # dict: model, tokenizer, config, ...
    base_report = reference.load_base_report()  # its loss curve, per-family accuracy, command

Part II of the book (SFT, reward model, PPO, DPO, evaluation) studies models whose
training takes longer than a notebook should.  The full pipeline run was done once; its
checkpoints (float16, about 1.7 MB each), ``report.json``, ``samples.json`` and plots live
in ``minigpt/reference/`` and the chapters load them from there:

    from minigpt import reference
    sft = reference.load_stage("sft")          # dict: model, tokenizer, config, ...
    report = reference.load_report()           # every number the book quotes
    data = reference.instruction_data()        # the same train / held-out prompts

The float16 weights are exactly the models the report evaluated (the pipeline rounds
them before evaluating), so a chapter re-computing a loss gets the report's value.  Numbers
that come from *sampling* (gold scores, KL, samples) are reproduced exactly only with the
run's number of BLAS threads (the default two of the machine that made it): with another
count a matrix product can round differently in its last bit, a sampled token can then
change, and the recomputed mean moves by a fraction of its standard error.

To use another run (your own, or ``--quick`` while developing), point the environment
variable ``MINIGPT_REFERENCE`` at its output directory, or pass ``directory=``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .checkpoint import load_checkpoint

PACKAGE_DIR = Path(__file__).parent / "reference"
STAGES = ("pretrain", "sft", "reward_model", "ppo", "dpo")
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
    """The run's ``report.json``: configuration, seed and every stage's measurements."""
    return json.loads((reference_dir(directory) / "report.json").read_text(encoding="utf-8"))


def load_samples(directory=None) -> dict:
    """Sampled answers to held-out questions for each stage (``samples.json``)."""
    return json.loads((reference_dir(directory) / "samples.json").read_text(encoding="utf-8"))


def load_stage(stage: str, directory=None) -> dict:
    """The checkpoint of one stage (``load_checkpoint``'s dict: model, tokenizer, ...).

    stage: one of ``STAGES``.  The reward model comes back as a ``RewardModel``.
    ``"pretrain"`` is the base model (``base/model.npz``) where the directory has one,
    as the package's has; a pipeline run without it gives its own pre-trained model.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the reference run has {', '.join(STAGES)}")
    root = reference_dir(directory)
    if stage == "pretrain" and (root / BASE / "model.npz").is_file():
        return load_checkpoint(root / BASE / "model.npz")
    return load_checkpoint(root / "checkpoints" / f"{stage}.npz")


def load_base_report(directory=None) -> dict:
    """The base model's ``report.json``: its command, settings, loss curve, validation loss and
    greedy accuracy per operation family on the held-out test expressions."""
    path = reference_dir(directory) / BASE / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"no base model report at {path}; make one with scripts/ship_base_model.py")
    return json.loads(path.read_text(encoding="utf-8"))


def plot_path(name: str, directory=None) -> Path:
    """Path of one of the run's figures, e.g. ``plot_path("overoptimisation")``."""
    path = reference_dir(directory) / "plots" / f"{name}.png"
    if not path.is_file():
        raise FileNotFoundError(f"the reference run has no plot {path.name}")
    return path


def pipeline_config(directory=None):
    """The run's ``PipelineConfig`` (sizes, budgets, seed), rebuilt from the report."""
    from .pipeline import PipelineConfig
    return PipelineConfig.from_dict(load_report(directory)["config"])


def instruction_data(tokenizer=None, directory=None) -> dict:
    """The instruction data exactly as the run used it (``pipeline.instruction_splits``):
    train / held-out pairs and examples and the held-out evaluation prompts."""
    from .pipeline import instruction_splits
    if tokenizer is None:
        tokenizer = load_stage("sft", directory)["tokenizer"]
    return instruction_splits(tokenizer, pipeline_config(directory))
