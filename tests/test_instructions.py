"""Tests for minigpt.instructions: first sentences, the chat encoding, the data and its split."""

from __future__ import annotations

import inspect
import json
import math
import random
import sys

import numpy as np
import pytest

from minigpt import GPT, GPTConfig
from minigpt.instructions import (
    ASSISTANT,
    END,
    QUESTION_TEMPLATES,
    USER,
    build_instruction_data,
    choose_template,
    collect_documented_callables,
    documented_callables,
    encode_example,
    first_sentence,
    format_example,
    format_prompt,
    pad_batch,
    split_by_name,
    split_sentences,
)
from minigpt.tokenizer import SPECIAL_TOKENS, BPETokenizer, CharTokenizer

QUESTION = "What does `math.sqrt` do?"
ANSWER = "Return the square root of x."


@pytest.fixture(scope="module")
def examples():
    return build_instruction_data(seed=0)


@pytest.fixture(scope="module")
def char_tokenizer():
    text = "".join(e["question"] + e["answer"] for e in build_instruction_data()[:400]) + QUESTION + ANSWER
    return CharTokenizer.train(text, special_tokens=SPECIAL_TOKENS)


@pytest.fixture(scope="module")
def bpe_tokenizer():
    text = " ".join(format_example(e["question"], e["answer"]) for e in build_instruction_data()[:200])
    return BPETokenizer.train(text, vocab_size=256 + 60 + len(SPECIAL_TOKENS))


# --------------------------------------------------------------------------
# First sentences
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, expected",
    [
        # The raw C form, with its text signature and "--" line.
        ("sqrt(x, /)\n--\n\nReturn the square root of x.", "Return the square root of x."),
        # Old-style C signatures, one or several lines, with "->".
        ("S.upper() -> str\n\nReturn a copy of S in uppercase.", "Return a copy of S in uppercase."),
        (
            (
                "max(iterable, *[, default=obj, key=func]) -> value\nmax(arg1, arg2, *args) -> value\n\n"
                "With a single iterable argument, return its biggest item. The default ..."
            ),
            "With a single iterable argument, return its biggest item.",
        ),
        ("async anext(aiterator[, default])\n\nReturn the next item.", "Return the next item."),
        ("rows = reader(iterable)\n\nRead rows from a CSV file.", "Read rows from a CSV file."),
        # Abbreviations do not end a sentence...
        ("Return the keys, e.g. a list of names. Then more.", "Return the keys, e.g. a list of names."),
        ("Return the union (i.e. all elements of both). More.", "Return the union (i.e. all elements of both)."),
        ("Return the bytes 0-9, a-f, etc. Nothing else.", "Return the bytes 0-9, a-f, etc."),
        ("Compare the values, cf. the manual. More.", "Compare the values, cf. the manual."),
        # ... and neither do dotted names; a dotted name at the end does.
        ("Join parts with os.path.join and return it. Later text.", "Join parts with os.path.join and return it."),
        ("Return a path like os.path. See also.", "Return a path like os.path."),
        # A summary wrapped over lines is one sentence, on one line.
        (
            "Return the lowest index in S where substring\nsub is found.  Other text.",
            "Return the lowest index in S where substring sub is found.",
        ),
        # The first paragraph bounds the sentence, even without a period.
        ("Extend the deque from the iterable\n\nMore text here.", "Extend the deque from the iterable"),
        ("Find n!.\n\nRaise a ValueError if x is negative.", "Find n!."),
        ("Is this logger enabled? Check it.", "Is this logger enabled?"),
        # Sentence punctuation inside a closing bracket or quote.
        ('Return "yes." Then no.', 'Return "yes."'),
        # Only a signature: no sentence at all.
        ("D.keys() -> a set-like object providing a view on D's keys", ""),
        ("", ""),
    ],
)
def test_first_sentence(doc, expected):
    assert first_sentence(doc) == expected


def test_first_sentence_of_real_docstrings():
    assert first_sentence(inspect.getdoc(math.sqrt)) == "Return the square root of x."
    # The raw docstring as C stores it: "sqrt($module, x, /)\n--\n\nReturn ...".
    raw = f"sqrt{math.sqrt.__text_signature__.replace('$module, ', '')}\n--\n\n{math.sqrt.__doc__}"
    assert first_sentence(raw) == "Return the square root of x."
    assert first_sentence(inspect.getdoc(json.dumps)) == "Serialize ``obj`` to a JSON formatted ``str``."
    # bytes.isdigit starts with "B.isdigit() -> bool" and wraps over two lines.
    sentence = first_sentence(inspect.getdoc(bytes.isdigit))
    assert sentence.startswith("Return True if all characters in B are digits")
    assert "->" not in sentence and "\n" not in sentence and sentence.endswith(".")


def test_split_sentences():
    assert split_sentences("Return x, e.g. 1. Then stop.") == ["Return x, e.g. 1.", "Then stop."]
    assert split_sentences("One.\nTwo!  Three?") == ["One.", "Two!", "Three?"]
    assert split_sentences("no period") == ["no period"]
    assert split_sentences("   ") == []


# --------------------------------------------------------------------------
# The documented callables
# --------------------------------------------------------------------------


def test_documented_callables_are_clean():
    pairs = documented_callables()
    names = [name for name, _ in pairs]
    answers = [answer for _, answer in pairs]
    assert 1000 <= len(pairs) <= 1800
    assert len(set(names)) == len(names), "one entry per callable"
    assert len(set(answers)) == len(answers), "one entry per answer"
    for name, answer in pairs:
        assert not name.startswith("builtins.")
        assert 10 <= len(answer) <= 200 and len(answer.split()) >= 3, (name, answer)
        assert answer[0].isalpha() and answer.endswith((".", "!", "?")), (name, answer)
        assert "->" not in answer and "\n" not in answer and "  " not in answer, (name, answer)
    lookup = dict(pairs)
    assert lookup["math.sqrt"] == "Return the square root of x."
    assert lookup["str.upper"] == "Return a copy of the string converted to uppercase."
    assert lookup["json.dumps"].startswith("Serialize ``obj``")
    assert "len" in lookup and "list.append" in lookup
    # Exceptions are raised, not called; they are not asked about.
    assert "KeyError" not in lookup and "json.JSONDecodeError" not in lookup


def test_shipped_callables_are_what_python_3_11_collects():
    """The pairs ship with the package (the same on every Python); on Python 3.11,
    where they were made, collecting them afresh gives the same list."""
    live = collect_documented_callables()
    assert dict(live)["math.sqrt"] == "Return the square root of x."
    if sys.version_info[:2] == (3, 11):
        assert live == documented_callables()
    assert collect_documented_callables("math") == collect_documented_callables(["math"])


def test_a_callable_reached_twice_keeps_its_shortest_name():
    names = {name for name, _ in documented_callables()}
    # random.randint is a bound method sharing its function with random.Random.randint.
    assert "random.randint" in names and "random.Random.randint" not in names
    # calendar.month is calendar.TextCalendar.formatmonth of a hidden instance.
    assert "calendar.month" in names and "calendar.TextCalendar.formatmonth" not in names


def test_identical_answers_are_kept_once():
    lookup = dict(documented_callables())
    # bytes.upper and bytearray.upper share one docstring: one of them is kept.
    kept = [name for name in ("bytes.upper", "bytearray.upper") if name in lookup]
    assert len(kept) == 1
    assert list(lookup.values()).count(lookup[kept[0]]) == 1
    # str.upper says it differently, so it stays.
    assert "str.upper" in lookup


def test_lowercase_summaries_are_capitalised_and_get_a_period():
    lookup = dict(documented_callables())
    # itertools.groupby's docstring says "make an iterator that returns ..."
    assert lookup["itertools.groupby"].startswith("Make an iterator")
    # collections.deque.extend's has no final period.
    assert lookup["collections.deque.extend"] == "Extend the right side of the deque with elements from the iterable."


# --------------------------------------------------------------------------
# Questions, the data set and the split
# --------------------------------------------------------------------------


def test_build_instruction_data_counts_and_fields(examples):
    names = {e["name"] for e in examples}
    assert len(examples) == 2 * len(names)
    assert 2000 <= len(examples) <= 3600
    for e in examples:
        assert set(e) == {"name", "question", "answer", "template"}
        assert e["template"] in QUESTION_TEMPLATES
        assert e["question"] == e["template"].format(name=e["name"])
        assert f"`{e['name']}`" in e["question"]
    sqrt = [e for e in examples if e["name"] == "math.sqrt"]
    assert len(sqrt) == 2 and all(e["answer"] == "Return the square root of x." for e in sqrt)


def test_phrasings_of_one_name_use_different_templates(examples):
    templates: dict[str, list[str]] = {}
    for e in examples:
        templates.setdefault(e["name"], []).append(e["template"])
    assert all(len(set(t)) == len(t) == 2 for t in templates.values())
    # Every template is used, and none dominates.
    counts = np.array([sum(e["template"] == t for e in examples) for t in QUESTION_TEMPLATES])
    assert counts.min() > 0.5 * len(examples) / len(QUESTION_TEMPLATES)


def test_choose_template_is_deterministic_and_seeded():
    assert choose_template("math.sqrt", 0, seed=0) == choose_template("math.sqrt", 0, seed=0)
    all_templates = [choose_template("math.sqrt", i) for i in range(len(QUESTION_TEMPLATES))]
    assert sorted(all_templates) == sorted(QUESTION_TEMPLATES)
    names = [f"name{i}" for i in range(50)]
    assert [choose_template(n, 0, seed=0) for n in names] != [choose_template(n, 0, seed=1) for n in names]


def test_build_is_deterministic(examples):
    assert build_instruction_data(seed=0) == examples
    other = build_instruction_data(seed=1)
    assert [e["answer"] for e in other] == [e["answer"] for e in examples]
    assert [e["question"] for e in other] != [e["question"] for e in examples]
    with pytest.raises(ValueError):
        build_instruction_data(phrasings=0)


def test_split_by_name_keeps_names_together(examples):
    train, heldout = split_by_name(examples, heldout_fraction=0.2, seed=0)
    train_names = {e["name"] for e in train}
    heldout_names = {e["name"] for e in heldout}
    assert not train_names & heldout_names
    assert len(train) + len(heldout) == len(examples)
    fraction = len(heldout_names) / (len(train_names) + len(heldout_names))
    assert 0.16 < fraction < 0.24


def test_split_by_name_is_deterministic_and_order_free(examples):
    train, heldout = split_by_name(examples, seed=0)
    again_train, again_heldout = split_by_name(examples, seed=0)
    assert (train, heldout) == (again_train, again_heldout)
    shuffled = list(examples)
    random.Random(0).shuffle(shuffled)
    _, shuffled_heldout = split_by_name(shuffled, seed=0)
    assert {e["name"] for e in shuffled_heldout} == {e["name"] for e in heldout}
    _, other_heldout = split_by_name(examples, seed=1)
    assert {e["name"] for e in other_heldout} != {e["name"] for e in heldout}
    assert split_by_name(examples, heldout_fraction=0.0)[1] == []
    assert split_by_name(examples, heldout_fraction=1.0)[0] == []
    with pytest.raises(ValueError):
        split_by_name(examples, heldout_fraction=1.5)


# --------------------------------------------------------------------------
# The chat format and the SFT encoding
# --------------------------------------------------------------------------


def test_format():
    assert format_prompt(QUESTION) == f"{USER}{QUESTION}{ASSISTANT}"
    assert format_example(QUESTION, ANSWER) == f"{USER}{QUESTION}{ASSISTANT}{ANSWER}{END}"
    assert (USER, ASSISTANT, END) == SPECIAL_TOKENS[1:]


@pytest.mark.parametrize("tokenizer_name", ["char_tokenizer", "bpe_tokenizer"])
def test_encode_example_masks_exactly_the_prompt(tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    ids, targets = encode_example(tokenizer, QUESTION, ANSWER, block_size=128)
    assert ids.dtype == targets.dtype == np.int64 and ids.shape == targets.shape
    # ids are the whole conversation, the same as encoding the formatted text.
    assert tokenizer.decode(ids) == format_example(QUESTION, ANSWER)
    assert ids.tolist() == tokenizer.encode(format_example(QUESTION, ANSWER))
    n_prompt = len(tokenizer.encode(format_prompt(QUESTION)))
    n_answer = len(tokenizer.encode(ANSWER))
    assert len(ids) == n_prompt + n_answer + 1
    # Positions 0 .. n_prompt-2 predict prompt tokens: masked.
    assert (targets[: n_prompt - 1] == -1).all()
    # From <|assistant|> on, each position predicts the next token, up to <|end|>.
    assert ids[n_prompt - 1] == tokenizer.special_tokens[ASSISTANT]
    np.testing.assert_array_equal(targets[n_prompt - 1 : -1], ids[n_prompt:])
    assert targets[-2] == tokenizer.special_tokens[END]
    assert targets[-1] == -1
    # The loss sees exactly the answer tokens and the end token.
    assert (targets != -1).sum() == n_answer + 1
    assert tokenizer.decode(targets[targets != -1]) == ANSWER + END


def test_encode_example_does_not_turn_text_into_special_tokens(bpe_tokenizer):
    ids, _ = encode_example(bpe_tokenizer, "Say <|end|> please", "It is <|end|>.", block_size=128)
    end_id = bpe_tokenizer.special_tokens[END]
    assert (ids == end_id).sum() == 1 and ids[-1] == end_id


def test_encode_example_too_long(char_tokenizer):
    ids, _ = encode_example(char_tokenizer, QUESTION, ANSWER, block_size=1000)
    encode_example(char_tokenizer, QUESTION, ANSWER, block_size=len(ids))  # fits exactly
    with pytest.raises(ValueError, match=r"3 more than block_size"):
        encode_example(char_tokenizer, QUESTION, ANSWER, block_size=len(ids) - 3)


def test_encode_example_needs_the_chat_tokens():
    plain = CharTokenizer.train(QUESTION + ANSWER)
    with pytest.raises(ValueError, match="special token"):
        encode_example(plain, QUESTION, ANSWER, block_size=100)


def test_pad_batch(char_tokenizer):
    short = encode_example(char_tokenizer, "Explain `len`.", "Return the number of items.", 200)
    long = encode_example(char_tokenizer, QUESTION, ANSWER, 200)
    X, Y = pad_batch([short, long])
    assert X.shape == Y.shape == (2, len(long[0])) and X.dtype == Y.dtype == np.int64
    np.testing.assert_array_equal(X[0, : len(short[0])], short[0])
    np.testing.assert_array_equal(Y[0, : len(short[1])], short[1])
    assert (X[0, len(short[0]) :] == 0).all() and (Y[0, len(short[1]) :] == -1).all()
    np.testing.assert_array_equal(X[1], long[0])
    with pytest.raises(ValueError):
        pad_batch([])


def test_right_padding_does_not_change_real_positions(char_tokenizer):
    """The claim in pad_batch's docstring, checked on a real (tiny) GPT."""
    short = encode_example(char_tokenizer, "Explain `len`.", "Return the number of items.", 200)
    long = encode_example(char_tokenizer, QUESTION, ANSWER, 200)
    X, Y = pad_batch([short, long])
    config = GPTConfig(vocab_size=char_tokenizer.vocab_size, block_size=X.shape[1], n_layer=1, n_head=2, d_model=16)
    model = GPT(config, seed=0, dtype=np.float64)
    padded_logits, batch_loss = model.forward(X, Y)
    alone_logits, _ = model.forward(short[0][None, :], short[1][None, :])
    n = len(short[0])
    np.testing.assert_allclose(padded_logits[0, :n], alone_logits[0], rtol=1e-12, atol=1e-12)
    # The batch loss is the mean over real targets only: padding adds nothing.
    per_row = [model.forward(ids[None, :], targets[None, :])[1] for ids, targets in (short, long)]
    counts = [(short[1] != -1).sum(), (long[1] != -1).sum()]
    assert batch_loss == pytest.approx(np.dot(per_row, counts) / sum(counts), rel=1e-12)
