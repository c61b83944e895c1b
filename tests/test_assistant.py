"""The assistant task of Part II (minigpt/assistant.py): splits, the verifier, the biased labeller."""

import numpy as np
import pytest

from minigpt import assistant, sessions
from minigpt.assistant import BiasedLabeller, Example, format_answer, read_answer, task_splits, verify, verify_all


@pytest.fixture(scope="module")
def splits():
    return task_splits(n_per_family=5, seed=0, phrasings=2)


def test_splits_are_disjoint_by_expression_and_cover_every_family(splits):
    exprs = {name: {e.expr for e in examples} for name, examples in splits.items()}
    assert not exprs["train"] & exprs["dev"] and not exprs["train"] & exprs["test"] and not exprs["dev"] & exprs["test"]
    for name, examples in splits.items():
        assert {e.family for e in examples} == set(assistant.ASSISTANT_FAMILIES)
        assert len(examples) == 2 * 5 * len(assistant.ASSISTANT_FAMILIES)
        # every expression on a side belongs to that side of the sessions split
        assert {sessions.split_of(e.expr) for e in examples} == {assistant.SPLITS[name]}


def test_questions_are_phrased_differently_and_answers_state_the_value(splits):
    first, second = splits["train"][0], splits["train"][1]
    assert first.expr == second.expr and first.question != second.question
    assert len({e.question.replace(e.expr, "EXPR") for e in splits["train"]}) == len(assistant.QUESTION_TEMPLATES)
    for e in splits["test"]:
        assert f"`{e.expr}`" in e.question
        assert e.answer == f"The result is {e.value}."
        assert verify(e, e.answer) == 1.0


def test_the_task_leaves_out_the_families_a_guess_answers():
    assert set(assistant.ASSISTANT_FAMILIES) | set(assistant.GUESSABLE_FAMILIES) == set(sessions.FAMILIES)
    assert {"add", "sub", "mul", "sorted", "replace"} <= set(assistant.ASSISTANT_FAMILIES)
    every = task_splits(n_per_family={"dev": 2}, families=sessions.FAMILIES)["dev"]
    assert {e.family for e in every} == set(sessions.FAMILIES)


def test_splits_are_seeded(splits):
    assert task_splits(n_per_family=5, seed=0, phrasings=2) == splits
    assert task_splits(n_per_family=5, seed=1, phrasings=2) != splits
    with pytest.raises(ValueError, match="phrasings"):
        task_splits(n_per_family=1, phrasings=0)
    with pytest.raises(ValueError, match="unknown splits"):
        task_splits(n_per_family={"validation": 3})


def _example(value, family="add"):
    return Example("Evaluate `x`.", format_answer(value), "x", family, value)


@pytest.mark.parametrize("value, reply, score", [
    ("157", "The result is 157.", 1.0),
    ("157", "  The result is 157.  ", 1.0),
    ("157", "The result is 156.", 0.0),
    ("True", "The result is 1.", 0.0),                          # the value, and its type
    ("['a', 'o']", 'The result is ["a","o"].', 1.0),             # another spelling of the same literal
    ("'OWL'", "The result is 'OWL'", 0.0),                       # no final period: not the format
    ("157", "157", 0.0),                                         # a bare value: not the format
    ("157", "It is 157.", 0.0),
    ("157", "The result is __import__('os').getcwd().", 0.0),   # never run: not a literal
    ("'a.'", "The result is 'a.'.", 1.0),                       # a period inside the value
])
def test_verify_reads_the_value_as_a_literal(value, reply, score):
    assert verify(_example(value), reply) == score


def test_read_answer_never_runs_model_text(tmp_path):
    marker = tmp_path / "ran"
    reply = f"The result is open({str(marker)!r}, 'w').write('x')."
    assert read_answer(reply) is sessions.MALFORMED
    assert not marker.exists()


def test_verify_all_checks_lengths():
    assert verify_all([_example("1"), _example("2")], ["The result is 1.", "The result is 1."]).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="2 examples but 1"):
        verify_all([_example("1"), _example("2")], ["The result is 1."])


def test_an_unbiased_labeller_prefers_correct_answers_and_its_ceiling_is_exact():
    examples = [_example("82")] * 4000
    right, wrong = ["The result is 82."] * 4000, ["The result is 83."] * 4000
    judge = BiasedLabeller(length_bias=0.0, tau=0.1, flip_prob=0.1, seed=0)
    p = judge.prob_a(examples, right, wrong)
    expected = 0.9 * (1 / (1 + np.exp(-10))) + 0.1 * (1 / (1 + np.exp(10)))
    assert np.allclose(p, expected)
    labels = judge.label(examples, right, wrong)
    assert abs(labels.mean() - expected) < 0.02
    assert judge.ceiling(examples, right, wrong) == pytest.approx(expected)


def test_the_length_bias_can_beat_correctness():
    """A wrong reply 60 characters longer than the right one: with length_bias 0.5 its
    utility is higher (1.5 > 1), so the labeller prefers it; with no bias it does not."""
    example = _example("'abc'")
    right = "The result is 'abc'."
    long_wrong = "The result is '" + "abc" * 21 + "'."
    assert len(long_wrong) - len(right) == 60
    biased = BiasedLabeller(length_bias=0.5, tau=0.1, flip_prob=0.0)
    honest = BiasedLabeller(length_bias=0.0, tau=0.1, flip_prob=0.0)
    assert biased.prob_a([example], [long_wrong], [right])[0] > 0.9
    assert honest.prob_a([example], [long_wrong], [right])[0] < 0.01


def _length_pairs(n, seed=0):
    """``n`` pairs of malformed replies ("xx...", verified 0) of random lengths 0-59, so that
    with ``length_bias`` 1 a reply's utility is its length / 20. Returns (examples, a, b,
    utility of a, utility of b)."""
    rng = np.random.default_rng(seed)
    len_a, len_b = rng.integers(0, 60, size=(2, n))
    a, b = ["x" * k for k in len_a], ["x" * k for k in len_b]
    return [_example("1")] * n, a, b, len_a / 20.0, len_b / 20.0


def test_a_sharp_noise_free_labeller_follows_the_utility_order():
    examples, a, b, u_a, u_b = _length_pairs(2000)
    judge = BiasedLabeller(length_bias=1.0, tau=0.0, flip_prob=0.0, seed=0)
    np.testing.assert_array_equal(judge.utility(examples, a), u_a)
    labels = judge.label(examples, a, b)
    untied = u_a != u_b
    np.testing.assert_array_equal(labels[untied], (u_a > u_b)[untied])
    assert judge.prob_a(examples, a, b)[~untied].tolist() == [0.5] * int((~untied).sum())   # a tie is a coin
    # A small tau: only near-ties are ever judged wrong (the smallest difference here is 0.05).
    labels = BiasedLabeller(length_bias=1.0, tau=1e-3, flip_prob=0.0, seed=0).label(examples, a, b)
    np.testing.assert_array_equal(labels[untied], (u_a > u_b)[untied])


@pytest.mark.parametrize("flip_prob", [0.1, 0.25])
def test_the_labeller_flips_at_the_requested_rate(flip_prob):
    examples, a, b, u_a, u_b = _length_pairs(40_000, seed=1)
    labels = BiasedLabeller(length_bias=1.0, tau=0.0, flip_prob=flip_prob, seed=1).label(examples, a, b)
    untied = u_a != u_b
    agreement = np.mean(labels[untied] == (u_a > u_b)[untied])
    assert agreement == pytest.approx(1 - flip_prob, abs=0.01)   # standard error ~0.002


def test_the_ceiling_and_self_agreement_match_a_simulation():
    examples, a, b, u_a, u_b = _length_pairs(40_000, seed=2)
    judge = BiasedLabeller(length_bias=1.0, tau=0.1, flip_prob=0.15, seed=3)
    ceiling = judge.ceiling(examples, a, b)
    labels = judge.label(examples, a, b)
    # Naming the higher utility (a coin on ties) is the best predictor, and scores the ceiling.
    coin = np.random.default_rng(4).random(len(a)) < 0.5
    best_guess = np.where(u_a == u_b, coin, u_a > u_b)
    assert np.mean(labels == best_guess) == pytest.approx(ceiling, abs=0.01)
    # Two independent draws agree as often as self_agreement says.
    again = judge.label(examples, a, b)
    assert np.mean(labels == again) == pytest.approx(judge.self_agreement(examples, a, b), abs=0.01)
    # Closed form at one difference d = 0.2: (1 - f) s + f (1 - s), s = sigmoid(d / tau).
    s = 1 / (1 + np.exp(-0.2 / 0.1))
    assert judge.ceiling([_example("1")], ["x" * 4], [""]) == pytest.approx(0.85 * s + 0.15 * (1 - s))
    assert judge.ceiling([_example("1")], ["xyz"], ["abc"]) == 0.5   # a tie: a fair coin, whatever the noise
    sharp = BiasedLabeller(length_bias=1.0, tau=0.0, flip_prob=0.2)
    assert sharp.ceiling(examples, a, b) == pytest.approx(0.8 * np.mean(u_a != u_b) + 0.5 * np.mean(u_a == u_b))


def test_prob_a_is_balanced_and_capped_by_the_flips():
    judge = BiasedLabeller(length_bias=0.0, tau=0.1, flip_prob=0.15, seed=0)
    example, right, wrong = _example("82"), "The result is 82.", "The result is 83."
    p = judge.prob_a([example] * 3, [right, right, wrong], [wrong, right, right])
    assert p[0] > 0.8 and p[1] == 0.5 and p[2] < 0.2 and p[0] == pytest.approx(1 - p[2])
    assert p.max() <= 0.85 + 1e-12                              # flips cap confidence at 1 - flip_prob
    # A huge difference over a tiny tau does not overflow.
    assert BiasedLabeller(tau=1e-9, flip_prob=0.15).prob_a([example], [right], [wrong])[0] == pytest.approx(0.85)
    # Swapping A and B turns p into 1 - p, and the labels follow p on average.
    examples, a, b, _, _ = _length_pairs(20_000, seed=5)
    judge = BiasedLabeller(length_bias=1.0, tau=0.5, flip_prob=0.1, seed=5)
    np.testing.assert_allclose(judge.prob_a(examples, a, b), 1 - judge.prob_a(examples, b, a))
    assert judge.label(examples, a, b).mean() == pytest.approx(judge.prob_a(examples, a, b).mean(), abs=0.01)


def test_labels_are_seeded():
    examples = [_example("1")] * 50
    a, b = ["The result is 1."] * 50, ["The result is 12."] * 50
    draw = lambda seed: BiasedLabeller(tau=1.0, flip_prob=0.2, seed=seed).label(examples, a, b)  # noqa: E731
    first = draw(3)
    assert first.dtype == np.int64 and set(np.unique(first)) <= {0, 1}
    assert np.array_equal(first, draw(3))
    assert np.array_equal(first, draw(np.random.default_rng(3)))   # an int seed is a Generator of that seed
    assert not np.array_equal(first, draw(4))


@pytest.mark.parametrize("settings, message", [
    ({"length_bias": -1.0}, "length_bias must be a finite number >= 0"),
    ({"length_bias": float("nan")}, "length_bias must be a finite number >= 0"),
    ({"tau": -1.0}, "tau must be a finite number >= 0"),
    ({"tau": float("inf")}, "tau must be a finite number >= 0"),
    ({"flip_prob": 0.5}, r"flip_prob must be in \[0, 0.5\)"),
    ({"flip_prob": -0.1}, r"flip_prob must be in \[0, 0.5\)"),
    ({"flip_prob": float("nan")}, r"flip_prob must be in \[0, 0.5\)"),
])
def test_the_labeller_rejects_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        BiasedLabeller(**settings)


def test_repr_shows_the_settings():
    assert repr(BiasedLabeller(0.2, 0.1, 0.05)) == "BiasedLabeller(length_bias=0.2, tau=0.1, flip_prob=0.05)"
