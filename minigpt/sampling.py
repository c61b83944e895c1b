"""Turning next-token logits into a token: greedy, temperature, top-k and top-p."""

from __future__ import annotations

import numpy as np

from .layers import softmax


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution we sample from.  logits: (B, V) -> probabilities (B, V).

    temperature > 0 divides the logits (below 1 sharpens, above 1 flattens);
    top_k keeps the k largest logits; top_p keeps the smallest set of most likely
    tokens whose total probability reaches p (nucleus sampling).  The kept
    probabilities are renormalised; everything else gets probability 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 here (use 0 in sample_next for greedy), got {temperature}")
    logits = np.asarray(logits, dtype=np.float64) / temperature
    V = logits.shape[-1]
    if top_k is not None:
        if not 1 <= int(top_k):
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        k = min(int(top_k), V)
        kth_largest = np.partition(logits, V - k, axis=-1)[:, V - k:V - k + 1]
        logits = np.where(logits < kth_largest, -np.inf, logits)
    probs = softmax(logits)
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
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
    """
    logits = np.asarray(logits)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    # inverse-CDF sampling, vectorised over the batch: the first id whose
    # cumulative probability exceeds a uniform draw
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    ids = (cdf <= u).sum(axis=-1)
    return np.minimum(ids, probs.shape[-1] - 1).astype(np.int64)
