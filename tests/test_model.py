"""The whole GPT: gradients, shapes, input checks, state_dict layout, generation."""

import numpy as np
import pytest

from minigpt import GPT, GPTConfig
from minigpt.gradcheck import numerical_gradient, relative_error
from minigpt.model import parameter_shapes

SMALL = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8)


def perturbed_model(config, dtype=np.float64, scale=0.1, seed=1):
    """A model whose LayerNorm gains and biases are not the trivial 1 and 0, so the
    gradient check exercises every term."""
    model = GPT(config, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += rng.normal(0, scale, p.shape).astype(dtype)
    return model


def test_whole_model_gradient_check():
    model = perturbed_model(SMALL)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 11, (2, 7))
    targets = rng.integers(0, 11, (2, 7))
    targets[0, :3] = -1  # masked prompt positions, as in SFT
    model.forward(idx, targets)
    grads = model.backward()
    assert list(grads) == list(model.params)
    for name, p in model.params.items():
        numeric = numerical_gradient(lambda: model.forward(idx, targets)[1], p)
        err = relative_error(grads[name], numeric)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_backward_through_custom_dlogits():
    """Alignment losses backpropagate their own dlogits through the model."""
    model = perturbed_model(SMALL)
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 11, (1, 5))
    w = rng.normal(size=(1, 5, 11))
    model.forward(idx)
    grads = model.backward(dlogits=w)
    name = "transformer.h.1.mlp.c_fc.weight"
    numeric = numerical_gradient(lambda: float((model.forward(idx)[0] * w).sum()), model.params[name])
    assert relative_error(grads[name], numeric) < 1e-6


def test_shapes_and_loss_at_init():
    cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, d_model=32)
    model = GPT(cfg)
    rng = np.random.default_rng(0)
    idx, targets = rng.integers(0, 65, (2, 3, 16))
    logits, loss = model.forward(idx, targets)
    assert logits.shape == (3, 16, 65) and logits.dtype == np.float32
    # a fresh GPT predicts almost uniformly: loss close to ln(vocab)
    assert abs(loss - np.log(65)) < 0.1
    assert model.forward(idx)[1] is None


def test_initialisation_follows_gpt2():
    cfg = GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, d_model=128)
    p = GPT(cfg, seed=0).params
    assert np.std(p["transformer.wte.weight"]) == pytest.approx(0.02, rel=0.02)
    assert np.std(p["transformer.h.0.mlp.c_proj.weight"]) == pytest.approx(0.02 / np.sqrt(8), rel=0.02)
    assert np.all(p["transformer.h.0.attn.c_attn.bias"] == 0)
    assert np.all(p["transformer.h.3.ln_2.weight"] == 1)


def test_same_seed_same_model_and_different_seed_differs():
    a, b, c = GPT(SMALL, seed=3), GPT(SMALL, seed=3), GPT(SMALL, seed=4)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["transformer.wte.weight"], c.params["transformer.wte.weight"])


def test_parameter_count_formula():
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, d_model=128)
    C, V = 128, 65
    per_block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C)
    expected = V * C + 64 * C + 4 * per_block + 2 * C
    assert GPT(cfg).num_parameters() == expected


def test_state_dict_uses_nanogpt_names_and_layout():
    cfg = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, d_model=16)
    sd = GPT(cfg).state_dict()
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (48, 16)
    assert sd["transformer.h.1.mlp.c_fc.weight"].shape == (64, 16)
    assert sd["transformer.h.1.mlp.c_proj.weight"].shape == (16, 64)
    assert sd["transformer.wpe.weight"].shape == (32, 16)
    np.testing.assert_array_equal(sd["lm_head.weight"], sd["transformer.wte.weight"])
    assert set(sd) == set(parameter_shapes(cfg)) | {"lm_head.weight"}


def test_state_dict_round_trip_gives_same_outputs():
    model = perturbed_model(SMALL, dtype=np.float32)
    clone = GPT.from_state_dict(SMALL, model.state_dict())
    idx = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(model.forward(idx)[0], clone.forward(idx)[0])
    clone.params["transformer.wte.weight"][0, 0] += 1  # the clone owns its arrays
    assert model.params["transformer.wte.weight"][0, 0] != clone.params["transformer.wte.weight"][0, 0]


def test_from_state_dict_rejects_mismatches():
    sd = GPT(SMALL).state_dict()
    bigger = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=16)
    with pytest.raises(ValueError, match="shape"):
        GPT.from_state_dict(bigger, sd)
    deeper = GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, d_model=8)
    with pytest.raises(ValueError, match="missing"):
        GPT.from_state_dict(deeper, sd)
    sd["lm_head.weight"] = sd["lm_head.weight"] + 1
    with pytest.raises(ValueError, match="ties"):
        GPT.from_state_dict(SMALL, sd)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1, 2, 11]]), "outside"),
    (np.array([[1, -1, 2]]), "outside"),
    (np.array([[1.0, 2.0]]), "integer"),
    (np.array([1, 2, 3]), r"\(B, T\)"),
    (np.zeros((1, 9), dtype=int), "block_size"),
])
def test_bad_token_ids_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        GPT(SMALL).forward(bad)


def test_bad_targets_raise():
    model = GPT(SMALL)
    with pytest.raises(ValueError, match="targets"):
        model.forward(np.array([[1, 2]]), np.array([[1, 12]]))
    with pytest.raises(ValueError, match="shape"):
        model.forward(np.array([[1, 2]]), np.array([[1, 2, 3]]))


def test_invalid_config():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=3, d_model=8)
    with pytest.raises(ValueError, match="positive"):
        GPTConfig(vocab_size=0, block_size=8, n_layer=1, n_head=1, d_model=8)


def random_model():
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, d_model=32)
    return perturbed_model(cfg, dtype=np.float32, scale=0.3)


@pytest.mark.parametrize("max_new_tokens", [5, 30])  # 30 runs past block_size=16
def test_greedy_with_cache_equals_without(max_new_tokens):
    model = random_model()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    cached = model.generate(prompt, max_new_tokens, temperature=0)
    uncached = model.generate(prompt, max_new_tokens, temperature=0, use_cache=False)
    assert cached.shape == (2, 3 + max_new_tokens)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :3], prompt)


def test_kv_cache_logits_match_full_forward():
    model = random_model()
    idx = np.random.default_rng(0).integers(0, 50, (2, 12))
    full = model.forward(idx)[0]
    cache = model._new_kv_cache(2)
    first = model._forward_with_kv_cache(idx[:, :5], cache)
    np.testing.assert_allclose(first, full[:, 4], rtol=1e-4, atol=1e-5)
    for t in range(5, 12):
        step = model._forward_with_kv_cache(idx[:, t:t + 1], cache)
        np.testing.assert_allclose(step, full[:, t], rtol=1e-4, atol=1e-5)
    assert all(layer_cache.length == 12 for layer_cache in cache)
    with pytest.raises(ValueError, match="exceed block_size 16"):
        model._forward_with_kv_cache(idx[:, :5], cache)


def test_sampling_is_reproducible_with_a_seed():
    model = random_model()
    prompt = np.array([[7]])
    a = model.generate(prompt, 20, temperature=1.0, seed=42)
    b = model.generate(prompt, 20, temperature=1.0, seed=42)
    c = model.generate(prompt, 20, temperature=1.0, seed=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = model.generate(prompt, 20, temperature=0.8, top_k=5, top_p=0.9, seed=1, use_cache=False)
    e = model.generate(prompt, 20, temperature=0.8, top_k=5, top_p=0.9, seed=1)
    np.testing.assert_array_equal(d, e)


def test_generate_rejects_bad_input():
    model = random_model()
    with pytest.raises(ValueError, match=r"idx\[None, :\]"):
        model.generate(np.array([1, 2]), 3)
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(np.zeros((1, 0), dtype=int), 3)
    with pytest.raises(ValueError, match="outside"):
        model.generate(np.array([[99]]), 3)


def test_backward_requires_forward():
    with pytest.raises(RuntimeError, match="forward"):
        GPT(SMALL).backward()
    model = GPT(SMALL)
    model.forward(np.array([[1, 2]]))
    with pytest.raises(RuntimeError, match="targets"):
        model.backward()


def test_stop_token_ends_rows_and_pads_them():
    model = random_model()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    free = model.generate(prompt, 12, temperature=0)
    stop = int(free[0, 5])  # the token row 0 greedily produces third
    out = model.generate(prompt, 12, temperature=0, stop_token=stop)
    assert out[0, 5] == stop and np.all(out[0, 5:] == stop)
    np.testing.assert_array_equal(out[:, :5], free[:, :5])
    rows_done = [(row[3:] == stop).any() for row in out]
    if all(rows_done):
        assert out.shape[1] <= free.shape[1]


def test_backward_hidden_gradient_check():
    model = perturbed_model(SMALL)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 11, (2, 6))
    w = rng.normal(size=(2, 6, 8))
    model.forward_hidden(idx)
    grads = model.backward_hidden(w)
    for name in ("transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", "transformer.ln_f.bias"):
        numeric = numerical_gradient(lambda: float((model.forward_hidden(idx) * w).sum()), model.params[name])
        assert relative_error(grads[name], numeric) < 1e-6, name


def test_training_flops_counts_the_matmuls():
    from minigpt.model import training_flops
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, d_model=128)
    non_embedding = GPT(cfg).num_parameters() - 65 * 128 - 64 * 128
    # the classic estimate 6 N per token (N: weights of the matmuls) plus attention's 12 L T C
    matmul_weights = non_embedding - 4 * (2 * 2 * 128 + 3 * 128 + 128 + 4 * 128 + 128) - 2 * 128 + 65 * 128
    assert training_flops(cfg, 12, 64) == 12 * 64 * (6 * matmul_weights + 12 * 4 * 64 * 128)


def test_empty_input_and_fractional_config_are_refused():
    # #11: an empty batch gave a raw "cannot reshape" error; a crafted 12.5 was truncated to 12
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8), seed=0)
    for empty in (np.zeros((0, 4), dtype=np.int64), np.zeros((2, 0), dtype=np.int64)):
        with pytest.raises(ValueError, match="at least one sequence of at least one token"):
            model.forward(empty)
    with pytest.raises(ValueError, match="GPT config block_size must be a positive integer"):
        GPTConfig.from_dict({"vocab_size": 11, "block_size": 12.5, "n_layer": 1, "n_head": 2, "d_model": 8})
