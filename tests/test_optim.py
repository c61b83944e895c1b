"""AdamW, the learning-rate schedule and gradient clipping."""

import numpy as np
import pytest

from minigpt import GPT, AdamW, GPTConfig
from minigpt.optim import clip_grad_norm, cosine_lr, global_grad_norm


def test_adamw_matches_formula_by_hand():
    p = {"w": np.array([[1.0, -2.0]]), "b": np.array([0.5])}
    g = {"w": np.array([[0.1, 0.3]]), "b": np.array([-0.2])}
    opt = AdamW(p, lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5)
    w0 = p["w"].copy()
    opt.step(g)
    # step 1: m_hat = g, v_hat = g^2, so the Adam step is lr * sign(g); w also decays
    expected_w = w0 * (1 - 0.1 * 0.5) - 0.1 * g["w"] / (np.abs(g["w"]) + 1e-8)
    np.testing.assert_allclose(p["w"], expected_w)
    np.testing.assert_allclose(p["b"], [0.5 + 0.1])  # 1-D: no decay
    opt.step(g)
    m = 0.9 * 0.1 * g["w"] + 0.1 * g["w"]
    v = 0.99 * 0.01 * g["w"] ** 2 + 0.01 * g["w"] ** 2
    expected_w = expected_w * (1 - 0.05) - 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.99**2)) + 1e-8)
    np.testing.assert_allclose(p["w"], expected_w)


def test_weight_decay_only_on_linear_weights():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, d_model=4))
    opt = AdamW(model.params, lr=1.0, weight_decay=0.1)
    decayed = {name for name, d in opt.decays.items() if d}
    assert decayed == {"transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight",
                       "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.weight"}


def test_adamw_updates_in_place_and_keeps_dtype():
    w = np.ones((2, 2), dtype=np.float32)
    params = {"w": w}
    AdamW(params, lr=0.1).step({"w": np.ones((2, 2), dtype=np.float32)})
    assert params["w"] is w and w.dtype == np.float32 and np.all(w < 1)


def test_adamw_minimises_a_quadratic():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(5, 3))
    p = {"x": np.zeros((5, 3))}
    opt = AdamW(p, lr=0.05, betas=(0.9, 0.999))
    for _ in range(1000):
        opt.step({"x": 2 * (p["x"] - target)})
    np.testing.assert_allclose(p["x"], target, atol=1e-3)


def test_schedule_warmup_peak_and_floor():
    lrs = [cosine_lr(s, 1e-3, 1e-4, 100, 2000) for s in range(2500)]
    assert lrs[0] == pytest.approx(1e-3 / 101)
    assert np.all(np.diff(lrs[:100]) > 0)  # warmup rises
    assert max(lrs) == pytest.approx(1e-3)
    assert np.all(np.diff(lrs[100:2000]) <= 0)  # cosine falls
    assert lrs[1050] == pytest.approx((1e-3 + 1e-4) / 2, rel=1e-6)  # halfway
    assert lrs[2000] == lrs[2499] == 1e-4


def test_clip_grad_norm():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert global_grad_norm(grads) == pytest.approx(5.0)
    before = clip_grad_norm(grads, 1.0)
    assert before == pytest.approx(5.0)
    assert global_grad_norm(grads) == pytest.approx(1.0, rel=1e-5)
    small = {"a": np.array([0.3])}
    clip_grad_norm(small, 1.0)
    assert small["a"][0] == 0.3  # below the threshold: untouched


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [{"w": rng.normal(size=(3, 3))} for _ in range(6)]
    a = {"w": np.ones((3, 3))}
    opt_a = AdamW(a, lr=0.01, weight_decay=0.1)
    for g in grads[:3]:
        opt_a.step(g)
    b = {"w": a["w"].copy()}
    opt_b = AdamW(b, lr=0.5)
    opt_b.load_state_dict(opt_a.state_dict())
    for g in grads[3:]:
        opt_a.step(g)
        opt_b.step(g)
    np.testing.assert_array_equal(a["w"], b["w"])
    with pytest.raises(ValueError, match="shape"):
        AdamW({"w": np.ones(2)}, lr=1).load_state_dict(opt_a.state_dict())
