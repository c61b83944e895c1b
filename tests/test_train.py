"""The training loop: learning, history, checkpoints, resuming, divergence."""

import json

import numpy as np
import pytest

from minigpt import GPT, GPTConfig, TrainConfig, load_checkpoint, train
from minigpt.layers import log_softmax
from minigpt.train import TrainingDiverged, evaluate_loss

CFG = GPTConfig(vocab_size=12, block_size=16, n_layer=2, n_head=2, d_model=16)


def pattern_data(n=3000, seed=0):
    """A learnable sequence: mostly a repeating cycle with a little noise."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % 10
    noise = rng.random(n) < 0.05
    ids[noise] = rng.integers(0, 12, noise.sum())
    return ids[: int(0.9 * n)], ids[int(0.9 * n):]


def quick_config(**overrides):
    base = dict(max_iters=60, batch_size=8, learning_rate=1e-2, min_lr=1e-3, warmup_iters=5,
                eval_interval=20, eval_iters=4, seed=7)
    base.update(overrides)
    return TrainConfig(**base)


def test_training_learns_and_history_is_plain_data():
    model = GPT(CFG, seed=0)
    train_ids, val_ids = pattern_data()
    history = train(model, train_ids, val_ids, quick_config(), progress=False)
    assert history["step"] == list(range(60))
    assert history["eval_step"] == [0, 20, 40, 60]
    # from ln(12) ~ 2.5 (guessing) to well below 1 (the cycle is learned; 5% noise remains)
    assert history["val_loss"][-1] < 0.8
    assert history["val_loss"][0] == pytest.approx(np.log(12), abs=0.3)
    assert all(t > 0 for t in history["tokens_per_sec"])
    json.dumps(history)  # plain lists of numbers


def test_training_is_deterministic():
    train_ids, val_ids = pattern_data()
    runs = []
    for _ in range(2):
        model = GPT(CFG, seed=0)
        runs.append(train(model, train_ids, val_ids, quick_config(max_iters=15), progress=False)["train_loss"])
    assert runs[0] == runs[1]


def test_resume_gives_the_same_result_as_not_stopping(tmp_path):
    train_ids, val_ids = pattern_data()
    config = quick_config(max_iters=40)

    straight = GPT(CFG, seed=0)
    train(straight, train_ids, val_ids, config, progress=False)

    # a run that stops at step 20 (its last checkpoint), then is resumed from the file
    first_half = GPT(CFG, seed=0)
    path = tmp_path / "ckpt.npz"
    train(first_half, train_ids, val_ids, quick_config(max_iters=20, lr_decay_iters=40),
          checkpoint_path=path, progress=False)
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 20
    resumed = ckpt["model"]
    history = train(resumed, train_ids, val_ids, quick_config(max_iters=40, lr_decay_iters=40),
                    optimizer=ckpt["optimizer"], start_step=ckpt["step"], history=ckpt["history"],
                    progress=False)
    for name in straight.params:
        np.testing.assert_array_equal(straight.params[name], resumed.params[name], err_msg=name)
    assert history["step"] == list(range(40))
    assert history["eval_step"] == [0, 20, 40]


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    train_ids, val_ids = pattern_data()
    model = GPT(CFG, seed=0)
    path = tmp_path / "ckpt.npz"
    train(model, train_ids, val_ids, quick_config(max_iters=10, eval_interval=5), checkpoint_path=path, progress=False)
    good = path.read_bytes()
    model.params["transformer.h.0.mlp.c_fc.weight"][0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match="step 10"):
        train(model, train_ids, val_ids, quick_config(max_iters=20, eval_interval=7),
              start_step=10, checkpoint_path=path, progress=False)
    assert path.read_bytes() == good


def test_huge_learning_rate_diverges_with_a_clear_error():
    train_ids, val_ids = pattern_data()
    model = GPT(CFG, seed=0)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=r"step \d+"):
        train(model, train_ids, val_ids,
              quick_config(max_iters=200, learning_rate=1e30, min_lr=1e30, grad_clip=0.0, weight_decay=0.0,
                           eval_interval=1000),
              progress=False)


def test_evaluate_loss_counts_every_token_once():
    model = GPT(CFG, seed=0)
    ids = np.arange(16 * 5 + 3) % 12
    full = evaluate_loss(model, ids, block_size=16, batch_size=2)
    x = ids[:80].reshape(5, 16)
    y = ids[1:81].reshape(5, 16)
    assert full == pytest.approx(model.forward(x, y)[1], rel=1e-6)


def test_evaluate_loss_with_a_stride_gives_every_token_its_context():
    """stride s: the slow, obvious way -- predict each token from the window that counts it --
    gives the same number; with stride = T it is the non-overlapping loss."""
    model = GPT(CFG, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, CFG.vocab_size, size=61)
    T, stride = 16, 4
    nll = []
    for t in range(1, len(ids)):  # target ids[t]
        if t <= T:  # the first window, ids[0:16], counts all its predictions
            start = 0
        else:  # the window whose last `stride` predictions include position t
            start = -(-(t - T) // stride) * stride
            if start + T >= len(ids):
                break  # the tail that does not fill a window
        logits, _ = model.forward(ids[None, start:start + T])
        logp = log_softmax(logits[0, t - 1 - start])
        nll.append(-logp[ids[t]])
    sliding = evaluate_loss(model, ids, block_size=T, batch_size=3, stride=stride)
    assert sliding == pytest.approx(np.mean(nll), rel=1e-12)
    assert evaluate_loss(model, ids, block_size=T, stride=T) == evaluate_loss(model, ids, block_size=T)
    with pytest.raises(ValueError, match="stride"):
        evaluate_loss(model, ids, block_size=T, stride=T + 1)
    with pytest.raises(ValueError, match="stride"):
        evaluate_loss(model, ids, block_size=T, stride=0)


def test_train_config_validation():
    with pytest.raises(ValueError, match="max_iters"):
        TrainConfig(max_iters=0)
    with pytest.raises(ValueError, match="block_size"):
        train(GPT(CFG), *pattern_data(), TrainConfig(max_iters=1, block_size=32), progress=False)


# defect class: TrainConfig accepted values that silently break training (negative grad_clip = ascent)
@pytest.mark.parametrize("field, value", [
    ("grad_clip", -1.0), ("grad_clip", float("inf")), ("learning_rate", float("nan")),
    ("learning_rate", float("inf")), ("min_lr", float("nan")), ("beta2", 1.5), ("beta1", -0.1),
    ("block_size", 0), ("seed", -1), ("max_iters", 2.5), ("batch_size", True), ("weight_decay", -0.1),
    ("lr_decay_iters", 0), ("warmup_iters", 1.5), ("eval_iters", "3"),
])
def test_train_config_refuses_invalid_values(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        quick_config(**{field: value})


def test_negative_clip_is_refused_by_clip_grad_norm_too():
    from minigpt.optim import clip_grad_norm
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm({"w": np.ones(3)}, -1.0)


# defect class: float16 training always went NaN, and the error blamed the learning rate
def test_float16_training_is_refused_with_a_clear_message():
    model = GPT(CFG, seed=0, dtype=np.float16)
    with pytest.raises(ValueError, match="float16") as info:
        train(model, *pattern_data(), quick_config(max_iters=2), progress=False)
    assert "float32" in str(info.value) and "learning_rate" not in str(info.value)


# defect class: smaller validation gaps (float ids truncated, empty inputs giving raw NumPy errors)
def test_token_ids_must_be_integers_and_enough():
    train_ids, val_ids = pattern_data()
    model = GPT(CFG, seed=0)
    with pytest.raises(ValueError, match="train_ids.*integer"):
        train(model, train_ids + 0.5, val_ids, quick_config(max_iters=2), progress=False)
    with pytest.raises(ValueError, match="val_ids has 5 tokens but needs at least 17"):
        train(model, train_ids, val_ids[:5], quick_config(max_iters=2), progress=False)
    with pytest.raises(ValueError, match="integer"):
        evaluate_loss(model, val_ids + 0.5)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_loss(model, val_ids, batch_size=0)


# defect class: smaller validation gaps -- resuming past max_iters, or with a malformed history
def test_resume_arguments_are_checked():
    train_ids, val_ids = pattern_data()
    with pytest.raises(ValueError, match="past TrainConfig.max_iters"):
        train(GPT(CFG), train_ids, val_ids, quick_config(max_iters=10), start_step=20, progress=False)
    with pytest.raises(ValueError, match="history must be"):
        train(GPT(CFG), train_ids, val_ids, quick_config(max_iters=10), history={"step": []}, progress=False)


def test_best_path_keeps_the_checkpoint_of_the_lowest_validation_loss(tmp_path):
    # early stopping: with best_path, the best model so far is saved aside at each evaluation
    text = np.arange(400) % 7
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, d_model=8), seed=0)
    config = TrainConfig(max_iters=30, batch_size=4, learning_rate=1e-2, eval_interval=5, eval_iters=2)
    history = train(model, text, text, config, checkpoint_path=tmp_path / "last.npz",
                    best_path=tmp_path / "best.npz", progress=False)
    best = load_checkpoint(tmp_path / "best.npz")
    i = int(np.argmin(history["val_loss"]))
    assert best["step"] == history["eval_step"][i]
    assert best["history"]["val_loss"][-1] == min(history["val_loss"])
    assert load_checkpoint(tmp_path / "last.npz")["step"] == config.max_iters
