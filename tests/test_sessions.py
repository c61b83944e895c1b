"""Tests of minigpt.sessions: the interpreter-session corpus and the accuracy scorer."""

from __future__ import annotations

import ast
import builtins
import sys
import hashlib
import math
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import other_pythons
import pytest

import minigpt
from minigpt import sessions
from minigpt.sessions import (
    DEFAULT_DIFFICULTY,
    FAMILIES,
    MALFORMED,
    SPLITS,
    Expression,
    complete,
    generate_expressions,
    held_out_expressions,
    is_correct,
    parse_answer,
    pydoc_documents,
    python_corpus,
    score_completions,
    session_text,
    split_of,
)

SESSIONS_PY = Path(sessions.__file__)

# sha256 of session_text(generate_expressions(500, seed=0)). Recorded on Python 3.11 with
# NumPy 2.4 and checked to be the same on 3.10 (NumPy 1.24 and 2.2), 3.12 and 3.13 (NumPy
# 2.5). If this changes, the corpus changed: every number trained on it changes too.
FINGERPRINT_500 = "1d7c77eff93a0349d5bad7bbf6616da684bcfae7010d2ef8e24694b1c37dc881"


@pytest.fixture(scope="module")
def test_set():
    return held_out_expressions(40, split="test", seed=0)


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


def test_words_are_short_plain_and_distinct():
    assert len(set(sessions.WORDS)) == len(sessions.WORDS) >= 256
    for word in sessions.WORDS:
        assert word.isascii() and word.isalpha() and word.islower() and 3 <= len(word) <= 5


def test_families_are_documented_with_defaults():
    assert 12 <= len(FAMILIES) <= 20 and len(set(FAMILIES)) == len(FAMILIES)
    assert set(DEFAULT_DIFFICULTY) == set(FAMILIES)
    for family in FAMILIES:  # the docstring's table: family, example, answer, knob [default]
        row = re.search(rf"^    {family} +(.+)$", sessions.__doc__, re.M)
        assert row, f"{family} is not in the module docstring"
        expr, answer, knob = re.split(r"  +", row.group(1))
        assert repr(sessions._evaluate(expr)) == answer
        assert knob.endswith(f"[{DEFAULT_DIFFICULTY[family]}]")


def test_same_seed_same_text_other_seed_other_text():
    a = session_text(generate_expressions(300, seed=3))
    assert a == session_text(generate_expressions(300, seed=3))
    assert a != session_text(generate_expressions(300, seed=4))
    # A prefix of the stream does not depend on how much of it is asked for.
    assert session_text(generate_expressions(1000, seed=3)).startswith(a)


def test_fingerprint_is_unchanged():
    text = session_text(generate_expressions(500, seed=0))
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == FINGERPRINT_500


def test_session_text_is_a_transcript():
    expressions = generate_expressions(50, seed=0)
    lines = session_text(expressions).split("\n")
    assert lines[-1] == ""  # ends with a newline
    assert lines[0:-1:2] == [f">>> {e.expr}" for e in expressions]
    assert lines[1:-1:2] == [e.answer for e in expressions]
    assert all(e.prompt == f">>> {e.expr}\n" for e in expressions)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", [1, 2, 4])
def test_every_family_evaluates_and_its_answer_reads_back(family, difficulty):
    """The answer is repr of Python's value, one line, and literal_eval reads it back."""
    expressions = generate_expressions(150, seed=difficulty, families=[family],
                                       difficulty=difficulty)
    assert {e.family for e in expressions} == {family}
    assert {e.difficulty for e in expressions} == {difficulty}
    for e in expressions:
        assert "\n" not in e.expr and "\n" not in e.answer
        value = sessions._evaluate(e.expr)
        assert repr(value) == e.answer
        assert type(value) in (str, int, bool, list)
        if isinstance(value, list):
            assert all(type(item) in (str, int) for item in value)
        read_back = ast.literal_eval(e.answer)
        assert read_back == value and type(read_back) is type(value)
        assert parse_answer(e.answer) == value


def test_answers_agree_with_hand_computed_values():
    """Spot checks that the interpreter, not our code, is what answers."""
    for expr, answer in [("'owl moss'.upper()", "'OWL MOSS'"), ("'jam tusk'[::-1]", "'ksut maj'"),
                         ("len('tide fork')", "9"), ("'kite' * 3", "'kitekitekite'"),
                         ("sorted('fog bee')", "[' ', 'b', 'e', 'e', 'f', 'g', 'o']"),
                         ("'cart bay'[-3]", "'b'"), ("85 // 6", "14"), ("85 % 6", "1"),
                         ("12 - 80", "-68"), ("'e' in 'reed cow'", "True"),
                         ("list(range(14, 25, 3))", "[14, 17, 20, 23]")]:
        assert repr(sessions._evaluate(expr)) == answer


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hi')",
    "open('/tmp/sessions_should_not_exist', 'w')",
    "().__class__.__bases__[0].__subclasses__()",
    "'a'.format_map({})",
    "print('x')",
    "[x for x in range(3)]",
    "lambda: 0",
    "1.5 + 2",
])
def test_evaluate_refuses_anything_outside_the_grammar(text):
    with pytest.raises(ValueError, match="outside the grammar|only str and int"):
        sessions._evaluate(text)


def test_difficulty_knob_changes_the_distribution():
    def mean_string_length(family, d):
        exprs = generate_expressions(300, seed=0, families=[family], difficulty=d)
        return np.mean([len(ast.literal_eval(e.expr.split(".")[0])) for e in exprs])

    assert mean_string_length("upper", 1) < mean_string_length("upper", 2) < mean_string_length("upper", 4)

    def largest_operand(d):
        exprs = generate_expressions(400, seed=0, families=["add"], difficulty=d)
        return max(int(x) for e in exprs for x in e.expr.split(" + "))

    assert largest_operand(1) <= 9 < largest_operand(2) <= 99 < largest_operand(3) <= 999

    for d in (1, 3, 6):
        for e in generate_expressions(50, seed=0, families=["max", "sum"], difficulty=d):
            assert len(ast.literal_eval(e.expr[4:-1])) == d
    times = {int(e.expr.split(" * ")[1])
             for e in generate_expressions(300, seed=0, families=["repeat"], difficulty=5)}
    assert times == {2, 3, 4, 5, 6}


def test_difficulty_as_int_dict_or_default():
    default = generate_expressions(100, seed=0)
    assert all(e.difficulty == DEFAULT_DIFFICULTY[e.family] for e in default)
    assert {e.difficulty for e in generate_expressions(100, seed=0, difficulty=3)} == {3}
    mixed = generate_expressions(200, seed=0, difficulty={"add": 4})
    assert all(e.difficulty == (4 if e.family == "add" else DEFAULT_DIFFICULTY[e.family])
               for e in mixed)


@pytest.mark.parametrize("kwargs", [
    {"difficulty": 0}, {"difficulty": -1}, {"difficulty": 1.5}, {"difficulty": True},
    {"difficulty": {"nope": 2}}, {"families": ["nope"]}, {"families": []}, {"split": "dev"},
])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        generate_expressions(5, **kwargs)


def test_families_argument_restricts_the_stream():
    expressions = generate_expressions(200, seed=0, families=["add", "upper"])
    assert {e.family for e in expressions} == {"add", "upper"}


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------


def test_split_shares_are_about_right_and_stable():
    assert sum(SPLITS.values()) == 100
    distinct = {e.expr for e in generate_expressions(20000, seed=0)}
    shares = Counter(split_of(expr) for expr in distinct)
    for split, percent in SPLITS.items():
        assert abs(shares[split] / len(distinct) - percent / 100) < 0.015
    # sha256-based, so this is the same in every process and Python version
    assert [split_of(x) for x in ("1 + 1", "len('cat')", "'owl'.upper()")] == \
        [split_of(x) for x in ("1 + 1", "len('cat')", "'owl'.upper()")]


def test_split_streams_only_hold_their_own_side():
    for split in SPLITS:
        assert {split_of(e.expr) for e in generate_expressions(300, seed=0, split=split)} == {split}


def test_held_out_sets_are_distinct_disjoint_and_balanced():
    test = held_out_expressions(30, split="test", seed=0)
    val = held_out_expressions(30, split="val", seed=0)
    for held_out, split in ((test, "test"), (val, "val")):
        texts = [e.expr for e in held_out]
        assert len(texts) == len(set(texts))
        assert all(split_of(t) == split for t in texts)
        assert Counter(e.family for e in held_out) == Counter({f: 30 for f in FAMILIES})
    assert not {e.expr for e in test} & {e.expr for e in val}
    train = {e.expr for e in generate_expressions(20000, seed=0, split="train")}
    assert not train & {e.expr for e in test + val}


def test_held_out_expressions_of_a_family_do_not_depend_on_the_others():
    alone = held_out_expressions(10, seed=0, families=["mod"])
    together = held_out_expressions(10, seed=0)
    assert alone == [e for e in together if e.family == "mod"]


def test_held_out_expressions_stop_when_a_small_family_runs_out():
    # repeat at difficulty 1 is 'word' * 2 only: len(WORDS) expressions, ~10% of them in test
    few = held_out_expressions(500, seed=0, families=["repeat"], difficulty=1)
    assert 0.05 * len(sessions.WORDS) < len(few) < 0.15 * len(sessions.WORDS)
    assert len({e.expr for e in few}) == len(few)


# --------------------------------------------------------------------------
# The mixed corpus
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def documents():
    return pydoc_documents()


@pytest.fixture(scope="module")
def corpus(documents):
    return python_corpus(docs_fraction=0.5, val_fraction=0.1, seed=0, documents=documents)


def test_pydoc_documents_split_the_corpus_back_into_documents(documents):
    text = minigpt.load_text("pydoc")
    assert "\n".join(documents) == text
    assert len(documents) > 1000
    for document in documents:
        assert document.startswith("== ") and document.endswith("\n")
        assert document.split("\n", 1)[0].endswith(" ==")


def _sessions_part(text, documents):
    """What is left of a mixed text without its documents: the session blocks."""
    for document in documents:
        text = text.replace(document, "")
    return text


def test_corpus_mixes_prose_and_sessions_in_the_stated_ratio(corpus, documents):
    train_text, val_text = corpus
    for text in corpus:
        sessions_only = re.sub(r"\n+", "\n", _sessions_part(text, documents)).strip("\n")
        lines = sessions_only.split("\n")
        assert all(line.startswith(">>> ") for line in lines[::2])
        assert not any(line.startswith(">>> ") for line in lines[1::2])
        prose_chars = len(text) - len(sessions_only)
        assert 0.47 < prose_chars / len(text) < 0.53
    # every document is used exactly once, on one side
    in_train = [d in train_text for d in documents]
    in_val = [d in val_text for d in documents]
    assert all(a != b for a, b in zip(in_train, in_val))
    assert sum(in_val) == round(0.1 * len(documents))


def test_held_out_documents_are_random_not_the_alphabetical_tail(corpus, documents):
    _, val_text = corpus
    positions = [i for i, d in enumerate(documents) if d in val_text]
    # spread over the whole corpus: some in each quarter
    quarters = Counter(4 * i // len(documents) for i in positions)
    assert set(quarters) == {0, 1, 2, 3}


def test_no_held_out_expression_reaches_the_training_text(corpus, documents, test_set):
    train_text, val_text = corpus

    def prompts(text):
        return {line[4:] for line in _sessions_part(text, documents).split("\n")
                if line.startswith(">>> ")}

    train_prompts, val_prompts = prompts(train_text), prompts(val_text)
    assert len(train_prompts) > 10000 and len(val_prompts) > 1000
    assert {split_of(p) for p in train_prompts} == {"train"}
    assert {split_of(p) for p in val_prompts} == {"val"}
    for e in test_set:
        assert f">>> {e.expr}\n" not in train_text


def test_corpus_is_deterministic_and_seeded(documents):
    small = [d for d in documents if len(d) < 400][:200]  # short ones: a quick test
    a = python_corpus(docs_fraction=0.25, seed=1, documents=small)
    assert a == python_corpus(docs_fraction=0.25, seed=1, documents=small)
    assert a != python_corpus(docs_fraction=0.25, seed=2, documents=small)
    train_docs, val_docs = python_corpus(docs_fraction=1.0, seed=1, documents=small)
    assert sorted(pydoc_documents(train_docs) + pydoc_documents(val_docs)) == sorted(small)


def test_train_chars_takes_a_prefix_of_the_training_text_and_keeps_validation(documents):
    small = [d for d in documents if len(d) < 400][:200]
    full_train, full_val = python_corpus(docs_fraction=0.25, seed=1, documents=small)
    short_train, short_val = python_corpus(docs_fraction=0.25, seed=1, documents=small, train_chars=5000)
    assert short_val == full_val
    assert full_train.startswith(short_train)
    assert 5000 <= len(short_train) < 5000 + 400 + 2 * 4000  # it ends after the piece that reaches 5000
    assert len(short_train) < len(full_train)


@pytest.mark.parametrize("kwargs", [{"docs_fraction": 0}, {"docs_fraction": 1.5},
                                    {"val_fraction": 0}, {"val_fraction": 1}, {"train_chars": 0},
                                    {"train_chars": 2.5}])
def test_corpus_refuses_bad_fractions(kwargs, documents):
    with pytest.raises(ValueError):
        python_corpus(documents=documents[:50], **kwargs)


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


def _e(family, expr, answer):
    return Expression(family, expr, answer, 1)


def test_scorer_gives_exact_numbers_on_a_hand_made_example():
    expressions = [
        _e("upper", "'ab'.upper()", "'AB'"),
        _e("upper", "'cd'.upper()", "'CD'"),
        _e("upper", "'ef'.upper()", "'EF'"),
        _e("upper", "'gh'.upper()", "'GH'"),
        _e("add", "1 + 2", "3"),
        _e("add", "2 + 2", "4"),
        _e("sorted", "sorted('ba')", "['a', 'b']"),
        _e("sorted", "sorted('dc')", "['c', 'd']"),
    ]
    completions = [
        "'AB'",            # right
        " 'CD' ",          # right: surrounding spaces do not count
        "'EF",             # malformed
        "'gh'",            # wrong
        "3\n>>> 5 + 5",    # right: only the first line is the answer
        "four",            # malformed
        "['a','b']",       # same value, other spelling: wrong by repr, right by value
        "",                # empty
    ]
    score = score_completions(expressions, completions)
    fam = score["families"]
    assert list(fam) == ["upper", "sorted", "add"]  # FAMILIES order
    assert fam["upper"] == {"n": 4, "correct": 2, "accuracy": 0.5, "se": math.sqrt(0.25 / 4)}
    assert fam["add"] == {"n": 2, "correct": 1, "accuracy": 0.5, "se": math.sqrt(0.25 / 2)}
    assert fam["sorted"] == {"n": 2, "correct": 0, "accuracy": 0.0, "se": 0.0}
    overall = score["overall"]
    assert overall["n"] == 8 and overall["correct"] == 3 and overall["n_families"] == 3
    assert overall["accuracy"] == pytest.approx(1 / 3)  # mean of 0.5, 0.0, 0.5
    assert overall["se"] == pytest.approx(math.sqrt(0.25 / 4 + 0.125) / 3)

    by_value = score_completions(expressions, completions, by="value")
    assert by_value["families"]["sorted"]["correct"] == 1
    assert by_value["families"]["upper"]["correct"] == 2
    assert by_value["overall"]["correct"] == 4


def test_value_comparison_keeps_types_apart():
    true = _e("in", "'a' in 'cat'", "True")
    assert is_correct(true, "True", by="value") and not is_correct(true, "1", by="value")
    one = _e("count", "'cat'.count('a')", "1")
    assert not is_correct(one, "True", by="value") and is_correct(one, " 1", by="value")
    text = _e("upper", "'a'.upper()", "'A'")
    assert is_correct(text, '"A"', by="value") and not is_correct(text, '"A"', by="repr")
    with pytest.raises(ValueError):
        is_correct(text, "'A'", by="vibes")


def test_scorer_checks_its_inputs():
    with pytest.raises(ValueError):
        score_completions([_e("add", "1 + 1", "2")], [])
    with pytest.raises(ValueError):
        score_completions([], [])


@pytest.mark.parametrize("text", [
    "__import__('os').system('x')",
    "open('/tmp/sessions_model_wrote_this', 'w').write('x')",
    "exec('1')",
    "[1, 2",
    "'unterminated",
    "1 +",
    "[" * 100_000,
    "[" * 900,
    "9" * 5000,
    "",
])
def test_parse_answer_returns_the_sentinel_and_runs_nothing(text):
    assert parse_answer(text) is MALFORMED
    assert not os.path.exists("/tmp/sessions_model_wrote_this")


def test_parse_answer_is_silent_on_text_python_warns_about():
    """'1if' makes the parser warn (SyntaxWarning: invalid decimal literal) before it fails: a
    model's malformed answer must not print a warning into a chapter's output."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert parse_answer("1if") is MALFORMED
        assert parse_answer("0x1for") is MALFORMED
    assert caught == []


def test_model_text_is_never_evaluated(monkeypatch, test_set):
    """Scoring works with eval and exec gone: it cannot be calling them."""
    def refuse(*args, **kwargs):
        raise AssertionError("model text must never be evaluated")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    completions = ["__import__('os').system('x')", "open('x', 'w')"] * (len(test_set) // 2)
    completions += ["0"] * (len(test_set) - len(completions))
    for by in ("repr", "value"):
        score = score_completions(test_set, completions, by=by)
        assert score["overall"]["accuracy"] < 0.1
    assert parse_answer("[1, 'a', True]") == [1, "a", True]


def test_trivial_completions_score_low(test_set):
    train = generate_expressions(20000, seed=1, split="train")
    most_frequent = {f: Counter(e.answer for e in train if e.family == f).most_common(1)[0][0]
                     for f in FAMILIES}
    constant = score_completions(test_set, ["0"] * len(test_set))["overall"]["accuracy"]
    echo = score_completions(test_set, [e.expr for e in test_set])["overall"]["accuracy"]
    mode = score_completions(test_set, [most_frequent[e.family] for e in test_set])
    assert constant < 0.1 and echo == 0.0 and mode["overall"]["accuracy"] < 0.2
    # only families with a handful of possible answers let a blind guess score
    lucky = {f for f, s in mode["families"].items() if s["accuracy"] > 0.2}
    assert lucky <= {"in", "compare", "count", "len", "mod"}


# --------------------------------------------------------------------------
# Completing with a model
# --------------------------------------------------------------------------


class AnsweringModel:
    """Stands in for a GPT: continues each '>>> expr\\n' prompt with the right answer,
    then a newline and more text, and records the batches it was given."""

    def __init__(self, tokenizer, expressions, wrong=()):
        self.tokenizer = tokenizer
        self.answers = {e.prompt: ("WRONG" if e.expr in wrong else e.answer) for e in expressions}
        self.batches = []

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 stop_token=None):
        self.batches.append(idx.shape)
        rows = []
        for row in idx:
            answer = self.answers[self.tokenizer.decode(row)]
            new = self.tokenizer.encode(answer + "\n>>> 1 + 1\n2\n")[:max_new_tokens]
            new += [stop_token] * (max_new_tokens - len(new))
            rows.append(list(row) + new)
        return np.array(rows)


@pytest.fixture(scope="module")
def char_tokenizer():
    return minigpt.CharTokenizer.train(session_text(generate_expressions(20000, seed=0)) + "WRONG")


def test_complete_groups_prompts_by_length_and_keeps_their_order(char_tokenizer, test_set):
    wrong = {e.expr for e in test_set[::7]}
    model = AnsweringModel(char_tokenizer, test_set, wrong)
    answers = complete(model, char_tokenizer, test_set, max_new_tokens=80, batch_size=16)
    assert answers == ["WRONG" if e.expr in wrong else e.answer for e in test_set]
    assert all(shape[0] <= 16 for shape in model.batches)
    lengths = Counter(len(e.prompt) for e in test_set)
    assert sum(shape[0] for shape in model.batches) == len(test_set)
    assert len(model.batches) >= len(lengths)
    score = score_completions(test_set, answers)
    assert score["overall"]["correct"] == len(test_set) - len(wrong)


def test_complete_with_a_bpe_tokenizer(test_set):
    """With BPE a prompt's length in tokens varies more, and the newline may merge."""
    tokenizer = minigpt.BPETokenizer.train(session_text(generate_expressions(3000, seed=0)) + "WRONG",
                                           vocab_size=400)
    model = AnsweringModel(tokenizer, test_set)
    answers = complete(model, tokenizer, test_set, max_new_tokens=60, batch_size=32)
    assert answers == [e.answer for e in test_set]


def test_complete_with_a_real_model_is_greedy_and_batch_independent(char_tokenizer):
    model = minigpt.GPT(minigpt.GPTConfig(vocab_size=char_tokenizer.vocab_size, block_size=32,
                                          n_layer=1, n_head=2, d_model=16), seed=0)
    expressions = generate_expressions(12, seed=5)
    batched = complete(model, char_tokenizer, expressions, max_new_tokens=12)
    one_by_one = [complete(model, char_tokenizer, [e], max_new_tokens=12)[0] for e in expressions]
    assert batched == one_by_one
    assert all("\n" not in a for a in batched)
    # plain strings work as well as Expression records
    assert complete(model, char_tokenizer, [e.expr for e in expressions], max_new_tokens=12) == batched
    sampled = complete(model, char_tokenizer, expressions, max_new_tokens=12, temperature=1.0, seed=3)
    assert sampled == complete(model, char_tokenizer, expressions, max_new_tokens=12,
                               temperature=1.0, seed=3)
    # a tiny nucleus keeps only the likeliest token: sampling becomes greedy
    assert complete(model, char_tokenizer, expressions, max_new_tokens=12, temperature=1.0, seed=3,
                    top_p=1e-9) == batched


# --------------------------------------------------------------------------
# The same corpus on other Pythons
# --------------------------------------------------------------------------

# Runs in another interpreter: load sessions.py from its file (it needs only NumPy, not the
# rest of minigpt) and print the fingerprint of the first 500 expressions.
FINGERPRINT_SCRIPT = """
import hashlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("sessions_alone", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
text = module.session_text(module.generate_expressions(500, seed=0))
print(hashlib.sha256(text.encode("utf-8")).hexdigest())
"""


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_same_corpus_on_other_python_versions(version):
    # each supported Python (its environment from tests/other_pythons.py) writes the same text
    python = sys.executable if sys.version_info[:2] == tuple(map(int, version.split("."))) \
        else str(other_pythons.require(version))
    result = subprocess.run([python, "-c", FINGERPRINT_SCRIPT, str(SESSIONS_PY)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == FINGERPRINT_500, python
