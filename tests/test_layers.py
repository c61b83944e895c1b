"""Every backward function in minigpt.layers against finite differences, in float64."""

import numpy as np
import pytest

from minigpt import layers as L
from minigpt.gradcheck import numerical_gradient, relative_error

TOL = 1e-6


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def check_layer(forward, backward, inputs, rng, n_outputs_grad=None):
    """Check d(sum(out * w))/d(input) for each input, with a random projection w so that
    every output element matters differently."""
    out, cache = forward(*inputs)
    w = rng.normal(size=out.shape)
    analytic = backward(w, cache)
    if not isinstance(analytic, tuple):
        analytic = (analytic,)
    for k, (x, g) in enumerate(zip(inputs, analytic)):
        if x.dtype.kind != "f":
            continue
        numeric = numerical_gradient(lambda: float(np.sum(forward(*inputs)[0] * w)), x)
        err = relative_error(g, numeric)
        assert g.shape == x.shape
        assert err < TOL, f"input {k}: relative error {err:.2e}"


def test_linear(rng):
    x, W, b = rng.normal(size=(2, 3, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    check_layer(L.linear_forward, L.linear_backward, (x, W, b), rng)


def test_layernorm(rng):
    x = rng.normal(size=(2, 3, 6)) * 3 + 1
    w, b = rng.normal(size=6), rng.normal(size=6)
    check_layer(L.layernorm_forward, L.layernorm_backward, (x, w, b), rng)


def test_layernorm_normalises(rng):
    x = rng.normal(size=(4, 16)) * 5 + 3
    out, _ = L.layernorm_forward(x, np.ones(16), np.zeros(16))
    np.testing.assert_allclose(out.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(-1), 1, rtol=1e-4)  # eps=1e-5 shrinks it a hair


def test_gelu(rng):
    x = rng.normal(size=(3, 7)) * 2
    check_layer(L.gelu_forward, L.gelu_backward, (x,), rng)


def test_gelu_matches_known_values():
    out, _ = L.gelu_forward(np.array([-3.0, 0.0, 1.0, 3.0]))
    # tanh-approximate GELU (as in PyTorch's gelu(approximate='tanh'))
    np.testing.assert_allclose(out, [-0.0036373, 0.0, 0.8411920, 2.9963627], atol=1e-6)


def test_attention(rng):
    qkv = rng.normal(size=(2, 5, 3 * 6))
    check_layer(lambda q: L.attention_forward(q, 2), L.attention_backward, (qkv,), rng)


def test_attention_is_causal(rng):
    qkv = rng.normal(size=(1, 6, 12))
    y, _ = L.attention_forward(qkv, 2)
    changed = qkv.copy()
    changed[:, 4:] += 10.0  # change the future
    y2, _ = L.attention_forward(changed, 2)
    np.testing.assert_allclose(y[:, :4], y2[:, :4])
    assert not np.allclose(y[:, 4:], y2[:, 4:])


def test_attention_single_head_by_hand(rng):
    q, k, v = rng.normal(size=(3, 4, 3))
    y, _ = L.attention_forward(np.concatenate([q, k, v], -1)[None], 1)
    scores = q @ k.T / np.sqrt(3)
    scores[np.triu_indices(4, 1)] = -np.inf
    att = np.exp(scores - scores.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    np.testing.assert_allclose(y[0], att @ v, rtol=1e-12)


def test_attention_with_kv_cache_matches_whole_sequence(rng):
    """Generation: positions fed a few at a time through a KVCache give the outputs the
    whole sequence gives at once."""
    qkv = rng.normal(size=(2, 7, 3 * 6))
    y_full, _ = L.attention_forward(qkv, 2)
    cache = L.KVCache(batch_size=2, n_head=2, max_len=8, head_size=3, dtype=np.float64)
    ys = [L.attention_forward(qkv[:, a:b], 2, kv_cache=cache)[0] for a, b in [(0, 3), (3, 4), (4, 7)]]
    assert cache.length == 7
    np.testing.assert_allclose(np.concatenate(ys, axis=1), y_full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="KV cache holds 8"):
        L.attention_forward(qkv[:, :2], 2, kv_cache=cache)


def test_embedding(rng):
    W = rng.normal(size=(7, 4))
    idx = np.array([[1, 3, 1], [6, 1, 0]])  # repeated ids must accumulate
    out, cache = L.embedding_forward(idx, W)
    dout = rng.normal(size=out.shape)
    dW = L.embedding_backward(dout, cache)
    numeric = numerical_gradient(lambda: float(np.sum(L.embedding_forward(idx, W)[0] * dout)), W)
    assert relative_error(dW, numeric) < TOL


def test_cross_entropy(rng):
    logits = rng.normal(size=(2, 4, 9)) * 2
    targets = rng.integers(0, 9, size=(2, 4))
    targets[0, :2] = -1  # ignored positions
    loss, cache = L.cross_entropy_forward(logits, targets)
    analytic = L.cross_entropy_backward(1.0, cache)
    numeric = numerical_gradient(lambda: L.cross_entropy_forward(logits, targets)[0], logits)
    assert relative_error(analytic, numeric) < TOL
    assert np.all(analytic[0, :2] == 0)
    np.testing.assert_allclose(L.cross_entropy_backward(0.5, cache), 0.5 * analytic, rtol=1e-12)


def test_cross_entropy_value():
    logits = np.log(np.array([[[0.5, 0.25, 0.25]]]))
    loss, _ = L.cross_entropy_forward(logits, np.array([[1]]))
    assert loss == pytest.approx(np.log(4))


def test_cross_entropy_all_ignored_is_an_error():
    with pytest.raises(ValueError, match="every target"):
        L.cross_entropy_forward(np.zeros((1, 2, 3)), np.full((1, 2), -1))


def test_softmax_survives_huge_logits():
    p = L.softmax(np.array([[1000.0, 0.0, -1000.0]]))
    assert np.isfinite(p).all() and p[0, 0] == pytest.approx(1.0)
    assert np.isfinite(L.log_softmax(np.array([[1000.0, 0.0]]))).all()


def test_layers_keep_float32():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    assert L.layernorm_forward(x, np.ones(8, np.float32), np.zeros(8, np.float32))[0].dtype == np.float32
    assert L.gelu_forward(x)[0].dtype == np.float32
    qkv = rng.normal(size=(2, 3, 24)).astype(np.float32)
    y, cache = L.attention_forward(qkv, 2)
    assert y.dtype == np.float32 and L.attention_backward(y, cache).dtype == np.float32


def test_token_logprobs(rng):
    logits = rng.normal(size=(2, 3, 5)) * 2
    ids = rng.integers(0, 5, (2, 3))
    logp, _ = L.token_logprobs_forward(logits, ids)
    expected = np.log(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(logp, np.take_along_axis(expected, ids[..., None], -1)[..., 0])
    check_layer(lambda lg: L.token_logprobs_forward(lg, ids), L.token_logprobs_backward, (logits,), rng)


def test_log_sigmoid_is_stable():
    x = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    np.testing.assert_allclose(L.log_sigmoid(x), [-1000.0, np.log(1 / (1 + np.e)), np.log(0.5),
                                                  np.log(1 / (1 + np.exp(-1))), 0.0], atol=1e-12)
    np.testing.assert_allclose(L.sigmoid(np.array([0.0, 1000.0, -1000.0])), [0.5, 1.0, 0.0])
