"""Finite-difference gradient checking: the test every backward function must pass.

Chapter 3 (Backpropagation by hand) builds it and explains the choice of h.

For a scalar function f and an array x, the central difference

    (f(x + h e_i) - f(x - h e_i)) / (2 h)

approximates df/dx_i with an error of order h^2.  In float64 with h = 1e-5 that is
about 1e-10, far below the 1e-6 relative error we demand of every analytic gradient.
(In float32 the rounding error of f itself, ~1e-7 / h, swamps the comparison: always
check in float64.)
"""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """d f() / d x by central differences, perturbing ``x`` in place (and restoring it).

    f: a function of no arguments returning a float that reads ``x``; x: a float64 array.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: writing flat changes x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(analytic, numeric) -> float:
    """max |a - n| / max(|a| + |n|): 0 when equal, about 1 when unrelated.

    Normalising by the largest magnitude (not elementwise) keeps entries that are
    essentially zero from producing meaningless huge ratios.
    """
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    scale = np.abs(analytic).max(initial=0.0) + np.abs(numeric).max(initial=0.0)
    if scale == 0.0:
        return 0.0
    return float(np.abs(analytic - numeric).max() / scale)
