"""Saving and loading training state without pickle (chapter 6).

A checkpoint is one ``.npz`` file: every array (model parameters, AdamW moments) under
its name, plus an entry ``meta.json`` holding the rest as JSON text (model config,
tokenizer, optimizer hyperparameters, step, history, anything passed as ``extra``).
A copy of that JSON is written beside it (``ckpt.npz`` -> ``ckpt.json``) for people to
read; loading uses only the ``.npz``.

Writes are atomic: the file is written under a temporary name in the same folder and
renamed over the old one, so a crash mid-write leaves the previous checkpoint intact.

A checkpoint may come from elsewhere, so loading trusts nothing in it: it uses
``allow_pickle=False`` (unpickling can run any code), reads every array's size from the
zip headers and compares it with the shape and dtype the array's own header promises,
and with ``MAX_CHECKPOINT_BYTES``, *before* decompressing anything (a few kilobytes of
compressed zeros can expand to gigabytes), and checks every shape, type and number
against the config.  What ``save_checkpoint`` refuses to write, loading refuses to read.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .fileio import atomic_write
from .model import GPT, GPTConfig
from .optim import AdamW

FORMAT = "minigpt-checkpoint"
VERSION = 1
_RESERVED = {"model", "tokenizer", "optimizer", "config", "meta"}
_DTYPES = ("float16", "float32", "float64")  # what a model's parameters may be
_MODEL_TYPES = ("gpt", "reward")

# The most bytes a checkpoint's arrays may take once decompressed (4 GiB: a model of about
# 300M float32 parameters with its AdamW moments).  Raise it (or pass max_bytes=) to load
# a bigger checkpoint you trust.
MAX_CHECKPOINT_BYTES = 4 * 2**30


def _check_finite(params):
    for name, array in params.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"parameter {name} contains NaN or inf (training diverged)")


def _check_tokenizer_fits(tokenizer, config):
    if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{config.vocab_size}; they do not belong together"
        )


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
    try:
        _check_finite(model.params)
        _check_tokenizer_fits(tokenizer, model.config)
    except ValueError as exc:
        raise ValueError(f"refusing to save {path}: {exc}; the previous checkpoint is left untouched") from None

    arrays = {}
    for name, array in model.params.items():
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


def load_checkpoint(path, max_bytes=None) -> dict:
    """Read a checkpoint written by ``save_checkpoint``.

    Returns a dict with ``model`` (a GPT, or a RewardModel), ``config``, ``tokenizer`` (or
    None), ``optimizer`` (an AdamW over the model's params, or None), and every ``extra``
    value under its own name (``step``, ``history``, ...).  Raises FileNotFoundError for
    a missing file and ValueError, naming the file and saying what is wrong, for a
    truncated, foreign, crafted or mismatched one, or one whose arrays would take more
    than ``max_bytes`` (default ``MAX_CHECKPOINT_BYTES``) once decompressed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        members = _read_npy_headers(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(
            f"{path} is not a readable minigpt checkpoint (truncated, corrupt or another "
            f"format): {exc}"
        ) from exc
    _check_sizes(path, members, MAX_CHECKPOINT_BYTES if max_bytes is None else max_bytes)
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
    try:
        return _from_meta(meta, arrays)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a value of the wrong kind
        raise ValueError(f"{path}: its meta.json is not what save_checkpoint writes "
                         f"({type(exc).__name__}: {exc})") from exc


def _read_npy_headers(path) -> list:
    """(zip entry, shape, dtype, header length) of every array, read from the headers
    alone: only the first bytes of each entry are decompressed."""
    members = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"entry {info.filename} is a .npy file of version {version}, "
                                     "which np.savez does not write")
                members.append((info, shape, dtype, f.tell()))
    return members


def _check_sizes(path, members, max_bytes):
    """Each entry must hold exactly what its header promises, and all of them together
    no more than ``max_bytes``: checked before np.load decompresses anything."""
    total = 0
    for info, shape, dtype, header_length in members:
        if dtype.hasobject:
            raise ValueError(f"{path} is not a readable minigpt checkpoint: entry {info.filename} holds "
                             "Python objects, which only pickle can read, and unpickling can run any code")
        promised = math.prod(shape) * dtype.itemsize
        if header_length + promised != info.file_size:
            raise ValueError(f"{path}: entry {info.filename} promises a {dtype} array of shape {shape} "
                             f"({promised:,} bytes) but holds {info.file_size - header_length:,}: "
                             "the file is corrupt or crafted")
        total += promised
        if total > max_bytes:
            raise ValueError(f"{path}: its arrays would take more than {max_bytes:,} bytes once "
                             "decompressed (the limit MAX_CHECKPOINT_BYTES); if you trust this file, "
                             "pass load_checkpoint(path, max_bytes=...) a larger limit")


def _from_meta(meta, arrays) -> dict:
    """Build what load_checkpoint returns from the parsed meta.json and the arrays."""
    from .tokenizer import tokenizer_from_dict  # imported here: tokenizers need no model

    if not isinstance(meta, dict):
        raise ValueError(f"meta.json holds a {type(meta).__name__}, not an object: not a minigpt checkpoint")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"format {meta.get('format')!r} version {meta.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )
    if not isinstance(meta.get("config"), dict):
        raise ValueError(f"meta.json has no model config (got {meta.get('config')!r})")
    config = GPTConfig.from_dict(meta["config"])
    dtype = meta.get("dtype", "float32")
    model_type = meta.get("model_type", "gpt")
    if dtype not in _DTYPES:
        raise ValueError(f"parameter dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if model_type not in _MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is not one of {', '.join(_MODEL_TYPES)}")
    extra = meta.get("extra") or {}
    if not isinstance(extra, dict) or _RESERVED & set(extra):
        raise ValueError(f"'extra' must be an object without the reserved names {sorted(_RESERVED)}")

    params = {k[len("param/"):]: a for k, a in arrays.items() if k.startswith("param/")}
    for name, array in params.items():
        if array.dtype.kind != "f":
            raise ValueError(f"parameter {name} has dtype {array.dtype}; parameters are floating point")
    _check_finite(params)  # save_checkpoint never writes NaN; a model with NaN samples garbage
    model_class = GPT
    if model_type == "reward":
        from .reward import RewardModel
        model_class = RewardModel
    try:
        model = model_class.from_state_dict(config, params, dtype=dtype)
    except ValueError as exc:
        raise ValueError(f"parameters do not match the saved config: {exc}") from exc

    optimizer = None
    if meta.get("optimizer") is not None:
        state = dict(meta["optimizer"])
        for key in ("m", "v"):
            prefix = f"optim/{key}/"
            state[key] = {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}
        try:
            optimizer = AdamW(model.params, lr=state["lr"])
            optimizer.load_state_dict(state)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"optimizer state does not match the model: {type(exc).__name__} {exc}") from exc

    tokenizer = None
    if meta.get("tokenizer"):
        try:
            tokenizer = tokenizer_from_dict(meta["tokenizer"])
        except ValueError as exc:
            raise ValueError(f"invalid tokenizer: {exc}") from exc
    _check_tokenizer_fits(tokenizer, config)
    result = {"model": model, "config": config, "tokenizer": tokenizer, "optimizer": optimizer}
    result.update(extra)
    return result
