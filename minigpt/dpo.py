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
    logp, _, lp_cache = action_logprobs(model, idx, keep_cache=True)  # (B, T-1): predicts token t+1
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


def dpo_step(model, chosen_idx, chosen_mask, rejected_idx, rejected_mask, ref_chosen, ref_rejected, beta=0.1):
    """Forward and backward of one DPO batch.  The chosen and rejected answers go through
    the model in one batch (padded to the same length).  Returns (loss, stats, grads)."""
    n = len(chosen_idx)
    idx = right_pad([*chosen_idx, *rejected_idx])                                  # (2n, T)
    mask = right_pad([*chosen_mask, *rejected_mask], fill=False).astype(bool)      # (2n, T)
    logp, cache = answer_logprobs_forward(model, idx, mask)
    loss, stats, loss_cache = dpo_loss_forward(logp[:n], logp[n:], ref_chosen, ref_rejected, beta)
    d_chosen, d_rejected = dpo_loss_backward(loss_cache)
    grads = answer_logprobs_backward(model, np.concatenate([d_chosen, d_rejected]).astype(logp.dtype), cache)
    return loss, stats, grads
