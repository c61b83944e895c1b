"""Optimisation (chapter 6): AdamW, the warmup + cosine learning-rate schedule, gradient clipping."""

from __future__ import annotations

import math

import numpy as np

from .checks import check_float


def default_decay_filter(name: str, array: np.ndarray) -> bool:
    """Which parameters get weight decay: the matrices of the linear layers only.

    Biases and LayerNorm gains are 1-D: decaying a gain pulls it toward 0, which only
    hurts.  The token and position embeddings are left out too, as in many GPT recipes:
    decay is meant to keep the maps that multiply activations small, while an
    embedding's scale is set by the LayerNorm that reads it.  (nanoGPT decays every 2-D
    array, embeddings included; both train well at this size.)
    """
    return array.ndim >= 2 and not (name.endswith("wte.weight") or name.endswith("wpe.weight"))


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    For each parameter p with gradient g, at step t:
        m = beta1 m + (1 - beta1) g               running mean of gradients
        v = beta2 v + (1 - beta2) g^2             running mean of squared gradients
        p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)
    where m_hat, v_hat undo the bias of starting m, v at zero.  The decay is applied
    to p directly (decoupled), not added to g as L2 regularisation would be.

    params: dict name -> array; ``step`` updates the arrays in place, so a model whose
    ``params`` dict was passed here trains without copying anything.
    """

    def __init__(self, params, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0,
                 decay_filter=default_decay_filter):
        if not isinstance(params, dict):
            raise TypeError("AdamW expects a dict of name -> array (e.g. model.params)")
        self.params = params
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.decays = {name: bool(decay_filter(name, p)) for name, p in params.items()}
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.t = 0
        self._scratch = {}  # temporary buffers reused by every step

    def step(self, grads, lr=None):
        """Apply one update.  grads: dict with the same keys and shapes as params.
        lr: this step's learning rate (a schedule passes it); defaults to ``self.lr``."""
        lr = self.lr if lr is None else float(lr)
        beta1, beta2 = self.betas
        self.t += 1
        bias1 = 1.0 - beta1 ** self.t
        bias2 = 1.0 - beta2 ** self.t
        step_size = lr / bias1
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            # Every line below works in place, with one scratch buffer per parameter:
            # the update touches each of p, g, m, v a few times and allocates nothing.
            scratch = self._scratch.get(name)
            if scratch is None or scratch.shape != p.shape:
                scratch = self._scratch[name] = np.empty_like(p)
            m *= beta1
            np.multiply(g, 1.0 - beta1, out=scratch)
            m += scratch                       # m = beta1 m + (1 - beta1) g
            v *= beta2
            np.multiply(g, g, out=scratch)
            scratch *= 1.0 - beta2
            v += scratch                       # v = beta2 v + (1 - beta2) g^2
            if self.decays[name] and self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            np.multiply(v, 1.0 / bias2, out=scratch)
            np.sqrt(scratch, out=scratch)
            scratch += self.eps                # sqrt(v_hat) + eps
            np.divide(m, scratch, out=scratch)
            scratch *= step_size               # lr * m_hat / (sqrt(v_hat) + eps)
            p -= scratch

    def state_dict(self) -> dict:
        """Everything needed to resume: hyperparameters, step count, moments."""
        return {
            "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
            "weight_decay": self.weight_decay, "t": self.t,
            "decays": dict(self.decays),
            "m": {k: a.copy() for k, a in self.m.items()},
            "v": {k: a.copy() for k, a in self.v.items()},
        }

    def load_state_dict(self, state: dict):
        for key in ("m", "v"):
            if set(state[key]) != set(self.params):
                raise ValueError(f"optimizer state '{key}' has parameters {sorted(set(state[key]) ^ set(self.params))[:5]} "
                                 "that do not match the model's")
            for name, array in state[key].items():
                if array.shape != self.params[name].shape:
                    raise ValueError(f"optimizer state '{key}' for {name} has shape {array.shape}, "
                                     f"the parameter has {self.params[name].shape}")
        self.lr = float(state["lr"])
        self.betas = tuple(float(b) for b in state["betas"])
        self.eps = float(state["eps"])
        self.weight_decay = float(state["weight_decay"])
        self.t = int(state["t"])
        self.decays = {k: bool(v) for k, v in state.get("decays", self.decays).items()}
        self.m = {k: np.array(a, dtype=self.params[k].dtype) for k, a in state["m"].items()}
        self.v = {k: np.array(a, dtype=self.params[k].dtype) for k, a in state["v"].items()}


def cosine_lr(step, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """Linear warmup to ``learning_rate`` over ``warmup_iters`` steps, then a cosine decay
    to ``min_lr`` at ``lr_decay_iters``, constant after that (nanoGPT's schedule)."""
    if step < warmup_iters:
        return learning_rate * (step + 1) / (warmup_iters + 1)
    if step >= lr_decay_iters:
        return min_lr
    progress = (step - warmup_iters) / max(1, lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return min_lr + coeff * (learning_rate - min_lr)


def global_grad_norm(grads) -> float:
    """sqrt of the sum of squares of every gradient entry, over all arrays."""
    total = 0.0
    for g in grads.values():
        g = g.reshape(-1)
        total += float(np.dot(g, g))
    return math.sqrt(total)


def clip_grad_norm(grads, max_norm) -> float:
    """Scale all gradients in place so their global norm is at most ``max_norm``.

    Returns the norm before clipping (worth logging: spikes warn of instability).
    max_norm: a finite number >= 0 (0 or None: no clipping).  A negative one would flip
    every gradient, turning descent into ascent, so it is refused.
    """
    if max_norm is not None:
        check_float(max_norm, "max_norm", minimum=0)
    norm = global_grad_norm(grads)
    if max_norm and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm
