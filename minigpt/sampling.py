"""Turning next-token logits into a token: greedy, temperature, top-k and top-p (chapter 8)."""

from __future__ import annotations

import numpy as np

from .checks import check_float, check_int
from .layers import softmax


def as_generator(seed) -> np.random.Generator:
    """The random stream to draw from: ``seed`` itself if it is a ``numpy.random.Generator``
    (so a caller can share one stream across calls), else a new Generator seeded with it
    (an int, a sequence of ints, or None for fresh entropy)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_logits(logits) -> np.ndarray:
    """Logits of shape (B, V), V >= 1, that a distribution can be made from.

    -inf is allowed (it masks a token), but not NaN, +inf, or a row that masks every token.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, V), got shape {logits.shape}")
    if logits.shape[1] == 0:
        raise ValueError("logits must cover at least one token (V >= 1), got V = 0")
    if np.isnan(logits).any() or np.isposinf(logits).any() or np.isneginf(logits).all(axis=-1).any():
        raise ValueError(
            "the logits contain NaN or inf (or a row with every token at -inf): the model's weights are "
            "probably NaN or inf, e.g. a diverged run; load a checkpoint saved before it diverged"
        )
    return logits


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution we sample from.  logits: (B, V) -> probabilities (B, V).

    temperature > 0 divides the logits (below 1 sharpens, above 1 flattens);
    top_k keeps the k largest logits; top_p keeps the smallest set of most likely
    tokens whose total probability reaches p (nucleus sampling).  The kept
    probabilities are renormalised; everything else gets probability 0.
    """
    check_float(temperature, "temperature (use 0 in sample_next for greedy)", above=0)
    logits = np.asarray(logits, dtype=np.float64) / temperature
    V = logits.shape[-1]
    if top_k is not None:
        k = min(check_int(top_k, "top_k", minimum=1), V)
        kth_largest = np.partition(logits, V - k, axis=-1)[:, V - k:V - k + 1]
        logits = np.where(logits < kth_largest, -np.inf, logits)
    probs = softmax(logits)
    if top_p is not None:
        check_float(top_p, "top_p", above=0, maximum=1)
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
        # keep a token if the tokens ranked above it have not yet reached top_p
        keep_sorted = mass_before < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    """Draw one token per row.  logits: (B, V) -> ids (B,) int64.

    temperature == 0 is greedy decoding (argmax; ties go to the lowest id).

    Raises ValueError for a temperature that is not a finite number >= 0 and for NaN
    or +inf logits (a model with NaN weights): either would otherwise quietly give
    token 0 at every step.  The check is one pass over (B, V) numbers per token.
    """
    check_float(temperature, "temperature", minimum=0)
    logits = check_logits(logits)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    # inverse-CDF sampling, vectorised over the batch: the first id whose
    # cumulative probability exceeds a uniform draw
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    ids = (cdf <= u).sum(axis=-1)
    return np.minimum(ids, probs.shape[-1] - 1).astype(np.int64)
