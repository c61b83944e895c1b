"""Tests for minigpt.dpo: answer log-probabilities and the DPO loss, gradient-checked in float64."""

import numpy as np
import pytest

from minigpt.dpo import answer_logprobs_backward, answer_logprobs_forward, dpo_loss_backward, dpo_loss_forward
from minigpt.gradcheck import numerical_gradient, relative_error
from tiny_models import tiny_model


def test_answer_logprobs_gradient():
    model = tiny_model()
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 9, (3, 7))
    mask = np.zeros((3, 7), bool)
    mask[:, 3:] = True
    mask[2, 5:] = False  # a shorter answer, then padding
    w = rng.normal(size=3)
    logp, cache = answer_logprobs_forward(model, idx, mask)
    grads = answer_logprobs_backward(model, w, cache)
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.wpe.weight"):
        numeric = numerical_gradient(lambda: float(answer_logprobs_forward(model, idx, mask)[0] @ w),
                                     model.params[name])
        assert relative_error(grads[name], numeric) < 1e-6, name

def test_dpo_loss_gradient_and_stats():
    rng = np.random.default_rng(3)
    pc, pr, rc, rr = rng.normal(size=(4, 6)) * 3
    loss, stats, cache = dpo_loss_forward(pc, pr, rc, rr, beta=0.1)
    z = 0.1 * ((pc - rc) - (pr - rr))
    assert loss == pytest.approx(np.mean(np.log1p(np.exp(-z))))
    assert stats["reward_accuracy"] == pytest.approx(np.mean(z > 0))
    d_c, d_r = dpo_loss_backward(cache)
    assert relative_error(d_c, numerical_gradient(lambda: dpo_loss_forward(pc, pr, rc, rr, 0.1)[0], pc)) < 1e-6
    assert relative_error(d_r, numerical_gradient(lambda: dpo_loss_forward(pc, pr, rc, rr, 0.1)[0], pr)) < 1e-6

def test_dpo_loss_at_start_is_log2():
    """With the policy equal to the reference every implicit reward is 0."""
    logp = np.array([-3.0, -5.0])
    loss, stats, _ = dpo_loss_forward(logp, logp, logp, logp)
    assert loss == pytest.approx(np.log(2))
    assert stats["reward_margin"] == 0
