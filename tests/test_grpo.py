"""GRPO (minigpt/grpo.py): group advantages, the KL penalty and its gradient, and a trainer
that raises a verifiable reward on a toy task."""

import copy

import numpy as np
import pytest

from minigpt import GPT, GPTConfig
from minigpt.gradcheck import numerical_gradient, relative_error
from minigpt.grpo import GRPOConfig, GRPOTrainer, group_advantages, kl_penalty_backward, kl_penalty_forward
from minigpt.ppo import policy_loss_backward, policy_loss_forward


def test_group_advantages_by_hand():
    rewards = [1, 0, 0, 1, 1, 1, 1, 0]            # two groups of four: half right, three right
    plain = group_advantages(rewards, 4, scale=False)
    assert plain.tolist() == [0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75]
    scaled = group_advantages(rewards, 4, scale=True)
    std_half, std_three = 0.5, np.sqrt(0.75 * 0.25)
    assert np.allclose(scaled, [1, -1, -1, 1] + [0.25 / std_three] * 3 + [-0.75 / std_three], rtol=1e-5)
    assert np.allclose(plain[:4] / std_half, scaled[:4], rtol=1e-5)
    assert group_advantages([1, 1, 1, 1], 4).tolist() == [0, 0, 0, 0]   # nothing to learn from
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages([1, 0, 1], 2)


def test_kl_penalty_is_zero_at_the_reference_and_positive_elsewhere():
    rng = np.random.default_rng(0)
    logp = rng.normal(-2, 0.5, (3, 5))
    mask = np.ones((3, 5))
    assert kl_penalty_forward(logp, logp, mask)[0] == 0.0
    assert kl_penalty_forward(logp, logp + rng.normal(0, 0.3, (3, 5)), mask)[0] > 0


def test_kl_estimator_is_unbiased_for_sampled_tokens():
    """E over tokens drawn from p of exp(d) - d - 1, d = log q - log p, is KL(p || q)."""
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(6))
    q = rng.dirichlet(np.ones(6))
    tokens = rng.choice(6, size=200_000, p=p)
    d = np.log(q[tokens]) - np.log(p[tokens])
    estimate, _ = kl_penalty_forward(np.log(p[tokens])[None], np.log(q[tokens])[None], np.ones((1, len(tokens))))
    assert estimate == pytest.approx(float(np.sum(p * np.log(p / q))), rel=0.02)
    assert np.all(np.exp(d) - d - 1 >= 0)


def test_grpo_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    logp = rng.normal(-1.5, 0.3, (3, 6))
    old_logp = logp + rng.normal(0, 0.3, (3, 6))     # far enough that some ratios are clipped
    ref_logp = logp + rng.normal(0, 0.3, (3, 6))
    advantages = np.repeat(rng.normal(0, 1, (3, 1)), 6, axis=1)
    mask = np.ones((3, 6))
    mask[0, 4:] = 0
    beta = 0.3

    def loss():
        pg, _, _ = policy_loss_forward(logp, old_logp, advantages, mask, clip_range=0.2)
        kl, _ = kl_penalty_forward(logp, ref_logp, mask)
        return pg + beta * kl

    _, _, pg_cache = policy_loss_forward(logp, old_logp, advantages, mask, clip_range=0.2)
    _, kl_cache = kl_penalty_forward(logp, ref_logp, mask)
    analytic = policy_loss_backward(pg_cache) + beta * kl_penalty_backward(kl_cache)
    numeric = numerical_gradient(loss, logp)
    assert relative_error(analytic, numeric) < 1e-6


def test_config_is_checked():
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="beta"):
        GRPOConfig(beta=float("nan"))
    with pytest.raises(ValueError, match="iterations"):
        GRPOConfig(iterations=2.5)


def test_grpo_raises_a_verifiable_reward():
    """Toy task: after the prompt, answer with token 3 (reward 1) rather than anything else.
    A few GRPO steps must raise the share of right first tokens, with no value model."""
    config = GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, d_model=16)
    policy = GPT(config, seed=0)
    reference = copy.deepcopy(policy)
    end_id = 11
    prompts = [np.array([1, 2]), np.array([4, 5]), np.array([6, 7]), np.array([8, 9])]

    def reward_fn(rows, rollout):
        first = rollout.idx[np.arange(len(rows)), rollout.prompt_lengths]
        return (first == 3).astype(float)

    trainer = GRPOTrainer(policy, reference, reward_fn, end_id,
                          GRPOConfig(group_size=8, minibatch_size=16, max_new_tokens=3, learning_rate=1e-2,
                                     beta=0.0, seed=0))
    history = [trainer.step(prompts) for _ in range(15)]
    assert np.mean([h["reward"] for h in history[:3]]) < 0.3
    assert np.mean([h["reward"] for h in history[-3:]]) > 0.6
    for h in history:
        assert all(np.isfinite(v) for v in h.values())
    assert 0.0 <= history[0]["useful_groups"] <= 1.0


def test_train_grpo_runs_on_the_assistant_task_with_the_verifier():
    from minigpt.grpo import train_grpo
    from tiny_models import tiny_assistant

    examples, tokenizer, policy = tiny_assistant()
    reference = copy.deepcopy(policy)
    calls = []
    config = GRPOConfig(iterations=3, prompts_per_step=4, group_size=2, minibatch_size=8, max_new_tokens=6)
    history = train_grpo(policy, reference, tokenizer, examples, config,
                         evaluate=lambda it: calls.append(it) or {"iteration": it}, eval_every=2)
    assert calls == [0, 2, 3]
    assert [it for it, _ in history["evals"]] == [0, 2, 3]
    assert len(history["steps"]) == 3
    assert all(h["reward"] == 0.0 for h in history["steps"])    # an untrained model is never right
    with pytest.raises(ValueError, match="prompts_per_step"):
        train_grpo(policy, reference, tokenizer, examples[:3], config)


def test_rollout_replies_drop_the_end_token():
    from minigpt import BPETokenizer
    from minigpt.grpo import rollout_replies
    from minigpt.instructions import END
    from minigpt.ppo import pack_rollout

    tokenizer = BPETokenizer.train("The result is 12. Evaluate this.", 270)
    end = tokenizer.special_tokens[END]
    prompts = [np.array(tokenizer.encode("Evaluate")), np.array(tokenizer.encode("this"))]
    answers = [np.array(tokenizer.encode("The result is 12.") + [end]), np.array(tokenizer.encode("The res"))]
    rollout = pack_rollout(prompts, answers, end)
    assert rollout_replies(tokenizer, rollout) == ["The result is 12.", "The res"]


def test_train_grpo_can_take_a_reward_model_as_reward():
    from minigpt.grpo import train_grpo
    from minigpt.reward import RewardModel
    from tiny_models import tiny_assistant

    examples, tokenizer, policy = tiny_assistant()
    reference = copy.deepcopy(policy)
    reward_model = RewardModel.from_gpt(policy, seed=1)
    config = GRPOConfig(iterations=2, prompts_per_step=4, group_size=2, minibatch_size=8, max_new_tokens=6)
    history = train_grpo(policy, reference, tokenizer, examples, config, reward_model=reward_model)
    # the reward model's scores are real numbers, not the verifier's 0 of an untrained model
    assert all(h["reward"] != 0.0 for h in history["steps"])
    assert all(h["useful_groups"] == 1.0 for h in history["steps"])
