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

from dataclasses import asdict, dataclass

import numpy as np

from . import layers as L
from .model import GPT, GPTConfig
from .optim import AdamW, clip_grad_norm, cosine_lr

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


# ---------------------------------------------------------------------------------------
# Training on the labeller's comparisons, with early stopping on dev pairs
# ---------------------------------------------------------------------------------------


@dataclass
class RewardTrainConfig:
    """How a reward model is trained. Every data size gets the same ``steps`` (so a larger
    set is not also a longer run), with early stopping: the weights kept are those with the
    lowest loss on the dev pairs, measured every ``eval_every`` steps."""

    steps: int = 300
    groups_per_batch: int = 8     # questions per step, each with all its candidate pairs
    learning_rate: float = 1e-4
    min_lr: float = 1e-5
    warmup_steps: int = 20
    eval_every: int = 25
    center_coef: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0

    def to_dict(self):
        return asdict(self)


def score_groups(model: RewardModel, tokenizer, groups, block_size: int, batch_groups: int = 16):
    """The reward of every candidate of ``groups``, and the pair arrays of ``candidate_batch``:
    returns (rewards (N,), chosen, rejected, a, b, label), all over the concatenated groups."""
    from .preferences import candidate_batch

    parts, offset = [], 0
    for start in range(0, len(groups), batch_groups):
        idx, last, chosen, rejected, a, b, label = candidate_batch(tokenizer, groups[start:start + batch_groups],
                                                                  block_size)
        parts.append((model.score(idx, last), chosen + offset, rejected + offset, a + offset, b + offset, label))
        offset += len(last)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(6))


def pairwise_accuracy(model: RewardModel, tokenizer, groups, block_size: int) -> dict:
    """How well the reward model ranks the pairs of ``groups``:

    * ``loss``: the Bradley-Terry loss on the labeller's labels (no centring term);
    * ``vs_labeller``: share of pairs where it prefers the candidate the labeller chose;
    * ``vs_gold``: share of pairs with one right and one wrong reply where it prefers the right;
    * ``other_question``: the same on the pairs (reference, another question's reply), where
      only reading the question can tell them apart;
    * ``predicted``/``true``: P(A preferred) by the model, sigmoid(r_A - r_B), and the
      labeller's true probability, (P,) each, for a calibration plot.
    """
    from .preferences import pair_arrays

    rewards, chosen, rejected, a, b, _ = score_groups(model, tokenizer, groups, block_size)
    pairs = pair_arrays(groups)
    margin = rewards[chosen] - rewards[rejected]
    decided = pairs["gold_a"] != pairs["gold_b"]
    right_first = (rewards[a] > rewards[b]) == (pairs["gold_a"] > pairs["gold_b"])
    other = ((pairs["source_a"] == "reference") & (pairs["source_b"] == "other_question"))
    return {
        "loss": float(-L.log_sigmoid(margin).mean()),
        "vs_labeller": float((margin > 0).mean()),
        "vs_gold": float(right_first[decided].mean()) if decided.any() else float("nan"),
        "other_question": float((rewards[a] > rewards[b])[other].mean()) if other.any() else float("nan"),
        "pairs": int(len(margin)),
        "predicted": L.sigmoid(rewards[a] - rewards[b]),
        "true": pairs["prob_a"],
    }


def train_reward_model(model: RewardModel, tokenizer, train_groups, dev_groups, config: RewardTrainConfig,
                       block_size: int | None = None) -> dict:
    """Fit ``model`` to the labeller's choices in ``train_groups`` for ``config.steps`` steps
    (warmup + cosine learning rate), measure the dev pairs' loss every ``eval_every`` steps,
    and leave ``model`` with the weights of the best dev loss (early stopping).

    Each step takes ``groups_per_batch`` questions in a shuffled order that is renewed after
    every pass over the data (drawn from ``default_rng([config.seed, 2])``). Returns the
    history: per step ``loss``/``accuracy``/``grad_norm``, per evaluation ``eval_step``,
    ``dev_loss`` and ``dev_accuracy``, and ``best_step``.
    """
    if not train_groups or not dev_groups:
        raise ValueError("train_reward_model needs training and dev groups; got "
                         f"{len(train_groups)} and {len(dev_groups)}")
    block_size = block_size or model.config.block_size
    from .preferences import candidate_batch

    optimizer = AdamW(model.params, lr=config.learning_rate, betas=(0.9, 0.95), weight_decay=0.0)
    rng = np.random.default_rng([config.seed, 2])
    order, position = rng.permutation(len(train_groups)), 0
    history = {"step": [], "loss": [], "accuracy": [], "grad_norm": [], "eval_step": [], "dev_loss": [],
               "dev_accuracy": [], "best_step": 0}
    best = None

    def evaluate(step):
        nonlocal best
        measured = pairwise_accuracy(model, tokenizer, dev_groups, block_size)
        history["eval_step"].append(step)
        history["dev_loss"].append(measured["loss"])
        history["dev_accuracy"].append(measured["vs_labeller"])
        if best is None or measured["loss"] < best[0]:
            best = (measured["loss"], {k: v.copy() for k, v in model.params.items()})
            history["best_step"] = step

    evaluate(0)
    for step in range(1, config.steps + 1):
        if position + config.groups_per_batch > len(order):
            order, position = rng.permutation(len(train_groups)), 0
        rows = order[position:position + config.groups_per_batch]
        position += config.groups_per_batch
        idx, last, chosen, rejected, *_ = candidate_batch(tokenizer, [train_groups[i] for i in rows], block_size)
        lr = cosine_lr(step - 1, config.learning_rate, config.min_lr, config.warmup_steps, config.steps)
        stats = train_reward_step(model, optimizer, (idx, last, chosen, rejected), lr, config.grad_clip,
                                  config.center_coef)
        history["step"].append(step)
        for k in ("loss", "accuracy", "grad_norm"):
            history[k].append(stats[k])
        if step % config.eval_every == 0 or step == config.steps:
            evaluate(step)
    for name, value in best[1].items():
        model.params[name][...] = value
    return history
