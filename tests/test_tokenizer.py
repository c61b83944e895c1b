"""Tests for minigpt.tokenizer: round trips, special tokens, training, save/load."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigpt.tokenizer import (
    DEFAULT_PATTERN,
    SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)

# A small, fixed training text: English with contractions, numbers,
# punctuation, runs of whitespace and some multi-byte characters (accents,
# CJK, emoji) so that merges inside multi-byte UTF-8 sequences get learned.
TRAIN_TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog didn't care; it's lazy.\n"
    "    Numbers: 12345, 2024, 3.14159 and 42 -- all the numbers!\n"
    "Café, naïve, résumé, café au lait. 日本語のテキスト、日本語。 🙂🙂 🚀 emoji 🙂\n"
    "def add(a, b):\n    return a + b  # add two numbers\n\n\n"
) * 3


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(TRAIN_TEXT, vocab_size=256 + 120 + len(SPECIAL_TOKENS))


# --- a naive reference trainer ------------------------------------------------


def naive_train(text, n_merges, pattern=DEFAULT_PATTERN):
    """Textbook BPE: recount all pairs in all chunks before every merge.

    Same conventions as minigpt: chunks from ``pattern``, overlapping pairs
    counted, most frequent pair first, ties to the smaller pair, merges applied
    left to right.
    """
    chunks = [list(c.encode("utf-8")) for c in re.findall(pattern, text)]
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = Counter()
        for chunk in chunks:
            counts.update(zip(chunk, chunk[1:]))
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        merged_chunks = []
        for chunk in chunks:
            out, i = [], 0
            while i < len(chunk):
                if i + 1 < len(chunk) and (chunk[i], chunk[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(chunk[i])
                    i += 1
            merged_chunks.append(out)
        chunks = merged_chunks
    return merges


@pytest.mark.parametrize(
    "text",
    [
        TRAIN_TEXT,
        "aaaaaaaaaa aaaa aaa aa a aaaaa",  # runs of one byte: overlapping pairs
        "abababab abab baba ab ba " * 5,
        "to be or not to be, that is the question: whether 'tis nobler in the mind",
    ],
)
def test_incremental_training_matches_naive_reference(text):
    n_merges = 60
    tok = BPETokenizer.train(text, vocab_size=256 + n_merges, special_tokens=())
    expected = naive_train(text, n_merges)
    assert tok.merges == expected


# --- a worked example, checked by hand ------------------------------------------


def test_known_merges_by_hand():
    # "aaabdaaabac" is one chunk. Byte ids: a=97, b=98, c=99, d=100.
    # Pair counts: (a,a)=4, (a,b)=2, others 1  -> merge (97, 97) -> 256
    #   tokens: [256, a, b, d, 256, a, b, a, c]
    # (256,a)=2 and (a,b)=2 tie; the smaller pair (97, 98) wins -> 257
    #   tokens: [256, 257, d, 256, 257, a, c]
    # (256,257)=2 is the only pair seen twice -> 258
    #   tokens: [258, d, 258, a, c]
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=259, special_tokens=())
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.vocab[256] == b"aa"
    assert tok.vocab[257] == b"ab"
    assert tok.vocab[258] == b"aaab"
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"


def test_merges_never_cross_chunk_boundaries():
    tok = BPETokenizer.train("ab ab ab ab ab", vocab_size=256 + 10, special_tokens=())
    for token_bytes in tok.vocab[256:]:
        # a space only ever starts a chunk, so it can only begin a token
        assert b" " not in token_bytes[1:]


# --- vocabulary size ------------------------------------------------------------


def test_bpe_vocab_size_is_exact(bpe):
    assert bpe.vocab_size == 256 + 120 + len(SPECIAL_TOKENS)
    assert len(bpe.merges) == 120
    assert len(bpe.vocab) == bpe.vocab_size
    # special tokens come last, in order
    assert list(bpe.special_tokens.values()) == list(range(256 + 120, bpe.vocab_size))


def test_bpe_vocab_size_too_small_raises():
    with pytest.raises(ValueError, match="at least 260"):
        BPETokenizer.train("hello", vocab_size=259)


def test_bpe_stops_early_when_text_runs_out_of_pairs():
    tok = BPETokenizer.train("abc", vocab_size=1000, special_tokens=("<|x|>",))
    # "abc" has only 2 pairs to merge ever: (a,b), then (ab,c)
    assert tok.merges == [(97, 98), (256, 99)]
    assert tok.vocab_size == 256 + 2 + 1


def test_char_vocab():
    tok = CharTokenizer.train("hello world", special_tokens=("<|end|>",))
    assert tok.chars == sorted(set("hello world"))
    assert tok.vocab_size == len(set("hello world")) + 1
    assert tok.special_tokens == {"<|end|>": len(set("hello world"))}


# --- round trips ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_bpe_round_trip_any_text(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text
    assert bpe.decode(bpe.encode(text, allowed_special="none")) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(SPECIAL_TOKENS))))
def test_bpe_round_trip_with_special_text(bpe, parts):
    text = "".join(parts)
    for allowed in ("all", "none", {"<|user|>"}):
        assert bpe.decode(bpe.encode(text, allowed_special=allowed)) == text


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_pretokenizer_chunks_cover_text(text):
    assert "".join(re.findall(DEFAULT_PATTERN, text)) == text


@given(st.text(alphabet=sorted(set(TRAIN_TEXT))))
def test_char_round_trip_on_its_alphabet(text):
    tok = CharTokenizer.train(TRAIN_TEXT)
    assert tok.decode(tok.encode(text)) == text


def test_round_trip_edge_cases(bpe):
    for text in ["", " ", "\n\n", "🙂", "a🙂b", "\x00", "\ufeff", "   trailing   ", TRAIN_TEXT]:
        assert bpe.decode(bpe.encode(text)) == text
    assert bpe.encode("") == []


def test_decode_accepts_numpy_arrays(bpe):
    ids = bpe.encode("The lazy dog")
    for dtype in (np.int64, np.int32, np.uint16):
        assert bpe.decode(np.array(ids, dtype=dtype)) == "The lazy dog"
    char = CharTokenizer.train("abc")
    assert char.decode(np.array([0, 1, 2])) == "abc"


def test_decode_of_cut_multibyte_char_uses_replacement(bpe):
    ids = bpe.encode("🙂", allowed_special="none")
    raw = list("🙂".encode("utf-8"))  # byte ids are the bytes themselves
    assert bpe.decode(raw[:2]) == "\ufffd"  # half an emoji: one replacement character
    assert bpe.decode([ord("a")] + raw[:3] + [ord("b")]) == "a\ufffdb"
    assert bpe.decode(ids) == "🙂"


def test_bpe_compresses(bpe):
    ids = bpe.encode(TRAIN_TEXT)
    assert len(ids) < len(TRAIN_TEXT.encode("utf-8")) / 2


# --- special tokens ------------------------------------------------------------


def test_special_tokens_encode_to_single_ids(bpe):
    for token, token_id in bpe.special_tokens.items():
        assert bpe.encode(token) == [token_id]
        assert bpe.decode([token_id]) == token
    text = "<|user|>hi<|end|><|assistant|>hello<|end|><|endoftext|>"
    ids = bpe.encode(text)
    specials = [i for i in ids if i in bpe.special_tokens.values()]
    expected = ("<|user|>", "<|end|>", "<|assistant|>", "<|end|>", "<|endoftext|>")
    assert specials == [bpe.special_tokens[t] for t in expected]


def test_special_tokens_never_appear_when_not_allowed(bpe):
    text = "<|user|>hi<|end|><|assistant|>hello<|end|><|endoftext|>" * 3
    special_ids = set(bpe.special_tokens.values())
    for allowed in ("none", set(), frozenset()):
        ids = bpe.encode(text, allowed_special=allowed)
        assert not special_ids & set(ids)
        assert bpe.decode(ids) == text
    # a subset: only <|end|> becomes a special id
    ids = bpe.encode(text, allowed_special={"<|end|>"})
    assert set(ids) & special_ids == {bpe.special_tokens["<|end|>"]}


def test_special_tokens_are_never_merged_into():
    text = ("hello<|endoftext|>world<|endoftext|>" * 50) + "<|endoftext|>" * 50
    tok = BPETokenizer.train(text, vocab_size=300)
    for pair in tok.merges:
        assert max(pair) < 256 + len(tok.merges)  # merges only use byte/merge ids
    for token_bytes in tok.vocab[256 : 256 + len(tok.merges)]:
        assert b"<|" not in token_bytes  # special text was cut out of training


def test_unknown_allowed_special_raises(bpe):
    with pytest.raises(ValueError, match="unknown special tokens"):
        bpe.encode("x", allowed_special={"<|nope|>"})
    with pytest.raises(ValueError, match="allowed_special"):
        bpe.encode("x", allowed_special="some")


def test_char_special_tokens():
    tok = CharTokenizer.train("ab<|end|>ba", special_tokens=("<|end|>",))
    assert tok.chars == ["a", "b"]  # special text is not part of the alphabet
    assert tok.encode("ab<|end|>") == [0, 1, 2]
    assert tok.decode([0, 1, 2]) == "ab<|end|>"


# --- errors --------------------------------------------------------------------


def test_char_unknown_character_raises_clear_error():
    tok = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match=r"'z'.*trained on text without it.*BPETokenizer"):
        tok.encode("abz")


@pytest.mark.parametrize("bad", [[-1], [10**6], [1.0], ["a"], [True], np.array([0.5]), np.array([[1, 2]])])
def test_decode_bad_ids_raises(bpe, bad):
    with pytest.raises(ValueError):
        bpe.decode(bad)


def test_decode_bad_id_message_names_id_and_range(bpe):
    n = bpe.vocab_size
    with pytest.raises(ValueError, match=rf"invalid token id {n} at position 1; valid ids are 0..{n - 1}"):
        bpe.decode([0, bpe.vocab_size])
    char = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match=r"invalid token id -1 .* valid ids are 0..2"):
        char.decode(np.array([0, -1]))


# --- determinism and save/load ---------------------------------------------------


def test_training_is_deterministic():
    a = BPETokenizer.train(TRAIN_TEXT, vocab_size=400)
    b = BPETokenizer.train(TRAIN_TEXT, vocab_size=400)
    assert a.to_dict() == b.to_dict()
    assert CharTokenizer.train(TRAIN_TEXT).to_dict() == CharTokenizer.train(TRAIN_TEXT).to_dict()


def test_bpe_save_load_round_trip(bpe, tmp_path):
    path = tmp_path / "tok.json"
    bpe.save(path)
    assert json.loads(path.read_text())["type"] == "bpe"
    for loaded in (BPETokenizer.load(path), load_tokenizer(path), load_tokenizer(str(path))):
        assert isinstance(loaded, BPETokenizer)
        assert loaded.to_dict() == bpe.to_dict()
        assert loaded.encode(TRAIN_TEXT) == bpe.encode(TRAIN_TEXT)
        assert loaded.vocab == bpe.vocab  # bytes rebuilt from the merges alone
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_char_save_load_round_trip(tmp_path):
    tok = CharTokenizer.train(TRAIN_TEXT, special_tokens=SPECIAL_TOKENS)
    path = tmp_path / "char.json"
    tok.save(path)
    loaded = load_tokenizer(path)
    assert isinstance(loaded, CharTokenizer)
    assert loaded.encode(TRAIN_TEXT + "<|end|>") == tok.encode(TRAIN_TEXT + "<|end|>")
    assert tokenizer_from_dict(tok.to_dict()).to_dict() == tok.to_dict()


def test_save_overwrites_existing_file(bpe, tmp_path):
    path = tmp_path / "tok.json"
    path.write_text("old contents")
    bpe.save(path)
    assert load_tokenizer(path).to_dict() == bpe.to_dict()


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        load_tokenizer(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError):
        BPETokenizer.load(tmp_path / "nope.json")


def _corrupt(d, **changes):
    d = json.loads(json.dumps(d))
    for key, value in changes.items():
        if value is ...:
            del d[key]
        else:
            d[key] = value
    return d


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"type": "wordpiece"}, "unknown tokenizer type"),
        ({"type": ...}, "unknown tokenizer type"),
        ({"version": 99}, "version"),
        ({"version": ...}, "missing key 'version'"),
        ({"merges": ...}, "missing key 'merges'"),
        ({"merges": "not a list"}, "'merges'.*should be list"),
        ({"merges": [[97, 98], [97]]}, "merge #1"),
        ({"merges": [[97, 9999]]}, "does not exist yet"),
        ({"pattern": "(unclosed"}, "not a valid regular expression"),
        ({"special_tokens": {"<|a|>": 5}}, "should have id"),
        ({"vocab_size": 7}, "vocab_size"),
    ],
)
def test_load_corrupt_bpe_file_raises(bpe, tmp_path, changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_corrupt(bpe.to_dict(), **changes)))
    with pytest.raises(ValueError, match=message) as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)  # the error names the file


def test_load_invalid_json_raises(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"type": "bpe", "merges": [[1, 2]')  # truncated
    with pytest.raises(ValueError, match="not a valid tokenizer JSON"):
        load_tokenizer(path)
    path.write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match="JSON object"):
        load_tokenizer(path)


def test_load_wrong_kind_raises(bpe, tmp_path):
    path = tmp_path / "bpe.json"
    bpe.save(path)
    with pytest.raises(ValueError, match="'bpe' tokenizer, not a 'char'"):
        CharTokenizer.load(path)


def test_char_from_dict_validates():
    good = CharTokenizer.train("abc").to_dict()
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer.from_dict(_corrupt(good, chars=["a", "bc"]))
    with pytest.raises(ValueError, match="missing key 'chars'"):
        CharTokenizer.from_dict(_corrupt(good, chars=...))
    with pytest.raises(ValueError, match="expected tokenizer type 'char'"):
        CharTokenizer.from_dict(_corrupt(good, type="bpe"))


# defect class: a pattern loaded from JSON could make encode exponential (catastrophic backtracking)
def test_patterns_from_files_must_be_known(bpe, tmp_path, monkeypatch):
    import minigpt.tokenizer as tokenizer_module

    evil = r"(?:a+)+$|a|\s+|[^a\s]+"  # covers any text, and backtracks exponentially on "aaa...a!"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(_corrupt(bpe.to_dict(), pattern=evil)))
    with pytest.raises(ValueError, match="KNOWN_PATTERNS") as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)
    # a pattern you trust (your own) is accepted once you add it
    monkeypatch.setattr(tokenizer_module, "KNOWN_PATTERNS", tokenizer_module.KNOWN_PATTERNS | {evil})
    assert load_tokenizer(path).pattern == evil


# defect class: smaller validation gaps -- a custom BPE pattern silently dropped text
@pytest.mark.parametrize("pattern, message", [(r"\w+", "does not match"), (r"(\w+)|\W+", "capturing group")])
def test_custom_pattern_must_keep_every_character(pattern, message):
    with pytest.raises(ValueError, match=message):
        BPETokenizer.train("hello world, hello there", 270, pattern=pattern)
    if message == "does not match":
        tok = BPETokenizer([], (), pattern=pattern)
        with pytest.raises(ValueError, match=message):
            tok.encode("hello world")
    # a pattern that covers everything is fine
    tok = BPETokenizer.train("hello world, hello there", 270, pattern=r"\w+|\W+")
    assert tok.decode(tok.encode("hello world!")) == "hello world!"


def test_digits_pattern_gives_every_digit_its_own_token():
    from minigpt.tokenizer import DIGITS_PATTERN

    text = ">>> 68 + 89\n157\n>>> sum([9, 6, 6])\n21\n" * 40 + "x = 12345 + 678\n" * 40
    plain = BPETokenizer.train(text, 320, special_tokens=())
    digits = BPETokenizer.train(text, 320, special_tokens=(), pattern=DIGITS_PATTERN)
    pieces = [digits.decode([i]) for i in digits.encode("y = 157 + 21 and 12345")]
    assert all(len(p) == 1 for p in pieces if any(c.isdigit() for c in p))
    assert any(len(plain.decode([i])) > 1 and plain.decode([i]).strip().isdigit()
               for i in plain.encode("157 12345"))  # GPT-2's pattern lets BPE merge digits
    assert digits.decode(digits.encode(text)) == text
    # a tokenizer trained with it can be saved and loaded (it is a known pattern)
    assert BPETokenizer.from_dict(digits.to_dict()).encode(text) == digits.encode(text)
