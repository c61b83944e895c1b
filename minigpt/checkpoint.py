"""Saving and loading training state without pickle.

A checkpoint is one ``.npz`` file: every array (model parameters, AdamW moments) under
its name, plus an entry ``meta.json`` holding the rest as JSON text (model config,
tokenizer, optimizer hyperparameters, step, history, anything passed as ``extra``).
A copy of that JSON is written beside it (``ckpt.npz`` -> ``ckpt.json``) for people to
read; loading uses only the ``.npz``.

Writes are atomic: the file is written under a temporary name in the same folder and
renamed over the old one, so a crash mid-write leaves the previous checkpoint intact.
Loading uses ``allow_pickle=False`` and checks every shape against the config.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .fileio import atomic_write
from .model import GPT, GPTConfig
from .optim import AdamW

FORMAT = "minigpt-checkpoint"
VERSION = 1
_RESERVED = {"model", "tokenizer", "optimizer", "config", "meta"}


def _json_default(obj):
    """Let NumPy scalars (e.g. a loss as np.float32) pass into JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def save_checkpoint(path, model, tokenizer=None, optimizer: AdamW | None = None, *, storage_dtype=None,
                    **extra):
    """Write ``model`` (and optionally its tokenizer and optimizer) to ``path`` (.npz).

    ``model`` is a ``GPT`` or a ``minigpt.reward.RewardModel``.  ``storage_dtype``
    (e.g. ``np.float16``) stores the parameters at lower precision to make a small file
    to ship; loading converts them back to the model's dtype.

    ``extra`` holds JSON-serialisable values saved alongside, e.g. ``step=1000,
    history=history, train_config=config.to_dict()``; ``load_checkpoint`` returns them
    under the same names.  Refuses to write non-finite parameters, so a diverged run
    never replaces a good checkpoint.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"checkpoint path must end in .npz, got {str(path)!r}")
    clash = _RESERVED & set(extra)
    if clash:
        raise ValueError(f"extra names {sorted(clash)} are reserved by the checkpoint format")

    arrays = {}
    for name, array in model.params.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"refusing to save {path}: parameter {name} contains NaN or inf "
                "(training diverged); the previous checkpoint is left untouched"
            )
        arrays[f"param/{name}"] = array if storage_dtype is None else array.astype(storage_dtype)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model_type": "reward" if "head.weight" in model.params else "gpt",
        "config": model.config.to_dict(),
        "dtype": str(model.dtype),
        "tokenizer": tokenizer.to_dict() if tokenizer is not None else None,
        "optimizer": None,
        "extra": extra,
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        for key in ("m", "v"):
            for name, array in state.pop(key).items():
                arrays[f"optim/{key}/{name}"] = array
        meta["optimizer"] = state
    meta_text = json.dumps(meta, indent=1, default=_json_default)
    arrays["meta.json"] = np.frombuffer(meta_text.encode("utf-8"), dtype=np.uint8)

    atomic_write(path, lambda f: np.savez(f, **arrays))
    atomic_write(path.with_suffix(".json"), lambda f: f.write(meta_text.encode("utf-8")))
    return path


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by ``save_checkpoint``.

    Returns a dict with ``model`` (a GPT), ``config``, ``tokenizer`` (or None),
    ``optimizer`` (an AdamW over the model's params, or None), and every ``extra`` value
    under its own name (``step``, ``history``, ...).  Raises FileNotFoundError for a
    missing file and ValueError, saying what is wrong, for a truncated, foreign or
    mismatched one.
    """
    from .tokenizer import tokenizer_from_dict  # imported here: tokenizers need no model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}  # reads (and CRC-checks) every entry
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"{path} is not a readable minigpt checkpoint (truncated, corrupt or another "
            f"format): {exc}"
        ) from exc
    if "meta.json" not in arrays:
        raise ValueError(f"{path} has no meta.json entry: it was not written by minigpt.save_checkpoint")
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: its meta.json entry is not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )

    config = GPTConfig.from_dict(meta["config"])
    params = {k[len("param/"):]: a for k, a in arrays.items() if k.startswith("param/")}
    model_class = GPT
    if meta.get("model_type", "gpt") == "reward":
        from .reward import RewardModel
        model_class = RewardModel
    try:
        model = model_class.from_state_dict(config, params, dtype=meta.get("dtype", "float32"))
    except ValueError as exc:
        raise ValueError(f"{path}: parameters do not match the saved config: {exc}") from exc

    optimizer = None
    if meta.get("optimizer") is not None:
        state = dict(meta["optimizer"])
        for key in ("m", "v"):
            prefix = f"optim/{key}/"
            state[key] = {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}
        optimizer = AdamW(model.params, lr=state["lr"])
        try:
            optimizer.load_state_dict(state)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: optimizer state does not match the model: {exc}") from exc

    tokenizer = tokenizer_from_dict(meta["tokenizer"]) if meta.get("tokenizer") else None
    if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
        raise ValueError(
            f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{config.vocab_size}; they do not belong together"
        )
    result = {"model": model, "config": config, "tokenizer": tokenizer, "optimizer": optimizer}
    result.update(meta.get("extra") or {})
    return result
