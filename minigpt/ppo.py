"""RLHF with Proximal Policy Optimization, chapter 11 (Schulman et al. 2017; Ouyang et al. 2022).

One PPO iteration:

1. **Rollout.**  The policy answers a batch of prompts, sampling at temperature 1 with
   no top-k/top-p: the KL estimate below compares the policy's own probabilities with
   the reference's, and truncated sampling would draw from a different distribution
   (the estimate can then go negative).
2. **Score.**  Per answer token t the reward is  -beta * (log pi(a_t) - log pi_ref(a_t)),
   a KL penalty that keeps the policy near the SFT model; the reward model's score is
   added on the last token, and an answer that never produced the end token gets a
   penalty there instead of praise.
3. **Advantages.**  A value model (initialised from the reward model) predicts the
   future reward at each token; GAE (Schulman et al. 2016) with gamma=1, lambda=0.95
   turns rewards and values into advantages, which are whitened.
4. **Update.**  Several epochs over minibatches of the rollout, maximising the clipped
   surrogate  min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A),  ratio = pi / pi_old,
   and fitting the value model with a clipped squared error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import layers as L
from .instructions import right_pad
from .optim import AdamW, clip_grad_norm


@dataclass
class PPOConfig:
    """Hyperparameters (defaults follow common RLHF practice at small scale)."""

    iterations: int = 40
    rollout_size: int = 64        # prompts answered per iteration
    minibatch_size: int = 16
    ppo_epochs: int = 4
    max_new_tokens: int = 32
    learning_rate: float = 1e-5
    value_learning_rate: float = 1e-5
    beta: float = 0.05            # KL penalty coefficient
    adaptive_kl_target: float | None = None  # if set, adapt beta toward this KL (Ziegler et al. 2019)
    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2
    value_clip_range: float = 0.2
    value_coef: float = 0.1
    missing_end_penalty: float = -1.0
    grad_clip: float = 1.0
    seed: int = 0

    def to_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------
# The losses (each with its backward, gradient-checked in tests/test_ppo.py)
# ---------------------------------------------------------------------------------------


def policy_loss_forward(logp, old_logp, advantages, mask, clip_range=0.2):
    """The clipped surrogate, to minimise.  All inputs (B, T); mask is 1 on answer tokens.

        ratio = exp(logp - old_logp)
        loss  = mean over answer tokens of  max(-A * ratio, -A * clip(ratio, 1-eps, 1+eps))

    Returns (loss, stats, cache); stats has clip_fraction (share of tokens where the
    clipped term is the active one), approx_kl (mean of (ratio - 1) - log ratio, an
    estimator of KL(old || new) that is never negative) and the mean ratio.
    """
    n = mask.sum()
    log_ratio = logp - old_logp
    ratio = np.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * np.clip(ratio, 1.0 - clip_range, 1.0 + clip_range)
    use_clipped = clipped > unclipped
    per_token = np.where(use_clipped, clipped, unclipped)
    loss = float((per_token * mask).sum() / n)
    stats = {
        "clip_fraction": float((use_clipped * mask).sum() / n),
        "approx_kl": float((((ratio - 1.0) - log_ratio) * mask).sum() / n),
        "ratio": float((ratio * mask).sum() / n),
    }
    return loss, stats, (ratio, advantages, use_clipped, mask, n)


def policy_loss_backward(cache):
    """-> dlogp (B, T).  Where the clipped term is active its derivative is 0 (the clip
    is flat there): that is how PPO stops pushing a ratio that has moved far enough."""
    ratio, advantages, use_clipped, mask, n = cache
    return np.where(use_clipped, 0.0, -advantages * ratio) * mask / n


def value_loss_forward(values, old_values, returns, mask, clip_range=0.2):
    """Clipped value loss:  0.5 * mean over answer tokens of
    max((v - R)^2, (old_v + clip(v - old_v, -eps, eps) - R)^2).  Inputs (B, T)."""
    n = mask.sum()
    clipped_values = old_values + np.clip(values - old_values, -clip_range, clip_range)
    err = (values - returns) ** 2
    err_clipped = (clipped_values - returns) ** 2
    use_clipped = err_clipped > err
    loss = float(0.5 * (np.where(use_clipped, err_clipped, err) * mask).sum() / n)
    inside = np.abs(values - old_values) < clip_range
    return loss, (values, clipped_values, returns, use_clipped, inside, mask, n)


def value_loss_backward(cache):
    """-> dvalues (B, T).  The clipped branch depends on v only inside the clip range."""
    values, clipped_values, returns, use_clipped, inside, mask, n = cache
    d_plain = values - returns
    d_clipped = np.where(inside, clipped_values - returns, 0.0)
    return np.where(use_clipped, d_clipped, d_plain) * mask / n


def gae(rewards, values, mask, gamma=1.0, lam=0.95):
    """Generalised advantage estimation over each row's answer tokens.

    rewards, values, mask: (B, T), the answer tokens contiguous in each row.
    delta_t = r_t + gamma V_{t+1} - V_t (V after the last token is 0);
    A_t = delta_t + gamma lam A_{t+1}.  Returns (advantages, returns = A + V).
    """
    B, T = rewards.shape
    advantages = np.zeros_like(rewards)
    next_value = np.zeros(B, dtype=rewards.dtype)
    next_adv = np.zeros(B, dtype=rewards.dtype)
    for t in reversed(range(T)):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        advantages[:, t] = adv * m
        # outside the answer (padding after it) nothing flows back
        next_value = np.where(m > 0, values[:, t], next_value)
        next_adv = np.where(m > 0, adv, next_adv)
    return advantages, advantages + values * mask


def whiten(x, mask, eps=1e-8):
    """Shift and scale the masked entries to mean 0, standard deviation 1."""
    n = mask.sum()
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    return (x - mean) / np.sqrt(var + eps) * mask


def entropy_from_logprobs(logp):
    """Entropy of a distribution given as log-probabilities along the last axis (a
    log-softmax): -sum p log p.  (..., V) -> (...)."""
    return -(np.exp(logp) * logp).sum(axis=-1)


# ---------------------------------------------------------------------------------------
# Rollouts and the update
# ---------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """A batch of answered prompts, right-padded.

    idx: (B, T) prompt + answer ids; action_mask: (B, T-1) 1 where position t's next
    token (idx[:, t+1]) is an answer token; last: (B,) index of each row's final token;
    ended: (B,) whether the answer produced the end token.
    """

    idx: np.ndarray
    action_mask: np.ndarray
    last: np.ndarray
    ended: np.ndarray
    prompt_lengths: np.ndarray


def sample_answers(policy, prompts, end_id, max_new_tokens, rng, temperature=1.0):
    """Answer each prompt (a list of 1-D id arrays) and pack the result as a Rollout."""
    from .sft import answer_prompts

    answers = answer_prompts(policy, prompts, end_id, max_new_tokens, rng, temperature)
    return pack_rollout(prompts, answers, end_id)


def pack_rollout(prompts, answers, end_id):
    """Right-pad prompt + answer pairs into a Rollout."""
    seqs = [np.concatenate([p, a]).astype(np.int64) for p, a in zip(prompts, answers)]
    idx = right_pad(seqs)  # (B, T)
    action_mask = np.zeros((len(seqs), idx.shape[1] - 1), dtype=np.float32)
    last = np.zeros(len(seqs), dtype=np.int64)
    ended = np.zeros(len(seqs), dtype=bool)
    for i, (p, a, s) in enumerate(zip(prompts, answers, seqs)):
        action_mask[i, len(p) - 1: len(s) - 1] = 1.0  # positions that predict answer tokens
        last[i] = len(s) - 1
        ended[i] = len(a) > 0 and a[-1] == end_id
    return Rollout(idx, action_mask, last, ended, np.array([len(p) for p in prompts]))


def action_logprobs(model, idx, keep_cache=False, temperature: float = 1.0, entropy: bool = True):
    """log pi(idx[:, t+1] | idx[:, :t+1]) for every t: (B, T-1), and the entropy there
    ((B, T-1); None with ``entropy=False``, for callers that do not use it: it costs a pass
    over the (B, T-1, V) log-probabilities).

    ``temperature`` T scores the tokens under the model at that temperature (logits / T), the
    policy that GRPO optimises when it samples at T."""
    logits, _ = model.forward(idx)
    scaled = logits[:, :-1] if temperature == 1.0 else logits[:, :-1] / temperature
    logp, cache = L.token_logprobs_forward(scaled, idx[:, 1:])
    entropy = entropy_from_logprobs(cache[0]) if entropy else None   # cache[0]: the log-softmax
    if not keep_cache:
        model.release()
    return logp, entropy, (cache, logits.shape, temperature)


def action_logprobs_backward(dlogp, cache):
    """dlogp: (B, T-1), the gradient of a loss with respect to ``action_logprobs``' logp
    -> dlogits (B, T, V) for ``model.backward`` (the last position predicts nothing)."""
    lp_cache, shape, temperature = cache
    dlogits = np.zeros(shape, dtype=dlogp.dtype)
    dlogits[:, :-1] = L.token_logprobs_backward(dlogp, lp_cache)
    if temperature != 1.0:
        dlogits /= temperature
    return dlogits


class PPOTrainer:
    """Holds the four models of RLHF and runs PPO iterations.

    policy: the model being trained (from SFT); reference: the frozen SFT model;
    reward_model: frozen, scores whole answers; value_model: a RewardModel trained
    alongside the policy to predict returns (initialised from the reward model).
    """

    def __init__(self, policy, reference, reward_model, value_model, end_id, config: PPOConfig):
        self.policy, self.reference = policy, reference
        self.reward_model, self.value_model = reward_model, value_model
        self.end_id = end_id
        self.config = config
        self.beta = config.beta
        self.rng = np.random.default_rng(config.seed)
        self.policy_opt = AdamW(policy.params, lr=config.learning_rate, betas=(0.9, 0.95))
        self.value_opt = AdamW(value_model.params, lr=config.value_learning_rate, betas=(0.9, 0.95))

    def score_rollout(self, ro: Rollout):
        """Log-probabilities, values, rewards and advantages of a rollout."""
        cfg = self.config
        mask = ro.action_mask
        old_logp, entropy, _ = action_logprobs(self.policy, ro.idx)
        ref_logp, _, _ = action_logprobs(self.reference, ro.idx, entropy=False)
        values = self.value_model.forward(ro.idx)[:, :-1] * mask  # value of the state before each action
        self.value_model.release()
        scores = self.reward_model.score(ro.idx, ro.last)
        scores = np.where(ro.ended, scores, scores + cfg.missing_end_penalty)
        kl_per_token = (old_logp - ref_logp) * mask
        rewards = -self.beta * kl_per_token
        rows = np.arange(len(ro.last))
        rewards[rows, ro.last - 1] += scores  # the last action predicts the final token
        advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        return {
            "old_logp": old_logp, "values": values, "returns": returns,
            "advantages": whiten(advantages, mask), "scores": scores,
            "kl": kl_per_token.sum(axis=1), "entropy": (entropy * mask).sum() / mask.sum(),
        }

    def update(self, ro: Rollout, scored):
        """PPO epochs over minibatches of one rollout.  Returns averaged statistics."""
        cfg = self.config
        n = len(ro.idx)
        stats = {"policy_loss": [], "value_loss": [], "clip_fraction": [], "approx_kl": [], "ratio": []}
        for _ in range(cfg.ppo_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, cfg.minibatch_size):
                rows = order[start:start + cfg.minibatch_size]
                T = int(ro.last[rows].max()) + 1  # trim padding shared by the whole minibatch
                idx = ro.idx[rows, :T]
                mask = ro.action_mask[rows, : T - 1]
                # policy
                logp, _, lp_cache = action_logprobs(self.policy, idx, keep_cache=True, entropy=False)
                loss, s, cache = policy_loss_forward(logp, scored["old_logp"][rows, : T - 1],
                                                     scored["advantages"][rows, : T - 1], mask, cfg.clip_range)
                dlogp = policy_loss_backward(cache).astype(logp.dtype)
                grads = self.policy.backward(action_logprobs_backward(dlogp, lp_cache))
                clip_grad_norm(grads, cfg.grad_clip)
                self.policy_opt.step(grads)
                self.policy.release()
                # value model
                values = self.value_model.forward(idx)[:, :-1]
                vloss, vcache = value_loss_forward(values, scored["values"][rows, : T - 1],
                                                   scored["returns"][rows, : T - 1], mask, cfg.value_clip_range)
                dvalues = np.zeros((len(rows), T), dtype=values.dtype)
                dvalues[:, :-1] = cfg.value_coef * value_loss_backward(vcache)
                vgrads = self.value_model.backward(dvalues)
                clip_grad_norm(vgrads, cfg.grad_clip)
                self.value_opt.step(vgrads)
                self.value_model.release()
                stats["policy_loss"].append(loss)
                stats["value_loss"].append(vloss)
                for k in ("clip_fraction", "approx_kl", "ratio"):
                    stats[k].append(s[k])
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def step(self, prompts):
        """One iteration on a list of prompt id arrays.  Returns the logged statistics."""
        cfg = self.config
        ro = sample_answers(self.policy, prompts, self.end_id, cfg.max_new_tokens, self.rng)
        scored = self.score_rollout(ro)
        stats = self.update(ro, scored)
        kl = float(scored["kl"].mean())
        if cfg.adaptive_kl_target is not None:
            # proportional controller (Ziegler et al. 2019): raise beta when KL is above target
            error = float(np.clip(kl / cfg.adaptive_kl_target - 1.0, -0.2, 0.2))
            self.beta *= 1.0 + 0.1 * error
        stats.update({
            "reward_model_score": float(scored["scores"].mean()),
            "kl": kl, "entropy": float(scored["entropy"]), "beta": self.beta,
            "answer_length": float(ro.action_mask.sum(axis=1).mean()),
            "ended": float(ro.ended.mean()),
        })
        return stats


def train_ppo(policy, reference, reward_model, value_model, tokenizer, train_examples, config: PPOConfig, *,
              evaluate=None, eval_every: int = 5) -> dict:
    """PPO from ``policy`` against ``reward_model``: ``config.iterations`` iterations, each on
    ``config.rollout_size`` distinct questions of ``train_examples`` (``assistant.Example``s,
    drawn with ``default_rng([config.seed, 9])``).

    ``evaluate(iteration) -> dict`` (optional) is called before the first iteration, every
    ``eval_every`` iterations and after the last. Returns ``{"steps": [...], "evals": [(it, dict)]}``.
    """
    from .instructions import END
    from .sft import prompt_ids

    if config.rollout_size > len(train_examples):
        raise ValueError(f"rollout_size={config.rollout_size} but only {len(train_examples)} training questions")
    trainer = PPOTrainer(policy, reference, reward_model, value_model, tokenizer.special_tokens[END], config)
    draw = np.random.default_rng([config.seed, 9])
    history = {"steps": [], "evals": []}
    for it in range(config.iterations):
        if evaluate is not None and it % eval_every == 0:
            history["evals"].append((it, evaluate(it)))
        rows = draw.choice(len(train_examples), config.rollout_size, replace=False)
        history["steps"].append(trainer.step([prompt_ids(tokenizer, train_examples[i].question) for i in rows]))
    if evaluate is not None:
        history["evals"].append((config.iterations, evaluate(config.iterations)))
    return history
