"""The layers of a GPT, each as a forward and a backward function.

Part I of the book builds them: the linear layer and the softmax cross-entropy in
chapter 3 (Backpropagation by hand), causal self-attention in chapter 4 (Attention),
LayerNorm and GELU in chapter 5 (The transformer block and the GPT), where
``minigpt.model`` wires them into a GPT.  The last section (log-probabilities of chosen
tokens, the sigmoid) serves the alignment losses of part II (chapters 10-12).

Every layer follows one convention (the one of Stanford's cs231n ``layers.py``):

* ``out, cache = xxx_forward(inputs..., params...)`` computes the output and keeps in
  ``cache`` exactly what the backward pass will need;
* ``grads = xxx_backward(dout, cache)`` takes the gradient of the loss with respect to
  ``out`` and returns the gradients with respect to the inputs and parameters.

Nothing here knows about the model as a whole, and ``tests/test_layers.py`` checks every
backward function against finite differences in float64.

Shapes use B = batch, T = time (sequence length), C = channels (d_model), H = heads,
hs = head size (C // H), V = vocabulary size.  Weights of linear layers are stored as
``(out_features, in_features)``, as PyTorch and nanoGPT store them, so ``state_dict`` can
be moved between the two.

All functions keep the dtype of their inputs (float32 for training, float64 for the
gradient checks): constants are Python floats, which NumPy never uses to upcast.
"""

from __future__ import annotations

import math

import numpy as np

# Targets equal to IGNORE_INDEX do not count in the loss (SFT uses it to mask the prompt).
IGNORE_INDEX = -1

# ---------------------------------------------------------------------------------------
# Embedding: a table lookup (chapter 5).
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
# Linear: y = x W^T + b (chapter 3).
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
# LayerNorm: normalise each position's C features, then scale and shift (chapter 5).
# ---------------------------------------------------------------------------------------


def layernorm_forward(x, weight, bias, eps=1e-5):
    """x: (..., C), weight, bias: (C,) -> (..., C).

    y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last axis
    (biased variance, as in PyTorch).
    """
    xhat = x - x.mean(axis=-1, keepdims=True)  # x - mean
    rstd = 1.0 / np.sqrt(np.mean(xhat * xhat, axis=-1, keepdims=True) + eps)  # 1 / sqrt(var + eps)
    xhat *= rstd  # in place: x - mean becomes the normalised x
    out = xhat * weight
    out += bias
    return out, (xhat, rstd, weight)


def layernorm_backward(dout, cache):
    """dout: (..., C) -> (dx: (..., C), dweight: (C,), dbias: (C,)).

    With xhat the normalised input and g = dout * weight, the gradient through the
    normalisation is  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    xhat, rstd, weight = cache
    C = xhat.shape[-1]
    gx = dout * xhat
    dweight = gx.reshape(-1, C).sum(axis=0)  # the parameters' gradients sum over every position
    dbias = dout.reshape(-1, C).sum(axis=0)
    gx *= weight  # now g * xhat
    g = dout * weight
    dx = g - xhat * gx.mean(axis=-1, keepdims=True)
    dx -= g.mean(axis=-1, keepdims=True)
    dx *= rstd
    return dx, dweight, dbias


# ---------------------------------------------------------------------------------------
# GELU, tanh approximation, as in GPT-2 (chapter 5).
# ---------------------------------------------------------------------------------------

_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def gelu_forward(x):
    """GELU(x) = 0.5 x (1 + tanh(k (x + a x^3))), k = sqrt(2/pi), a = 0.044715.

    Written as a chain of in-place operations on one buffer: the MLP's hidden layer is
    the largest activation in the model, and each temporary array costs a full pass
    over memory (the appendix measures what this buys).
    """
    t = x * x
    t *= _GELU_A
    t += 1.0
    t *= x
    t *= _GELU_K  # k (x + a x^3)
    np.tanh(t, out=t)
    out = t + 1.0
    out *= x
    out *= 0.5
    return out, (x, t)


def gelu_backward(dout, cache):
    """d GELU/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2), t = tanh(k (x + a x^3))."""
    x, t = cache
    d = x * x  # the second term, built in place: 0.5 k x (1 - t^2) (1 + 3 a x^2)
    d *= 3.0 * _GELU_A
    d += 1.0
    d *= x
    d *= 0.5 * _GELU_K
    d *= 1.0 - t * t
    d += 0.5  # plus the first term, 0.5 (1 + t)
    d += t * 0.5
    d *= dout
    return d


# ---------------------------------------------------------------------------------------
# Softmax over the last axis (chapters 3 and 4).
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
    out = z - z.max(axis=axis, keepdims=True)
    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
    return out


# ---------------------------------------------------------------------------------------
# Causal multi-head self-attention on a fused q, k, v tensor (chapter 4), with an optional
# cache of past keys and values for generation (chapter 8).
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


class KVCache:
    """The keys and values of the positions one attention layer has seen (generation).

    Preallocated as two (B, H, max_len, hs) arrays; ``length`` positions are filled.
    ``attention_forward(..., kv_cache=cache)`` appends the new positions' keys and values
    and attends over all of them, so each generated token costs one position's work.
    """

    def __init__(self, batch_size, n_head, max_len, head_size, dtype):
        self.keys = np.zeros((batch_size, n_head, max_len, head_size), dtype)
        self.values = np.zeros((batch_size, n_head, max_len, head_size), dtype)
        self.length = 0

    def append(self, k, v):
        """Store k, v: (B, H, T, hs) after the cached positions; return all keys and
        values so far, (B, H, length, hs) each (views of the cache)."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError(f"the KV cache holds {self.keys.shape[2]} positions; {end} do not fit")
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


def attention_forward(qkv, n_head, kv_cache=None):
    """Causal self-attention.

    qkv: (B, T, 3C), the output of the fused projection, laid out as [q | k | v].
    Returns y: (B, T, C), the heads' outputs side by side (before the output projection).

    For each head:  att = softmax(q k^T / sqrt(hs) + mask),  y = att v.

    kv_cache (generation only): a ``KVCache`` holding the keys and values of earlier
    positions; the T new positions follow them, are added to it, and attend to all of
    them.  The backward pass needs no cache (training sees whole sequences).
    """
    B, T, _ = qkv.shape
    q, k, v = (split_heads(part, n_head) for part in np.split(qkv, 3, axis=-1))  # (B, H, T, hs) each
    if kv_cache is not None:
        k, v = kv_cache.append(k, v)  # (B, H, T_past + T, hs) each
    scale = 1.0 / math.sqrt(q.shape[-1])
    # scaling q (B, H, T, hs) is cheaper than scaling the (B, H, T, T) scores
    scores = (q * scale) @ k.transpose(0, 1, 3, 2)  # (B, H, T, T_key)
    scores += causal_bias(T, k.shape[2], scores.dtype)  # -inf on the future: exp(-inf) = 0
    att = softmax(scores, out=scores)  # (B, H, T, T_key)
    y = merge_heads(att @ v)  # (B, T, C)
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
    dy = split_heads(dy, H)  # (B, H, T, hs)
    dv = att.transpose(0, 1, 3, 2) @ dy  # (B, H, T, hs)
    ds = dy @ v.transpose(0, 1, 3, 2)  # datt (B, H, T, T), turned into ds in place:
    ds -= (ds * att).sum(axis=-1, keepdims=True)
    ds *= att
    dq = ds @ k  # (B, H, T, hs)
    dq *= scale
    dk = ds.transpose(0, 1, 3, 2) @ q  # (B, H, T, hs)
    dk *= scale
    # write the three gradients straight into the fused (B, T, 3C) layout
    dqkv = np.empty((B, T, 3, H, hs), dtype=dy.dtype)
    dqkv[:, :, 0] = dq.transpose(0, 2, 1, 3)
    dqkv[:, :, 1] = dk.transpose(0, 2, 1, 3)
    dqkv[:, :, 2] = dv.transpose(0, 2, 1, 3)
    return dqkv.reshape(B, T, 3 * H * hs)


# ---------------------------------------------------------------------------------------
# Cross-entropy loss on logits, with ignored targets (chapter 3; the mask: chapter 9).
# ---------------------------------------------------------------------------------------


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
    logp = log_softmax(logits2d if n == len(keep) else logits2d[rows])  # (n, V): kept rows only
    loss = -float(logp[np.arange(n), targets1d[rows]].sum()) / n
    return loss, (logp, targets1d[rows], rows, logits.shape)


def cross_entropy_backward(dloss, cache):
    """Gradient of ``dloss`` times the mean cross-entropy with respect to the logits: (..., V).

    dloss is the gradient of the final objective with respect to the loss (1.0 when the
    loss is the objective).  d loss / d logits = (softmax(logits) - onehot(target)) / n
    on kept rows, 0 elsewhere.
    """
    logp, kept_targets, rows, shape = cache
    n = len(rows)
    probs = np.exp(logp)  # (n, V): the softmax, recovered from the stored log-probabilities
    probs[np.arange(n), kept_targets] -= 1.0
    probs *= dloss / n
    n_positions = int(np.prod(shape[:-1]))
    if n == n_positions:
        return probs.reshape(shape)  # nothing ignored: no scatter needed
    dlogits = np.zeros((n_positions, shape[-1]), dtype=logp.dtype)
    dlogits[rows] = probs
    return dlogits.reshape(shape)


# ---------------------------------------------------------------------------------------
# Log-probabilities of chosen tokens, and the sigmoid: the building blocks of the reward
# model (chapter 10), PPO (chapter 11) and DPO (chapter 12).
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
