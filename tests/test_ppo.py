"""Tests for minigpt.ppo: the clipped policy and value losses (gradient-checked in float64), GAE, whitening, rollouts and one PPO iteration."""

import numpy as np
import pytest

from minigpt import GPT, GPTConfig, ppo
from minigpt.gradcheck import numerical_gradient, relative_error
from minigpt.reward import RewardModel


def test_ppo_policy_loss_gradient():
    rng = np.random.default_rng(4)
    old = rng.normal(size=(3, 5))
    logp = old + rng.normal(0, 0.3, size=(3, 5))  # some ratios outside the clip range
    adv = rng.normal(size=(3, 5))
    mask = (rng.random((3, 5)) < 0.8).astype(float)
    loss, stats, cache = ppo.policy_loss_forward(logp, old, adv, mask, 0.2)
    assert 0 < stats["clip_fraction"] < 1
    numeric = numerical_gradient(lambda: ppo.policy_loss_forward(logp, old, adv, mask, 0.2)[0], logp)
    assert relative_error(ppo.policy_loss_backward(cache), numeric) < 1e-6

def test_ppo_policy_loss_equals_pg_at_ratio_one():
    adv = np.array([[1.0, -2.0, 0.5]])
    lp = np.array([[-1.0, -2.0, -0.5]])
    mask = np.ones((1, 3))
    loss, stats, _ = ppo.policy_loss_forward(lp, lp, adv, mask)
    assert loss == pytest.approx(-adv.mean())
    assert stats["clip_fraction"] == 0 and stats["approx_kl"] == pytest.approx(0) and stats["ratio"] == 1

def test_ppo_value_loss_gradient():
    rng = np.random.default_rng(5)
    old_v = rng.normal(size=(2, 6))
    v = old_v + rng.normal(0, 0.3, size=(2, 6))
    R = rng.normal(size=(2, 6))
    mask = np.ones((2, 6))
    mask[1, 4:] = 0
    loss, cache = ppo.value_loss_forward(v, old_v, R, mask, 0.2)
    numeric = numerical_gradient(lambda: ppo.value_loss_forward(v, old_v, R, mask, 0.2)[0], v)
    assert relative_error(ppo.value_loss_backward(cache), numeric) < 1e-6

def test_gae_by_hand():
    rewards = np.array([[0.0, 0.0, 1.0, 0.0]])
    values = np.array([[0.5, 0.2, 0.4, 0.0]])
    mask = np.array([[1.0, 1.0, 1.0, 0.0]])
    adv, ret = ppo.gae(rewards, values, mask, gamma=1.0, lam=0.5)
    d2 = 1.0 - 0.4
    d1 = 0.0 + 0.4 - 0.2
    d0 = 0.0 + 0.2 - 0.5
    a2, a1 = d2, d1 + 0.5 * d2
    a0 = d0 + 0.5 * a1
    np.testing.assert_allclose(adv[0], [a0, a1, a2, 0.0])
    np.testing.assert_allclose(ret[0, :3], adv[0, :3] + values[0, :3])
    # with lambda = 1 and gamma = 1 the advantage is the reward-to-go minus the value
    adv1, _ = ppo.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    np.testing.assert_allclose(adv1[0, :3], 1.0 - values[0, :3])

def test_whiten():
    x = np.array([[1.0, 2.0, 3.0, 100.0]])
    mask = np.array([[1.0, 1.0, 1.0, 0.0]])
    w = ppo.whiten(x, mask)
    assert w[0, 3] == 0
    assert w[0, :3].mean() == pytest.approx(0) and w[0, :3].std() == pytest.approx(1, rel=1e-6)

def test_pack_rollout_masks_answer_actions():
    prompts = [np.array([1, 2, 3]), np.array([4, 5])]
    answers = [np.array([6, 8]), np.array([7, 7, 7])]  # 8 is the end token
    ro = ppo.pack_rollout(prompts, answers, end_id=8)
    np.testing.assert_array_equal(ro.idx, [[1, 2, 3, 6, 8], [4, 5, 7, 7, 7]])
    np.testing.assert_array_equal(ro.action_mask, [[0, 0, 1, 1], [0, 1, 1, 1]])
    np.testing.assert_array_equal(ro.last, [4, 4])
    np.testing.assert_array_equal(ro.ended, [True, False])

def test_a_ppo_iteration_runs_and_logs_everything():
    cfg = GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, d_model=16)
    policy, reference = GPT(cfg, seed=0), GPT(cfg, seed=0)
    rm = RewardModel(GPT(cfg, seed=1), seed=0)
    vm = RewardModel.from_gpt(rm.trunk)
    trainer = ppo.PPOTrainer(policy, reference, rm, vm, end_id=11,
                             config=ppo.PPOConfig(rollout_size=8, minibatch_size=4, ppo_epochs=2,
                                                  max_new_tokens=6, learning_rate=1e-3))
    prompts = [np.array([1, 2, 3]), np.array([4, 5]), np.array([1, 2, 3]), np.array([6])]
    stats = trainer.step(prompts)
    for key in ("reward_model_score", "kl", "entropy", "approx_kl", "clip_fraction", "ratio", "value_loss",
                "policy_loss", "answer_length"):
        assert np.isfinite(stats[key]), key
    assert abs(stats["kl"]) < 1e-5  # first rollout: policy == reference
    assert not np.array_equal(policy.params["transformer.wte.weight"], reference.params["transformer.wte.weight"])


def test_train_ppo_runs_on_the_assistant_task_and_evaluates_on_schedule():
    import copy

    from minigpt.ppo import PPOConfig, train_ppo
    from minigpt.reward import RewardModel
    from tiny_models import tiny_assistant

    examples, tokenizer, policy = tiny_assistant()
    reference = copy.deepcopy(policy)
    reward_model = RewardModel.from_gpt(policy, seed=1)
    value_model = RewardModel.from_gpt(policy, seed=2)
    before = copy.deepcopy(policy.params)
    config = PPOConfig(iterations=3, rollout_size=4, minibatch_size=4, ppo_epochs=1, max_new_tokens=5,
                       learning_rate=1e-3)
    calls = []
    history = train_ppo(policy, reference, reward_model, value_model, tokenizer, examples, config,
                        evaluate=lambda it: calls.append(it) or {}, eval_every=2)
    assert calls == [0, 2, 3] and len(history["steps"]) == 3
    assert {"reward_model_score", "kl", "policy_loss"} <= set(history["steps"][0])
    assert any(not np.array_equal(before[k], policy.params[k]) for k in before)
    with pytest.raises(ValueError, match="rollout_size"):
        train_ppo(policy, reference, reward_model, value_model, tokenizer, examples[:3], config)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_action_logprobs_backward_matches_finite_differences_at_a_temperature(temperature):
    """d(sum w * logp)/dlogits through the 1/T scaling, against finite differences in float64."""
    from minigpt.ppo import action_logprobs, action_logprobs_backward
    from tiny_models import tiny_model

    model = tiny_model(3)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 9, (2, 5))
    weights = rng.normal(size=(2, 4))
    logits, _ = model.forward(idx)
    model.release()

    def loss_of(logits_):
        import minigpt.layers as L
        scaled = logits_[:, :-1] / temperature
        logp, _ = L.token_logprobs_forward(scaled, idx[:, 1:])
        return float((weights * logp).sum())

    logp, _, cache = action_logprobs(model, idx, temperature=temperature)
    assert float((weights * logp).sum()) == pytest.approx(loss_of(logits))
    analytic = action_logprobs_backward(weights, cache)
    numeric = numerical_gradient(lambda: loss_of(logits), logits)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_action_logprobs_entropy_is_that_of_the_scaled_softmax(temperature):
    """The entropy at each position is -sum p log p of softmax(logits / T), computed in float64
    by hand; with entropy=False it is skipped (None) and the log-probabilities are unchanged."""
    from minigpt.ppo import action_logprobs
    from tiny_models import tiny_model

    model = tiny_model(3)
    idx = np.random.default_rng(1).integers(0, 9, (3, 6))
    logits, _ = model.forward(idx)
    model.release()
    z = logits[:, :-1].astype(np.float64) / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    by_hand = -(p * np.log(p)).sum(axis=-1)                         # (B, T-1)
    logp, entropy, _ = action_logprobs(model, idx, temperature=temperature)
    assert entropy.shape == logp.shape == (3, 5)
    np.testing.assert_allclose(entropy, by_hand, rtol=1e-5, atol=1e-6)
    logp_without, none, _ = action_logprobs(model, idx, temperature=temperature, entropy=False)
    assert none is None
    np.testing.assert_array_equal(logp_without, logp)
