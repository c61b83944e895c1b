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


def _assistant_groups(n=3, samples=1, length_bias=0.0):
    from minigpt.assistant import BiasedLabeller
    from minigpt.preferences import preference_groups
    from tiny_models import tiny_assistant

    examples, tokenizer, model = tiny_assistant(n, families=("add", "upper"))
    labeller = BiasedLabeller(length_bias=length_bias, tau=0.01, flip_prob=0.0, seed=0)
    return model, tokenizer, preference_groups(model, tokenizer, examples, labeller, samples=samples,
                                               max_new_tokens=6, seed=0)


def test_train_reward_model_fits_its_pairs_and_keeps_the_best_dev_weights():
    from minigpt.reward import RewardModel, RewardTrainConfig, pairwise_accuracy, train_reward_model

    model, tokenizer, groups = _assistant_groups(n=4)
    rm = RewardModel.from_gpt(model, seed=0)
    before = pairwise_accuracy(rm, tokenizer, groups, 64)
    config = RewardTrainConfig(steps=60, groups_per_batch=4, learning_rate=3e-3, min_lr=3e-4, warmup_steps=5,
                               eval_every=10)
    history = train_reward_model(rm, tokenizer, groups, groups, config)   # dev = train: it must fit them
    after = pairwise_accuracy(rm, tokenizer, groups, 64)
    assert history["eval_step"] == [0, 10, 20, 30, 40, 50, 60]
    assert after["loss"] < before["loss"] - 0.1
    assert after["vs_labeller"] > 0.8
    # early stopping: the model holds the weights of the lowest dev loss
    assert after["loss"] == pytest.approx(min(history["dev_loss"]), rel=1e-6)
    assert history["eval_step"][int(np.argmin(history["dev_loss"]))] == history["best_step"]
    assert after["predicted"].shape == after["true"].shape == (after["pairs"],)
    with pytest.raises(ValueError, match="dev groups"):
        train_reward_model(rm, tokenizer, groups, [], config)


def test_pairwise_accuracy_against_gold_and_on_other_question_pairs():
    from minigpt.reward import RewardModel, pairwise_accuracy, score_groups

    model, tokenizer, groups = _assistant_groups(n=3)
    rm = RewardModel.from_gpt(model, seed=1)
    rewards, chosen, rejected, a, b, label = score_groups(rm, tokenizer, groups, 64, batch_groups=2)
    measured = pairwise_accuracy(rm, tokenizer, groups, 64)
    assert measured["vs_labeller"] == pytest.approx(float(np.mean(rewards[chosen] > rewards[rejected])))
    # by hand: each group's reference (candidate 1) against the other question's reply (candidate 2)
    expected = np.mean([rewards[3 * i + 1] > rewards[3 * i + 2] for i in range(len(groups))])
    assert measured["other_question"] == pytest.approx(expected)
