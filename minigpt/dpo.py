"""Direct Preference Optimization, chapter 12 (Rafailov et al. 2023).

DPO skips the reward model and the sampling loop of RLHF: it fine-tunes the policy
directly on preference pairs (prompt, chosen answer c, rejected answer r) with

    loss = -log sigmoid( beta * [ (log pi(c) - log pi_ref(c)) - (log pi(r) - log pi_ref(r)) ] )

where log pi(a) is the summed log-probability of the answer's tokens given the prompt
and pi_ref is the frozen SFT model.  beta * (log pi(a) - log pi_ref(a)) acts as an
implicit reward; the loss pushes the chosen answer's implicit reward above the
rejected one's.  The reference log-probabilities never change, so they are computed
once, before training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import layers as L
from .instructions import right_pad
from .ppo import action_logprobs, action_logprobs_backward


def answer_logprobs_forward(model, idx, answer_mask):
    """Summed log-probabilities of the answer tokens.

    idx: (B, T) prompt + answer (+ end token), right-padded; answer_mask: (B, T) True on
    the positions whose token is part of the answer (these are predicted from the
    position before).  Returns (logp_sum: (B,), cache).
    """
    logp, _, lp_cache = action_logprobs(model, idx, keep_cache=True, entropy=False)  # (B, T-1): predicts token t+1
    mask = answer_mask[:, 1:].astype(logp.dtype)
    return (logp * mask).sum(axis=1), (lp_cache, mask)


def answer_logprobs_backward(model, dlogp_sum, cache):
    """dlogp_sum: (B,) -> gradients of the model's parameters."""
    lp_cache, mask = cache
    return model.backward(action_logprobs_backward(dlogp_sum[:, None] * mask, lp_cache))


def dpo_loss_forward(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta=0.1):
    """The DPO loss over a batch of N pairs; all inputs (N,).

    Returns (loss, stats, cache) with stats: the implicit rewards of chosen and rejected
    answers (means), their accuracy (share of pairs where chosen's is higher) and margin.
    """
    reward_chosen = beta * (logp_chosen - ref_chosen)
    reward_rejected = beta * (logp_rejected - ref_rejected)
    z = reward_chosen - reward_rejected
    loss = float(-L.log_sigmoid(z).mean())
    stats = {
        "reward_chosen": float(reward_chosen.mean()),
        "reward_rejected": float(reward_rejected.mean()),
        "reward_accuracy": float((z > 0).mean()),
        "reward_margin": float(z.mean()),
        "logp_chosen": float(logp_chosen.mean()),
        "logp_rejected": float(logp_rejected.mean()),
    }
    return loss, stats, (z, beta)


def dpo_loss_backward(cache):
    """-> (dlogp_chosen, dlogp_rejected), each (N,).  d/dz of -log sigmoid(z) = -sigmoid(-z)."""
    z, beta = cache
    dz = -L.sigmoid(-z) / len(z)
    return beta * dz, -beta * dz


def chosen_nll_forward(logp_chosen, chosen_tokens):
    """The negative log-likelihood of the chosen answers, per token, averaged over the N pairs:
    mean(-logp_chosen / chosen_tokens). Inputs (N,). Returns (loss, cache)."""
    return float(-(logp_chosen / chosen_tokens).mean()), chosen_tokens


def chosen_nll_backward(cache):
    """-> dlogp_chosen (N,)."""
    chosen_tokens = cache
    return -1.0 / (len(chosen_tokens) * chosen_tokens)


def dpo_step(model, chosen_idx, chosen_mask, rejected_idx, rejected_mask, ref_chosen, ref_rejected, beta=0.1,
             nll_weight=0.0):
    """Forward and backward of one DPO batch.  The chosen and rejected answers go through
    the model in one batch (padded to the same length).  With ``nll_weight`` > 0 the loss
    adds that times the chosen answers' per-token negative log-likelihood (``chosen_nll_forward``;
    Pang et al. 2024, "Iterative Reasoning Preference Optimization"): plain DPO only widens the
    gap between chosen and rejected and may lower both, this keeps the chosen ones likely.
    Returns (loss, stats, grads)."""
    n = len(chosen_idx)
    idx = right_pad([*chosen_idx, *rejected_idx])                                  # (2n, T)
    mask = right_pad([*chosen_mask, *rejected_mask], fill=False).astype(bool)      # (2n, T)
    logp, cache = answer_logprobs_forward(model, idx, mask)
    loss, stats, loss_cache = dpo_loss_forward(logp[:n], logp[n:], ref_chosen, ref_rejected, beta)
    d_chosen, d_rejected = dpo_loss_backward(loss_cache)
    if nll_weight:
        nll, nll_cache = chosen_nll_forward(logp[:n], mask[:n, 1:].sum(axis=1))
        stats["chosen_nll"] = nll
        loss += nll_weight * nll
        d_chosen = d_chosen + nll_weight * chosen_nll_backward(nll_cache)
    grads = answer_logprobs_backward(model, np.concatenate([d_chosen, d_rejected]).astype(logp.dtype), cache)
    return loss, stats, grads


@dataclass
class DPOConfig:
    """A DPO run on preference pairs (defaults: Rafailov et al.'s beta, a small-model lr)."""

    epochs: int = 2
    batch_size: int = 16          # pairs per step
    learning_rate: float = 2e-5
    min_lr: float = 2e-6
    warmup_fraction: float = 0.1
    beta: float = 0.1
    nll_weight: float = 0.0       # weight of the chosen answers' NLL (0: plain DPO; see dpo_step)
    grad_clip: float = 1.0
    seed: int = 0

    def to_dict(self):
        return asdict(self)


def preference_pairs(tokenizer, groups, block_size: int):
    """The labelled pairs of ``groups`` (``preferences.PreferenceGroup``) as DPO's arrays:
    chosen_idx, chosen_mask, rejected_idx, rejected_mask, each (P, T) right-padded, the masks
    True on the reply's tokens (and ``<|end|>``)."""
    from .preferences import answer_sequences

    chosen, rejected = [], []
    for g in groups:
        seqs = answer_sequences(tokenizer, g, block_size)
        for c, r in zip(g.chosen, g.rejected):
            chosen.append(seqs[c])
            rejected.append(seqs[r])

    def pad(seqs):
        idx = right_pad([s for s, _ in seqs])                       # (P, T)
        mask = np.zeros(idx.shape, dtype=bool)
        for row, (s, prompt_length) in enumerate(seqs):
            mask[row, prompt_length:len(s)] = True
        return idx, mask

    return (*pad(chosen), *pad(rejected))


def sequence_logprobs(model, idx, mask, batch_size: int = 64) -> np.ndarray:
    """Summed log-probability of the masked tokens of each row, in batches, no gradient. (P,)"""
    out = []
    for start in range(0, len(idx), batch_size):
        T = int(mask[start:start + batch_size].any(axis=0).nonzero()[0].max()) + 1
        logp, _ = answer_logprobs_forward(model, idx[start:start + batch_size, :T], mask[start:start + batch_size, :T])
        out.append(logp)
    model.release()
    return np.concatenate(out)


def reference_pair_logprobs(reference, tokenizer, groups, block_size: int):
    """The frozen reference's summed log-probability of each pair's chosen and rejected
    reply: (ref_chosen (P,), ref_rejected (P,)), in ``preference_pairs``' order."""
    c_idx, c_mask, r_idx, r_mask = preference_pairs(tokenizer, groups, block_size)
    return sequence_logprobs(reference, c_idx, c_mask), sequence_logprobs(reference, r_idx, r_mask)


def train_dpo(policy, reference, tokenizer, groups, config: DPOConfig, block_size: int | None = None,
              reference_logprobs=None) -> list:
    """Fine-tune ``policy`` with DPO on the labelled pairs of ``groups``, ``reference`` frozen.

    The reference log-probabilities are computed once (or passed in as ``reference_logprobs``,
    what ``reference_pair_logprobs`` returns, when several runs share the pairs). Each epoch visits
    the pairs in a new order (``default_rng([config.seed, 6])``); the learning rate warms up,
    then decays by a cosine. Returns the log: one dict per step (loss and
    ``dpo_loss_forward``'s statistics).
    """
    from .optim import AdamW, clip_grad_norm, cosine_lr

    block_size = block_size or policy.config.block_size
    c_idx, c_mask, r_idx, r_mask = preference_pairs(tokenizer, groups, block_size)
    if reference_logprobs is None:
        reference_logprobs = reference_pair_logprobs(reference, tokenizer, groups, block_size)
    ref_c, ref_r = (np.asarray(a) for a in reference_logprobs)
    if ref_c.shape != (len(c_idx),) or ref_r.shape != (len(r_idx),):
        raise ValueError(f"reference_logprobs must be two arrays of shape ({len(c_idx)},), one per pair of "
                         f"groups; got {ref_c.shape} and {ref_r.shape}: were they computed on other groups?")
    optimizer = AdamW(policy.params, lr=config.learning_rate, betas=(0.9, 0.95), weight_decay=0.0)
    rng = np.random.default_rng([config.seed, 6])
    n = len(c_idx)
    total = config.epochs * -(-n // config.batch_size)
    log, step = [], 0
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for start in range(0, n, config.batch_size):
            rows = order[start:start + config.batch_size]
            Tc = int(c_mask[rows].any(axis=0).nonzero()[0].max()) + 1   # trim the batch's shared padding
            Tr = int(r_mask[rows].any(axis=0).nonzero()[0].max()) + 1
            loss, stats, grads = dpo_step(policy, c_idx[rows, :Tc], c_mask[rows, :Tc], r_idx[rows, :Tr],
                                          r_mask[rows, :Tr], ref_c[rows], ref_r[rows], config.beta,
                                          config.nll_weight)
            if not np.isfinite(loss):
                raise FloatingPointError(f"DPO loss is {loss} at step {step}; lower learning_rate or beta")
            clip_grad_norm(grads, config.grad_clip)
            lr = cosine_lr(step, config.learning_rate, config.min_lr, max(1, int(config.warmup_fraction * total)),
                           total)
            optimizer.step(grads, lr=lr)
            policy.release()
            log.append({"step": step, "loss": loss, **stats})
            step += 1
    return log
