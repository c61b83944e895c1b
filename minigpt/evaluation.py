"""Measuring a stage of Part II: accuracy with standard errors, paired comparisons, baselines (chapter 13).

A claim like "PPO beats SFT" is a claim about a difference of two accuracies measured on the
same prompts. Three rules make it one an expert accepts:

* **Cluster by prompt.** With several sampled answers per prompt, the answers to one prompt
  are not independent (an easy prompt is easy every time). So the unit is the prompt: average
  each prompt's scores first, then take the mean and the standard error over prompts.
* **Pair.** Two stages answer the same prompts, so compare them prompt by prompt: the standard
  error of the mean *difference* is smaller than the two errors combined, because the prompts'
  difficulty cancels (``paired_difference``).
* **Trivial baselines beside it.** A stage's accuracy means little without what a model with no
  skill gets: a constant answer, the expression echoed back, each family's commonest answer
  (``baseline_replies``).

Scores are arrays ``(N,)`` (one answer per prompt) or ``(N, S)`` (S samples per prompt).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .assistant import Example, format_answer, verify_all
from .sampling import as_generator
from .sft import answer_questions

__all__ = ["per_prompt", "mean_and_se", "paired_difference", "accuracy_by_family", "baseline_replies",
           "answer", "evaluate_policy"]


def per_prompt(scores) -> np.ndarray:
    """Each prompt's mean score: (N,) -> (N,), (N, S) -> (N,)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim not in (1, 2) or len(scores) == 0:
        raise ValueError(f"scores must be (N,) or (N, S) with N >= 1, got shape {scores.shape}")
    return scores if scores.ndim == 1 else scores.mean(axis=1)


def mean_and_se(scores) -> dict:
    """Mean score and its standard error, clustered by prompt: ``{"accuracy", "se", "n"}``.

    se = std of the per-prompt means (ddof=1) / sqrt(N); 0 for a single prompt.
    """
    x = per_prompt(scores)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
    return {"accuracy": float(x.mean()), "se": se, "n": int(len(x))}


def paired_difference(scores_a, scores_b) -> dict:
    """Mean of A - B over the same prompts and its paired standard error: ``{"diff", "se", "n"}``."""
    a, b = per_prompt(scores_a), per_prompt(scores_b)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same prompts: {len(a)} against {len(b)}")
    d = mean_and_se(a - b)
    return {"diff": d["accuracy"], "se": d["se"], "n": d["n"]}


def accuracy_by_family(examples: Sequence[Example], scores) -> dict:
    """Accuracy and se of each family, and their mean with se = sqrt(sum se_f^2) / F (each
    family counts the same, as in ``sessions.score_completions``)."""
    x = per_prompt(scores)
    if len(examples) != len(x):
        raise ValueError(f"{len(examples)} examples but {len(x)} scores")
    by_family: dict[str, list[float]] = {}
    for e, s in zip(examples, x):
        by_family.setdefault(e.family, []).append(s)
    families = {f: mean_and_se(v) for f, v in by_family.items()}
    ses = [v["se"] for v in families.values()]
    overall = {"accuracy": float(np.mean([v["accuracy"] for v in families.values()])),
               "se": math.sqrt(sum(se * se for se in ses)) / len(ses), "n": int(len(x))}
    return {"families": families, "overall": overall}


def baseline_replies(examples: Sequence[Example], train_examples: Sequence[Example]) -> dict[str, list[str]]:
    """Replies of three content-free assistants, in the assistant's format:

    * ``constant``: always the value seen most often in ``train_examples`` (over all families);
    * ``echo``: the expression itself as the value (``The result is 17 // 5.``);
    * ``commonest_per_family``: the value seen most often for the question's family in
      ``train_examples`` (the family is read from the question, as a model could).
    """
    overall = Counter(e.value for e in train_examples).most_common(1)[0][0]
    commonest = {}
    for family in {e.family for e in train_examples}:
        commonest[family] = Counter(e.value for e in train_examples if e.family == family).most_common(1)[0][0]
    return {
        "constant": [format_answer(overall)] * len(examples),
        "echo": [format_answer(e.expr) for e in examples],
        "commonest_per_family": [format_answer(commonest.get(e.family, overall)) for e in examples],
    }


def answer(model, tokenizer, examples: Sequence[Example], temperature: float = 0.0, samples: int = 1,
           max_new_tokens: int = 40, seed=0) -> list[list[str]]:
    """``samples`` replies of ``model`` to each question (greedy when ``temperature`` is 0, and
    then ``samples`` must be 1): a list of N lists of ``samples`` texts. A reply that never
    wrote ``<|end|>`` is kept as written (the verifier will find it malformed or not)."""
    if temperature == 0 and samples != 1:
        raise ValueError("greedy decoding gives one reply per question: use samples=1 or a temperature > 0")
    rng = as_generator(seed)
    questions = [e.question for e in examples]
    replies = [answer_questions(model, tokenizer, questions, max_new_tokens, temperature, rng) for _ in range(samples)]
    return [[replies[s][i][0] for s in range(samples)] for i in range(len(examples))]


def evaluate_policy(model, tokenizer, examples: Sequence[Example], temperature: float = 0.0, samples: int = 1,
                    max_new_tokens: int = 40, seed=0) -> dict:
    """Verify a model's replies: ``{"scores": (N, samples) array, "replies", "accuracy", "se",
    "by_family"}``, accuracy and se clustered by prompt (``mean_and_se``)."""
    replies = answer(model, tokenizer, examples, temperature, samples, max_new_tokens, seed)
    scores = np.array([verify_all([e] * len(r), r) for e, r in zip(examples, replies)])   # (N, samples)
    summary = mean_and_se(scores)
    return {"scores": scores, "replies": replies, "accuracy": summary["accuracy"], "se": summary["se"],
            "by_family": accuracy_by_family(examples, scores)}
