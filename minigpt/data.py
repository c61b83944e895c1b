"""From token ids to training batches (chapter 6).

``train_val_split`` and ``get_batch`` turn a long 1-D array of token ids into
what the model trains on: many short windows ``x`` and the same windows
shifted by one, ``y``, the "next token" at every position.
"""

from __future__ import annotations

import numpy as np

__all__ = ["train_val_split", "get_batch"]


# --------------------------------------------------------------------------
# From token ids to training batches
# --------------------------------------------------------------------------


def train_val_split(ids, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a 1-D sequence of token ids into (train, validation) parts.

    ids: (N,) token ids. Returns ``(ids[:N - n_val], ids[N - n_val:])``, where
    ``n_val`` is ``N * val_fraction`` rounded to the nearest integer.

    No shuffling: the validation text is the *end* of the corpus, text the
    model never trains on, and the split is the same every time. (Shuffling
    windows would leak: overlapping windows would put nearly the same text on
    both sides.) The parts are views of ``ids`` as an array, not copies.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    n_total = len(ids)
    n_val = int(n_total * val_fraction + 0.5)  # round half up
    n_train = n_total - n_val
    if n_val < 1 or n_train < 1:
        raise ValueError(
            f"too little data to split: {n_total} ids with val_fraction={val_fraction} "
            f"gives {n_train} for training and {n_val} for validation; both need at least 1"
        )
    return ids[:n_train], ids[n_train:]


def get_batch(
    ids, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``batch_size`` random windows of ``block_size + 1`` ids out of ``ids``.

    ids: (N,) token ids. Returns ``x, y``, both int64 of shape
    (batch_size, block_size), with ``y[b, t] == x[b, t + 1]`` for t < T - 1:
    at every position the target is the id that comes next in the text. So
    one window trains ``block_size`` predictions at once.

    Window starts are ``rng.integers(0, N - block_size, size=batch_size)``,
    so the same seed gives the same batches.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy Generator, e.g. np.random.default_rng(0); "
            f"got {type(rng).__name__}"
        )
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if batch_size < 1 or block_size < 1:
        raise ValueError(
            f"batch_size and block_size must be at least 1, got {batch_size} and {block_size}"
        )
    if len(ids) <= block_size:
        raise ValueError(
            f"need more than block_size={block_size} ids to make one (x, y) pair "
            f"(a window of block_size + 1), but got only {len(ids)}; use a longer "
            f"text or a smaller block_size"
        )
    # The last start that still leaves room for block_size + 1 ids is
    # N - block_size - 1; integers() excludes its upper bound.
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)  # (B,)
    # A (B, T + 1) grid of positions: row b is starts[b], starts[b] + 1, ...
    positions = starts[:, None] + np.arange(block_size + 1)[None, :]
    windows = ids[positions].astype(np.int64)  # (B, T + 1), one gather, no loop
    x = np.ascontiguousarray(windows[:, :-1])  # (B, T): the inputs
    y = np.ascontiguousarray(windows[:, 1:])  # (B, T): the next id for each input
    return x, y
