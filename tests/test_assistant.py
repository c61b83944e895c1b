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
    with pytest.raises(ValueError, match="length_bias"):
        BiasedLabeller(length_bias=-1.0)


def test_labels_are_seeded():
    examples = [_example("1")] * 50
    a, b = ["The result is 1."] * 50, ["The result is 12."] * 50
    draw = lambda seed: BiasedLabeller(tau=1.0, flip_prob=0.2, seed=seed).label(examples, a, b)  # noqa: E731
    assert np.array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
