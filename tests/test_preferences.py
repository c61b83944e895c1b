"""Preference data on the assistant task (minigpt/preferences.py): candidates, the labeller's
verdicts on every pair, the pairs that make a reward model read the question, token batches."""

import numpy as np
import pytest

from minigpt.assistant import BiasedLabeller
from minigpt.preferences import (answer_sequences, candidate_batch, other_question_replies, pair_arrays,
                                 preference_groups)
from tiny_models import tiny_assistant


@pytest.fixture(scope="module")
def setup():
    return tiny_assistant(3, families=("add", "upper", "sorted"))


def test_other_question_reply_is_well_formed_same_family_and_wrong(setup):
    examples, _, _ = setup
    others = other_question_replies(examples, seed=1)
    by_answer = {e.answer: e for e in examples}
    for e, other in zip(examples, others):
        assert other in by_answer and other != e.answer
        assert by_answer[other].family == e.family


def test_other_question_reply_needs_two_values_in_a_family(setup):
    examples, _, _ = setup
    with pytest.raises(ValueError, match="no two questions"):
        other_question_replies(examples[:1])


def test_groups_hold_every_pair_labelled_and_the_gold_of_each_candidate(setup):
    examples, tokenizer, model = setup
    labeller = BiasedLabeller(length_bias=0.0, tau=0.01, flip_prob=0.0, seed=0)
    groups = preference_groups(model, tokenizer, examples, labeller, samples=2, max_new_tokens=8, seed=0)
    assert len(groups) == len(examples)
    for g in groups:
        assert g.sources == ["sample", "sample", "reference", "other_question"]
        assert len(g.a) == 6 and set(zip(g.a, g.b)) == {(i, j) for i in range(4) for j in range(i + 1, 4)}
        assert g.gold[2] == 1.0 and g.gold[3] == 0.0            # the reference is right, the other wrong
        ref_vs_other = np.flatnonzero((g.a == 2) & (g.b == 3))[0]
        assert g.label[ref_vs_other] == 1                     # an honest, sharp labeller picks the right one
        assert g.prob_a[ref_vs_other] > 0.99
        np.testing.assert_array_equal(g.chosen, np.where(g.label == 1, g.a, g.b))
        np.testing.assert_array_equal(np.sort(np.stack([g.chosen, g.rejected]), axis=0),
                                      np.stack([g.a, g.b]))


def test_groups_are_reproducible(setup):
    examples, tokenizer, model = setup

    def make():
        labeller = BiasedLabeller(length_bias=0.5, seed=3)
        return preference_groups(model, tokenizer, examples, labeller, samples=2, max_new_tokens=8, seed=4)

    first, second = make(), make()
    for g, h in zip(first, second):
        assert g.replies == h.replies
        np.testing.assert_array_equal(g.label, h.label)


def test_candidate_batch_indexes_each_groups_candidates(setup):
    examples, tokenizer, model = setup
    groups = preference_groups(model, tokenizer, examples[:3], BiasedLabeller(seed=0), samples=1,
                               max_new_tokens=6, seed=0)
    idx, last, chosen, rejected, a, b, label = candidate_batch(tokenizer, groups, 64)
    assert idx.shape[0] == 3 * 3 and len(chosen) == 3 * 3
    sequences = [s for g in groups for s, _ in answer_sequences(tokenizer, g, 64)]
    for row, seq in enumerate(sequences):
        np.testing.assert_array_equal(idx[row, :len(seq)], seq)
        assert last[row] == len(seq) - 1
    np.testing.assert_array_equal(chosen[3:6], 3 + groups[1].chosen)
    np.testing.assert_array_equal(label, np.concatenate([g.label for g in groups]))
    pairs = pair_arrays(groups)
    assert all(len(v) == 9 for v in pairs.values())
    assert set(pairs["source_a"][pairs["source_b"] == "other_question"]) == {"sample", "reference"}


def test_answer_sequences_cut_to_the_block_and_end_with_the_end_token(setup):
    examples, tokenizer, model = setup
    groups = preference_groups(model, tokenizer, examples[:2], BiasedLabeller(seed=0), samples=1,
                               max_new_tokens=6, seed=0)
    end = tokenizer.special_tokens["<|end|>"]
    (ids, prompt_length), *_ = answer_sequences(tokenizer, groups[0], 64)[1:]
    assert ids[-1] == end and prompt_length < len(ids)
    short = answer_sequences(tokenizer, groups[0], 10)
    assert all(len(s) <= 10 for s, _ in short)


def test_a_sample_that_repeats_the_reference_is_kept_once(setup, monkeypatch):
    import minigpt.preferences as prefs

    examples, tokenizer, model = setup

    def fake_samples(model, tokenizer, questions, samples, max_new_tokens, seed):
        by_question = {e.question: e for e in examples}
        return [[(by_question[q].answer, True, None), ("The result is 0.", True, None)] for q in questions]

    monkeypatch.setattr(prefs, "sample_replies", fake_samples)
    groups = prefs.preference_groups(model, tokenizer, examples[:3], BiasedLabeller(seed=0), samples=2)
    for g, e in zip(groups, examples):
        assert g.replies.count(e.answer) == 1 and g.sources.count("reference") == 1
        assert g.sources[g.replies.index(e.answer)] == "reference"
        assert len(g.replies) == len(set(g.replies)) and len(g.a) == len(g.replies) * (len(g.replies) - 1) // 2
