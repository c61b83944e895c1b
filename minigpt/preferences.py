"""Preference data for the assistant task: candidate replies, a labeller's verdicts, token ids (chapter 10).

A reward model learns from comparisons: for one question, two replies, and which one a
person preferred. Here the person is ``assistant.BiasedLabeller`` and the replies come from
three places, each for a reason:

* **samples of the SFT model** at temperature 1: the replies the policy will actually
  produce, right and wrong, which is what a reward model must judge during PPO;
* **the reference reply** (the interpreter's value in the assistant's format): a correct
  answer for every question, even where the SFT model never gets it right;
* **the reference reply of another question** of the same family (``"The result is 42."``
  for a question about ``17 // 5``): fluent, well-formed, plausible, and wrong *for this
  question*. A reward model that scores replies without reading the question cannot tell it
  from the right one, so these pairs force it to read the prompt.

Each question's distinct candidates form a ``PreferenceGroup`` (a sample that repeats the reference
is kept once: no rater is asked to compare a reply with itself); the labeller compares every pair of
them (``K (K - 1) / 2`` pairs for ``K`` candidates), so a reward model scores each candidate
once and forms all the pairs by indexing (``reward.bradley_terry_forward``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .assistant import BiasedLabeller, Example, verify_all
from .instructions import encode_answer, right_pad
from .sampling import as_generator
from .sft import prompt_ids, sample_replies

__all__ = ["PreferenceGroup", "other_question_replies", "preference_groups",
           "candidate_batch", "pair_arrays", "answer_sequences"]


@dataclass
class PreferenceGroup:
    """One question, its K candidate replies and the labeller's verdicts on all their pairs.

    replies, ended: K texts (without ``<|end|>``) and whether each one ended;
    sources: where each came from (``"sample"``, ``"reference"``, ``"other_question"``);
    gold: (K,) the verifier's score of each reply; a, b: (P,) the pairs' candidate indices;
    label: (P,) 1 where the labeller preferred a; prob_a: (P,) its true probability of that.
    """

    example: Example
    replies: list
    ended: list
    sources: list
    gold: np.ndarray
    a: np.ndarray
    b: np.ndarray
    label: np.ndarray
    prob_a: np.ndarray

    @property
    def chosen(self) -> np.ndarray:
        """(P,) the preferred candidate of each pair."""
        return np.where(self.label == 1, self.a, self.b)

    @property
    def rejected(self) -> np.ndarray:
        """(P,) the other one."""
        return np.where(self.label == 1, self.b, self.a)


def other_question_replies(examples: Sequence[Example], seed=0, pool: Sequence[Example] | None = None) -> list[str]:
    """For each question, the reference reply of another question of the same family whose
    value differs, drawn from ``pool`` (default: ``examples`` themselves): a well-formed reply
    that is wrong *for this question*. (N,) texts."""
    rng = as_generator(seed)
    by_family: dict[str, list[Example]] = {}
    for e in examples if pool is None else pool:
        by_family.setdefault(e.family, []).append(e)
    out = []
    for e in examples:
        others = [o for o in by_family.get(e.family, []) if o.value != e.value]
        if not others:
            raise ValueError(f"family {e.family!r} has no two questions with different values; "
                             "give other_question_replies more examples of it")
        out.append(others[rng.integers(len(others))].answer)
    return out


def preference_groups(model, tokenizer, examples: Sequence[Example], labeller: BiasedLabeller, samples: int = 2,
                      max_new_tokens: int = 40, seed=0, pool: Sequence[Example] | None = None
                      ) -> list[PreferenceGroup]:
    """A ``PreferenceGroup`` per question: ``samples`` replies of ``model`` (temperature 1),
    the reference reply and another question's reply (from ``pool``, default ``examples``),
    each distinct reply once, every pair labelled by ``labeller``.

    The random draws (samples, the other question, the labels' noise) come from ``seed`` and
    the labeller's own stream, so the same arguments give the same groups.
    """
    rng = as_generator(seed)
    sampled = sample_replies(model, tokenizer, [e.question for e in examples], samples, max_new_tokens, seed=rng)
    others = other_question_replies(examples, seed=rng, pool=pool)
    groups = []
    for e, drawn, other in zip(examples, sampled, others):
        replies, ended, sources = [], [], []
        for text, end, source in [*((t, x, "sample") for t, x, _ in drawn), (e.answer, True, "reference"),
                                  (other, True, "other_question")]:
            if (text, end) in zip(replies, ended):
                # no one asks a rater to compare a reply with itself: a sample that repeats an
                # earlier candidate (often the reference itself) is kept once, under the
                # reference's name if it is the reference
                if source == "reference":
                    sources[list(zip(replies, ended)).index((text, end))] = "reference"
                continue
            replies.append(text)
            ended.append(end)
            sources.append(source)
        a, b = np.triu_indices(len(replies), k=1)
        ra, rb = [replies[i] for i in a], [replies[i] for i in b]
        group_examples = [e] * len(a)
        groups.append(PreferenceGroup(
            example=e, replies=replies, ended=ended, sources=sources, gold=verify_all([e] * len(replies), replies),
            a=a, b=b, label=labeller.label(group_examples, ra, rb), prob_a=labeller.prob_a(group_examples, ra, rb)))
    return groups


def answer_sequences(tokenizer, group: PreferenceGroup, block_size: int) -> list[tuple[np.ndarray, int]]:
    """Each candidate as (prompt + reply [+ <|end|>] ids, cut to ``block_size``; prompt length)."""
    prompt = prompt_ids(tokenizer, group.example.question)
    out = []
    for text, ended in zip(group.replies, group.ended):
        ids = np.concatenate([prompt, encode_answer(tokenizer, text, ended)]).astype(np.int64)
        out.append((ids[:block_size], len(prompt)))
    return out


def candidate_batch(tokenizer, groups: Sequence[PreferenceGroup], block_size: int):
    """Every candidate of ``groups`` in one batch, for a reward model.

    Returns idx (N, T) right-padded ids, last (N,) the position of each candidate's final
    token, chosen and rejected (P,) indices into the N candidates, and, for the pairs in the
    same order, a and b (P,) with the labeller's label (P,)."""
    seqs, chosen, rejected, a, b, label = [], [], [], [], [], []
    for g in groups:
        offset = len(seqs)
        seqs.extend(ids for ids, _ in answer_sequences(tokenizer, g, block_size))
        chosen.append(offset + g.chosen)
        rejected.append(offset + g.rejected)
        a.append(offset + g.a)
        b.append(offset + g.b)
        label.append(g.label)
    last = np.array([len(s) - 1 for s in seqs], dtype=np.int64)
    cat = np.concatenate
    return right_pad(seqs), last, cat(chosen), cat(rejected), cat(a), cat(b), cat(label)


def pair_arrays(groups: Sequence[PreferenceGroup]) -> dict:
    """The pairs of ``groups`` as flat arrays (P,): ``gold_a``, ``gold_b``, ``prob_a``,
    ``label`` and the candidates' ``source_a``/``source_b`` and lengths ``len_a``/``len_b``."""
    out = {k: [] for k in ("gold_a", "gold_b", "prob_a", "label", "source_a", "source_b", "len_a", "len_b")}
    for g in groups:
        out["gold_a"].append(g.gold[g.a])
        out["gold_b"].append(g.gold[g.b])
        out["prob_a"].append(g.prob_a)
        out["label"].append(g.label)
        out["source_a"].append(np.array(g.sources)[g.a])
        out["source_b"].append(np.array(g.sources)[g.b])
        out["len_a"].append(np.array([len(g.replies[i]) for i in g.a]))
        out["len_b"].append(np.array([len(g.replies[i]) for i in g.b]))
    return {k: np.concatenate(v) for k, v in out.items()}
