"""Row-block threading (minigpt.parallel): the same numbers with any number of threads."""

import numpy as np
import pytest

from minigpt import GPT, GPTConfig, parallel


@pytest.fixture
def restore_threads():
    n = parallel.get_threads()
    yield
    parallel.set_threads(n)


def test_blocks_cover_every_row_once(restore_threads):
    parallel.set_threads(3)
    seen = np.zeros(100_000, dtype=int)

    def work(a, b):
        seen[a:b] += 1

    parallel.for_row_blocks(work, len(seen), size=len(seen))
    assert (seen == 1).all()
    parallel.for_row_blocks(work, 2, size=10**6)  # fewer rows than threads
    assert seen[:2].tolist() == [2, 2]


def test_worker_exceptions_reach_the_caller(restore_threads):
    parallel.set_threads(2)

    def work(a, b):
        if a > 0:
            raise RuntimeError("second block failed")

    with pytest.raises(RuntimeError, match="second block"):
        parallel.for_row_blocks(work, 10, size=10**6)


def test_a_training_step_is_bitwise_identical_with_one_or_two_threads(restore_threads):
    config = GPTConfig(vocab_size=64, block_size=64, n_layer=2, n_head=4, d_model=128)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 64, (8, 64)), rng.integers(0, 64, (8, 64))
    results = []
    for n in (1, 2):
        parallel.set_threads(n)
        model = GPT(config, seed=0)
        logits, loss = model.forward(x, y)
        results.append((logits, loss, model.backward()))
    (l1, loss1, g1), (l2, loss2, g2) = results
    assert np.array_equal(l1, l2) and loss1 == loss2
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_set_threads_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="positive integer"):
        parallel.set_threads(bad)


def test_environment_variable_is_checked(monkeypatch):
    monkeypatch.setenv("MINIGPT_THREADS", "two")
    with pytest.raises(ValueError, match="MINIGPT_THREADS"):
        parallel._threads_from_environment()
    monkeypatch.setenv("MINIGPT_THREADS", "1")
    assert parallel._threads_from_environment() == 1
