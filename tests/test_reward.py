"""Tests for minigpt.reward: the Bradley-Terry loss and the reward model, gradient-checked in float64."""

import numpy as np
import pytest

from minigpt.gradcheck import numerical_gradient, relative_error
from minigpt.reward import RewardModel, bradley_terry_backward, bradley_terry_forward, reward_step
from tiny_models import TINY, tiny_model


def test_bradley_terry_gradient_and_value():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=5)
    chosen, rejected = np.array([0, 0, 1, 3, 4]), np.array([1, 2, 2, 4, 0])
    loss, acc, cache = bradley_terry_forward(rewards, chosen, rejected, center_coef=0.01)
    margin = rewards[chosen] - rewards[rejected]
    expected = np.mean(np.log1p(np.exp(-margin))) + 0.01 * np.mean((rewards[chosen] + rewards[rejected]) ** 2)
    assert loss == pytest.approx(expected)
    assert acc == pytest.approx(np.mean(margin > 0))
    numeric = numerical_gradient(lambda: bradley_terry_forward(rewards, chosen, rejected, 0.01)[0], rewards)
    assert relative_error(bradley_terry_backward(cache), numeric) < 1e-6

def test_reward_model_end_to_end_gradient():
    rm = RewardModel(tiny_model(), seed=1)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 9, (4, 6))
    last = np.array([5, 3, 4, 2])
    chosen, rejected = np.array([0, 2, 1]), np.array([1, 3, 3])
    _, _, grads = reward_step(rm, idx, last, chosen, rejected)
    assert set(grads) == set(rm.params)

    def loss():
        scores = rm.forward(idx)
        return bradley_terry_forward(scores[np.arange(4), last], chosen, rejected)[0]

    for name in ("head.weight", "head.bias", "transformer.h.0.mlp.c_fc.weight", "transformer.wte.weight"):
        err = relative_error(grads[name], numerical_gradient(loss, rm.params[name]))
        assert err < 1e-6, f"{name}: {err:.2e}"

def test_reward_model_copies_its_trunk_and_round_trips():
    base = tiny_model()
    rm = RewardModel.from_gpt(base)
    rm.params["transformer.wte.weight"][0, 0] += 1.0
    assert base.params["transformer.wte.weight"][0, 0] != rm.params["transformer.wte.weight"][0, 0]
    clone = RewardModel.from_state_dict(TINY, rm.state_dict())
    idx = np.array([[1, 2, 3, 4]])
    np.testing.assert_allclose(clone.forward(idx), rm.forward(idx))
