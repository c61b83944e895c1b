"""Checking values that come from outside: one place, one wording.

Settings reach minigpt from code, from the command line and from files (checkpoints,
tokenizers).  Each check below returns the value, or raises ValueError saying which
value (``what``: a field, an option, a key of a file) was wrong, what it must be, and
what it was.  The command line uses the same checks through ``arg_type``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers

import numpy as np


def check_int(value, what, minimum=None, maximum=None) -> int:
    """``value`` as an int, if it is an integer in [minimum, maximum].

    Refuses bools (``True`` is not a step count), floats (2.5 or 3.0: a fraction that
    ``int()`` would truncate in silence) and strings.
    """
    kind = "a positive integer" if (minimum, maximum) == (1, None) else f"an integer{_range(minimum, maximum)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{what} must be {kind}, got {value}")
    return int(value)


def check_float(value, what, minimum=None, maximum=None, *, above=None, below=None) -> float:
    """``value`` as a float, if it is a finite number with minimum <= value <= maximum
    and above < value < below (give whichever bounds apply).  NaN and inf are refused:
    a NaN compares False with everything, so it would slip through any range test."""
    bounds = _range(minimum, maximum, above, below)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{what} must be a number{bounds}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number{bounds}, got {value}")
    if ((minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            or (above is not None and value <= above) or (below is not None and value >= below)):
        raise ValueError(f"{what} must be a number{bounds}, got {value}")
    return float(value)


def _range(minimum=None, maximum=None, above=None, below=None) -> str:
    parts = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else "",
             f"<= {maximum}" if maximum is not None else "", f"< {below}" if below is not None else ""]
    parts = [p for p in parts if p]
    return " " + " and ".join(parts) if parts else ""


def arg_type(check, **bounds):
    """An argparse ``type=``: parse the text as the kind ``check`` wants, then check it.

    argparse reports a failure as ``argument --grad-clip: value must be a number >= 0,
    got -1.0``, so the message names the option.
    """
    parse = int if check is check_int else float

    def convert(text):
        value = parse(text)  # a ValueError here becomes argparse's "invalid int value: 'two'"
        try:
            return check(value, "value", **bounds)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__  # the "int" in that message
    return convert


def check_token_sequence(ids, what, min_length=1, vocab_size=None) -> np.ndarray:
    """``ids`` as a 1-D int64 array of at least ``min_length`` token ids in [0, vocab_size).

    Floats are refused rather than truncated: ``np.asarray([2.7], dtype=np.int64)``
    is ``[2]``, a different token, with no warning.
    """
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what} must hold integer token ids, got dtype {arr.dtype}; encode the text "
                         "with a tokenizer (a float id would be truncated to another token)")
    if len(arr) < min_length:
        raise ValueError(f"{what} has {len(arr)} tokens but needs at least {min_length} "
                         f"(more than one block): use more text or a smaller block_size")
    if vocab_size is not None and arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        bad = arr[(arr < 0) | (arr >= vocab_size)][0]
        raise ValueError(f"{what} contains id {int(bad)} outside [0, {vocab_size}): was it encoded "
                         "with another tokenizer?")
    return arr.astype(np.int64, copy=False)


def check_fields(cls, d, hint="") -> dict:
    """``d`` (a dict read from a file), if every key is a field of the dataclass ``cls``:
    a misspelt or foreign setting is refused, not silently ignored."""
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__} settings must be a dict, got {type(d).__name__}")
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}{hint}")
    return d
