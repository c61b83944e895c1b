"""Tests for minigpt.data: train/validation splits and batches (chapter 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigpt import data



# --------------------------------------------------------------------------
# train_val_split
# --------------------------------------------------------------------------


def test_train_val_split_sizes_and_order():
    ids = np.arange(1000)
    train, val = data.train_val_split(ids)
    assert train.shape == (900,) and val.shape == (100,)
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)  # first 90% / last 10%
    train2, val2 = data.train_val_split(ids)
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(val, val2)
    train, val = data.train_val_split([5, 6, 7, 8], val_fraction=0.25)  # lists work too
    assert train.tolist() == [5, 6, 7] and val.tolist() == [8]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_train_val_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split(np.arange(100), val_fraction=fraction)


def test_train_val_split_rejects_too_little_data():
    with pytest.raises(ValueError, match="too little data"):
        data.train_val_split(np.arange(1))
    with pytest.raises(ValueError, match="too little data"):
        data.train_val_split(np.arange(4), val_fraction=0.1)  # 0.4 ids of validation
    with pytest.raises(ValueError, match="1-D"):
        data.train_val_split(np.zeros((10, 2), dtype=int))


# --------------------------------------------------------------------------
# get_batch
# --------------------------------------------------------------------------


def test_get_batch_shapes_dtypes_and_shift():
    ids = np.arange(100, 200, dtype=np.uint16)
    x, y = data.get_batch(ids, batch_size=4, block_size=8, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    assert x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    # Each row is a contiguous slice of ids: ids are consecutive numbers here.
    np.testing.assert_array_equal(x, x[:, :1] + np.arange(8))
    np.testing.assert_array_equal(y, x + 1)


def test_get_batch_uses_rng_integers_for_starts():
    ids = np.arange(50) * 3
    x, _ = data.get_batch(ids, batch_size=5, block_size=4, rng=np.random.default_rng(42))
    starts = np.random.default_rng(42).integers(0, 50 - 4, size=5)
    np.testing.assert_array_equal(x[:, 0], ids[starts])


def test_get_batch_is_deterministic_per_seed():
    ids = np.random.default_rng(1).integers(0, 65, size=500)
    a = data.get_batch(ids, 8, 16, np.random.default_rng(7))
    b = data.get_batch(ids, 8, 16, np.random.default_rng(7))
    c = data.get_batch(ids, 8, 16, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_get_batch_reaches_both_ends():
    ids = np.arange(12)
    x, y = data.get_batch(ids, batch_size=500, block_size=4, rng=np.random.default_rng(0))
    assert x[:, 0].min() == 0  # the first window
    assert y[:, -1].max() == 11  # the last id is used as a target, never read past
    # The shortest text that works: exactly block_size + 1 ids, one window.
    x, y = data.get_batch(np.arange(5), 3, 4, np.random.default_rng(0))
    assert x.tolist() == [[0, 1, 2, 3]] * 3 and y.tolist() == [[1, 2, 3, 4]] * 3


def test_get_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"block_size=8.*only 8"):
        data.get_batch(np.arange(8), 2, 8, rng)
    with pytest.raises(TypeError, match="default_rng"):
        data.get_batch(np.arange(100), 2, 8, np.random.RandomState(0))
    with pytest.raises(TypeError, match="integers"):
        data.get_batch(np.linspace(0, 1, 100), 2, 8, rng)
    with pytest.raises(ValueError, match="at least 1"):
        data.get_batch(np.arange(100), 0, 8, rng)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(2, 60),
    block_size=st.integers(1, 20),
    batch_size=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_get_batch_windows_are_slices_of_the_text(n, block_size, batch_size, seed):
    ids = np.random.default_rng(seed).integers(0, 1000, size=n)
    if n <= block_size:
        with pytest.raises(ValueError):
            data.get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
        return
    x, y = data.get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    starts = np.random.default_rng(seed).integers(0, n - block_size, size=batch_size)
    for row, start in enumerate(starts):
        np.testing.assert_array_equal(x[row], ids[start : start + block_size])
        np.testing.assert_array_equal(y[row], ids[start + 1 : start + block_size + 1])
