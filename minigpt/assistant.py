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
from .layers import sigmoid
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

    Its utility for a reply is ``u = correct + length_bias * len(reply) / 20`` (a reply 20
    characters longer is worth ``length_bias`` of a correct answer). For replies A and B
    to one question, with ``d = u(A) - u(B)``, it

    1. prefers A with probability ``s = sigmoid(d / tau)``, a Bradley-Terry choice: clear
       differences are almost always judged right, close calls are nearly coin flips
       (with ``tau`` 0.1, before any flip, a difference of 0.1 is judged right 73% of the
       time, 0.3: 95%; ``tau`` 0 is a sharp comparison, ``s`` = 1, 0, or 1/2 for a tie);
    2. then flips that choice with probability ``flip_prob``: the rater misread, clicked
       the wrong button, or simply disagrees.

    So ``P(label = A) = (1 - flip_prob) * s + flip_prob * (1 - s)``: ``prob_a``, the
    labeller's true probability, known here as it never is with people (the calibration
    plot of chapter 10 uses it). ``label`` draws the labels, two random numbers per pair
    from the labeller's own stream (``seed``: an int or a ``np.random.Generator``), the
    choice, then the flip: the same seed gives the same labels.

    Step 2 follows AlpacaFarm (Dubois et al. 2023, "AlpacaFarm: A Simulation Framework for
    Methods that Learn from Human Feedback"), whose simulated annotators flip 25% of their
    labels so that they disagree with each other about as often as human raters do (who
    agree on only about two thirds of pairs). Step 1 adds noise of its own on close calls;
    ``self_agreement`` is the rate to compare with the human one, for the pairs at hand.

    Noise sets a **ceiling** (``ceiling``): a label is a coin with ``p = prob_a``, and no
    predictor, a reward model included, can beat always naming the likelier side, right
    with probability ``max(p, 1 - p)``. Since ``flip_prob < 0.5`` that side is the one of
    higher utility. A reward model at 0.78 against a ceiling of 0.80 has learned almost
    all there was to learn.

    The length bias is the one real raters show (Singhal et al. 2023, "A Long Way to Go:
    Investigating Length Correlations in RLHF"). With ``length_bias`` 0 the labeller is an
    honest, noisy judge of correctness.
    """

    def __init__(self, length_bias: float = 0.1, tau: float = 0.1, flip_prob: float = 0.1, seed=0):
        if not np.isfinite(length_bias) or length_bias < 0:
            raise ValueError(f"length_bias must be a finite number >= 0, got {length_bias}")
        if not np.isfinite(tau) or tau < 0:
            raise ValueError(f"tau must be a finite number >= 0, got {tau}")
        if not 0.0 <= flip_prob < 0.5:
            # At 0.5 the labels carry no information; above, they point the wrong way.
            raise ValueError(f"flip_prob must be in [0, 0.5), got {flip_prob}")
        self.length_bias = float(length_bias)
        self.tau = float(tau)
        self.flip_prob = float(flip_prob)
        self.rng = as_generator(seed)

    def __repr__(self):
        return f"BiasedLabeller(length_bias={self.length_bias}, tau={self.tau}, flip_prob={self.flip_prob})"

    def utility(self, examples: Sequence[Example], texts: Sequence[str]) -> np.ndarray:
        """What the labeller values in each reply: correctness plus its length bias. (N,)"""
        lengths = np.array([len(t) for t in texts], dtype=np.float64)
        return verify_all(examples, texts) + self.length_bias * lengths / 20.0

    def _choice_prob(self, examples, texts_a, texts_b) -> np.ndarray:
        """Step 1 only: the probability of preferring A before any flip. (N,)"""
        d = self.utility(examples, texts_a) - self.utility(examples, texts_b)
        if self.tau == 0:
            return 0.5 * (1.0 + np.sign(d))  # 1, 0, or 1/2 for a tie
        return sigmoid(d / self.tau)

    def prob_a(self, examples, texts_a, texts_b) -> np.ndarray:
        """P(the labeller prefers A) for each pair, flips included. (N,)"""
        s = self._choice_prob(examples, texts_a, texts_b)
        return (1.0 - self.flip_prob) * s + self.flip_prob * (1.0 - s)

    def label(self, examples, texts_a, texts_b) -> np.ndarray:
        """Draw one label per pair: 1 where A is preferred. int64 (N,)"""
        s = self._choice_prob(examples, texts_a, texts_b)
        chose_a = self.rng.random(s.shape) < s
        flipped = self.rng.random(s.shape) < self.flip_prob
        return (chose_a ^ flipped).astype(np.int64)

    def ceiling(self, examples, texts_a, texts_b) -> float:
        """The best accuracy any reward model can reach on these labels: the mean of
        ``max(p, 1 - p)`` with ``p = prob_a``."""
        p = self.prob_a(examples, texts_a, texts_b)
        return float(np.mean(np.maximum(p, 1.0 - p)))

    def self_agreement(self, examples, texts_a, texts_b) -> float:
        """How often two independent labels of the same pair agree: the mean of
        ``p**2 + (1 - p)**2``, the inter-annotator agreement a study with people reports
        (AlpacaFarm measured about 0.66 for humans)."""
        p = self.prob_a(examples, texts_a, texts_b)
        return float(np.mean(p**2 + (1.0 - p) ** 2))
