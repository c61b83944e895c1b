"""RL with verifiable rewards: GRPO, Group Relative Policy Optimization (chapter 14; Shao et al.
2024, "DeepSeekMath").

PPO (chapter 11) needs four models: the policy, a frozen reference, a reward model and a value
model that predicts, token by token, the reward still to come. GRPO drops the value model. For
each prompt it samples a *group* of G answers, scores each one (here with the verifier:
1 if the stated value is right, else 0), and uses the group as its own baseline:

    A_i = (r_i - mean(r_1 .. r_G)) / (std(r_1 .. r_G) + eps)      for every token of answer i

This is REINFORCE with a baseline (the policy-gradient theorem of chapter 11: subtracting any
baseline that does not depend on the answer leaves the gradient unbiased), the baseline being
the group's mean reward, an estimate of the prompt's value made from the very samples. A group
whose answers are all right or all wrong has A = 0 and teaches nothing: the useful prompts are
those the model sometimes gets right.

The update is PPO's clipped surrogate (``ppo.policy_loss_forward``) on these advantages, plus a
KL penalty toward the reference model, added to the loss (not to the reward, as PPO does) with
the per-token estimator ``exp(d) - d - 1``, ``d = log pi_ref - log pi`` (Schulman 2020,
"Approximating KL divergence"): never negative, and unbiased for KL(pi || pi_ref) when the
tokens are sampled from pi. Losses are averaged over all answer tokens of a minibatch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .instructions import END
from .optim import AdamW, clip_grad_norm
from .ppo import action_logprobs, action_logprobs_backward, policy_loss_backward, policy_loss_forward, sample_answers

__all__ = ["GRPOConfig", "group_advantages", "kl_penalty_forward", "kl_penalty_backward", "GRPOTrainer",
           "rollout_replies", "train_grpo"]


@dataclass
class GRPOConfig:
    """Hyperparameters of a GRPO run (defaults: small-scale versions of DeepSeekMath's)."""

    iterations: int = 40
    prompts_per_step: int = 16    # prompts per iteration, each answered group_size times
    group_size: int = 8
    epochs: int = 1               # passes over each rollout (1: every update is on-policy)
    minibatch_size: int = 32
    max_new_tokens: int = 40
    learning_rate: float = 1e-5
    beta: float = 0.04            # KL penalty coefficient (DeepSeekMath: 0.04)
    clip_range: float = 0.2
    scale_advantages: bool = True  # divide by the group's std (Liu et al. 2025 argue against it)
    temperature: float = 1.0
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("iterations", "prompts_per_step", "group_size", "epochs", "minibatch_size", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GRPOConfig.{name} must be a whole number >= 1, got {value!r}")
        if self.group_size < 2:
            raise ValueError("GRPOConfig.group_size must be >= 2: one answer is no group to compare with")
        for name in ("learning_rate", "beta", "clip_range", "temperature", "grad_clip"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"GRPOConfig.{name} must be a finite number >= 0, got {value!r}")

    def to_dict(self):
        return asdict(self)


def group_advantages(rewards, group_size: int, scale: bool = True, eps: float = 1e-6) -> np.ndarray:
    """rewards: (P * G,), the G answers of each prompt next to each other -> advantages (P * G,):
    each reward minus its group's mean, divided by the group's std if ``scale``."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1 or len(rewards) % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, "
                         f"got shape {rewards.shape}")
    r = rewards.reshape(-1, group_size)                       # (P, G)
    advantages = r - r.mean(axis=1, keepdims=True)
    if scale:
        advantages = advantages / (r.std(axis=1, keepdims=True) + eps)
    return advantages.reshape(-1)


def kl_penalty_forward(logp, ref_logp, mask):
    """Mean over answer tokens of exp(d) - d - 1, d = ref_logp - logp. Inputs (B, T)."""
    d = ref_logp - logp
    n = mask.sum()
    return float(((np.exp(d) - d - 1.0) * mask).sum() / n), (d, mask, n)


def kl_penalty_backward(cache):
    """-> dlogp (B, T): the derivative of exp(d) - d - 1 with respect to logp is 1 - exp(d)."""
    d, mask, n = cache
    return (1.0 - np.exp(d)) * mask / n


class GRPOTrainer:
    """The policy, a frozen reference, and a reward function; no value model.

    reward_fn(rows, rollout) -> (B,) rewards, where ``rows[b]`` is the index (in the list
    given to ``step``) of the prompt that row b of the rollout answers.
    """

    def __init__(self, policy, reference, reward_fn, end_id, config: GRPOConfig):
        self.policy, self.reference, self.reward_fn = policy, reference, reward_fn
        self.end_id, self.config = end_id, config
        self.rng = np.random.default_rng(config.seed)
        self.optimizer = AdamW(policy.params, lr=config.learning_rate, betas=(0.9, 0.95), weight_decay=0.0)

    def step(self, prompts) -> dict:
        """One iteration: answer each prompt (a 1-D id array) group_size times, score, update."""
        cfg = self.config
        rows = np.repeat(np.arange(len(prompts)), cfg.group_size)           # (P * G,)
        rollout = sample_answers(self.policy, [prompts[i] for i in rows], self.end_id, cfg.max_new_tokens,
                                 self.rng, cfg.temperature)
        rewards = np.asarray(self.reward_fn(rows, rollout), dtype=np.float64)
        advantages = group_advantages(rewards, cfg.group_size, cfg.scale_advantages)
        T = cfg.temperature   # the policy optimised is the model at the temperature it samples at
        old_logp, _, _ = action_logprobs(self.policy, rollout.idx, temperature=T, entropy=False)
        ref_logp, _, _ = action_logprobs(self.reference, rollout.idx, temperature=T, entropy=False)
        token_advantages = advantages[:, None] * rollout.action_mask      # (B, T-1)

        stats = {"policy_loss": [], "kl": [], "clip_fraction": []}
        n = len(rows)
        for _ in range(cfg.epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, cfg.minibatch_size):
                mb = order[start:start + cfg.minibatch_size]
                n_pos = int(rollout.last[mb].max()) + 1                       # trim shared padding
                idx, mask = rollout.idx[mb, :n_pos], rollout.action_mask[mb, :n_pos - 1]
                logp, _, lp_cache = action_logprobs(self.policy, idx, keep_cache=True, temperature=T,
                                                     entropy=False)
                loss, s, cache = policy_loss_forward(logp, old_logp[mb, :n_pos - 1],
                                                     token_advantages[mb, :n_pos - 1], mask, cfg.clip_range)
                kl, kl_cache = kl_penalty_forward(logp, ref_logp[mb, :n_pos - 1], mask)
                dlogp = policy_loss_backward(cache) + cfg.beta * kl_penalty_backward(kl_cache)
                grads = self.policy.backward(action_logprobs_backward(dlogp.astype(logp.dtype), lp_cache))
                clip_grad_norm(grads, cfg.grad_clip)
                self.optimizer.step(grads)
                self.policy.release()
                stats["policy_loss"].append(loss)
                stats["kl"].append(kl)
                stats["clip_fraction"].append(s["clip_fraction"])
        groups = rewards.reshape(-1, cfg.group_size)
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        out.update({
            "reward": float(rewards.mean()),
            "useful_groups": float(np.mean(groups.std(axis=1) > 0)),   # groups with a learning signal
            "answer_length": float(rollout.action_mask.sum(axis=1).mean()),
            "ended": float(rollout.ended.mean()),
        })
        return out


def rollout_replies(tokenizer, rollout) -> list[str]:
    """The text of each answer in a rollout, without its ``<|end|>``. (B,) strings."""
    texts = []
    for b in range(len(rollout.idx)):
        ids = rollout.idx[b, rollout.prompt_lengths[b]:rollout.last[b] + 1]
        texts.append(tokenizer.decode(ids[:-1] if rollout.ended[b] else ids))
    return texts


def train_grpo(policy, reference, tokenizer, train_examples, config: GRPOConfig, *, reward_model=None,
               evaluate=None, eval_every: int = 10) -> dict:
    """GRPO on questions of ``train_examples``: ``config.iterations`` steps, each on
    ``config.prompts_per_step`` distinct questions (drawn with ``default_rng([config.seed, 1])``),
    each answered ``group_size`` times.

    The reward is the verifier (1 if the stated value is right, else 0), or, if
    ``reward_model`` is given, that model's score of the whole reply (an answer that never
    ended scores its reply as written: GRPO's group baseline needs no end penalty to be
    unbiased, but the reward model is only trusted on what it was trained on).

    ``evaluate(iteration) -> dict`` (optional) is called before the first step, every
    ``eval_every`` iterations and after the last. Returns the history: ``"steps"``, a list of
    each step's statistics, and ``"evals"``, a list of ``(iteration, evaluate's dict)``.
    """
    from .assistant import verify_all
    from .sft import prompt_ids

    if config.prompts_per_step > len(train_examples):
        raise ValueError(f"prompts_per_step={config.prompts_per_step} but only {len(train_examples)} "
                         "training questions")
    batch: list = []

    def reward_fn(rows, rollout):
        if reward_model is not None:
            return reward_model.score(rollout.idx, rollout.last)
        return verify_all([batch[i] for i in rows], rollout_replies(tokenizer, rollout))

    trainer = GRPOTrainer(policy, reference, reward_fn, tokenizer.special_tokens[END], config)
    draw = np.random.default_rng([config.seed, 1])
    history = {"steps": [], "evals": []}
    for it in range(config.iterations):
        if evaluate is not None and it % eval_every == 0:
            history["evals"].append((it, evaluate(it)))
        batch[:] = [train_examples[i] for i in draw.choice(len(train_examples), config.prompts_per_step,
                                                           replace=False)]
        history["steps"].append(trainer.step([prompt_ids(tokenizer, e.question) for e in batch]))
    if evaluate is not None:
        history["evals"].append((config.iterations, evaluate(config.iterations)))
    return history
