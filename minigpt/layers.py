"""The layers of a GPT, each as a forward and a backward function.

Every layer follows one convention (the one of Stanford's cs231n ``layers.py``):

* ``out, cache = xxx_forward(inputs..., params...)`` computes the output and keeps in
  ``cache`` exactly what the backward pass will need;
* ``grads = xxx_backward(dout, cache)`` takes the gradient of the loss with respect to
  ``out`` and returns the gradients with respect to the inputs and parameters.

Nothing here knows about the model as a whole: ``minigpt.model`` wires these functions
together, and ``tests/test_layers.py`` checks every backward function against finite
differences in float64.

Shapes use B = batch, T = time (sequence length), C = channels (d_model), H = heads,
V = vocabulary size. Weights of linear layers are stored as ``(out_features, in_features)``,
as PyTorch and nanoGPT store them, so ``state_dict`` can be moved between the two.

All functions keep the dtype of their inputs (float32 for training, float64 for the
gradient checks): constants are Python floats, which NumPy never uses to upcast.
"""

from __future__ import annotations

import math

import numpy as np

from .parallel import for_row_blocks

# ---------------------------------------------------------------------------------------
# Embedding: a table lookup.
# ---------------------------------------------------------------------------------------


def embedding_forward(idx, weight):
    """Look up rows of ``weight``.

    idx: (B, T) integer ids; weight: (V, C).  Returns out: (B, T, C).
    """
    out = weight[idx]
    cache = (idx, weight.shape)
    return out, cache


def embedding_backward(dout, cache):
    """dout: (B, T, C) -> dweight: (V, C).

    A row used several times receives the sum of its gradients; ``np.add.at`` does that
    accumulation (a plain ``dweight[idx] += dout`` would keep only one of them).
    """
    idx, weight_shape = cache
    dweight = np.zeros(weight_shape, dtype=dout.dtype)
    np.add.at(dweight, idx.reshape(-1), dout.reshape(-1, weight_shape[1]))
    return dweight


# ---------------------------------------------------------------------------------------
# Linear: y = x W^T + b
# ---------------------------------------------------------------------------------------


def linear_forward(x, weight, bias):
    """x: (..., in), weight: (out, in), bias: (out,) -> (..., out).

    The leading dimensions are flattened so that NumPy makes one large matrix product
    (one BLAS call) instead of one per batch element.
    """
    x2d = x.reshape(-1, x.shape[-1])
    out2d = x2d @ weight.T
    out2d += bias
    out = out2d.reshape(*x.shape[:-1], weight.shape[0])
    return out, (x2d, weight, x.shape)


def linear_backward(dout, cache):
    """dout: (..., out) -> (dx: (..., in), dweight: (out, in), dbias: (out,))."""
    x2d, weight, x_shape = cache
    dout2d = dout.reshape(-1, weight.shape[0])
    dx = (dout2d @ weight).reshape(x_shape)
    dweight = dout2d.T @ x2d
    dbias = dout2d.sum(axis=0)
    return dx, dweight, dbias


# ---------------------------------------------------------------------------------------
# LayerNorm: normalise each position's C features, then scale and shift.
# ---------------------------------------------------------------------------------------


def layernorm_forward(x, weight, bias, eps=1e-5):
    """x: (..., C), weight, bias: (C,) -> (..., C).

    y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last axis
    (biased variance, as in PyTorch).

    Every row (position) is normalised on its own, so the rows are split over threads
    (``minigpt.parallel``); each block runs the same NumPy lines the whole array would.
    """
    C = x.shape[-1]
    x2d = x.reshape(-1, C)
    xhat = np.empty(x2d.shape, dtype=x.dtype)
    rstd = np.empty((len(x2d), 1), dtype=x.dtype)
    out = np.empty(x2d.shape, dtype=x.dtype)

    def rows(a, b):
        xs, xh, r = x2d[a:b], xhat[a:b], rstd[a:b]
        np.subtract(xs, xs.mean(axis=-1, keepdims=True), out=xh)  # x - mean
        np.add(np.mean(xh * xh, axis=-1, keepdims=True), eps, out=r)
        np.sqrt(r, out=r)
        np.divide(1.0, r, out=r)  # rstd = 1 / sqrt(var + eps)
        xh *= r  # in place: x - mean becomes the normalised x
        np.multiply(xh, weight, out=out[a:b])
        out[a:b] += bias

    for_row_blocks(rows, len(x2d), x2d.size)
    return out.reshape(x.shape), (xhat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1), weight)


def layernorm_backward(dout, cache):
    """dout: (..., C) -> (dx: (..., C), dweight: (C,), dbias: (C,)).

    With xhat the normalised input and g = dout * weight, the gradient through the
    normalisation is  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    xhat, rstd, weight = cache
    C = xhat.shape[-1]
    xhat2d, rstd2d, dout2d = xhat.reshape(-1, C), rstd.reshape(-1, 1), dout.reshape(-1, C)
    t = dout2d * xhat2d
    dweight = t.sum(axis=0)  # the parameter gradients sum over every row: done once, here
    dbias = dout2d.sum(axis=0)
    g = np.empty_like(t)

    def rows(a, b):
        tb, gb = t[a:b], g[a:b]
        tb *= weight  # now g * xhat
        mean_gx = tb.mean(axis=-1, keepdims=True)
        np.multiply(dout2d[a:b], weight, out=gb)
        mean_g = gb.mean(axis=-1, keepdims=True)
        np.multiply(xhat2d[a:b], mean_gx, out=tb)  # reuse the buffer: xhat * mean(g * xhat)
        gb -= tb
        gb -= mean_g
        gb *= rstd2d[a:b]

    for_row_blocks(rows, len(t), t.size)
    return g.reshape(dout.shape), dweight, dbias


# ---------------------------------------------------------------------------------------
# GELU, tanh approximation (as in GPT-2).
# ---------------------------------------------------------------------------------------

_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def gelu_forward(x):
    """GELU(x) = 0.5 x (1 + tanh(k (x + a x^3))), k = sqrt(2/pi), a = 0.044715.

    Written as a chain of in-place operations on one buffer: the MLP's hidden layer is
    the largest activation in the model, and each temporary array costs a full pass
    over memory.  Element-wise, so split over threads by rows (``minigpt.parallel``).
    """
    x2d = x.reshape(-1, x.shape[-1])
    t = np.empty(x2d.shape, dtype=x.dtype)
    out = np.empty(x2d.shape, dtype=x.dtype)

    def rows(a, b):
        xs, u, o = x2d[a:b], t[a:b], out[a:b]
        np.multiply(xs, xs, out=u)
        u *= _GELU_A
        u += 1.0
        u *= xs
        u *= _GELU_K  # u = k (x + a x^3)
        np.tanh(u, out=u)
        np.add(u, 1.0, out=o)
        o *= xs
        o *= 0.5

    for_row_blocks(rows, len(x2d), x2d.size)
    return out.reshape(x.shape), (x, t.reshape(x.shape))


def gelu_backward(dout, cache):
    """d GELU/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2)."""
    x, t = cache
    C = x.shape[-1]
    x2d, t2d, dout2d = x.reshape(-1, C), t.reshape(-1, C), dout.reshape(-1, C)
    d = np.empty(x2d.shape, dtype=dout.dtype)
    scratch = np.empty(x2d.shape, dtype=dout.dtype)

    def rows(a, b):
        xs, ts, db, s = x2d[a:b], t2d[a:b], d[a:b], scratch[a:b]
        # second term, built in place: 0.5 k x (1 - t^2) (1 + 3 a x^2)
        np.multiply(xs, xs, out=db)
        db *= 3.0 * _GELU_A
        db += 1.0
        db *= xs
        db *= 0.5 * _GELU_K
        np.multiply(ts, ts, out=s)
        np.subtract(1.0, s, out=s)
        db *= s
        # first term 0.5 (1 + t)
        db += 0.5
        np.multiply(ts, 0.5, out=s)
        db += s
        db *= dout2d[a:b]

    for_row_blocks(rows, len(x2d), x2d.size)
    return d.reshape(dout.shape)


# ---------------------------------------------------------------------------------------
# Softmax over the last axis.
# ---------------------------------------------------------------------------------------


def softmax(z, axis=-1, out=None):
    """Numerically stable softmax: subtracting the max changes nothing mathematically
    but keeps exp() from overflowing.  With ``out=z`` it overwrites its input (the
    attention scores are not needed after their softmax)."""
    out = np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def log_softmax(z, axis=-1):
    """log(softmax(z)) computed without forming the softmax (no log(0))."""
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _log_softmax_rows(z2d):
    """``log_softmax`` of a (N, V) array, its rows split over threads (same numbers)."""
    out = np.empty_like(z2d)

    def rows(a, b):
        zs, o = z2d[a:b], out[a:b]
        np.subtract(zs, zs.max(axis=-1, keepdims=True), out=o)
        o -= np.log(np.exp(o).sum(axis=-1, keepdims=True))

    for_row_blocks(rows, len(z2d), z2d.size)
    return out


# ---------------------------------------------------------------------------------------
# Causal multi-head self-attention (on a fused q, k, v tensor).
# ---------------------------------------------------------------------------------------


def split_heads(x, n_head):
    """(B, T, C) -> (B, H, T, C // H)."""
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, hs) -> (B, T, H * hs)."""
    B, H, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * hs)


def causal_mask(T_query, T_key):
    """Boolean (T_query, T_key) mask, True where a query may NOT look (the future).

    The queries are the last ``T_query`` positions of a sequence of length ``T_key``.
    """
    offset = T_key - T_query
    return np.triu(np.ones((T_query, T_key), dtype=bool), k=1 + offset)


_MASK_BIAS_CACHE = {}


def causal_bias(T_query, T_key, dtype):
    """The mask as an additive (T_query, T_key) array: 0 where allowed, -inf in the
    future.  Adding it is one fast pass (x + -inf = -inf); cached per shape."""
    key = (T_query, T_key, np.dtype(dtype))
    bias = _MASK_BIAS_CACHE.get(key)
    if bias is None:
        bias = np.where(causal_mask(T_query, T_key), -np.inf, 0.0).astype(dtype)
        bias.flags.writeable = False
        _MASK_BIAS_CACHE[key] = bias
    return bias


def attention_forward(qkv, n_head):
    """Causal self-attention.

    qkv: (B, T, 3C), the output of the fused projection, laid out as [q | k | v].
    Returns y: (B, T, C), the heads' outputs side by side (before the output projection).

    For each head:  att = softmax(q k^T / sqrt(hs) + mask),  y = att v.
    """
    B, T, C3 = qkv.shape
    C = C3 // 3
    q, k, v = (split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))
    scale = 1.0 / math.sqrt(C // n_head)
    # scaling q (B, H, T, hs) is cheaper than scaling the (B, H, T, T) scores
    scores = (q * scale) @ k.transpose(0, 1, 3, 2)  # (B, H, T, T)
    bias = causal_bias(T, T, scores.dtype)

    def rows(a, b):  # sequences a..b of the batch (split over threads: minigpt.parallel)
        s = scores[a:b]
        s += bias  # -inf on the future: exp(-inf) = 0
        softmax(s, out=s)

    for_row_blocks(rows, B, scores.size)
    att = scores
    y = merge_heads(att @ v)
    return y, (q, k, v, att, scale)


def attention_backward(dy, cache):
    """dy: (B, T, C) -> dqkv: (B, T, 3C).

    Through y = att v:          datt = dy v^T,  dv = att^T dy
    Through att = softmax(s):   ds = att * (datt - sum(datt * att, over keys))
    Through s = q k^T * scale:  dq = ds k * scale,  dk = ds^T q * scale
    Masked entries have att = 0, so their gradient ds is 0 automatically.
    """
    q, k, v, att, scale = cache
    B, H, T, hs = q.shape
    dy = split_heads(dy, H)
    dqkv = np.empty((B, T, 3, H, hs), dtype=dy.dtype)  # filled head by head below
    dv = att.transpose(0, 1, 3, 2) @ dy
    dscores = dy @ v.transpose(0, 1, 3, 2)  # datt, turned into ds in place:

    def rows(a, b):  # sequences a..b of the batch, split over threads
        ds, at = dscores[a:b], att[a:b]
        ds -= (ds * at).sum(axis=-1, keepdims=True)
        ds *= at

    for_row_blocks(rows, B, dscores.size)
    dq = dscores @ k
    dq *= scale
    dk = dscores.transpose(0, 1, 3, 2) @ q
    dk *= scale
    # write the three gradients straight into the fused (B, T, 3C) layout
    dqkv[:, :, 0] = dq.transpose(0, 2, 1, 3)
    dqkv[:, :, 1] = dk.transpose(0, 2, 1, 3)
    dqkv[:, :, 2] = dv.transpose(0, 2, 1, 3)
    return dqkv.reshape(B, T, 3 * H * hs)


# ---------------------------------------------------------------------------------------
# Cross-entropy loss on logits, with ignored targets.
# ---------------------------------------------------------------------------------------

IGNORE_INDEX = -1


def cross_entropy_forward(logits, targets, ignore_index=IGNORE_INDEX):
    """Mean cross-entropy of ``targets`` under ``softmax(logits)``.

    logits: (..., V); targets: (...) integer ids, where ``ignore_index`` marks positions
    that do not count (SFT uses it to mask the prompt).  Returns a Python float.
    """
    V = logits.shape[-1]
    logits2d = logits.reshape(-1, V)
    targets1d = targets.reshape(-1)
    keep = targets1d != ignore_index
    n = int(keep.sum())
    if n == 0:
        raise ValueError(
            f"every target equals ignore_index={ignore_index}: the loss is undefined. "
            "Give at least one position a real target."
        )
    rows = np.flatnonzero(keep)
    logp = _log_softmax_rows(logits2d if n == len(keep) else logits2d[rows])  # (n, V): kept rows only
    loss = -float(logp[np.arange(n), targets1d[rows]].sum()) / n
    return loss, (logp, targets1d[rows], rows, logits.shape)


def cross_entropy_backward(cache, dloss=1.0):
    """Gradient of the mean cross-entropy with respect to the logits: (..., V).

    d loss / d logits = (softmax(logits) - onehot(target)) / n on kept rows, 0 elsewhere.
    """
    logp, kept_targets, rows, shape = cache
    n = len(rows)
    probs = np.empty_like(logp)  # softmax, recovered from the stored log-probabilities:
    for_row_blocks(lambda a, b: np.exp(logp[a:b], out=probs[a:b]), len(logp), logp.size)
    probs[np.arange(n), kept_targets] -= 1.0
    probs *= dloss / n
    if n == probs.shape[0] and n == int(np.prod(shape[:-1])):
        return probs.reshape(shape)  # nothing ignored: no scatter needed
    dlogits = np.zeros((int(np.prod(shape[:-1])), shape[-1]), dtype=logp.dtype)
    dlogits[rows] = probs
    return dlogits.reshape(shape)


# ---------------------------------------------------------------------------------------
# Log-probabilities of chosen tokens (the building block of SFT metrics, PPO and DPO).
# ---------------------------------------------------------------------------------------


def token_logprobs_forward(logits, ids):
    """log p(ids[b, t]) under softmax(logits[b, t]).

    logits: (B, T, V); ids: (B, T) integer ids (any value where the result is unused,
    e.g. padding, as long as it is a valid id).  Returns logp: (B, T).
    """
    logp_all = log_softmax(logits)
    logp = np.take_along_axis(logp_all, ids[..., None], axis=-1)[..., 0]
    return logp, (logp_all, ids)


def token_logprobs_backward(dlogp, cache):
    """dlogp: (B, T) -> dlogits: (B, T, V).

    d log p(i) / d logits = onehot(i) - softmax(logits), scaled by dlogp per position.
    """
    logp_all, ids = cache
    dlogits = np.exp(logp_all)  # softmax
    dlogits *= -dlogp[..., None]
    np.put_along_axis(dlogits, ids[..., None],
                      np.take_along_axis(dlogits, ids[..., None], axis=-1) + dlogp[..., None], axis=-1)
    return dlogits


def log_sigmoid(x):
    """log(1 / (1 + exp(-x))) without overflow for large |x|."""
    return -np.logaddexp(0.0, -x)


def sigmoid(x):
    """1 / (1 + exp(-x)), stable for large |x|."""
    return np.exp(log_sigmoid(x))
