"""The training loop: batches, AdamW, schedule, clipping, evaluation, checkpoints (chapters 6-7).

Every step's batch is drawn from its own generator, ``default_rng([seed, step])``, so a
run's batches depend only on the seed and the step number.  That is what makes resuming
from a checkpoint give exactly the numbers of a run that never stopped.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from .checks import check_fields, check_float, check_int, check_token_sequence
from .data import get_batch
from .layers import log_softmax
from .optim import AdamW, clip_grad_norm, cosine_lr


@dataclass
class TrainConfig:
    """Hyperparameters of a training run (defaults: nanoGPT's small CPU Shakespeare run).

    max_iters: optimisation steps; batch_size: sequences per step; block_size: tokens per
    sequence (None: the model's block_size); learning_rate / min_lr / warmup_iters /
    lr_decay_iters: the warmup + cosine schedule (lr_decay_iters None: max_iters);
    weight_decay, beta1, beta2: AdamW; grad_clip: max global gradient norm (0: off);
    eval_interval / eval_iters: evaluate every so many steps on so many batches;
    seed: batches and evaluation batches are drawn from it.

    Every field is checked when the config is made (``SETTINGS`` says what each one
    accepts): a NaN learning rate or a negative grad_clip (which would turn every step
    into gradient *ascent*) is refused here, not discovered as a mysterious loss later.
    """

    max_iters: int = 2000
    batch_size: int = 12
    block_size: int | None = None
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    seed: int = 1337

    def __post_init__(self):
        for name in SETTINGS:
            value = getattr(self, name)
            if not (value is None and name in OPTIONAL):
                check_setting(name, value, f"TrainConfig.{name}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**check_fields(cls, d))

    def lr_at(self, step: int) -> float:
        decay = self.lr_decay_iters if self.lr_decay_iters is not None else self.max_iters
        return cosine_lr(step, self.learning_rate, self.min_lr, self.warmup_iters, decay)


# What each TrainConfig field accepts: (check, bounds) for minigpt.checks.  The command
# line checks its options with the same table, so both say the same thing.
SETTINGS = {
    "max_iters": (check_int, dict(minimum=1)),
    "batch_size": (check_int, dict(minimum=1)),
    "block_size": (check_int, dict(minimum=1)),
    "learning_rate": (check_float, dict(above=0)),
    "min_lr": (check_float, dict(minimum=0)),
    "warmup_iters": (check_int, dict(minimum=0)),
    "lr_decay_iters": (check_int, dict(minimum=1)),
    "weight_decay": (check_float, dict(minimum=0)),
    "beta1": (check_float, dict(minimum=0, below=1)),
    "beta2": (check_float, dict(minimum=0, below=1)),
    "grad_clip": (check_float, dict(minimum=0)),  # 0: no clipping
    "eval_interval": (check_int, dict(minimum=1)),
    "eval_iters": (check_int, dict(minimum=1)),
    "seed": (check_int, dict(minimum=0)),  # NumPy's generators take non-negative seeds
}
OPTIONAL = {"block_size", "lr_decay_iters"}  # None means "use the default"


def check_setting(name, value, what=None):
    """Check one training setting against ``SETTINGS``; ``what`` names it in the error."""
    check, bounds = SETTINGS[name]
    return check(value, what or name, **bounds)


def new_history() -> dict:
    """Plain lists, one entry per step (or per evaluation for the eval_* keys)."""
    return {"step": [], "train_loss": [], "lr": [], "grad_norm": [], "tokens_per_sec": [],
            "eval_step": [], "eval_train_loss": [], "val_loss": []}


def check_history(history) -> dict:
    """A history passed in to resume (e.g. from a checkpoint) must have ``new_history``'s lists."""
    bad = sorted(k for k in new_history() if not isinstance(history, dict) or not isinstance(history.get(k), list))
    if bad:
        raise ValueError(f"history must be a dict of lists like new_history()'s; {bad} are missing or not "
                         "lists (pass history=None to start a new one)")
    return history


def estimate_loss(model, ids, batch_size, block_size, eval_iters, seed=0) -> float:
    """Mean loss over ``eval_iters`` random batches of ``ids``.

    The batches depend only on ``seed``, so successive evaluations in a run compare the
    model on the same text.
    """
    rng = np.random.default_rng([seed, 2**31 - 1])
    losses = []
    for _ in range(eval_iters):
        x, y = get_batch(ids, batch_size, block_size, rng)
        _, loss = model.forward(x, y)
        losses.append(loss)
    model.release()  # free the activations kept for a backward we will not run
    return float(np.mean(losses))


def evaluate_loss(model, ids, block_size=None, batch_size=32, stride=None) -> float:
    """Mean cross-entropy over the whole of ``ids``, every token counted once.

    stride None: non-overlapping windows. Window i predicts ids[i*T + 1 : (i+1)*T + 1]
    from ids[i*T : (i+1)*T]; the leftover tail shorter than one window is dropped. The
    first tokens of each window are predicted from little context, which makes the
    number a little pessimistic; it is the cheap standard (nanoGPT's val loss).

    stride s < T: sliding windows. The window moves by s tokens and only its last s
    predictions count (all T in the first window), so every token after the first T is
    predicted from at least T - s tokens of context, at T / s times the cost. This is
    the fair number to set beside an n-gram model, which always sees its full context.
    """
    T = block_size or model.config.block_size
    check_int(batch_size, "batch_size", minimum=1)
    ids = check_token_sequence(ids, "ids", min_length=T + 1, vocab_size=model.config.vocab_size)
    if stride is None or stride == T:
        n_windows = (len(ids) - 1) // T
        x_all = ids[: n_windows * T].reshape(n_windows, T)
        y_all = ids[1: n_windows * T + 1].reshape(n_windows, T)
        total = 0.0
        for start in range(0, n_windows, batch_size):
            x, y = x_all[start:start + batch_size], y_all[start:start + batch_size]
            _, loss = model.forward(x, y)
            total += loss * x.size
        model.release()
        return total / (n_windows * T)

    check_int(stride, "stride", minimum=1)
    if stride > T:
        raise ValueError(f"stride={stride} is larger than the window (block_size={T}): tokens would be skipped")
    starts = np.arange(0, len(ids) - T, stride)        # window k reads ids[s : s + T], s = k * stride
    total, count = 0.0, 0
    for first in range(0, len(starts), batch_size):
        s = starts[first:first + batch_size]
        x = ids[s[:, None] + np.arange(T)]                              # (B, T)
        y = ids[s[:, None] + np.arange(1, T + 1)]                       # (B, T) the next tokens
        logits, _ = model.forward(x)                                    # (B, T, V)
        logp = log_softmax(logits[:, T - stride:].astype(np.float64))   # (B, s, V) the counted positions
        nll = -np.take_along_axis(logp, y[:, T - stride:, None], axis=-1)[..., 0]   # (B, s)
        total += nll.sum()
        count += nll.size
        if first == 0:  # the first window also counts its first T - stride predictions
            logp0 = log_softmax(logits[0, :T - stride].astype(np.float64))           # (T - s, V)
            total -= np.take_along_axis(logp0, y[0, :T - stride, None], axis=-1).sum()
            count += T - stride
    model.release()
    return float(total / count)


def progress_bar(iterable=None, *, disable=False, **kwargs):
    """A tqdm progress bar: a notebook widget where ipywidgets is installed, text
    otherwise (without the warning tqdm prints about the missing widget)."""
    if disable:
        from tqdm import tqdm
        return tqdm(iterable, disable=True, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


class TrainingDiverged(FloatingPointError):
    """The loss or the gradients stopped being finite numbers."""


TRAINABLE_DTYPES = ("float32", "float64")


def check_trainable_dtype(model):
    """Refuse to train a float16 model.  float16 cannot hold AdamW's small numbers: its
    eps (1e-8) and a small gradient's square round to 0, an update divides by zero, and
    the loss is NaN whatever the learning rate.  float16 is for storing weights
    (``save_checkpoint(..., storage_dtype=np.float16)``); training runs in float32."""
    if str(model.dtype) not in TRAINABLE_DTYPES:
        raise ValueError(
            f"cannot train a model whose parameters are {model.dtype} ({model.dtype} cannot hold AdamW's "
            "small numbers, so every update would be NaN); convert it to float32 first: "
            "model = GPT.from_state_dict(model.config, model.state_dict(), dtype=np.float32)"
        )


def train(model, train_ids, val_ids, config: TrainConfig, *, optimizer: AdamW | None = None,
          start_step: int = 0, history: dict | None = None, checkpoint_path=None, best_path=None,
          tokenizer=None, progress: bool = True, **checkpoint_extra) -> dict:
    """Train ``model`` on token ids and return the history (plain lists).

    train_ids, val_ids: 1-D int arrays.  Evaluates every ``config.eval_interval`` steps
    and at the end; if ``checkpoint_path`` is given, saves a checkpoint at each
    evaluation (with ``checkpoint_extra``, JSON values, saved alongside); if ``best_path``
    is given, the checkpoint of the lowest validation loss so far is saved there too
    (early stopping: keep the best model, not the last).  To resume,
    pass the ``optimizer``, ``step`` and ``history`` from ``load_checkpoint`` as
    ``optimizer``, ``start_step`` and ``history``.

    Raises TrainingDiverged, naming the step, if the loss or gradient norm is NaN or
    inf; the last checkpoint is then left as it was.
    """
    T = config.block_size or model.config.block_size
    if T > model.config.block_size:
        raise ValueError(f"TrainConfig.block_size={T} exceeds the model's block_size={model.config.block_size}")
    V = model.config.vocab_size
    train_ids = check_token_sequence(train_ids, "train_ids", min_length=T + 1, vocab_size=V)
    val_ids = check_token_sequence(val_ids, "val_ids", min_length=T + 1, vocab_size=V)

    def batch_for_step(step):
        return get_batch(train_ids, config.batch_size, T, np.random.default_rng([config.seed, step]))

    def evaluate():
        return (estimate_loss(model, train_ids, config.batch_size, T, config.eval_iters, config.seed),
                estimate_loss(model, val_ids, config.batch_size, T, config.eval_iters, config.seed))

    return run_training(model, batch_for_step, evaluate, config, optimizer=optimizer, start_step=start_step,
                        history=history, checkpoint_path=checkpoint_path, best_path=best_path,
                        tokenizer=tokenizer, progress=progress, **checkpoint_extra)


def run_training(model, batch_for_step, evaluate, config: TrainConfig, *, optimizer=None, start_step=0,
                 history=None, checkpoint_path=None, best_path=None, tokenizer=None, progress=True,
                 desc="training", **checkpoint_extra) -> dict:
    """The loop shared by pre-training and supervised fine-tuning.

    batch_for_step(step) -> (x, y): the batch of that step (a function of the step
    alone, which makes resuming exact); evaluate() -> (train_loss, val_loss).
    Everything else is as in ``train``.
    """
    from .checkpoint import save_checkpoint

    check_trainable_dtype(model)
    check_int(start_step, "start_step", minimum=0)
    if start_step > config.max_iters:
        raise ValueError(f"start_step={start_step} is past TrainConfig.max_iters={config.max_iters}: nothing "
                         "to train; raise max_iters (--max-iters) to continue the run")
    if optimizer is None:
        optimizer = AdamW(model.params, lr=config.learning_rate, betas=(config.beta1, config.beta2),
                          weight_decay=config.weight_decay)
    history = new_history() if history is None else check_history(history)

    def evaluate_and_save(step):
        if history["eval_step"] and history["eval_step"][-1] == step:
            return  # already evaluated here (resuming from this step's checkpoint)
        train_loss, val_loss = evaluate()
        model.release()
        history["eval_step"].append(step)
        history["eval_train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        saves = [checkpoint_path]
        if best_path is not None and val_loss <= min(history["val_loss"]):
            saves.append(best_path)  # early stopping: the best model so far, kept aside
        for path in filter(None, saves):
            save_checkpoint(path, model, tokenizer=tokenizer, optimizer=optimizer,
                            step=step, history=history, train_config=config.to_dict(), **checkpoint_extra)

    bar = progress_bar(range(start_step, config.max_iters), initial=start_step, total=config.max_iters,
                       disable=not progress, desc=desc, dynamic_ncols=True)
    for step in bar:
        if step % config.eval_interval == 0:
            evaluate_and_save(step)

        t0 = time.perf_counter()
        lr = config.lr_at(step)
        x, y = batch_for_step(step)
        _, loss = model.forward(x, y)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"step {step}: the training loss is {loss}. Lower learning_rate (now {lr:.3g}) "
                "or check the data; no checkpoint was written with these values."
            )
        grads = model.backward()
        norm = clip_grad_norm(grads, config.grad_clip)
        if not math.isfinite(norm):
            raise TrainingDiverged(
                f"step {step}: the gradient norm is {norm} (loss {loss:.4f}). Lower learning_rate "
                "or set grad_clip; no checkpoint was written with these values."
            )
        optimizer.step(grads, lr=lr)
        dt = time.perf_counter() - t0

        history["step"].append(step)
        history["train_loss"].append(float(loss))
        history["lr"].append(lr)
        history["grad_norm"].append(norm)
        history["tokens_per_sec"].append(x.size / dt)
        val = history["val_loss"][-1] if history["val_loss"] else float("nan")
        bar.set_postfix(loss=f"{loss:.4f}", val=f"{val:.4f}", lr=f"{lr:.2e}", refresh=False)

    evaluate_and_save(config.max_iters)
    bar.close()
    model.release()
    return history
