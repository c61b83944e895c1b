"""The gold score, a simulated labeler, and worse answers to compare against (chapters 9-10).

Learning from human feedback needs humans. The book replaces them with a
written-down judgement, the **gold score** ``gold_score(question, answer,
reference)``, a number in [0, 1] that stands for what a careful reader wants
from an answer to "What does `math.sqrt` do?":

* **correct**: it says what the docstring says (word overlap with the
  reference sentence: F1 over single words and over neighbouring pairs), and
* **well written**: in the style PEP 257 asks of a docstring summary line
  (one sentence, capital letter, final period, imperative mood "Return ..."
  rather than "Returns ..."), without repeating itself, of a sensible length,
  and it *ends* (the model produced ``<|end|>``).

Nobody trains on the gold score directly. A **simulated labeler**
(``Labeler``) looks at two answers and says which it prefers, noisily, the
way human raters do; the reward model learns from those preferences only,
and the gold score then tells us, as no real project can know, how good the
policy really got. When the policy pushes the reward model's score up while
the gold score goes down, that is reward over-optimisation, measured.

Finally ``corrupt_answer`` makes worse versions of an answer (truncated,
shuffled, rambling, ...) to build preference pairs for the reward model.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from .instructions import split_sentences
from .layers import sigmoid
from .sampling import as_generator

__all__ = [
    "CORRECTNESS_WEIGHT",
    "STYLE_WEIGHT",
    "NO_END_FACTOR",
    "LENGTH_KNOTS",
    "IMPERATIVE_VERBS",
    "GENERIC_CLAUSES",
    "CORRUPTION_KINDS",
    "content_words",
    "token_f1",
    "bigram_f1",
    "correctness",
    "length_factor",
    "imperative_factor",
    "GoldBreakdown",
    "gold_breakdown",
    "gold_components",
    "gold_score",
    "Labeler",
    "Corruption",
    "corrupt_answer",
]

# --------------------------------------------------------------------------
# The numbers that define the gold score (all documented in gold_breakdown)
# --------------------------------------------------------------------------

# g = CORRECTNESS_WEIGHT * correctness + STYLE_WEIGHT * style, times NO_END_FACTOR if
# the answer never ended. Correctness weighs more: a well-written wrong
# answer is worth less than a clumsy right one.
CORRECTNESS_WEIGHT = 0.6
STYLE_WEIGHT = 0.4
NO_END_FACTOR = 0.25

# Style factors: each slip multiplies the style score by its factor.
NO_CAPITAL_FACTOR = 0.7  # first character is not an upper-case letter
NO_PERIOD_FACTOR = 0.7  # does not end with "."
THIRD_PERSON_FACTOR = 0.8  # "Returns ..." (right idea, wrong mood for PEP 257)
NOT_A_VERB_FACTOR = 0.6  # "Same as ...", "Greatest common divisor.", gibberish
EXTRA_SENTENCE_FACTOR = 0.7  # per sentence after the first
REPEAT_FACTOR = 0.5  # per repetition (a repeated 3-gram, or a stutter "the the")
REPEAT_N = 3

# Length factor, by number of words, linear between these knots (and flat
# after the last): a gentle ramp up to 6 words, full marks for 6-20, a mild
# dip to 24, then a steep fall. Docstring summaries are short; a reader
# wants one line, not a paragraph.
LENGTH_KNOTS: tuple[tuple[int, float], ...] = (
    (0, 0.0),
    (1, 0.5),
    (6, 1.0),
    (20, 1.0),
    (24, 0.85),
    (30, 0.4),
    (40, 0.1),
)

# Words ignored by the F1 (they match in almost any two answers): the
# articles, as in the SQuAD F1 of Rajpurkar et al. (2016), and a few more
# function words.
STOP_WORDS = frozenset(
    "a an the of to in on at by for from with as and or is are be it its this that".split()
)

# Verbs that open a PEP 257 summary line in the imperative ("Return the ...").
# Taken from the first words of the standard library's own first sentences,
# plus common verbs of the same kind. Lowercase.
IMPERATIVE_VERBS = frozenset(
    """
    accept access acquire add adjust allow append apply arrange ask assign associate attach
    build calculate call cancel cast change check choose clean clear close collapse combine
    compare compile compress compute concatenate construct convert copy count create
    decode decompress decrease define delegate delete derive describe deserialize detach
    determine disable disconnect display divide do drop dump emit enable encode ensure enter
    escape evaluate execute exit expand extend extract fetch fill filter find finish fix
    flatten flush format generate get handle hash ignore implement increase indicate
    initialize insert invert invoke isolate iterate join keep load lock log look make map mark
    match measure merge move multiply negate normalize open override pack pad parse partition
    pass perform pop prepare print process provide push put quote raise read receive
    recalculate record reduce reformat register release reload remove rename render repeat
    replace report reset resolve restore retrieve return reveal reverse rotate round run save
    scale scan search seek select send separate serialize set shift show shuffle skip sort
    split start stop store strip substitute subtract sum swap tell test tidy transform
    translate traverse trim truncate try unlock unpack unquote unregister update use validate
    verify visit wait walk wrap write yield
    """.split()
)


# --------------------------------------------------------------------------
# The parts of the score
# --------------------------------------------------------------------------


def content_words(text: str) -> list[str]:
    """The words the F1 compares, in order.

    * Lowercased runs of letters, digits and ``_`` (so sentence punctuation
      goes, and ``os.path`` is ``["os", "path"]``), and runs of operator
      symbols ``+ - * / % < > = & | ^ ~ @`` (so "Same as a + b." and "Same
      as a * b." differ);
    * without ``STOP_WORDS``;
    * with the third person of a known verb turned back into the verb
      ("returns" -> "return"): correctness is about *what* is said; the
      mood is the style term's business.

    >>> content_words("Returns the square root of x.")
    ['return', 'square', 'root', 'x']
    """
    words = []
    for word in re.findall(r"[a-z0-9_]+|[-+*/%<>=&|^~@]+", text.lower()):
        if word in STOP_WORDS:
            continue
        words.append(_base_verb(word) or word)
    return words


def _f1(predicted: Counter, expected: Counter) -> float:
    """F1 of two multisets: 2PR / (P + R), 0.0 if nothing is shared."""
    shared = sum((predicted & expected).values())
    if shared == 0:
        return 0.0
    precision = shared / sum(predicted.values())
    recall = shared / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def token_f1(answer: str, reference: str) -> float:
    """Word-overlap F1 of ``answer`` against ``reference`` (as in SQuAD).

    With the words of ``content_words`` counted as multisets,
    precision = shared / words in the answer, recall = shared / words in
    the reference, F1 = 2PR / (P + R): 1.0 for the same words in any
    order, 0.0 when nothing is shared (or the answer has no words).
    """
    return _f1(Counter(content_words(answer)), Counter(content_words(reference)))


def bigram_f1(answer: str, reference: str) -> float:
    """The same F1 over pairs of neighbouring content words.

    Word order matters here: "square root x" shares the pairs
    ("square", "root") and ("root", "x") with the reference, a shuffle of
    it shares almost none. A reference with fewer than two content words
    has no pairs; then this is ``token_f1``.
    """
    expected_words = content_words(reference)
    if len(expected_words) < 2:
        return token_f1(answer, reference)
    predicted_words = content_words(answer)
    predicted = Counter(pairwise(predicted_words))
    expected = Counter(pairwise(expected_words))
    return _f1(predicted, expected)


def correctness(answer: str, reference: str) -> float:
    """The correctness term: the mean of ``token_f1`` and ``bigram_f1``.

    Like ROUGE-1 and ROUGE-2 together: the right words, in the right order.
    It is lexical, not an understanding of meaning: it cannot tell "sine"
    from "cosine" in an otherwise identical sentence, and a correct
    paraphrase with other words ("Compute" for "Return") loses some.
    """
    return 0.5 * token_f1(answer, reference) + 0.5 * bigram_f1(answer, reference)


def length_factor(n_words: int) -> float:
    """The length term: ``LENGTH_KNOTS`` interpolated at ``n_words``.

    0 words: 0.0; 1 word: 0.5; 6-20 words: 1.0; 24: 0.85; 30: 0.4; 40 or
    more: 0.1. Among short answers longer is better; past about 24 words,
    much worse. A reward model that only ever saw the short side of this
    curve may well believe "longer is better" forever.
    """
    words, values = zip(*LENGTH_KNOTS)
    return float(np.interp(n_words, words, values))


def _base_verb(word: str) -> str | None:
    """The verb of a third-person form ("returns" -> "return", "pushes" ->
    "push", "applies" -> "apply"), or None if ``word`` (lowercase) is not a
    known verb plus "s". A verb that itself ends in "s" ("process") is a verb,
    not a third person."""
    if not word.endswith("s") or word in IMPERATIVE_VERBS:
        return None
    candidates = [word[:-1]]
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    return next((verb for verb in candidates if verb in IMPERATIVE_VERBS), None)


def imperative_factor(answer: str) -> float:
    """1.0 if the first word is an imperative verb, else a penalty factor.

    The first word (lowercased, punctuation stripped) is
      * in ``IMPERATIVE_VERBS`` ("Return", "Create", ...): 1.0;
      * such a verb plus "s"/"es"/"ies" ("Returns", "Pushes", "Applies"):
        ``THIRD_PERSON_FACTOR`` (0.8): the third person, which PEP 257
        asks us not to use in a summary line. (A verb that itself ends in
        "s", like "process", is matched as a verb first.);
      * anything else ("Same", "The", gibberish): ``NOT_A_VERB_FACTOR`` (0.6).
    """
    words = answer.split()
    if not words:
        return NOT_A_VERB_FACTOR
    first = words[0].strip(".,;:!?\"'`()[]").lower()
    if first in IMPERATIVE_VERBS:
        return 1.0
    if _base_verb(first):
        return THIRD_PERSON_FACTOR
    return NOT_A_VERB_FACTOR


def _repetitions(answer: str) -> int:
    """How many times ``answer`` repeats itself. The sum of
    * 3-grams of content words that repeat an earlier one (a loop: "the
      square root ... the square root"); counting content words only spares
      legitimate echoes such as "if the argument ... if the argument";
    * stutters: places where a phrase of 1-3 words is immediately said
      again ("the the", "as a is as a is"), stop words included.
    """
    content = content_words(answer)
    grams = Counter(tuple(content[i : i + REPEAT_N]) for i in range(len(content) - REPEAT_N + 1))
    loops = sum(count - 1 for count in grams.values())
    words = [word.strip(".,;:!?").lower() for word in answer.split()]
    stutters = sum(
        any(words[i : i + n] == words[i + n : i + 2 * n] for n in range(1, 4) if i + 2 * n <= len(words))
        for i in range(len(words))
    )
    return loops + stutters


@dataclass(frozen=True)
class GoldBreakdown:
    """Every part of a gold score (see ``gold_breakdown``)."""

    unigram_f1: float  # token_f1: the right words, in [0, 1]
    bigram_f1: float  # bigram_f1: ... in the right order, in [0, 1]
    correctness: float  # their mean
    capital: float  # 1.0, or NO_CAPITAL_FACTOR
    period: float  # 1.0, or NO_PERIOD_FACTOR
    imperative: float  # 1.0, THIRD_PERSON_FACTOR or NOT_A_VERB_FACTOR
    one_sentence: float  # EXTRA_SENTENCE_FACTOR ** (sentences - 1)
    repetition: float  # REPEAT_FACTOR ** (repetitions: loops and stutters)
    length: float  # length_factor(words)
    style: float  # the product of the six style terms above
    end: float  # 1.0 if the answer ended with <|end|>, else NO_END_FACTOR
    total: float  # (0.6 * correctness + 0.4 * style) * end: the gold score
    n_words: int
    n_sentences: int


def gold_breakdown(question: str, answer: str, reference: str, ended: bool = True) -> GoldBreakdown:
    """The gold score of ``answer``, with all its parts.

    ::

        gold        = (0.6 * correctness  +  0.4 * style) * end        in [0, 1]
        correctness = (unigram F1 + bigram F1) / 2
        style       = capital * period * imperative * one_sentence * repetition * length

    * ``correctness``: ``correctness(answer, reference)``: overlap of content
      words (``content_words``) with the reference sentence, as F1 over
      single words and over neighbouring pairs.
    * ``capital``: 1, or 0.7 if the answer does not start with a capital letter.
    * ``period``: 1, or 0.7 if it does not end with ".".
    * ``imperative``: ``imperative_factor``: 1 for "Return ...", 0.8 for
      "Returns ...", 0.6 if the first word is not a verb.
    * ``one_sentence``: 0.7 for each sentence after the first
      (sentences as ``minigpt.instructions.split_sentences`` counts them).
    * ``repetition``: 0.5 for each repetition: a 3-gram of content words
      that repeats an earlier one, or a phrase of 1-3 words said twice in a
      row ("the the"). See ``_repetitions``.
    * ``length``: ``length_factor`` of the number of words (split on spaces):
      1 for 6-20 words, falling steeply after 24.
    * ``end``: 1 if ``ended`` (the model produced ``<|end|>``), else 0.25: an
      answer that never stops runs on to the context limit, and the reader
      gets a reply that trails away.

    Each style slip *multiplies*: two slips cost more than one, and style
    stays in [0, 1]. Correctness weighs more than style (0.6 to 0.4): a
    well-written answer about the wrong function is worth about half a
    correct one. An empty answer scores 0. ``question`` is not used (the
    reference already says what the question is about); it is a parameter
    so that another judge, a person say, can take this function's place.

    Typical values: the reference itself 1.0 for three quarters of the
    docstrings, 0.84 for one that is not in the imperative ("Same as a + b.",
    0.92 for "Returns ..."), 0.65 at the very lowest; a close paraphrase
    ("Compute the square root of x.") 0.83; a fluent answer about another
    function about 0.45-0.55; gibberish below 0.2; the reference rambling on
    for another sentence 0.58; a correct answer that never ended 0.25.
    """
    del question  # unused by design; see the docstring
    words = answer.split()
    end = 1.0 if ended else NO_END_FACTOR
    if not words:
        return GoldBreakdown(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, end, 0.0, 0, 0)
    unigram = token_f1(answer, reference)
    bigram = bigram_f1(answer, reference)
    correct = 0.5 * unigram + 0.5 * bigram
    stripped = answer.strip()
    capital = 1.0 if stripped[0].isupper() else NO_CAPITAL_FACTOR
    period = 1.0 if stripped.endswith(".") else NO_PERIOD_FACTOR
    imperative = imperative_factor(stripped)
    n_sentences = len(split_sentences(stripped))
    one_sentence = EXTRA_SENTENCE_FACTOR ** max(n_sentences - 1, 0)
    repetition = REPEAT_FACTOR ** _repetitions(answer)
    length = length_factor(len(words))
    style = capital * period * imperative * one_sentence * repetition * length
    total = (CORRECTNESS_WEIGHT * correct + STYLE_WEIGHT * style) * end
    return GoldBreakdown(
        unigram_f1=unigram,
        bigram_f1=bigram,
        correctness=correct,
        capital=capital,
        period=period,
        imperative=imperative,
        one_sentence=one_sentence,
        repetition=repetition,
        length=length,
        style=style,
        end=end,
        total=total,
        n_words=len(words),
        n_sentences=n_sentences,
    )


def gold_components(question: str, answer: str, reference: str, ended: bool = True) -> dict:
    """``gold_breakdown(...)`` as a plain dict (easy to print or tabulate)."""
    return asdict(gold_breakdown(question, answer, reference, ended))


def gold_score(question: str, answer: str, reference: str, ended: bool = True) -> float:
    """The gold score of ``answer`` in [0, 1]; see ``gold_breakdown`` for the formula."""
    return gold_breakdown(question, answer, reference, ended).total


# --------------------------------------------------------------------------
# The simulated labeler
# --------------------------------------------------------------------------


class Labeler:
    """A simulated human rater who prefers answers with a higher gold score, noisily.

    For answers A and B with gold scores g(A), g(B), the labeler

    1. prefers A with probability ``sigmoid((g(A) - g(B)) / tau)``, a
       Bradley-Terry choice: clear differences are almost always judged
       right, close calls are nearly coin flips (``tau`` = 0.1: a gold
       difference of 0.1 is judged right 73% of the time, 0.3: 95%);
    2. then flips that choice with probability ``flip_prob``: the rater
       misread, clicked the wrong button, or simply disagrees.

    Step 2 follows AlpacaFarm (Dubois et al., 2023, "AlpacaFarm: A
    Simulation Framework for Methods that Learn from Human Feedback"), whose
    simulated annotators flip 25% of their labels so that they disagree with
    each other about as often as real human raters do (who agree on only
    about two thirds of pairs). We default to 0.15, because step 1 already
    adds noise on close calls, which their flips alone had to stand in for:
    with tau = 0.1 and flip_prob = 0.15, two labels of the same pair (the
    reference against a corrupted answer, or two corrupted answers) agree
    64-69% of the time (``expected_self_agreement``), the human level.

    The result, ``P(label = A) = (1 - flip) * s + flip * (1 - s)`` with
    ``s = sigmoid(d / tau)``, is ``prob_a``. ``tau = 0`` means a sharp
    comparison (s = 1, 0 or 1/2 for a tie). ``seed`` is an int or a
    ``np.random.Generator``; the same seed gives the same labels.
    """

    def __init__(self, tau: float = 0.1, flip_prob: float = 0.15, seed=0):
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
        if not 0.0 <= flip_prob < 0.5:
            # At 0.5 the labels carry no information; above, they point the wrong way.
            raise ValueError(f"flip_prob must be in [0, 0.5), got {flip_prob}")
        self.tau = float(tau)
        self.flip_prob = float(flip_prob)
        self.rng = as_generator(seed)

    def __repr__(self):
        return f"Labeler(tau={self.tau}, flip_prob={self.flip_prob})"

    def _choice_prob(self, gold_a, gold_b) -> np.ndarray:
        """Step 1 only: the probability of preferring A before any flip."""
        diff = np.asarray(gold_a, dtype=np.float64) - np.asarray(gold_b, dtype=np.float64)
        if self.tau == 0:
            return 0.5 * (1.0 + np.sign(diff))  # 1, 0, or 1/2 for a tie
        return sigmoid(diff / self.tau)

    def prob_a(self, gold_a, gold_b) -> np.ndarray:
        """P(label = 1, "A preferred") for each pair, flips included. Shape of the inputs."""
        s = self._choice_prob(gold_a, gold_b)
        return (1.0 - self.flip_prob) * s + self.flip_prob * (1.0 - s)

    def label_pairs(self, gold_a, gold_b) -> np.ndarray:
        """Draw labels for pairs with gold scores ``gold_a``, ``gold_b`` (arrays of one shape).

        Returns int64 0/1 of that shape: 1 where A is preferred. Two draws per
        pair, in the order the docstring of the class describes: the choice,
        then the flip.
        """
        s = self._choice_prob(gold_a, gold_b)
        chose_a = self.rng.random(s.shape) < s
        flipped = self.rng.random(s.shape) < self.flip_prob
        return (chose_a ^ flipped).astype(np.int64)

    def prefer(
        self, question: str, answer_a: str, answer_b: str, reference: str, ended_a: bool = True, ended_b: bool = True
    ) -> int:
        """1 if the labeler prefers ``answer_a``, 0 if it prefers ``answer_b``."""
        gold_a = gold_score(question, answer_a, reference, ended_a)
        gold_b = gold_score(question, answer_b, reference, ended_b)
        return int(self.label_pairs(np.array([gold_a]), np.array([gold_b]))[0])

    def labeler_ceiling(self, gold_a, gold_b) -> float:
        """The best accuracy any reward model can reach on this labeler's labels.

        A label is a coin with ``p = prob_a``. The best any predictor can do
        is to always name the likelier side, and be right with probability
        ``max(p, 1 - p)``; averaged over the pairs, that is the ceiling.
        Because ``flip_prob < 0.5`` the likelier side is the one with the
        higher gold score, so (for pairs without ties) the ceiling is also
        the expected agreement of the labels with the noise-free gold order.
        A reward model trained on these labels and scoring, say, 0.78 on held-
        out pairs against a ceiling of 0.80 has learned almost all there was.
        """
        p = self.prob_a(gold_a, gold_b)
        return float(np.mean(np.maximum(p, 1.0 - p)))

    def expected_self_agreement(self, gold_a, gold_b) -> float:
        """How often two independent labels of the same pair agree: mean of
        ``p**2 + (1 - p)**2``. This is the inter-annotator agreement a study
        with real raters would report (AlpacaFarm measured about 66% for
        humans); compare it with the ceiling."""
        p = self.prob_a(gold_a, gold_b)
        return float(np.mean(p**2 + (1.0 - p) ** 2))


# --------------------------------------------------------------------------
# Worse answers, for preference pairs
# --------------------------------------------------------------------------

# Sentences that add words but no information.
GENERIC_CLAUSES: tuple[str, ...] = (
    "This is useful in many situations and is commonly used in Python programs.",
    "It is an important part of the standard library that many developers rely on.",
    "This makes it easy to write clear, correct and efficient code.",
    "It works with many different kinds of objects and values.",
)

# Every kind of corruption, in a fixed order (random choice picks among these).
CORRUPTION_KINDS: tuple[str, ...] = (
    "truncate",  # stop early: drop the last words and the period
    "shuffle",  # the same words in a scrambled order
    "lowercase",  # lowercase first letter, no final period
    "third_person",  # "Return" -> "Returns"
    "swap",  # the answer about another callable (needs ``pool``)
    "repeat",  # a phrase said twice
    "ramble",  # one or two generic sentences appended
    "no_end",  # the same text, but the model never produced <|end|>
)


class Corruption(NamedTuple):
    """A worse answer: its text, which corruption made it, and whether it ended."""

    text: str
    kind: str
    ended: bool = True


def _third_person(verb: str) -> str:
    """"Return" -> "Returns", "Push" -> "Pushes", "Apply" -> "Applies"."""
    lower = verb.lower()
    if lower.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        return verb[:-1] + "ies"
    return verb + "s"


def _applicable(kind: str, words: list[str], answer: str, pool) -> bool:
    """Can corruption ``kind`` make a *different* answer here?"""
    if kind in ("truncate", "shuffle", "repeat"):
        return len(words) >= 2
    if kind == "lowercase":
        return answer[:1].isupper() or answer.endswith(".")
    if kind == "third_person":
        return bool(words) and words[0].lower() in IMPERATIVE_VERBS
    if kind == "swap":
        return pool is not None and any(other != answer for other in pool)
    return True  # ramble, no_end


def corrupt_answer(answer: str, rng: np.random.Generator, kind: str | None = None, pool=None) -> Corruption:
    """A worse version of ``answer``, made with ``rng`` (same rng state, same result).

    ``kind`` is one of ``CORRUPTION_KINDS``, or None to pick one at random
    among those that apply (``"swap"`` needs ``pool``, a list of other
    answers, e.g. the references of other callables; ``"third_person"``
    needs an answer that starts with an imperative verb). Asking for a kind
    that cannot change this answer raises ValueError. Returns a
    ``Corruption(text, kind, ended)``; ``ended`` is False only for
    ``"no_end"``.

    Under the gold score these are almost always worse than ``answer`` when
    ``answer`` is the reference: they lose correctness (truncate, swap),
    style (shuffle, lowercase, third_person, repeat), length and focus
    (ramble), or the end token (no_end).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, e.g. np.random.default_rng(0); got {type(rng).__name__}")
    answer = answer.strip()
    words = answer.split()
    if kind is None:
        choices = [k for k in CORRUPTION_KINDS if _applicable(k, words, answer, pool)]
        kind = choices[int(rng.integers(len(choices)))]
    elif kind not in CORRUPTION_KINDS:
        raise ValueError(f"unknown corruption kind {kind!r}; choose from {CORRUPTION_KINDS}")
    elif not _applicable(kind, words, answer, pool):
        reason = " without a pool" if kind == "swap" else ""
        raise ValueError(f"corruption {kind!r} does not apply to {answer!r}{reason}")

    if kind == "truncate":
        keep = int(rng.integers(1, len(words)))  # at least one word, and at least one dropped
        text = " ".join(words[:keep]).rstrip(".,;:")
    elif kind == "shuffle":
        body = answer.rstrip(".").split()
        order = rng.permutation(len(body))
        if order[0] == 0:  # make sure a different word comes first
            order = np.roll(order, 1)
        text = " ".join(body[i] for i in order) + "."
    elif kind == "lowercase":
        text = (answer[0].lower() + answer[1:]).rstrip(".")
    elif kind == "third_person":
        text = " ".join([_third_person(words[0]), *words[1:]])
    elif kind == "swap":
        others = [other for other in pool if other != answer]
        text = others[int(rng.integers(len(others)))]
    elif kind == "repeat":
        span = min(3, len(words) - 1)  # a phrase of up to 3 words...
        start = int(rng.integers(0, len(words) - span + 1))
        phrase = words[start : start + span]
        # ...said twice in a row: "Return the square root the square root of x."
        text = " ".join(words[: start + span] + phrase + words[start + span :])
    elif kind == "ramble":
        n_clauses = int(rng.integers(1, 3))
        picks = rng.choice(len(GENERIC_CLAUSES), size=n_clauses, replace=False)
        ending = "" if answer.endswith((".", "!", "?")) else "."
        text = answer + ending + " " + " ".join(GENERIC_CLAUSES[i] for i in picks)
    else:  # "no_end"
        return Corruption(answer, kind, ended=False)
    return Corruption(text, kind)
