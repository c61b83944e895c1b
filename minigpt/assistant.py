"""The Python assistant of Part II: questions about expressions, answers the interpreter checks (chapter 9).

The base model of chapter 7 completes interpreter sessions. Part II turns it into an
assistant that answers a question in words, in a fixed format that states the value::

    <|user|>What does `sorted('oar')` return?<|assistant|>The result is ['a', 'o', 'r'].<|end|>

The questions come from ``minigpt.sessions``: every expression there has its interpreter
answer, so every answer the assistant gives can be *verified*. That makes the gold score of
Part II correctness itself, which no template can game:

* ``read_answer(text)`` takes the value out of ``"The result is VALUE."`` with
  ``ast.literal_eval`` (``sessions.parse_answer``): the model's text is read as a literal,
  never run. Anything else is MALFORMED.
* ``verify(example, text)`` is 1.0 when that value equals the interpreter's (same ``repr``,
  so ``1`` does not count for ``True``), else 0.0. Malformed answers score 0.

Prompts are split three ways by expression, with the split of ``sessions.split_of``:
the base model trained on the "train" side only, so "dev" and "test" questions were never
seen in pre-training either. Everything that is tuned is tuned on dev; test is read once.

``BiasedLabeller`` simulates the people who compare two answers: it prefers the correct one,
noisily, and also, like real raters, prefers *longer* answers (Singhal et al. 2023, "A Long
Way to Go: Investigating Length Correlations in RLHF"), with a strength that is a setting.
A reward model trained on its labels learns that bias too, and a policy optimised against
that reward model can exploit it: the over-optimisation of chapter 13.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import sessions
from .gold import Labeler
from .sampling import as_generator

__all__ = [
    "QUESTION_TEMPLATES",
    "ANSWER_PREFIX",
    "SPLITS",
    "ASSISTANT_FAMILIES",
    "GUESSABLE_FAMILIES",
    "Example",
    "format_answer",
    "make_examples",
    "task_splits",
    "read_answer",
    "verify",
    "verify_all",
    "BiasedLabeller",
]

# How a user may ask. ``{expr}`` is the expression, shown as inline code.
QUESTION_TEMPLATES: tuple[str, ...] = (
    "What does `{expr}` return?",
    "Evaluate `{expr}`.",
    "What is the value of `{expr}`?",
    "In Python, what is `{expr}`?",
    "What do you get from `{expr}`?",
    "Compute `{expr}` for me.",
    "Tell me what `{expr}` gives.",
    "If I type `{expr}` at the prompt, what comes back?",
)

# The assistant's one answer format: this prefix, the value's repr, a period.
ANSWER_PREFIX = "The result is "

# The families of the assistant task: every family of ``sessions.FAMILIES`` whose answer
# cannot be guessed. ``in`` and the comparisons are True or False (always saying True scores
# 0.43), and ``len``, ``count`` and ``%`` have a few small answers (the commonest one scores
# 0.25-0.34); with them a model with no skill would score 0.1, without them 0.03. Part II
# measures what a model *computes*, so it leaves them out.
GUESSABLE_FAMILIES = ("len", "count", "in", "compare", "mod")
ASSISTANT_FAMILIES = tuple(f for f in sessions.FAMILIES if f not in GUESSABLE_FAMILIES)

# Part II's three splits, and the side of ``sessions.split_of`` each one takes.
SPLITS = {"train": "train", "dev": "val", "test": "test"}


@dataclass(frozen=True)
class Example:
    """One question of the assistant task: ``question`` (the user's words), ``answer`` (the
    reference reply in the assistant format), and the expression it is about (``expr``, its
    ``family`` and ``value``, the interpreter's ``repr``)."""

    question: str
    answer: str
    expr: str
    family: str
    value: str


def format_answer(value: str) -> str:
    """The assistant's reply stating ``value`` (a ``repr``): ``"The result is VALUE."``."""
    return f"{ANSWER_PREFIX}{value}."


def make_examples(expressions: Sequence[sessions.Expression], seed=0, phrasings: int = 1) -> list[Example]:
    """Questions about ``expressions``, each asked ``phrasings`` times in distinct templates
    drawn with ``seed`` (an int or a Generator), with the reference answer."""
    if not 1 <= phrasings <= len(QUESTION_TEMPLATES):
        raise ValueError(f"phrasings must be 1..{len(QUESTION_TEMPLATES)}, got {phrasings}")
    rng = as_generator(seed)
    examples = []
    for e in expressions:
        for t in rng.choice(len(QUESTION_TEMPLATES), size=phrasings, replace=False):
            examples.append(Example(QUESTION_TEMPLATES[t].format(expr=e.expr), format_answer(e.answer),
                                    e.expr, e.family, e.answer))
    return examples


def task_splits(n_per_family: dict | int = 50, seed: int = 0, phrasings: int = 1,
                families: Sequence[str] = ASSISTANT_FAMILIES) -> dict[str, list[Example]]:
    """The task's train, dev and test examples: ``n_per_family`` distinct expressions of each
    of ``families`` on each side (an int, or a dict by split name), asked in ``phrasings`` ways.

    Each side's expressions come from ``sessions.held_out_expressions`` on its own split of
    ``sessions.split_of``, so no expression is on two sides, and dev and test expressions
    never occurred in the base model's pre-training text either.
    """
    sizes = n_per_family if isinstance(n_per_family, dict) else dict.fromkeys(SPLITS, n_per_family)
    unknown = set(sizes) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; the task has {list(SPLITS)}")
    out = {}
    for i, (name, side) in enumerate(SPLITS.items()):
        if name in sizes:
            expressions = sessions.held_out_expressions(sizes[name], split=side, seed=seed, families=families)
            out[name] = make_examples(expressions, seed=np.random.default_rng([seed, 100 + i]),
                                      phrasings=phrasings)
    return out


def read_answer(text: str):
    """The value an assistant reply states, or ``sessions.MALFORMED``.

    The reply must be ``"The result is VALUE."`` (surrounding spaces allowed) with VALUE a
    Python literal; it is parsed by ``ast.literal_eval`` and never executed.
    """
    text = text.strip()
    if not (text.startswith(ANSWER_PREFIX) and text.endswith(".")):
        return sessions.MALFORMED
    return sessions.parse_answer(text[len(ANSWER_PREFIX):-1])


def verify(example: Example, text: str) -> float:
    """The gold score of a reply: 1.0 if it states the interpreter's value (same ``repr``, so
    type and value), 0.0 if it states another value or is malformed."""
    value = read_answer(text)
    return float(value is not sessions.MALFORMED and repr(value) == example.value)


def verify_all(examples: Sequence[Example], texts: Sequence[str]) -> np.ndarray:
    """``verify`` of each reply, as a float64 array (N,)."""
    if len(examples) != len(texts):
        raise ValueError(f"{len(examples)} examples but {len(texts)} replies")
    return np.array([verify(e, t) for e, t in zip(examples, texts)], dtype=np.float64)


class BiasedLabeller:
    """A simulated rater comparing two replies to one question: it prefers the correct one,
    noisily, and longer ones.

    Its utility for a reply is ``correct + length_bias * len(reply) / 20`` (a reply 20
    characters longer is worth ``length_bias`` of a correct answer), and it chooses between
    two replies like ``gold.Labeler``: Bradley-Terry with temperature ``tau`` on the
    utilities, then a flip with probability ``flip_prob``. With ``length_bias`` 0 it is an
    honest, noisy judge of correctness. ``prob_a`` is the labeller's true probability of
    preferring reply A, known here (the calibration plot of chapter 10 uses it).
    """

    def __init__(self, length_bias: float = 0.1, tau: float = 0.1, flip_prob: float = 0.1, seed=0):
        if not np.isfinite(length_bias) or length_bias < 0:
            raise ValueError(f"length_bias must be a finite number >= 0, got {length_bias}")
        self.length_bias = float(length_bias)
        self.choice = Labeler(tau=tau, flip_prob=flip_prob, seed=seed)

    def __repr__(self):
        return (f"BiasedLabeller(length_bias={self.length_bias}, tau={self.choice.tau}, "
                f"flip_prob={self.choice.flip_prob})")

    def utility(self, examples: Sequence[Example], texts: Sequence[str]) -> np.ndarray:
        """What the labeller values in each reply: correctness plus its length bias. (N,)"""
        lengths = np.array([len(t) for t in texts], dtype=np.float64)
        return verify_all(examples, texts) + self.length_bias * lengths / 20.0

    def prob_a(self, examples, texts_a, texts_b) -> np.ndarray:
        """P(the labeller prefers A) for each pair. (N,)"""
        return self.choice.prob_a(self.utility(examples, texts_a), self.utility(examples, texts_b))

    def label(self, examples, texts_a, texts_b) -> np.ndarray:
        """Draw one label per pair: 1 where A is preferred. int64 (N,)"""
        return self.choice.label_pairs(self.utility(examples, texts_a), self.utility(examples, texts_b))

    def ceiling(self, examples, texts_a, texts_b) -> float:
        """The best accuracy any reward model can reach on these labels (``Labeler.labeler_ceiling``)."""
        return self.choice.labeler_ceiling(self.utility(examples, texts_a), self.utility(examples, texts_b))
