"""Tests for minigpt.gold: the gold score, the simulated labeler, corruptions."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from minigpt.gold import (
    CORRUPTION_KINDS,
    GENERIC_CLAUSES,
    Corruption,
    Labeler,
    content_words,
    correctness,
    corrupt_answer,
    gold_breakdown,
    gold_components,
    gold_score,
    imperative_factor,
    length_factor,
    token_f1,
)
from minigpt.instructions import documented_callables

Q = "What does `math.sqrt` do?"
REF = "Return the square root of x."


@pytest.fixture(scope="module")
def references():
    return [answer for _, answer in documented_callables()]


# --------------------------------------------------------------------------
# The parts
# --------------------------------------------------------------------------


def test_content_words():
    assert content_words("Return the square root of x.") == ["return", "square", "root", "x"]
    assert content_words("Returns os.path, e.g. A+B!") == ["return", "os", "path", "e", "g", "+", "b"]
    assert content_words("Processes and pushes") == ["process", "push"]
    assert content_words("") == []


def test_token_f1():
    assert token_f1(REF, REF) == 1.0
    assert token_f1("x of root square the Return", REF) == 1.0  # word order is not seen
    assert token_f1("Compute the square root of x.", REF) == pytest.approx(0.75)  # 3 of 4 words
    assert token_f1("Zebra.", REF) == 0.0
    assert token_f1("", REF) == 0.0
    # Precision and recall: 4 shared of 4 predicted, of 8 expected -> F1 = 2/3.
    assert token_f1("square root x return", "Return the square root of x and y plus z now") == pytest.approx(2 / 3)


def test_correctness_sees_word_order():
    assert correctness(REF, REF) == 1.0
    shuffled = "x root square Return the of."
    assert token_f1(shuffled, REF) == 1.0 and correctness(shuffled, REF) == pytest.approx(0.5)
    # Operator symbols count as words: these two answers differ.
    assert correctness("Same as a * b.", "Same as a + b.") < 0.6


def test_length_factor_shape():
    assert length_factor(0) == 0.0
    assert length_factor(1) == 0.5
    assert [length_factor(n) for n in (6, 10, 20)] == [1.0, 1.0, 1.0]
    ramp = [length_factor(n) for n in range(1, 7)]
    assert all(a < b for a, b in pairwise(ramp))  # gentle ramp up
    assert length_factor(24) == pytest.approx(0.85)
    # Steep past 24: a drop of 0.45 in 6 words, versus 0.15 in the 4 before.
    assert length_factor(24) - length_factor(30) > 2 * (length_factor(20) - length_factor(24))
    assert length_factor(40) == length_factor(200) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "answer, factor",
    [
        ("Return the square root of x.", 1.0),
        ("return it", 1.0),  # mood is about the verb; the capital is checked elsewhere
        ("Returns the square root of x.", 0.8),
        ("Pushes an item.", 0.8),
        ("Applies a function.", 0.8),
        ("Process the queue.", 1.0),  # a verb that ends in "s" is not a third person
        ("Processes the queue.", 0.8),
        ("Same as a + b.", 0.6),
        ("The square root of x.", 0.6),
        ("Blorp the thing.", 0.6),
        ("", 0.6),
    ],
)
def test_imperative_factor(answer, factor):
    assert imperative_factor(answer) == factor


# --------------------------------------------------------------------------
# The gold score
# --------------------------------------------------------------------------

RAMBLING = REF + " " + GENERIC_CLAUSES[0]


def test_gold_score_orders_typical_answers():
    reference = gold_score(Q, REF, REF)
    paraphrase = gold_score(Q, "Compute the square root of x.", REF)
    wrong = gold_score(Q, "Return a copy of the string converted to uppercase.", REF)
    garbage = gold_score(Q, "xq blorp zzt fnord wib", REF)
    rambling = gold_score(Q, RAMBLING, REF)
    unended = gold_score(Q, REF, REF, ended=False)
    assert reference == pytest.approx(1.0)
    assert 0.75 < paraphrase < reference
    assert 0.4 <= wrong <= 0.6
    assert garbage < 0.2
    assert rambling < reference and rambling < paraphrase
    assert unended <= 0.3


def test_gold_score_penalises_each_style_slip():
    base = gold_score(Q, REF, REF)
    for slip in (
        "Returns the square root of x.",  # mood
        "return the square root of x.",  # capital
        "Return the square root of x",  # period
        "Return the square root the square root of x.",  # repetition
        "Return the the square root of x.",  # stutter
        "Return the square root. Of x.",  # two sentences
    ):
        assert gold_score(Q, slip, REF) < base - 0.05, slip


def test_gold_score_length_over_optimisation():
    """Longer and longer answers containing the reference: gold falls, steeply."""
    words = "taking care to handle every special value correctly in every single possible case".split()
    scores = [gold_score(Q, REF[:-1] + " " + " ".join(words[:k]) + ".", REF) for k in range(0, len(words) + 1, 4)]
    assert all(a > b for a, b in pairwise(scores))
    long = REF + " " + " ".join(GENERIC_CLAUSES)
    assert gold_score(Q, long, REF) < 0.25


def test_gold_score_of_degenerate_answers():
    assert gold_score(Q, "", REF) == 0.0
    assert gold_score(Q, "   ", REF, ended=False) == 0.0
    assert gold_score(Q, "Return the the the the the the the the the", REF) < 0.2
    assert gold_score(Q, "square root " * 20, REF) < 0.2


def test_references_score_high(references):
    scores = np.array([gold_score("", ref, ref) for ref in references])
    assert scores.min() >= 0.5 and scores.max() <= 1.0
    assert np.median(scores) >= 0.95
    assert (scores >= 0.85).mean() > 0.65  # the rest break the style rules themselves ("Returns ...")


def test_gold_components_add_up():
    parts = gold_components(Q, "returns the square root of x", REF, ended=False)
    style = parts["capital"] * parts["period"] * parts["imperative"]
    style *= parts["one_sentence"] * parts["repetition"] * parts["length"]
    assert parts["style"] == pytest.approx(style)
    assert parts["correctness"] == pytest.approx((parts["unigram_f1"] + parts["bigram_f1"]) / 2)
    assert parts["total"] == pytest.approx((0.6 * parts["correctness"] + 0.4 * style) * 0.25)
    assert parts["capital"] == parts["period"] == 0.7 and parts["imperative"] == 0.8
    assert parts["n_words"] == 6 and parts["n_sentences"] == 1
    assert parts == gold_breakdown(Q, "returns the square root of x", REF, ended=False).__dict__


# --------------------------------------------------------------------------
# The labeler
# --------------------------------------------------------------------------


def _random_gold_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(n), rng.random(n)


def test_labeler_sharp_and_noise_free_agrees_with_gold():
    gold_a, gold_b = _random_gold_pairs(2000)
    labels = Labeler(tau=0.0, flip_prob=0.0, seed=0).label_pairs(gold_a, gold_b)
    np.testing.assert_array_equal(labels, (gold_a > gold_b).astype(np.int64))
    # A small tau: only near-ties are ever judged wrong.
    labels = Labeler(tau=1e-3, flip_prob=0.0, seed=0).label_pairs(gold_a, gold_b)
    clear = np.abs(gold_a - gold_b) > 0.02
    np.testing.assert_array_equal(labels[clear], (gold_a > gold_b)[clear])


@pytest.mark.parametrize("flip_prob", [0.1, 0.25])
def test_labeler_flips_at_the_requested_rate(flip_prob):
    gold_a, gold_b = _random_gold_pairs(40_000)
    labels = Labeler(tau=0.0, flip_prob=flip_prob, seed=1).label_pairs(gold_a, gold_b)
    agreement = np.mean(labels == (gold_a > gold_b))
    # Standard error ~0.002: 0.01 is five of them.
    assert agreement == pytest.approx(1 - flip_prob, abs=0.01)


def test_labeler_ceiling_matches_simulation():
    gold_a, gold_b = _random_gold_pairs(40_000, seed=2)
    labeler = Labeler(tau=0.1, flip_prob=0.15, seed=3)
    ceiling = labeler.labeler_ceiling(gold_a, gold_b)
    labels = labeler.label_pairs(gold_a, gold_b)
    assert np.mean(labels == (gold_a > gold_b)) == pytest.approx(ceiling, abs=0.01)
    # Closed form at a single difference d: (1 - f) s + f (1 - s), s = sigmoid(d / tau).
    s = 1 / (1 + np.exp(-0.2 / 0.1))
    assert labeler.labeler_ceiling(np.array([0.7]), np.array([0.5])) == pytest.approx(0.85 * s + 0.15 * (1 - s))
    # Ties: a fair coin, whatever the noise.
    assert labeler.labeler_ceiling(np.array([0.5]), np.array([0.5])) == 0.5
    # Two independent label draws agree as often as the formula says.
    second = labeler.label_pairs(gold_a, gold_b)
    assert np.mean(labels == second) == pytest.approx(labeler.expected_self_agreement(gold_a, gold_b), abs=0.01)
    assert Labeler(tau=0.0, flip_prob=0.2).labeler_ceiling(gold_a, gold_b) == pytest.approx(0.8)


def test_labeler_prob_a_and_label_balance():
    labeler = Labeler(tau=0.1, flip_prob=0.15, seed=0)
    p = labeler.prob_a(np.array([0.9, 0.5, 0.1]), np.array([0.1, 0.5, 0.9]))
    assert p[0] > 0.8 and p[1] == 0.5 and p[2] < 0.2 and p[0] == pytest.approx(1 - p[2])
    assert p.max() <= 0.85 + 1e-12  # flips cap confidence at 1 - flip_prob
    # Huge differences do not overflow.
    assert Labeler(tau=1e-9).prob_a(np.array([1.0]), np.array([0.0]))[0] == pytest.approx(0.85)


def test_labeler_is_seeded():
    gold_a, gold_b = _random_gold_pairs(500)
    first = Labeler(seed=7).label_pairs(gold_a, gold_b)
    assert first.dtype == np.int64 and set(np.unique(first)) <= {0, 1}
    np.testing.assert_array_equal(first, Labeler(seed=7).label_pairs(gold_a, gold_b))
    np.testing.assert_array_equal(first, Labeler(seed=np.random.default_rng(7)).label_pairs(gold_a, gold_b))
    assert not np.array_equal(first, Labeler(seed=8).label_pairs(gold_a, gold_b))


def test_labeler_prefer():
    labeler = Labeler(tau=0.01, flip_prob=0.0, seed=0)
    assert labeler.prefer(Q, REF, "xq blorp zzt", REF) == 1
    assert labeler.prefer(Q, "xq blorp zzt", REF, REF) == 0
    assert labeler.prefer(Q, REF, REF, REF, ended_a=False) == 0


def test_labeler_rejects_bad_settings():
    with pytest.raises(ValueError):
        Labeler(flip_prob=0.5)
    with pytest.raises(ValueError):
        Labeler(tau=-1.0)


# --------------------------------------------------------------------------
# Corruptions
# --------------------------------------------------------------------------


def test_each_corruption_kind(references):
    rng = np.random.default_rng(0)
    pool = references[:50]
    made = {kind: corrupt_answer(REF, rng, kind=kind, pool=pool) for kind in CORRUPTION_KINDS}
    assert all(isinstance(c, Corruption) and c.kind == kind for kind, c in made.items())
    assert made["truncate"].text != REF and REF.startswith(made["truncate"].text)
    assert not made["truncate"].text.endswith(".")
    assert sorted(made["shuffle"].text.rstrip(".").split()) == sorted(REF.rstrip(".").split())
    assert not made["shuffle"].text.startswith("Return")
    assert made["lowercase"].text == "return the square root of x"
    assert made["third_person"].text == "Returns the square root of x."
    assert made["swap"].text in pool and made["swap"].text != REF
    assert len(made["repeat"].text.split()) > len(REF.split())
    assert made["ramble"].text.startswith(REF) and made["ramble"].text[len(REF) :].strip() != ""
    assert made["no_end"] == Corruption(REF, "no_end", ended=False)
    assert all(c.ended for kind, c in made.items() if kind != "no_end")


def test_corruptions_are_worse_by_gold(references):
    """Almost always strictly worse than the reference, kind by kind."""
    rng = np.random.default_rng(1)
    sample = references[::6]
    reference_gold = [gold_score("", ref, ref) for ref in sample]
    for kind in CORRUPTION_KINDS:
        worse, total = 0, 0
        for ref, ref_gold in zip(sample, reference_gold):
            try:
                c = corrupt_answer(ref, rng, kind=kind, pool=references)
            except ValueError:  # e.g. "third_person" of "Same as a + b."
                continue
            total += 1
            worse += gold_score("", c.text, ref, c.ended) < ref_gold
        assert total > 100 and worse / total >= 0.99, kind


def test_corrupt_answer_is_deterministic_and_varied(references):
    def draw(seed):
        rng = np.random.default_rng(seed)
        return [corrupt_answer(ref, rng, pool=references) for ref in references[:200]]

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)
    kinds = {c.kind for c in draw(0)}
    assert kinds == set(CORRUPTION_KINDS)


def test_corrupt_answer_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="pool"):
        corrupt_answer(REF, rng, kind="swap")
    with pytest.raises(ValueError, match="does not apply"):
        corrupt_answer("Same as a + b.", rng, kind="third_person")
    with pytest.raises(ValueError, match="unknown"):
        corrupt_answer(REF, rng, kind="paraphrase")
    with pytest.raises(TypeError):
        corrupt_answer(REF, 0)
    # Without a pool, a random kind is never "swap".
    assert all(corrupt_answer(REF, rng).kind != "swap" for _ in range(50))
