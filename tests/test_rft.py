"""Tests for minigpt.rft: rejection sampling keeps only replies the verifier accepts."""

import numpy as np
import pytest

from minigpt import assistant, reference
from minigpt.rft import rejection_sample


@pytest.fixture(scope="module")
def sft_and_questions():
    sft = reference.load_stage("sft")
    dev = reference.task_data()["dev"]
    return sft["model"], sft["tokenizer"], [dev[i] for i in range(0, len(dev), 30)]   # one per family


def test_kept_replies_are_verified_and_in_question_order(sft_and_questions):
    model, tok, questions = sft_and_questions
    kept, solved = rejection_sample(model, tok, questions, samples=4, max_new_tokens=48, seed=3)
    assert solved.shape == (len(questions),) and solved.dtype == bool
    assert len(kept) == solved.sum() > 0
    solved_questions = [e for e, s in zip(questions, solved) if s]
    assert [k["question"] for k in kept] == [e.question for e in solved_questions]
    assert all(assistant.verify(e, k["answer"]) == 1.0 for e, k in zip(solved_questions, kept))
    # the same seed gives the same draws
    again, solved_again = rejection_sample(model, tok, questions, samples=4, max_new_tokens=48, seed=3)
    assert again == kept and np.array_equal(solved, solved_again)


def test_a_question_never_answered_right_is_dropped(sft_and_questions):
    model, tok, questions = sft_and_questions
    impossible = [assistant.Example(e.question, e.answer, e.expr, e.family, "'no reply states this'")
                  for e in questions[:3]]
    kept, solved = rejection_sample(model, tok, impossible, samples=2, max_new_tokens=48, seed=0)
    assert kept == [] and not solved.any()
    with pytest.raises(ValueError, match="samples"):
        rejection_sample(model, tok, questions, samples=0)
