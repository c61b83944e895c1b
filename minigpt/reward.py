"""Reward models: a GPT trunk with a scalar head, trained on pairwise preferences (chapter 10).

A reward model reads a prompt and an answer and returns one number, "how good".  It is
the GPT trunk (initialised from the SFT model, so it starts out understanding the text)
with the LM head replaced by a linear map from the last hidden state to a scalar:

    h = trunk(prompt + answer + <|end|>)      (B, T, C)
    r = h[:, end] . w + b                      (B,)  read at the answer's last token

It is trained with the Bradley-Terry model of preferences (as in InstructGPT, Ouyang
et al. 2022): the probability that answer c is preferred to answer r is
sigmoid(r(c) - r(r)), and the loss is the negative log-likelihood of the labeller's
choices, plus a small term that keeps rewards centred at zero (only differences matter
to the loss, so without it the mean can drift).

The same class with scores read at every position is PPO's value model.
"""

from __future__ import annotations

import numpy as np

from . import layers as L
from .model import GPT, GPTConfig
from .optim import AdamW, clip_grad_norm

HEAD_NAMES = ("head.weight", "head.bias")


class RewardModel:
    """A GPT trunk plus a linear scalar head.  ``forward`` scores every position.

    ``params`` holds the trunk's arrays and ``head.weight`` (C,), ``head.bias`` (1,):
    the same array objects, so an optimizer over ``params`` trains both.
    """

    def __init__(self, trunk: GPT, seed=0):
        self.trunk = trunk
        C = trunk.config.d_model
        rng = np.random.default_rng(seed)
        self.params = dict(trunk.params)
        # small head: initial rewards are about +-0.2, no preference yet
        self.params["head.weight"] = (rng.normal(0.0, 0.02, size=C)).astype(trunk.dtype)
        self.params["head.bias"] = np.zeros(1, dtype=trunk.dtype)
        self._h = None

    @property
    def config(self) -> GPTConfig:
        return self.trunk.config

    @property
    def dtype(self):
        return self.trunk.dtype

    @classmethod
    def from_gpt(cls, model: GPT, seed=0) -> "RewardModel":
        """A reward model whose trunk is a copy of ``model`` (the original is untouched)."""
        return cls(GPT.from_state_dict(model.config, model.state_dict()), seed=seed)

    @classmethod
    def from_state_dict(cls, config: GPTConfig, state_dict, dtype=None) -> "RewardModel":
        missing = [k for k in HEAD_NAMES if k not in state_dict]
        if missing:
            raise ValueError(f"reward-model state is missing {missing}")
        trunk_state = {k: v for k, v in state_dict.items() if k not in HEAD_NAMES}
        model = cls(GPT.from_state_dict(config, trunk_state, dtype=dtype))
        for name in HEAD_NAMES:
            array = np.asarray(state_dict[name])
            if array.shape != model.params[name].shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {model.params[name].shape}")
            model.params[name] = np.array(array, dtype=model.dtype)
        return model

    def state_dict(self) -> dict:
        sd = self.trunk.state_dict()
        sd.update({k: self.params[k].copy() for k in HEAD_NAMES})
        return sd

    def forward(self, idx):
        """idx: (B, T) -> scores (B, T): the head applied at every position."""
        h = self.trunk.forward_hidden(idx)
        self._h = h
        return h @ self.params["head.weight"] + self.params["head.bias"][0]

    def backward(self, dscores) -> dict:
        """dscores: (B, T) -> gradients for every array in ``params``."""
        h = self._h
        w = self.params["head.weight"]
        grads = self.trunk.backward_hidden(dscores[..., None] * w)
        grads["head.weight"] = np.einsum("bt,btc->c", dscores, h)
        grads["head.bias"] = np.array([dscores.sum()], dtype=w.dtype)
        return grads

    def score(self, idx, last):
        """Rewards of whole sequences.  idx: (B, T) right-padded; last: (B,) index of each
        row's final token (the end token).  Returns (B,)."""
        scores = self.forward(idx)
        self.release()
        return scores[np.arange(len(last)), last]

    def release(self):
        self.trunk.release()
        self._h = None


# ---------------------------------------------------------------------------------------
# The Bradley-Terry loss over pairs of candidates
# ---------------------------------------------------------------------------------------


def bradley_terry_forward(rewards, chosen, rejected, center_coef=0.01):
    """Loss of preference pairs over a set of scored candidates.

    rewards: (N,) scores of N candidates; chosen, rejected: (P,) indices into rewards,
    pair p saying "candidate chosen[p] was preferred to rejected[p]".  Scoring every
    candidate once and forming all pairs by indexing is what lets all K(K-1)/2 pairs of
    a prompt share one batch.

        loss = mean_p[ -log sigmoid(r_c - r_r) ] + center_coef * mean_p[ (r_c + r_r)^2 ]

    Returns (loss, accuracy: share of pairs with r_c > r_r, cache).
    """
    r_c, r_r = rewards[chosen], rewards[rejected]
    margin = r_c - r_r
    loss = float(-L.log_sigmoid(margin).mean() + center_coef * ((r_c + r_r) ** 2).mean())
    accuracy = float((margin > 0).mean())
    return loss, accuracy, (margin, r_c + r_r, chosen, rejected, len(rewards), center_coef)


def bradley_terry_backward(cache):
    """-> drewards (N,).  d/dmargin of -log sigmoid(margin) is -sigmoid(-margin)."""
    margin, total, chosen, rejected, n, center_coef = cache
    P = len(margin)
    dmargin = -L.sigmoid(-margin) / P
    dtotal = 2.0 * center_coef * total / P
    drewards = np.zeros(n, dtype=np.result_type(margin, np.float32))
    np.add.at(drewards, chosen, dmargin + dtotal)
    np.add.at(drewards, rejected, -dmargin + dtotal)
    return drewards


def reward_step(model: RewardModel, idx, last, chosen, rejected, center_coef=0.01):
    """One forward/backward pass of the reward model on a batch of candidates.

    Returns (loss, accuracy, grads)."""
    scores = model.forward(idx)
    rows = np.arange(len(last))
    rewards = scores[rows, last]
    loss, accuracy, cache = bradley_terry_forward(rewards, chosen, rejected, center_coef)
    dscores = np.zeros_like(scores)
    dscores[rows, last] = bradley_terry_backward(cache)
    return loss, accuracy, model.backward(dscores)


def make_reward_optimizer(model: RewardModel, lr, weight_decay=0.0):
    return AdamW(model.params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)


def train_reward_step(model, optimizer, batch, lr, grad_clip=1.0, center_coef=0.01):
    """An optimisation step on ``batch = (idx, last, chosen, rejected)``; returns stats."""
    idx, last, chosen, rejected = batch
    loss, accuracy, grads = reward_step(model, idx, last, chosen, rejected, center_coef)
    norm = clip_grad_norm(grads, grad_clip)
    if not (np.isfinite(loss) and np.isfinite(norm)):
        raise FloatingPointError(f"reward-model loss {loss} / gradient norm {norm} is not finite")
    optimizer.step(grads, lr=lr)
    model.release()
    return {"loss": loss, "accuracy": accuracy, "grad_norm": norm}
