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
