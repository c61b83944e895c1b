"""The assistant task: answer "What does `math.sqrt` do?" like a docstring would (chapter 9).

After pre-training on Python's documentation (``minigpt.pydoc_corpus``), the
book teaches the model to *answer questions* about it. This module builds that
task, with no network and no download, from the standard library's docstrings:

* **The chat format.** A conversation is one string with the special tokens
  of ``minigpt.tokenizer.SPECIAL_TOKENS``::

      <|user|>What does `math.sqrt` do?<|assistant|>Return the square root of x.<|end|>
      '---------------- the prompt ----------------''------- the answer -------''-end-'

  At generation time we feed the prompt and let the model write until it
  produces ``<|end|>``. ``format_prompt``, ``format_example``,
  ``encode_example`` (ids and loss targets for supervised fine-tuning, SFT)
  and ``pad_batch`` (a batch of examples of different lengths).

* **The data.** For every documented standard-library *callable* (built-in
  functions, methods of built-in types such as ``str.upper``, and the
  functions, classes and methods of the modules in
  ``minigpt.pydoc_corpus.PYDOC_MODULES``; exceptions left out) the reference answer
  is the **first sentence of its docstring**, which by PEP 257 convention
  is a one-line summary of what it does. ``first_sentence`` extracts it;
  ``documented_callables`` lists the (name, answer) pairs, each answer
  once; ``build_instruction_data`` pairs every answer with two phrasings of
  the question; ``split_by_name`` holds out whole callables, so held-out
  questions are about names the model never saw answered during
  fine-tuning. On Python 3.11 that is 1,308 callables, 2,616 questions.

Docstrings depend on the Python version (3.12 words some differently from
3.11), so, like the ``"pydoc"`` corpus, the (name, answer) pairs are built
once on Python 3.11 and shipped (``minigpt/snapshots/stdlib_callables.json.gz``):
``documented_callables()`` reads them, and every Python from 3.10 to 3.13 gets
the same 2,616 questions. ``collect_documented_callables()`` builds the list
from the running Python instead (``scripts/make_snapshots.py`` uses it).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re

import numpy as np

from .layers import IGNORE_INDEX  # targets the loss skips: the prompt and the padding
from .pydoc_corpus import PYDOC_MODULES, SNAPSHOT_DIR, iter_documented_objects, read_snapshot
from .tokenizer import SPECIAL_TOKENS

__all__ = [
    "USER",
    "ASSISTANT",
    "END",
    "QUESTION_TEMPLATES",
    "PHRASINGS_PER_CALLABLE",
    "IGNORE_INDEX",
    "format_prompt",
    "format_example",
    "encode_example",
    "pad_batch",
    "encode_prompt",
    "encode_answer",
    "right_pad",
    "first_sentence",
    "split_sentences",
    "documented_callables",
    "collect_documented_callables",
    "choose_template",
    "build_instruction_data",
    "split_by_name",
]

# The chat markers: three of the tokenizer's special tokens ("<|user|>", "<|assistant|>",
# "<|end|>"), each a single token id.
_, USER, ASSISTANT, END = SPECIAL_TOKENS

# Ways of asking the same thing. Several phrasings teach the model that the
# *name* matters, not the exact wording of the question.
QUESTION_TEMPLATES: tuple[str, ...] = (
    "What does `{name}` do?",
    "Explain `{name}`.",
    "What is `{name}` for?",
    "Describe what `{name}` does.",
    "In one sentence, what does `{name}` do?",
    "Summarize `{name}`.",
)

# How many phrasings (distinct templates) of the question each callable gets.
PHRASINGS_PER_CALLABLE = 2



# --------------------------------------------------------------------------
# The chat format and SFT encoding
# --------------------------------------------------------------------------


def format_prompt(question: str) -> str:
    """The prompt for ``question``: ``"<|user|>" + question + "<|assistant|>"``.

    The model's reply starts right after ``<|assistant|>``.
    """
    return f"{USER}{question}{ASSISTANT}"


def format_example(question: str, answer: str) -> str:
    """A whole conversation: the prompt, the answer, then ``"<|end|>"``."""
    return f"{format_prompt(question)}{answer}{END}"


def _special_id(tokenizer, token: str) -> int:
    """The id of a special token, or a ValueError that says how to fix it."""
    try:
        return tokenizer.special_tokens[token]
    except (AttributeError, KeyError):
        raise ValueError(
            f"the tokenizer has no special token {token!r}; the chat format needs "
            f"{USER!r}, {ASSISTANT!r} and {END!r}. Train it with "
            f"special_tokens=minigpt.tokenizer.SPECIAL_TOKENS."
        ) from None


def encode_prompt(tokenizer, question: str) -> list[int]:
    """The prompt's ids: ``<|user|>``, the question, ``<|assistant|>``.

    The question is encoded as plain text (a literal ``"<|end|>"`` in it does not become
    the special token); the markers are added by id.
    """
    return [_special_id(tokenizer, USER), *tokenizer.encode(question, allowed_special="none"),
            _special_id(tokenizer, ASSISTANT)]


def encode_answer(tokenizer, answer: str, ended: bool = True) -> list[int]:
    """An answer's ids, as plain text, then ``<|end|>`` if the answer ``ended``."""
    ids = tokenizer.encode(answer, allowed_special="none")
    return ids + [_special_id(tokenizer, END)] if ended else ids


def right_pad(seqs, fill=0) -> np.ndarray:
    """Stack 1-D sequences of different lengths into an int64 (B, T) array, T the longest,
    each row padded on the right with ``fill``.

    Right padding is safe with causal attention: position t only attends to positions
    <= t, so padding after every real token never changes the logits at a real position.
    (Left padding would.)
    """
    seqs = list(seqs)
    if not seqs:
        raise ValueError("right_pad needs at least one sequence")
    out = np.full((len(seqs), max(len(s) for s in seqs)), fill, dtype=np.int64)  # (B, T)
    for row, seq in enumerate(seqs):
        out[row, : len(seq)] = seq
    return out


def encode_example(tokenizer, question: str, answer: str, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and SFT targets for one (question, answer) conversation.

    Returns ``ids, targets``, two int64 arrays of the same shape (n,):

    * ``ids`` is the whole conversation, ``prompt + answer + <|end|>``
      (``prompt`` = ``<|user|>``, the question, ``<|assistant|>``);
    * ``targets[t]`` is ``ids[t + 1]``, the token that comes next, except
      that it is ``-1`` (ignored by the loss) wherever that next token is
      part of the prompt, and at the last position (nothing comes after
      ``<|end|>``).

    So the loss is on the answer tokens and on ``<|end|>`` only: the model
    learns to *answer* questions (and to stop), not to write questions.
    The position of ``<|assistant|>`` is kept: its target is the answer's
    first token.

    The question and answer are encoded as plain text (a literal
    ``"<|end|>"`` inside them does not become the special token); the three
    markers are added by id. Raises ValueError if the tokenizer lacks the
    chat special tokens, or if the example is longer than ``block_size``.
    """
    prompt = encode_prompt(tokenizer, question)
    completion = encode_answer(tokenizer, answer, ended=True)
    ids = np.array(prompt + completion, dtype=np.int64)  # (n,)
    if len(ids) > block_size:
        raise ValueError(
            f"the example is {len(ids)} tokens ({len(prompt)} prompt + {len(completion)} "
            f"answer and end), {len(ids) - block_size} more than block_size={block_size}"
        )
    targets = np.full_like(ids, IGNORE_INDEX)  # (n,)
    targets[:-1] = ids[1:]  # next-token targets
    # Position t predicts ids[t + 1]; that is a prompt token for t + 1 < len(prompt).
    targets[: len(prompt) - 1] = IGNORE_INDEX
    return ids, targets


def pad_batch(examples) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``(ids, targets)`` pairs of different lengths into a batch.

    examples: a non-empty list of ``(ids, targets)`` 1-D arrays as returned
    by ``encode_example``. Returns ``X, Y``, int64 of shape (B, T) with T the
    longest length: each row is right-padded, ``X`` with id 0 and ``Y`` with
    -1, so padded positions add nothing to the loss.

    (Right padding: see ``right_pad``.)
    """
    examples = list(examples)
    if not examples:
        raise ValueError("pad_batch needs at least one example")
    for row, (ids, targets) in enumerate(examples):
        if len(ids) != len(targets):
            raise ValueError(f"example {row}: ids has {len(ids)} tokens but targets has {len(targets)}")
    X = right_pad([ids for ids, _ in examples], fill=0)  # (B, T)
    Y = right_pad([targets for _, targets in examples], fill=IGNORE_INDEX)  # (B, T)
    return X, Y


# --------------------------------------------------------------------------
# First sentences of docstrings
# --------------------------------------------------------------------------

# A signature line at the start of a C docstring: a (dotted) name directly
# followed by "(", as in "sqrt(x, /)", "S.upper() -> str" or
# "dict(mapping) -> new dictionary ...", possibly after "async " or an
# assignment ("csv_reader = reader(iterable ...)"). Prose never starts like that.
_SIGNATURE_LINE = re.compile(r"^(?:async\s+)?(?:\w+\s*=\s*)?[A-Za-z_][\w.]*\(")

# A short "argument types -> " prefix, as in datetime's "str -> Construct a date ...".
_ARROW_PREFIX = re.compile(r"^[\w\[\], ]{1,40}?-> ?")

# Words that end in "." without ending a sentence (compared lowercased).
# Not "etc.": in docstrings it ends a sentence more often than not
# ("Normalize path, eliminating double slashes, etc.").
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "cf.", "vs.", "viz.", "approx.", "resp.", "no."})

# A candidate sentence end: ".", "!" or "?", optionally closed by a quote or
# bracket, then whitespace or the end of the text.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")

MIN_ANSWER_CHARS = 10
MAX_ANSWER_CHARS = 200
MIN_ANSWER_WORDS = 3


def _strip_signature(doc: str) -> str:
    """Drop signature paragraphs ("sqrt(x, /)\\n--", "B.upper() -> copy of B")
    from the start of a docstring."""
    paragraphs = re.split(r"\n\s*\n", doc.strip())
    while paragraphs and _SIGNATURE_LINE.match(paragraphs[0].lstrip()):
        paragraphs.pop(0)
    return "\n\n".join(paragraphs)


def _sentence_end(text: str) -> int:
    """Index just past the end of the first sentence of one-line ``text``."""
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        # The "word" the punctuation closes, e.g. "e.g." or "os.path.".
        word = text[: match.start() + 1].rsplit(None, 1)[-1].lstrip("(\"'")
        if word.lower() in _ABBREVIATIONS:
            continue
        return end
    return len(text)


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring, on one line ("" if there is none).

    1. Signature paragraphs that C functions put first ("sqrt(x, /)\\n--",
       "S.upper() -> str") are dropped.
    2. The first remaining paragraph (text up to a blank line) is joined
       into one line: a summary that wraps over two lines is one sentence.
    3. It is cut after the first ".", "!" or "?" (possibly closed by a
       quote or bracket) that is followed by a space or the end, unless it
       ends an abbreviation such as "e.g." or "i.e.". So neither "os.path"
       (no space after the dot) nor "e.g. a list" ends the sentence, but
       "... like os.path. See" does.

    >>> first_sentence("sqrt(x, /)\\n--\\n\\nReturn the square root of x.")
    'Return the square root of x.'
    >>> first_sentence("Return a list, e.g. [1, 2].\\nMore text.")
    'Return a list, e.g. [1, 2].'
    """
    text = _strip_signature(doc)
    paragraph = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    line = " ".join(paragraph.split())  # join wrapped lines, squeeze spaces
    return line[: _sentence_end(line)].strip()


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with the rule of ``first_sentence``
    (whitespace, including newlines, is squeezed to single spaces first).

    >>> split_sentences("Return x, e.g. 1. Then stop.")
    ['Return x, e.g. 1.', 'Then stop.']
    """
    line = " ".join(text.split())
    sentences = []
    while line:
        end = _sentence_end(line)
        sentences.append(line[:end].strip())
        line = line[end:].strip()
    return sentences


def _tidy(sentence: str) -> str:
    """Give a first sentence the shape PEP 257 asks of a summary line.

    * a leading "types ->" prefix is dropped when a capitalised sentence
      follows it ("str -> Construct a date ..." -> "Construct a date ...");
    * a lowercase first word is capitalised ("make an iterator ..." ->
      "Make an iterator ..."), unless it is code (contains "_" or ".");
    * a missing final period is added.
    Without this, the reference answers would teach the model the style
    slips that the gold score (``minigpt.gold``) penalises.
    """
    arrow = _ARROW_PREFIX.match(sentence)
    if arrow and sentence[arrow.end() :][:1].isupper():
        sentence = sentence[arrow.end() :]
    first_word = sentence.split(" ", 1)[0]
    if first_word.isalpha() and first_word.islower():
        sentence = sentence[0].upper() + sentence[1:]
    if sentence and sentence[-1] not in ".!?":
        sentence += "."
    return sentence


def _is_good_answer(sentence: str) -> bool:
    """A real one-sentence answer: 10-200 characters and at least 3 words,
    starting with a letter; not an introduction to a list (ending in ":")
    and not a signature in arrow notation ("int -> date ...")."""
    return (
        MIN_ANSWER_CHARS <= len(sentence) <= MAX_ANSWER_CHARS
        and len(sentence.split()) >= MIN_ANSWER_WORDS
        and sentence[0].isalpha()
        and not sentence.rstrip(".").endswith(":")
        and "->" not in sentence
    )


def _is_candidate(obj) -> bool:
    """Callables we ask about: functions, methods and classes, but not
    exceptions and warnings (they are raised, not called, and their
    docstrings name a condition rather than say what something does)."""
    if not callable(obj) or inspect.ismodule(obj):
        return False
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return False
        # A class without a docstring of its own gets its base class's from
        # inspect.getdoc, which describes the base, not this class.
        if not isinstance(vars(obj).get("__doc__"), str):
            return False
    return True


def _canonical_name(qualified_name: str) -> str:
    """``builtins.str.upper`` -> ``str.upper``: built-ins are used unqualified."""
    return qualified_name.removeprefix("builtins.")


@functools.cache
def _collect(modules: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(name, answer)`` for each documented callable, cached per process."""
    # Pass 1: one entry per object. random.randint is a bound method of a
    # hidden random.Random() and shares its function with random.Random.randint;
    # the name with the fewest dots wins (random.randint).
    by_object: dict[int, tuple[str, str]] = {}
    for qualified_name, obj, doc in iter_documented_objects(modules):
        if not _is_candidate(obj):
            continue
        answer = _tidy(first_sentence(doc))
        if not _is_good_answer(answer):
            continue
        name = _canonical_name(qualified_name)
        # id() is safe as a key here: every object lives on in its module.
        key = id(getattr(obj, "__func__", obj))
        if key not in by_object or name.count(".") < by_object[key][0].count("."):
            by_object[key] = (name, answer)
    # Pass 2: one entry per answer. bytes.upper and bytearray.upper (and the
    # read() of every io class) share one docstring. Keeping them all would
    # weight those answers several times over, and put the very same answer
    # on both sides of the train/held-out split. Again the shortest name wins.
    by_answer: dict[str, str] = {}
    for name, answer in by_object.values():  # dicts keep insertion order
        if answer not in by_answer or name.count(".") < by_answer[answer].count("."):
            by_answer[answer] = name
    return tuple((name, answer) for answer, name in by_answer.items())


# The (name, answer) pairs of PYDOC_MODULES as collected on Python 3.11: JSON, a list of
# two-item lists, gzipped; and the SHA-256 of its UTF-8 text.
CALLABLES_SNAPSHOT = SNAPSHOT_DIR / "stdlib_callables.json.gz"
CALLABLES_SNAPSHOT_SHA256 = "f49100268760d15023b255d78fe3559ec2a4cc4b9365437be9a3a6716e0a7d01"


@functools.cache
def _shipped_callables() -> tuple[tuple[str, str], ...]:
    pairs = json.loads(read_snapshot(CALLABLES_SNAPSHOT, CALLABLES_SNAPSHOT_SHA256))
    return tuple((name, answer) for name, answer in pairs)


def documented_callables() -> list[tuple[str, str]]:
    """``(name, first sentence)`` for every documented callable in ``PYDOC_MODULES``,
    as collected on Python 3.11 and shipped with the package (the same on every
    Python). ``collect_documented_callables()`` says how the list is made."""
    return list(_shipped_callables())


def collect_documented_callables(modules=PYDOC_MODULES) -> list[tuple[str, str]]:
    """``(name, first sentence)`` for every documented callable in ``modules``, from
    the Python that is running.

    Walks ``minigpt.pydoc_corpus.iter_documented_objects(modules)`` and keeps
      * callables: functions, methods, and classes with a docstring of their
        own, but not exceptions and warnings;
      * whose first sentence (``first_sentence``, then tidied: capital first
        letter, final period) is 10-200 characters and at least 3 words long,
        starts with a letter, and is no list intro or "->" signature.
    Names are the public qualified names (``"math.sqrt"``, ``"str.upper"``,
    ``"json.dumps"``; built-ins without ``builtins.``). An object reachable
    under several names appears once, and so does an answer shared by
    several callables (``bytes.upper`` and ``bytearray.upper``): under the
    name with the fewest dots, else the first in walking order.
    """
    if isinstance(modules, str):
        modules = (modules,)
    return list(_collect(tuple(modules)))


# --------------------------------------------------------------------------
# Questions, the data set and its split
# --------------------------------------------------------------------------


def _unit_hash(*parts) -> float:
    """A number in [0, 1) from the SHA-256 of ``parts``: the same in every
    process and on every machine (Python's ``hash`` of a str is salted per
    process, so it would give a different split each run)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_template(name: str, index: int, seed: int = 0) -> str:
    """The question template for phrasing number ``index`` of callable ``name``.

    The templates are put in an order fixed by (seed, name); phrasing
    ``index`` takes the ``index``-th of that order, so different indices of
    one name get different templates (for index < len(QUESTION_TEMPLATES)).
    """
    order = sorted(range(len(QUESTION_TEMPLATES)), key=lambda k: _unit_hash(seed, name, k))
    return QUESTION_TEMPLATES[order[index % len(order)]]


def build_instruction_data(seed: int = 0, phrasings: int = PHRASINGS_PER_CALLABLE) -> list[dict]:
    """Question-answer pairs about standard-library callables.

    Returns a list of dicts with keys
      * ``"name"``: the callable, e.g. ``"math.sqrt"``;
      * ``"question"``: e.g. ``"What does `math.sqrt` do?"``;
      * ``"answer"``: the reference, the docstring's first sentence;
      * ``"template"``: the question template used.
    Each callable of ``documented_callables()`` gets ``phrasings``
    questions with different templates (``choose_template``). The result is
    the same for the same seed, on every Python version.
    """
    if not 1 <= phrasings <= len(QUESTION_TEMPLATES):
        raise ValueError(f"phrasings must be between 1 and {len(QUESTION_TEMPLATES)}, got {phrasings}")
    examples = []
    for name, answer in documented_callables():
        for index in range(phrasings):
            template = choose_template(name, index, seed)
            examples.append(
                {"name": name, "question": template.format(name=name), "answer": answer, "template": template}
            )
    return examples


def split_by_name(examples, heldout_fraction: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Split examples into (train, heldout) by callable name.

    All phrasings of one callable land on the same side, so a held-out
    question is about a callable whose answer the model never trained on.
    A name is held out when a SHA-256 hash of (seed, name), read as a number
    in [0, 1), is below ``heldout_fraction``: deterministic, independent of
    the order of ``examples``, and close to the requested fraction of names.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    train, heldout = [], []
    for example in examples:
        side = heldout if _unit_hash("split", seed, example["name"]) < heldout_fraction else train
        side.append(example)
    return train, heldout
