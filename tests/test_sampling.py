"""Greedy, temperature, top-k and top-p."""

import numpy as np
import pytest

from minigpt.sampling import next_token_probs, sample_next


def test_greedy_is_argmax():
    logits = np.array([[0.1, 3.0, 0.2], [5.0, 1.0, 1.0]])
    np.testing.assert_array_equal(sample_next(logits, None, temperature=0), [1, 0])


def test_top_k_keeps_k_tokens():
    probs = next_token_probs(np.array([[1.0, 4.0, 2.0, 3.0]]), top_k=2)
    assert np.count_nonzero(probs) == 2 and probs[0, 1] > probs[0, 3] > 0
    assert probs.sum() == pytest.approx(1.0)


def test_top_p_keeps_smallest_nucleus():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    np.testing.assert_allclose(next_token_probs(logits, top_p=0.75), [[0.625, 0.375, 0, 0]])
    np.testing.assert_allclose(next_token_probs(logits, top_p=0.81), [[0.5, 0.3, 0.15, 0]] / np.float64(0.95))
    # the most likely token is always kept, even for a tiny p
    np.testing.assert_allclose(next_token_probs(logits, top_p=0.01), [[1, 0, 0, 0]])


def test_temperature_sharpens_and_flattens():
    logits = np.array([[1.0, 2.0, 3.0]])
    cold, warm = next_token_probs(logits, 0.5), next_token_probs(logits, 2.0)
    assert cold[0, 2] > next_token_probs(logits)[0, 2] > warm[0, 2]


def test_sampling_frequencies_follow_probabilities():
    rng = np.random.default_rng(0)
    logits = np.log(np.tile([[0.1, 0.6, 0.3]], (20000, 1)))
    ids = sample_next(logits, rng)
    freq = np.bincount(ids, minlength=3) / len(ids)
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3], atol=0.015)


def test_zero_probability_tokens_are_never_drawn():
    rng = np.random.default_rng(1)
    logits = np.tile([[0.0, 5.0, 1.0, -2.0]], (5000, 1))
    ids = sample_next(logits, rng, top_k=2)
    assert set(np.unique(ids)) <= {1, 2}


@pytest.mark.parametrize("kwargs", [dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        next_token_probs(np.zeros((1, 3)), **kwargs)


def _tiny_model():
    from minigpt import GPT, GPTConfig
    return GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=1, d_model=8), seed=0)


# defect class: silent garbage -- a NaN temperature sampled token 0 forever, with no error
@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1.0])
def test_temperature_must_be_finite_and_not_negative(temperature):
    with pytest.raises(ValueError, match="temperature"):
        sample_next(np.zeros((1, 3)), np.random.default_rng(0), temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        _tiny_model().generate(np.zeros((1, 1), dtype=np.int64), 3, temperature=temperature, seed=0)


# defect class: silent garbage -- NaN weights (so NaN logits) sampled token 0 forever
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_nan_weights_stop_generation_with_a_clear_error(temperature):
    model = _tiny_model()
    model.params["transformer.h.0.mlp.c_fc.weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.generate(np.ones((2, 1), dtype=np.int64), 4, temperature=temperature, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        sample_next(np.array([[0.0, np.nan]]), np.random.default_rng(0), temperature=temperature)


# defect class: smaller validation gaps (a float top_k was truncated; empty logits gave raw NumPy errors)
@pytest.mark.parametrize("logits, kwargs, message", [
    (np.zeros((1, 3)), dict(top_k=1.5), "top_k"),
    (np.zeros((1, 0)), dict(), "at least one token"),
    (np.zeros(3), dict(), r"\(B, V\)"),
])
def test_sample_next_refuses_malformed_input(logits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_next(logits, np.random.default_rng(0), **kwargs)


def test_as_generator_takes_a_seed_or_shares_a_stream():
    from minigpt.sampling import as_generator

    rng = np.random.default_rng(3)
    assert as_generator(rng) is rng  # a Generator is used as it is: callers share its stream
    assert as_generator(3).integers(1000) == np.random.default_rng(3).integers(1000)
    assert as_generator([3, 1]).integers(1000) == np.random.default_rng([3, 1]).integers(1000)
