"""Interpreter sessions as a corpus: the interpreter writes our training text (chapter 7).

A language model trained on prose can only be judged by its loss: there is no
"right" next sentence. A Python prompt is different. Type an expression and
the interpreter answers with exactly one correct line::

    >>> 'owl moss'.upper()
    'OWL MOSS'
    >>> len('tide fork')
    9
    >>> 37 + 45
    82

So we let Python write part of the pre-training corpus. A small grammar draws
expressions, Python evaluates them, and ``repr`` of the value is the answer.
That gives us text without limit and without a download, and a second
measure beside the loss: *accuracy*, whether the model's completion of
``>>> expr`` is the interpreter's answer, family by family.

The operation families (``FAMILIES``), each with an example at its default
difficulty (``sorted`` shown at d=1), and what the difficulty knob ``d``
scales (its default in brackets)::

    upper     'snake pond'.upper()          'SNAKE POND'            words in the string [2]
    reverse   'soap pearl'[::-1]            'lraep paos'            words in the string [2]
    len       len('heart oar')              9                       words in the string [2]
    repeat    'pearl' * 4                   'pearlpearlpearlpearl'  counts 2 .. d+1 [3]
    sorted    sorted('oar')                 ['a', 'o', 'r']         words in the string [2]
    count     'snake pond soap'.count('o')  2                       words in the string [3]
    index     'heart oar'[-9]               'h'                     words in the string [2]
    slice     'snake pond'[7:9]             'on'                    words in the string [2]
    replace   'cow spa'.replace('o', 'w')   'cww spa'               words in the string [2]
    in        'x' in 'cow spa'              False                   words in the string [2]
    compare   91 <= 91                      True                    digits per operand [2]
    add       68 + 89                       157                     digits per operand [2]
    sub       68 - 89                       -21                     digits per operand [2]
    mul       94 * 7                        658                     digits of the first operand [2]
    floordiv  94 // 7                       13                      digits of the dividend [2]
    mod       94 % 7                        3                       digits of the dividend [2]
    min       min([83, 22, 5])              5                       list length, items < 100 [3]
    max       max([57, 77, 83, 22])         83                      list length, items < 100 [4]
    sum       sum([9, 6, 6])                21                      list length, items < 10 [3]
    range     list(range(57, 70, 3))        [57, 60, 63, 66, 69]    digits of the start [2]

Strings are made of words from ``WORDS`` (3-5 lowercase letters); the second
operand of ``*``, ``//`` and ``%`` is 2-9; ``range`` has 1-5 items and a step
of 1-3. ``python -c "import minigpt.sessions as s;
print(s.session_text(s.generate_expressions(20)))"`` prints a session.

The defaults are meant as a ladder: families a small model learns to copy
almost perfectly (``upper``, ``reverse``, ``repeat``), and arithmetic on
two-digit numbers and on lists that it mostly gets wrong, which leaves room
for the later chapters to improve. Families with few possible answers have
a high floor: always giving the commonest answer scores about 1/2 on ``in``
and ``compare`` and 0.3 on ``len``, ``count`` and ``mod`` (0.11 on the mean over
families); compare a model with that, not with 0.

Guarantees:

* **Deterministic.** Everything is drawn from a ``numpy.random.Generator``
  seeded by the caller (never the ``random`` module, never ``hash()``), and the
  values are ``str``, ``int``, ``bool`` and lists of them, whose ``repr`` is the
  same on every Python from 3.10 to 3.13. Same seed, same text, everywhere.
* **Held-out expressions stay held out.** ``split_of`` puts each distinct
  expression text in "train", "val" or "test" by its SHA-256, so an
  expression is on the same side in every stream, at every seed and
  difficulty; the training stream simply skips the others.
* **Only our own expressions are evaluated.** ``_evaluate`` parses the text
  the generator built, refuses anything outside the grammar (only literals,
  ``+ - * // %``, comparisons, ``in``, indexing, slicing, three ``str`` methods
  and the builtins ``len sorted min max sum range list``), and evaluates it with
  no other builtins. A model's text is *never* evaluated: answers are compared
  as strings with the ``repr``, or read with ``ast.literal_eval``
  (``parse_answer``), which accepts literals only and runs nothing.

The module imports only the standard library and NumPy, so it also loads on
its own (``importlib`` from its file), without the rest of ``minigpt``.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np

__all__ = [
    "WORDS",
    "FAMILIES",
    "DEFAULT_DIFFICULTY",
    "SPLITS",
    "MALFORMED",
    "Expression",
    "iter_expressions",
    "generate_expressions",
    "held_out_expressions",
    "session_text",
    "split_of",
    "pydoc_documents",
    "python_corpus",
    "complete",
    "parse_answer",
    "is_correct",
    "score_completions",
]

# --------------------------------------------------------------------------
# The vocabulary the strings are made of
# --------------------------------------------------------------------------

# Short lowercase words (3-5 letters, a-z only): strings made of them have a
# plain repr ('red fox'), and a few hundred words give ~10^5 two-word strings.
WORDS: tuple[str, ...] = tuple(
    """
    ant ape arm art ash bag bat bay bed bee box bus cab cap car cat cow cup dog dot
    ear egg elf elm eye fan fig fin fir fly fog fox fur gap gem gum hat hen hop hut
    ice ink inn jam jar jaw jet jog key kid kit lab lap leg lid lip log map mat mop
    mud mug net nut oak oar oil owl pan pea pen pet pig pin pot rag ram rat ray rib
    rod rug sap saw sea sky son spa sun tab tag tea tie tin tip toe toy tub van wax
    web wig yak yam zoo
    arch bake barn bead bell bird boat bolt bone book boot bowl cake calm card cart
    cave chin clay coat coin cone cord corn crab crow cube dart dawn deer desk dish
    dove drum duck dune dust fern fish flag foam fork frog gate gift goat gold gown
    harp hawk heap herb hive hook horn kite knot lake lamp leaf lime lion loaf mask
    mast milk mint moon moss moth nest note oven pear pine plum pond pool rain reed
    ring road rock roof rope rose sail salt sand seed ship silk snow soap sock soup
    star stem swan tent tide toad tree tusk vase vine wave wind wing wolf wood yarn
    apple beach berry bread brick brush cabin candy chair chalk cloud clock coral
    crane cream daisy dream eagle fence flame flute frost grape grass heart honey
    horse house jelly juice knife lemon light mango maple melon money mouse ocean
    olive onion otter paint pearl piano pizza plant quilt radio river robin salad
    scarf shell skirt slope smile snake spoon stone storm sugar table tiger toast
    tower train trunk tulip water whale wheat zebra
    """.split()
)

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _pick(rng: np.random.Generator, options: Sequence):
    """One element of ``options``. (``rng.integers`` only: its stream is the most
    stable part of NumPy's random API, so the corpus survives NumPy upgrades.)"""
    return options[int(rng.integers(len(options)))]


def _phrase(rng: np.random.Generator, n_words: int) -> str:
    """``n_words`` random words joined by spaces, e.g. 'owl moss'."""
    return " ".join(_pick(rng, WORDS) for _ in range(n_words))


def _letter_of(rng: np.random.Generator, text: str) -> str:
    """A random letter that occurs in ``text`` (spaces are not letters)."""
    return _pick(rng, text.replace(" ", ""))


def _number(rng: np.random.Generator, digits: int) -> int:
    """A random int with at most ``digits`` digits: 0 <= n < 10**digits."""
    return int(rng.integers(10**digits))


def _int_list(rng: np.random.Generator, length: int, below: int) -> list[int]:
    return [int(rng.integers(below)) for _ in range(length)]


# --------------------------------------------------------------------------
# The families: (rng, difficulty) -> expression text
# --------------------------------------------------------------------------
# Each function draws one expression from its family. They only build text;
# Python computes the answers (``_evaluate``). Strings are written with
# repr(), so the expression is exactly what a user would type.


def _upper(rng, d):
    return f"{_phrase(rng, d)!r}.upper()"


def _reverse(rng, d):
    return f"{_phrase(rng, d)!r}[::-1]"


def _len(rng, d):
    return f"len({_phrase(rng, d)!r})"


def _repeat(rng, d):
    times = int(rng.integers(2, d + 2))  # 2 .. d + 1
    return f"{_pick(rng, WORDS)!r} * {times}"


def _sorted(rng, d):
    return f"sorted({_phrase(rng, d)!r})"


def _count(rng, d):
    text = _phrase(rng, d)
    # Most letters of a short phrase occur once, so "1" would be a good blind
    # guess. Instead draw the answer first, uniformly from the counts this
    # phrase offers (0, 1, 2, ...), then a letter with that count.
    letters_by_count: dict[int, list[str]] = {}
    for letter in LETTERS:
        letters_by_count.setdefault(text.count(letter), []).append(letter)
    count = _pick(rng, sorted(letters_by_count))
    return f"{text!r}.count({_pick(rng, letters_by_count[count])!r})"


def _index(rng, d):
    text = _phrase(rng, d)
    position = int(rng.integers(-len(text), len(text)))  # negative ones too
    return f"{text!r}[{position}]"


def _slice(rng, d):
    text = _phrase(rng, d)
    start, stop = sorted(int(i) for i in rng.integers(len(text) + 1, size=2))
    shape = int(rng.integers(4))  # [a:b] twice as often as [:b] or [a:]
    if shape == 0:
        return f"{text!r}[:{stop}]"
    if shape == 1:
        return f"{text!r}[{start}:]"
    return f"{text!r}[{start}:{stop}]"


def _replace(rng, d):
    text = _phrase(rng, d)
    old = _letter_of(rng, text)
    new = _pick(rng, LETTERS.replace(old, ""))
    return f"{text!r}.replace({old!r}, {new!r})"


def _in(rng, d):
    text = _phrase(rng, d)
    # True and False equally often: a letter of the phrase, or one not in it.
    present = sorted(set(text.replace(" ", "")))
    absent = [letter for letter in LETTERS if letter not in present]
    letter = _pick(rng, present) if rng.integers(2) else _pick(rng, absent)
    return f"{letter!r} in {text!r}"


COMPARISONS = ("<", ">", "<=", ">=", "==", "!=")


def _compare(rng, d):
    a = _number(rng, d)
    # Equal operands a quarter of the time, so == and != are not always False/True.
    b = a if rng.integers(4) == 0 else _number(rng, d)
    return f"{a} {_pick(rng, COMPARISONS)} {b}"


def _two_numbers(op: str):
    """``a op b`` with both operands of d digits: ``68 + 89``."""
    return lambda rng, d: f"{_number(rng, d)} {op} {_number(rng, d)}"


def _by_small_number(op: str):
    """``a op k`` with a d-digit a and k in 2..9: ``94 // 7``."""
    return lambda rng, d: f"{_number(rng, d)} {op} {int(rng.integers(2, 10))}"


def _of_list(function: str, below: int):
    """``function([...])`` of a list of d items, each below ``below``: ``max([57, 77, 83, 22])``."""
    return lambda rng, d: f"{function}({_int_list(rng, d, below)})"


def _range(rng, d):
    start = _number(rng, d)
    step = int(rng.integers(1, 4))
    count = int(rng.integers(1, 6))
    # The stop lies anywhere after the last item and before the next one.
    stop = start + (count - 1) * step + int(rng.integers(1, step + 1))
    if step == 1:
        return f"list(range({start}, {stop}))"
    return f"list(range({start}, {stop}, {step}))"


@dataclass(frozen=True)
class _Family:
    make: Callable[[np.random.Generator, int], str]
    default_difficulty: int


_FAMILIES: dict[str, _Family] = {
    "upper": _Family(_upper, 2),
    "reverse": _Family(_reverse, 2),
    "len": _Family(_len, 2),
    "repeat": _Family(_repeat, 3),
    "sorted": _Family(_sorted, 2),
    "count": _Family(_count, 3),
    "index": _Family(_index, 2),
    "slice": _Family(_slice, 2),
    "replace": _Family(_replace, 2),
    "in": _Family(_in, 2),
    "compare": _Family(_compare, 2),
    "add": _Family(_two_numbers("+"), 2),
    "sub": _Family(_two_numbers("-"), 2),
    "mul": _Family(_by_small_number("*"), 2),
    "floordiv": _Family(_by_small_number("//"), 2),
    "mod": _Family(_by_small_number("%"), 2),
    "min": _Family(_of_list("min", 100), 3),
    "max": _Family(_of_list("max", 100), 4),
    "sum": _Family(_of_list("sum", 10), 3),
    "range": _Family(_range, 2),
}

#: The operation families, in a fixed order (see the module docstring).
FAMILIES: tuple[str, ...] = tuple(_FAMILIES)

#: Each family's default difficulty: the ladder the book trains on.
DEFAULT_DIFFICULTY: dict[str, int] = {
    name: family.default_difficulty for name, family in _FAMILIES.items()
}


def _difficulties(families: Sequence[str], difficulty) -> dict[str, int]:
    """``difficulty`` is None (the defaults), one int for every family, or a
    dict {family: int} that overrides some defaults."""
    unknown = [f for f in families if f not in _FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown families {unknown}; choose from {FAMILIES}")
    if difficulty is None:
        chosen = {f: DEFAULT_DIFFICULTY[f] for f in families}
    elif isinstance(difficulty, dict):
        extra = set(difficulty) - set(_FAMILIES)
        if extra:
            raise ValueError(f"difficulty names unknown families {sorted(extra)}")
        chosen = {f: difficulty.get(f, DEFAULT_DIFFICULTY[f]) for f in families}
    else:
        chosen = {f: difficulty for f in families}
    for family, d in chosen.items():
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"difficulty of {family!r} must be an int >= 1, got {d!r}")
    return {f: int(d) for f, d in chosen.items()}


# --------------------------------------------------------------------------
# Evaluating the generator's own expressions
# --------------------------------------------------------------------------

# The only names an expression may use, and the only methods it may call.
_BUILTINS = {"len": len, "sorted": sorted, "min": min, "max": max, "sum": sum,
             "range": range, "list": list}
_METHODS = frozenset({"upper", "count", "replace"})
_NODES = (
    ast.Expression, ast.Constant, ast.List, ast.Load, ast.Name, ast.Call, ast.Attribute,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.UnaryOp, ast.USub,
    ast.Compare, ast.Lt, ast.Gt, ast.LtE, ast.GtE, ast.Eq, ast.NotEq, ast.In,
    ast.Subscript, ast.Slice,
)


def _evaluate(expr: str):
    """The value of one of *our* expressions, computed by Python.

    Why ``eval`` at all? Because the point of the corpus is that the
    interpreter, not our own re-implementation, decides the answer. It is safe
    here because (1) only text built by the family functions above ever gets
    here, never a model's output, and (2) as a second fence the syntax tree is
    checked against the grammar first, and evaluated without any builtins but
    the seven the grammar uses.
    """
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(f"{type(node).__name__} is outside the grammar: {expr!r}")
        if isinstance(node, ast.Constant) and type(node.value) not in (str, int):
            raise ValueError(f"only str and int literals are allowed: {expr!r}")
        if isinstance(node, ast.Name) and node.id not in _BUILTINS:
            raise ValueError(f"name {node.id!r} is outside the grammar: {expr!r}")
        if isinstance(node, ast.Attribute) and node.attr not in _METHODS:
            raise ValueError(f"method {node.attr!r} is outside the grammar: {expr!r}")
    code = compile(tree, "<session>", "eval")
    return eval(code, {"__builtins__": {}}, dict(_BUILTINS))  # noqa: S307 (see above)


# --------------------------------------------------------------------------
# Expressions, streams and session text
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """One line typed at the prompt and the interpreter's answer.

    family: one of ``FAMILIES``; expr: the text typed after ``>>> ``;
    answer: ``repr`` of its value, the line the interpreter prints;
    difficulty: the knob's setting it was drawn with.
    """

    family: str
    expr: str
    answer: str
    difficulty: int

    @property
    def prompt(self) -> str:
        """What the model is shown: ``'>>> expr\\n'``; it should continue with the answer."""
        return f">>> {self.expr}\n"


def _expression(family: str, expr: str, difficulty: int) -> Expression:
    return Expression(family, expr, repr(_evaluate(expr)), difficulty)


#: The three sides of the split and the share of expression texts on each (%).
SPLITS: dict[str, int] = {"train": 80, "val": 10, "test": 10}


def split_of(expr: str) -> str:
    """'train', 'val' or 'test': which side of the split an expression text is on.

    Decided by the SHA-256 of the text (not ``hash()``, which changes from one
    run to the next): the first 8 bytes as a number, mod 100, against the
    percentages in ``SPLITS``. So a given expression is always on the same
    side, whatever the seed, the difficulty or the Python version.
    """
    digest = hashlib.sha256(expr.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    for split, share in SPLITS.items():
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("SPLITS must add up to 100")  # pragma: no cover


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be None or one of {tuple(SPLITS)}, got {split!r}")


def iter_expressions(
    seed: int = 0,
    families: Sequence[str] = FAMILIES,
    difficulty: int | dict | None = None,
    split: str | None = None,
) -> Iterator[Expression]:
    """An endless, seeded stream of expressions with their answers.

    Each expression picks a family uniformly from ``families``, then draws
    from it at its difficulty (``difficulty``: None for ``DEFAULT_DIFFICULTY``,
    an int for all families, or a dict overriding some). With ``split``
    ("train", "val" or "test") expressions on the other sides are skipped.
    Repeats are allowed, as in any natural text; see ``held_out_expressions``
    for distinct ones.
    """
    families = tuple(families)
    levels = _difficulties(families, difficulty)
    _check_split(split)
    rng = np.random.default_rng(seed)
    while True:
        family = _pick(rng, families)
        expr = _FAMILIES[family].make(rng, levels[family])
        if split is None or split_of(expr) == split:
            yield _expression(family, expr, levels[family])


def generate_expressions(
    n: int,
    seed: int = 0,
    families: Sequence[str] = FAMILIES,
    difficulty: int | dict | None = None,
    split: str | None = None,
) -> list[Expression]:
    """The first ``n`` expressions of ``iter_expressions(seed, ...)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return list(islice(iter_expressions(seed, families, difficulty, split), n))


def held_out_expressions(
    n_per_family: int = 100,
    split: str = "test",
    seed: int = 0,
    families: Sequence[str] = FAMILIES,
    difficulty: int | dict | None = None,
) -> list[Expression]:
    """Distinct expressions from the held-out ``split``, ``n_per_family`` of each family.

    For measuring accuracy: every family gets the same number of questions,
    so each gets a comparable standard error, and no question is asked twice.
    Each family has its own seeded stream (seeded by ``seed`` and the
    family's place in ``FAMILIES``), so choosing fewer families does not
    change the questions of the others. A family with fewer distinct
    expressions on that side than asked for (e.g. at difficulty 1) gives as
    many as 100 draws per question could find.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    levels = _difficulties(tuple(families), difficulty)
    chosen: list[Expression] = []
    for family, d in levels.items():
        rng = np.random.default_rng([seed, FAMILIES.index(family)])
        found: dict[str, None] = {}  # a dict, not a set: it keeps the order drawn
        for _ in range(100 * n_per_family):
            if len(found) == n_per_family:
                break
            expr = _FAMILIES[family].make(rng, d)
            if split_of(expr) == split:
                found[expr] = None
        chosen.extend(_expression(family, expr, d) for expr in found)
    return chosen


def session_text(expressions: Iterable[Expression]) -> str:
    """Expressions as an interpreter transcript: ``'>>> expr\\nanswer\\n'`` each."""
    return "".join(f">>> {e.expr}\n{e.answer}\n" for e in expressions)


# --------------------------------------------------------------------------
# A pre-training corpus: sessions mixed with the Python docs
# --------------------------------------------------------------------------

# In the pydoc corpus every document starts with a line "== title ==", and
# documents are separated by one blank line (see minigpt.pydoc_corpus).
_DOCUMENT_START = re.compile(r"(?<=\n)\n(?=== [^\n]* ==\n)")

# Sessions go into the mixed corpus in blocks of this many expressions.
SESSION_BLOCK = 16


def pydoc_documents(text: str | None = None) -> list[str]:
    """The pydoc corpus cut into its documents, each ``'== title ==\\n...\\n'``.

    ``"\\n".join(pydoc_documents(text)) == text``. ``text`` defaults to
    ``load_text("pydoc")``.
    """
    if text is None:
        from .corpora import load_text  # here, so this module also loads on its own

        text = load_text("pydoc")
    return _DOCUMENT_START.split(text)


def _mix(documents: list[str], sessions: Iterator[Expression], docs_fraction: float,
         max_chars: int | None = None) -> str:
    """Documents in order, each followed by enough session blocks that the
    running share of prose characters stays at ``docs_fraction``; it stops
    after the document (and its sessions) that reaches ``max_chars``."""
    pieces: list[str] = []
    doc_chars = session_chars = 0
    session_per_doc_char = (1.0 - docs_fraction) / docs_fraction
    for document in documents:
        if max_chars is not None and doc_chars + session_chars >= max_chars:
            break
        pieces.append(document)
        doc_chars += len(document)
        while session_chars < doc_chars * session_per_doc_char:
            block = session_text(islice(sessions, SESSION_BLOCK))
            pieces.append(block)
            session_chars += len(block)
    return "\n".join(pieces)  # a blank line between pieces, as between documents


def python_corpus(
    docs_fraction: float = 0.25,
    val_fraction: float = 0.1,
    seed: int = 0,
    families: Sequence[str] = FAMILIES,
    difficulty: int | dict | None = None,
    documents: list[str] | None = None,
    train_chars: int | None = None,
) -> tuple[str, str]:
    """The chapter-7 pre-training corpus: ``(train_text, val_text)``.

    Prose and sessions are mixed so that ``docs_fraction`` of the characters
    are documentation (default 1/4: three characters of sessions for each of
    prose). Every document is used once: a random ``val_fraction`` of the
    documents (a seeded shuffle, not the alphabetical tail) is held out for
    validation, the rest, in shuffled order, make the training prose. After
    each document come blocks of ``SESSION_BLOCK`` expressions, from the
    "train" split in the training text and from the "val" split in the
    validation text, so no validation (or test) expression is ever trained
    on. ``documents`` defaults to ``pydoc_documents()``. ``train_chars``
    stops the training text after about that many characters (a prefix of
    it: a notebook's quick run needs a fraction of the text, and the
    validation text stays the same).

    With the default settings (seed 0) the training text is 3.26 million
    characters (0.81 M of prose, 2.44 M of sessions) and the validation text
    0.19 million (its size follows the held-out documents, which vary a lot
    in length). The docs are the shipped snapshot and the sessions are
    seeded, so the texts are the same on every Python version.
    """
    if not 0.0 < docs_fraction <= 1.0:
        raise ValueError(f"docs_fraction must be in (0, 1], got {docs_fraction}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    documents = pydoc_documents() if documents is None else list(documents)
    n_val = int(len(documents) * val_fraction + 0.5)
    if not 0 < n_val < len(documents):
        raise ValueError(f"{len(documents)} documents cannot be split with val_fraction={val_fraction}")
    rng = np.random.default_rng([seed, 0])
    order = rng.permutation(len(documents))
    val_docs = [documents[i] for i in order[:n_val]]
    train_docs = [documents[i] for i in order[n_val:]]
    # Different streams for the two sides (they could share one seed -- the
    # split already keeps them apart -- but then they would start alike).
    train_sessions = iter_expressions([seed, 1], families, difficulty, split="train")
    val_sessions = iter_expressions([seed, 2], families, difficulty, split="val")
    if train_chars is not None and (isinstance(train_chars, bool) or not isinstance(train_chars, int)
                                    or train_chars < 1):
        raise ValueError(f"train_chars must be a positive whole number of characters, got {train_chars!r}")
    return (_mix(train_docs, train_sessions, docs_fraction, train_chars),
            _mix(val_docs, val_sessions, docs_fraction))


# --------------------------------------------------------------------------
# Accuracy: completing held-out expressions and scoring the completions
# --------------------------------------------------------------------------


def complete(
    model,
    tokenizer,
    expressions: Sequence[Expression | str],
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | np.random.Generator | None = 0,
    batch_size: int = 64,
    top_p: float | None = None,
) -> list[str]:
    """The model's answer to each expression: its continuation of ``'>>> expr\\n'``
    up to the first newline (temperature 0 is greedy decoding; ``top_k`` and ``top_p``
    truncate the sampled distribution as in ``GPT.generate``).

    ``GPT.generate`` runs a batch of equally long prompts, so prompts are
    grouped by their length in tokens and run ``batch_size`` at a time.
    Generation stops early once every row of a batch has written a newline
    (when the tokenizer has a single id for it). The result is only text: it
    is compared with the answers, never run.
    """
    prompts = [e.prompt if isinstance(e, Expression) else f">>> {e}\n" for e in expressions]
    encoded = [tokenizer.encode(p) for p in prompts]
    newline = tokenizer.encode("\n")
    stop_token = newline[0] if len(newline) == 1 else None
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    answers = [""] * len(prompts)
    for length in sorted(by_length):
        rows = by_length[length]
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            idx = np.array([encoded[i] for i in batch], dtype=np.int64)  # (B, length)
            out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                 seed=rng, stop_token=stop_token)
            for i, row in zip(batch, out):
                answers[i] = tokenizer.decode(row[length:]).split("\n", 1)[0]
    return answers


class _Malformed:
    """The type of ``MALFORMED``: what ``parse_answer`` returns for text that
    is not a Python literal. It equals nothing but itself."""

    def __repr__(self) -> str:
        return "MALFORMED"


#: ``parse_answer``'s result for text that is not a literal.
MALFORMED = _Malformed()

# Longer answers are malformed without a look: literal_eval's work (and its
# recursion) grows with the text, and no answer in the grammar is this long.
MAX_ANSWER_CHARS = 1000


def parse_answer(text: str):
    """The value of a model's answer, read as a Python literal, or ``MALFORMED``.

    ``ast.literal_eval`` accepts only literals (strings, numbers, lists,
    True, ...) and runs nothing: ``"__import__('os').system('rm -rf ~')"`` is
    just MALFORMED. Anything it rejects, or text longer than
    ``MAX_ANSWER_CHARS``, is MALFORMED too.
    """
    text = text.strip()
    if len(text) > MAX_ANSWER_CHARS:
        return MALFORMED
    try:
        with warnings.catch_warnings():
            # text like "1if" is read with a SyntaxWarning before it fails: model text should
            # cost a score, not a message on the reader's screen
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, RecursionError, MemoryError, ...
        return MALFORMED


def is_correct(expression: Expression, completion: str, by: str = "repr") -> bool:
    """Is ``completion`` (its first line) the interpreter's answer?

    by="repr": the stripped text equals the ``repr`` exactly (the default:
    the interpreter's own spelling). by="value": the text is a literal with
    the same value *and type* -- ``"[1,2]"`` counts for ``[1, 2]`` and
    ``"'a'"`` for ``"a"``, but ``"1"`` does not count for ``True``. Compared as
    ``repr(parse_answer(text)) == answer``.
    """
    answer = completion.split("\n", 1)[0].strip()
    if by == "repr":
        return answer == expression.answer
    if by == "value":
        value = parse_answer(answer)
        return value is not MALFORMED and repr(value) == expression.answer
    raise ValueError(f"by must be 'repr' or 'value', got {by!r}")


def _proportion(correct: int, n: int) -> dict:
    """n, correct, accuracy p and its standard error sqrt(p (1 - p) / n)."""
    p = correct / n
    return {"n": n, "correct": correct, "accuracy": p, "se": math.sqrt(p * (1.0 - p) / n)}


def score_completions(
    expressions: Sequence[Expression], completions: Sequence[str], by: str = "repr"
) -> dict:
    """Accuracy per family, and overall, of completions of ``expressions``.

    Returns ``{"families": {family: {"n", "correct", "accuracy", "se"}},
    "overall": {"n", "correct", "accuracy", "se", "n_families"}}``, families
    in ``FAMILIES`` order. A family's ``se`` is the standard error of a
    proportion, sqrt(p (1 - p) / n) (0 when p is 0 or 1: with few questions
    read that as "small", not "none"). The overall accuracy is the *mean over
    families* -- each family counts the same however many questions it had --
    and its se is sqrt(sum of se_f^2) / n_families; ``n`` and ``correct``
    there are totals.
    """
    if len(expressions) != len(completions):
        raise ValueError(f"{len(expressions)} expressions but {len(completions)} completions")
    if not expressions:
        raise ValueError("nothing to score")
    tallies: dict[str, list[int]] = {}  # family -> [correct, n]
    for expression, completion in zip(expressions, completions):
        tally = tallies.setdefault(expression.family, [0, 0])
        tally[0] += is_correct(expression, completion, by)
        tally[1] += 1
    families = {f: _proportion(*tallies[f]) for f in FAMILIES if f in tallies}
    k = len(families)
    overall = {
        "n": sum(s["n"] for s in families.values()),
        "correct": sum(s["correct"] for s in families.values()),
        "accuracy": sum(s["accuracy"] for s in families.values()) / k,
        "se": math.sqrt(sum(s["se"] ** 2 for s in families.values())) / k,
        "n_families": k,
    }
    return {"families": families, "overall": overall}
