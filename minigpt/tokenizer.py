"""Tokenizers: turn text into integer ids and back (chapter 1).

Two tokenizers live here:

* ``CharTokenizer`` -- one id per character. Tiny vocabulary, long sequences,
  and it can only encode characters it saw during training. Good for a first
  model on a single fixed text (e.g. Shakespeare).
* ``BPETokenizer`` -- byte-level Byte Pair Encoding, the scheme GPT-2 uses.
  Every string can be encoded (ids 0..255 are the raw UTF-8 bytes), and
  frequent byte sequences get their own ids, so sequences are much shorter.

Both support *special tokens* such as ``<|endoftext|>``: strings that map to a
single reserved id and are never produced by merging ordinary text.

Both save to and load from plain JSON (never pickle: loading a pickle can run
arbitrary code, loading JSON cannot).  A BPE tokenizer's pre-tokenisation pattern is
loaded only if it is one of ``KNOWN_PATTERNS``: a crafted regular expression could make
``encode`` run for ever.
"""

from __future__ import annotations

import heapq
import json
import numbers
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .fileio import atomic_write

__all__ = [
    "SPECIAL_TOKENS",
    "DEFAULT_PATTERN",
    "KNOWN_PATTERNS",
    "CharTokenizer",
    "BPETokenizer",
    "tokenizer_from_dict",
    "load_tokenizer",
]

# Default special tokens for the chat format used later in the book.
SPECIAL_TOKENS = ("<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>")

# GPT-2's pre-tokenisation pattern, rewritten for Python's ``re`` module.
# GPT-2 writes it with Unicode properties that ``re`` does not support:
#     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# We use equivalents built from ``re``'s Unicode-aware classes:
#     letters  \p{L}           ->  [^\W\d_]      (word chars that are not digits or "_")
#     digits   \p{N}           ->  \d
#     other    [^\s\p{L}\p{N}] ->  [^\s\w]|_     (not space, not letter/digit; "_" counts as a symbol)
# (Small differences remain: e.g. "½" is in \w but not \d, so it counts as a
# letter here.) Every character falls in exactly one class, so the chunks
# always cover the whole text and joining them gives the text back.
DEFAULT_PATTERN = (
    r"'(?:[sdmt]|ll|ve|re)"  # English contractions: 's 't 'd 'm 'll 've 're
    r"| ?[^\W\d_]+"  # a word, with its leading space
    r"| ?\d+"  # a number, with its leading space
    r"| ?(?:[^\s\w]|_)+"  # punctuation / symbols, with its leading space
    r"|\s+(?!\S)"  # whitespace, leaving the last space to start the next word
    r"|\s+"  # any remaining whitespace (e.g. at the very end)
)

# The same, but every digit is a pre-token of its own, so BPE can never merge digits:
# GPT-2's pattern keeps a number whole and BPE then merges its digits unevenly ("157" ->
# "15" "7", but "21" -> "2" "1"), so the model sees the same digit in different tokens.
# Splitting digits (as LLaMA does) gives every number the same shape: one token a digit.
# Chapter 1 measures both on the Python corpus.
DIGITS_PATTERN = DEFAULT_PATTERN.replace(r"| ?\d+", r"|\d")

# The patterns ``BPETokenizer.from_dict`` (so ``load``, ``load_tokenizer`` and
# ``load_checkpoint``) accepts from a file.  Some regular expressions take time
# exponential in the length of the text they fail to match -- "catastrophic
# backtracking", e.g. (a+)+$ on "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" -- and Python's ``re``
# cannot be stopped once it starts, so a tokenizer file from elsewhere with such a pattern
# would make ``encode`` hang.  We cannot tell safe patterns from dangerous ones in
# general, so a file may only use a pattern listed here.  Code you write may use any
# pattern (``BPETokenizer.train(text, n, pattern=...)``); to load a tokenizer saved with
# your own pattern, add it first: ``minigpt.tokenizer.KNOWN_PATTERNS.add(my_pattern)``.
KNOWN_PATTERNS = {DEFAULT_PATTERN, DIGITS_PATTERN}

FORMAT_VERSION = 1  # bump when the JSON layout changes

# How many distinct chunks ``BPETokenizer.encode`` remembers. When full, the
# cache is simply emptied: crude, but bounded and good enough for text with a
# Zipf-like word distribution.
_CACHE_LIMIT = 100_000


# ----------------------------------------------------------------------------
# Helpers shared by both tokenizers
# ----------------------------------------------------------------------------


def _check_special_tokens(special_tokens) -> list[str]:
    """Validate a sequence of special-token strings and return it as a list."""
    if isinstance(special_tokens, str):
        # A common slip: special_tokens="<|endoftext|>" would otherwise be
        # treated as 13 one-character special tokens.
        raise TypeError("special_tokens must be a sequence of strings, not a single string")
    tokens = list(special_tokens)
    for token in tokens:
        if not isinstance(token, str) or token == "":
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"special tokens must be unique, got {tokens!r}")
    return tokens


def _compile_pattern(pattern: str):
    """Compile a pre-tokenisation pattern, refusing capturing groups: with a group,
    ``findall`` returns the group instead of the whole match, and text is lost."""
    regex = re.compile(pattern)
    if regex.groups:
        raise ValueError(
            f"pattern {pattern!r} has a capturing group; write groups as (?:...) so that every "
            "match is a whole chunk"
        )
    return regex


def _chunks(regex, piece: str) -> list[str]:
    """Cut ``piece`` into chunks with the pattern, checking that no character is lost.

    The matches never overlap, so they cover the piece exactly when their lengths add up
    to its length.  A pattern that skips characters (e.g. ``\\w+`` skips spaces) would
    otherwise drop them in silence: decode(encode(text)) would not give text back.
    """
    chunks = regex.findall(piece)
    if sum(map(len, chunks)) != len(piece):
        covered = {i for m in regex.finditer(piece) for i in range(m.start(), m.end())}
        first = next(i for i in range(len(piece)) if i not in covered)
        raise ValueError(
            f"the tokenizer's pattern does not match every character of the text (it skips "
            f"{piece[first]!r} at position {first}), so that text would be dropped; use a pattern "
            "whose alternatives cover any character, such as DEFAULT_PATTERN"
        )
    return chunks


def _check_merge(i: int, pair) -> tuple[int, int]:
    """Merge number ``i`` creates id ``256 + i`` from two ids that already exist."""
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2
            and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in pair)):
        raise ValueError(f"merge #{i} should be a pair of integer ids [a, b], got {pair!r}")
    if not all(0 <= x < 256 + i for x in pair):
        raise ValueError(f"merge #{i} {list(pair)} (creating id {256 + i}) refers to an id that "
                         f"does not exist yet (must be < {256 + i})")
    return int(pair[0]), int(pair[1])


def _merge_pair(ids, pair, new_id) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids`` (left to right)."""
    first, second = pair
    out = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class _TokenizerBase:
    """What both tokenizers share: special tokens, id checks, JSON save/load.

    Subclasses set ``self.special_tokens`` (str -> id) and ``self.vocab_size``
    and implement ``to_dict`` / ``from_dict``.
    """

    TYPE = ""  # "char" or "bpe"; stored in the JSON so loading can dispatch

    special_tokens: dict[str, int]
    vocab_size: int

    def _init_special_splitter(self):
        """Set up what ``_split_on_special`` needs."""
        self._all_special = frozenset(self.special_tokens)
        self._special_regex = {}  # cache: frozenset of allowed tokens -> compiled regex

    def _resolve_allowed_special(self, allowed_special) -> frozenset:
        """Turn the ``allowed_special`` argument into a set of special strings."""
        if isinstance(allowed_special, str):
            if allowed_special == "all":
                return self._all_special
            if allowed_special == "none":
                return frozenset()
            raise ValueError(
                f"allowed_special must be 'all', 'none' or a set of special token strings, "
                f"got {allowed_special!r}"
            )
        allowed = frozenset(allowed_special)
        unknown = allowed - self._all_special
        if unknown:
            raise ValueError(
                f"unknown special tokens {sorted(unknown)!r}; this tokenizer's special tokens "
                f"are {sorted(self._all_special)!r}"
            )
        return allowed

    def _split_on_special(self, text: str, allowed_special):
        """Yield ``(piece, is_special)`` pieces of ``text``, in order.

        Allowed special-token strings come out as their own pieces (with
        ``is_special=True``); everything else is ordinary text.
        """
        allowed = self._resolve_allowed_special(allowed_special)
        if not allowed:
            if text:
                yield text, False
            return
        regex = self._special_regex.get(allowed)
        if regex is None:
            # Longest first, so that if one special token is a prefix of
            # another, the longer one wins.
            alternatives = sorted(allowed, key=len, reverse=True)
            # The capturing group makes re.split keep the separators.
            regex = re.compile("(" + "|".join(re.escape(s) for s in alternatives) + ")")
            self._special_regex[allowed] = regex
        # re.split with one group alternates: text, special, text, special, ..., text
        for index, piece in enumerate(regex.split(text)):
            is_special = index % 2 == 1
            if piece or is_special:
                yield piece, is_special

    def _check_ids(self, ids) -> list[int]:
        """Return ``ids`` as a list of Python ints, or raise a clear ValueError."""
        valid = f"valid ids are 0..{self.vocab_size - 1}"
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"decode expects a 1-D sequence of ids, got an array of shape {ids.shape}")
            if ids.dtype.kind not in "iu":
                raise ValueError(f"token ids must be integers, got an array of dtype {ids.dtype}")
            # Vectorised range check, so decoding a long array stays fast.
            bad = np.flatnonzero((ids < 0) | (ids >= self.vocab_size))
            if bad.size:
                pos = int(bad[0])
                raise ValueError(f"invalid token id {int(ids[pos])} at position {pos}; {valid}")
            return ids.tolist()
        out = []
        for pos, token_id in enumerate(ids):
            # bool is a subclass of int in Python, but True is not a token id.
            is_int = isinstance(token_id, (int, np.integer)) and not isinstance(token_id, (bool, np.bool_))
            if not is_int:
                raise ValueError(f"invalid token id {token_id!r} at position {pos}: not an integer; {valid}")
            if not 0 <= token_id < self.vocab_size:
                raise ValueError(f"invalid token id {token_id} at position {pos}; {valid}")
            out.append(int(token_id))
        return out

    # --- saving and loading -------------------------------------------------

    def to_dict(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d):  # pragma: no cover - overridden
        raise NotImplementedError

    def save(self, path) -> None:
        """Write the tokenizer to ``path`` as JSON.

        The file is written to a temporary file in the same directory and then
        renamed over ``path``: a crash half-way through never leaves a
        truncated tokenizer file behind (``os.replace`` is atomic).
        """
        text = json.dumps(self.to_dict(), indent=1)
        atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path):
        """Read a tokenizer of this class from a JSON file written by ``save``."""
        d = _read_json(path)
        found = d.get("type") if isinstance(d, dict) else None
        if found != cls.TYPE and found in _TOKENIZER_TYPES:
            raise ValueError(
                f"{path}: file holds a {found!r} tokenizer, not a {cls.TYPE!r} one; "
                f"use minigpt.tokenizer.load_tokenizer to load either kind"
            )
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise ValueError(f"{path}: invalid tokenizer file: {e}") from None


# ----------------------------------------------------------------------------
# Character-level tokenizer
# ----------------------------------------------------------------------------


class CharTokenizer(_TokenizerBase):
    """One id per character: ids ``0..n_chars-1`` are the sorted characters of
    the training text, then come the special tokens.

    It can only encode characters it saw in training; use ``BPETokenizer`` for
    open-ended text.
    """

    TYPE = "char"

    def __init__(self, chars, special_tokens=()):
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("CharTokenizer characters must be unique")
        for c in self.chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharTokenizer vocabulary entries must be single characters, got {c!r}")
        specials = _check_special_tokens(special_tokens)
        n = len(self.chars)
        self.special_tokens = {token: n + i for i, token in enumerate(specials)}
        self.vocab_size = n + len(specials)
        # string-to-id and id-to-string tables; specials decode to their text
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = self.chars + specials
        self._init_special_splitter()

    @classmethod
    def train(cls, text: str, special_tokens=()) -> CharTokenizer:
        """Build the vocabulary from the distinct characters of ``text``.

        Occurrences of the special-token strings in ``text`` are not counted
        as ordinary characters: they stand for their own single ids.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        specials = _check_special_tokens(special_tokens)
        for token in sorted(specials, key=len, reverse=True):
            text = text.replace(token, "")
        return cls(sorted(set(text)), specials)

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Encode ``text`` to a list of ids (see ``BPETokenizer.encode`` for ``allowed_special``)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = []
        for piece, is_special in self._split_on_special(text, allowed_special):
            if is_special:
                ids.append(self.special_tokens[piece])
                continue
            try:
                ids.extend([self.stoi[c] for c in piece])
            except KeyError as e:
                char = e.args[0]
                raise ValueError(
                    f"character {char!r} (U+{ord(char):04X}) is not in this CharTokenizer's vocabulary: "
                    f"it was trained on text without it. Train on text that contains it, or use "
                    f"BPETokenizer, which can encode any text."
                ) from None
        return ids

    def decode(self, ids) -> str:
        """Turn ids (a list or 1-D integer array) back into text."""
        itos = self.itos
        return "".join(itos[i] for i in self._check_ids(ids))

    def to_dict(self) -> dict:
        return {
            "type": self.TYPE,
            "version": FORMAT_VERSION,
            "chars": self.chars,
            "special_tokens": dict(self.special_tokens),
        }

    @classmethod
    def from_dict(cls, d) -> CharTokenizer:
        _check_header(d, cls.TYPE)
        chars = _require(d, "chars", list, cls.TYPE)
        mapping = _require(d, "special_tokens", dict, cls.TYPE)
        return _check_special_ids(cls(chars, list(mapping)), mapping)

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size}, special_tokens={list(self.special_tokens)})"


# ----------------------------------------------------------------------------
# Byte-level BPE tokenizer
# ----------------------------------------------------------------------------


class BPETokenizer(_TokenizerBase):
    """Byte-level Byte Pair Encoding (as in GPT-2).

    Ids:
      * ``0..255``                      the raw bytes of the UTF-8 encoding,
      * ``256..256+n_merges-1``         merged tokens, in the order they were learned,
      * ``256+n_merges..vocab_size-1``  the special tokens.

    Text is first cut into chunks with ``pattern`` (words with their leading
    space, numbers, punctuation runs, whitespace); merges never cross chunk
    boundaries, so a token never glues the end of one word to the next.
    """

    TYPE = "bpe"

    def __init__(self, merges, special_tokens=SPECIAL_TOKENS, pattern=DEFAULT_PATTERN):
        self.merges = [_check_merge(i, pair) for i, pair in enumerate(merges)]
        self.pattern = pattern
        self._regex = _compile_pattern(pattern)
        # vocab[i] is the byte string token i stands for; each merged token is
        # the concatenation of its two parts, so the merges alone define it.
        self.vocab = [bytes([b]) for b in range(256)]
        # The rank of a merge is the id it creates: lower id = learned earlier.
        self.ranks = {}
        for pair in self.merges:
            new_id = len(self.vocab)
            left, right = pair
            if pair in self.ranks:
                raise ValueError(f"merge {list(pair)} appears twice")
            self.ranks[pair] = new_id
            self.vocab.append(self.vocab[left] + self.vocab[right])
        specials = _check_special_tokens(special_tokens)
        first_special = len(self.vocab)
        self.special_tokens = {token: first_special + i for i, token in enumerate(specials)}
        self.vocab.extend(token.encode("utf-8") for token in specials)
        self.vocab_size = len(self.vocab)
        self._cache = {}  # chunk string -> tuple of ids
        self._init_special_splitter()

    @property
    def n_merges(self) -> int:
        return len(self.merges)

    # --- training -----------------------------------------------------------

    @classmethod
    def train(
        cls, text: str, vocab_size: int, special_tokens=SPECIAL_TOKENS, pattern=DEFAULT_PATTERN
    ) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Each step merges the most frequent adjacent pair of tokens (ties go to
        the pair with the smaller ids, so training is deterministic). If the
        text runs out of pairs before reaching ``vocab_size`` (tiny texts),
        training stops early and the tokenizer's ``vocab_size`` is smaller
        than requested.

        Special-token strings in ``text`` are cut out before training: they
        get their own ids and are never part of a merge.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        specials = _check_special_tokens(special_tokens)
        if not isinstance(vocab_size, (int, np.integer)) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
        minimum = 256 + len(specials)
        if vocab_size < minimum:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: a byte-level BPE needs 256 byte tokens "
                f"+ {len(specials)} special tokens = at least {minimum}"
            )
        n_merges = int(vocab_size) - minimum

        # 1. Pre-tokenise. The same chunk ("the", " and", ...) occurs
        #    thousands of times, so we keep each *distinct* chunk once, with a
        #    count, and weight everything by that count.
        regex = _compile_pattern(pattern)
        chunk_counts = Counter()
        for piece in _split_out(text, specials):
            chunk_counts.update(_chunks(regex, piece))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # each chunk as token ids
        freqs = list(chunk_counts.values())

        # 2. Learn the merges (the interesting part; see _learn_merges).
        merges = _learn_merges(words, freqs, n_merges)
        return cls(merges, specials, pattern)

    # --- encoding and decoding ----------------------------------------------

    def _encode_chunk(self, chunk: str) -> tuple:
        """Encode one pre-tokenised chunk by replaying the merges.

        Each step scans the whole chunk, so time grows with the square of the
        chunk's length. Chunks are words, so this is fine for real text; a
        single 100,000-letter "word" takes about a second.
        """
        ids = list(chunk.encode("utf-8"))
        ranks = self.ranks
        no_merge = self.vocab_size  # larger than every rank
        while len(ids) >= 2:
            # Apply the earliest-learned merge that is possible here. That is
            # exactly the order training applied them in, so we get the same
            # tokens training would have produced.
            best = min(zip(ids, ids[1:]), key=lambda pair: ranks.get(pair, no_merge))
            if best not in ranks:
                break  # no adjacent pair was ever merged: done
            ids = _merge_pair(ids, best, ranks[best])
        return tuple(ids)

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Encode ``text`` to a list of ids.

        ``allowed_special`` says which special-token strings in ``text`` become
        their special id: ``"all"`` (default), ``"none"`` (or an empty set), or
        a set of special-token strings. Special text that is not allowed is
        encoded as ordinary text (several byte/merge ids).

        Strings with lone surrogates (not valid Unicode) cannot be UTF-8
        encoded and raise ``UnicodeEncodeError``.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = []
        cache = self._cache
        for piece, is_special in self._split_on_special(text, allowed_special):
            if is_special:
                ids.append(self.special_tokens[piece])
                continue
            for chunk in _chunks(self._regex, piece):
                chunk_ids = cache.get(chunk)
                if chunk_ids is None:
                    chunk_ids = self._encode_chunk(chunk)
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[chunk] = chunk_ids
                ids.extend(chunk_ids)
        return ids

    def decode(self, ids) -> str:
        """Turn ids (a list or 1-D integer array) back into text.

        Any id sequence can be decoded: if it cuts a multi-byte UTF-8
        character in half, the broken bytes become U+FFFD, the replacement
        character.
        """
        vocab = self.vocab
        data = b"".join(vocab[i] for i in self._check_ids(ids))
        return data.decode("utf-8", errors="replace")

    # --- serialisation -------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "type": self.TYPE,
            "version": FORMAT_VERSION,
            "vocab_size": self.vocab_size,  # for readers of the file; checked on load
            "pattern": self.pattern,
            "merges": [list(pair) for pair in self.merges],
            "special_tokens": dict(self.special_tokens),
        }

    @classmethod
    def from_dict(cls, d) -> BPETokenizer:
        """Rebuild a tokenizer from ``to_dict()`` data, e.g. read from a file.

        The data may come from anyone, so everything is checked, and the pattern must be
        one of ``KNOWN_PATTERNS``: a regular expression can be written to backtrack
        catastrophically (``encode`` would then take exponential time), and an allow-list
        is the only sure way to rule that out.  Add your own pattern to KNOWN_PATTERNS to
        load a tokenizer you trained with it.
        """
        _check_header(d, cls.TYPE)
        pattern = _require(d, "pattern", str, cls.TYPE)
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"'pattern' is not a valid regular expression: {e}") from None
        if pattern not in KNOWN_PATTERNS:
            raise ValueError(
                f"'pattern' {pattern[:60]!r}{'...' if len(pattern) > 60 else ''} is not one of "
                "minigpt.tokenizer.KNOWN_PATTERNS; a pattern from a file could make encoding take "
                "forever, so only known ones are loaded. If you trust it (you trained this tokenizer "
                "with it), add it: minigpt.tokenizer.KNOWN_PATTERNS.add(pattern)"
            )
        merges = _require(d, "merges", list, cls.TYPE)  # each pair is checked by __init__
        mapping = _require(d, "special_tokens", dict, cls.TYPE)
        tokenizer = _check_special_ids(cls(merges, list(mapping), pattern), mapping)
        if "vocab_size" in d and d["vocab_size"] != tokenizer.vocab_size:
            raise ValueError(
                f"'vocab_size' says {d['vocab_size']!r} but merges and special tokens give {tokenizer.vocab_size}"
            )
        return tokenizer

    def __repr__(self):
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, n_merges={self.n_merges}, "
            f"special_tokens={list(self.special_tokens)})"
        )


def _split_out(text: str, specials) -> list[str]:
    """Cut the special-token strings out of ``text`` (for training)."""
    if not specials:
        return [text]
    regex = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))
    return regex.split(text)


def _learn_merges(words: list[list[int]], freqs: list[int], n_merges: int) -> list[tuple[int, int]]:
    """The BPE training loop, with incremental pair counts.

    ``words[i]`` is a distinct chunk as token ids and occurs ``freqs[i]`` times.
    A naive trainer recounts every pair of every chunk after every merge. We
    instead keep

    * ``pair_counts``: pair -> how often it occurs (weighted by chunk frequency),
    * ``where``: pair -> indices of the chunks that contain it,
    * ``heap``: a max-heap of ``(-count, pair)`` to find the top pair quickly,

    and after each merge only touch the chunks that contained the merged pair.
    The heap uses *lazy deletion*: when a count changes we push a new entry
    and leave the old one in place; an entry whose count no longer matches
    ``pair_counts`` is stale and is skipped when popped.
    """
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for index, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + freq
            where.setdefault(pair, set()).add(index)

    # heapq is a min-heap, so store -count. Ties in count fall through to the
    # pair itself, so the pair with the smaller ids wins: deterministic.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    next_id = 256
    while len(merges) < n_merges and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -neg_count:
            continue  # stale entry: this pair's count has changed since it was pushed
        new_id = next_id
        next_id += 1
        merges.append(pair)

        # Re-tokenise only the chunks containing the pair, and collect the
        # net change of every pair count they cause.
        delta: dict[tuple[int, int], int] = {}
        for index in where.pop(pair):
            old = words[index]
            new = _merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue  # stale index: an earlier merge already removed the pair here
            freq = freqs[index]
            for p in zip(old, old[1:]):
                delta[p] = delta.get(p, 0) - freq
            for p in zip(new, new[1:]):
                delta[p] = delta.get(p, 0) + freq
                if new_id in p:  # only pairs with the new token are new to this chunk
                    where.setdefault(p, set()).add(index)
            words[index] = new

        for p, change in delta.items():
            if change == 0:
                continue  # pair untouched on balance (e.g. far from the merge)
            count = pair_counts.get(p, 0) + change
            if count > 0:
                pair_counts[p] = count
                heapq.heappush(heap, (-count, p))
            else:
                pair_counts.pop(p, None)
    return merges


# ----------------------------------------------------------------------------
# Loading either kind
# ----------------------------------------------------------------------------

_TOKENIZER_TYPES = {"char": CharTokenizer, "bpe": BPETokenizer}


def tokenizer_from_dict(d) -> CharTokenizer | BPETokenizer:
    """Rebuild a tokenizer from ``to_dict()`` output, whichever kind it is."""
    if not isinstance(d, dict):
        raise ValueError(f"tokenizer data must be a JSON object, got {type(d).__name__}")
    kind = d.get("type")
    if kind not in _TOKENIZER_TYPES:
        raise ValueError(f"unknown tokenizer type {kind!r}; expected one of {sorted(_TOKENIZER_TYPES)}")
    return _TOKENIZER_TYPES[kind].from_dict(d)


def load_tokenizer(path) -> CharTokenizer | BPETokenizer:
    """Load a tokenizer saved with ``.save(path)``, whichever kind it is."""
    d = _read_json(path)
    try:
        return tokenizer_from_dict(d)
    except ValueError as e:
        raise ValueError(f"{path}: invalid tokenizer file: {e}") from None


# ----------------------------------------------------------------------------
# Reading tokenizer files: the checks behind from_dict and load
# ----------------------------------------------------------------------------


def _read_json(path):
    """Parse a JSON file, turning the usual failures into clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a valid tokenizer JSON file ({e})") from None


def _require(d, key, kind, what):
    """Fetch ``d[key]`` and check its type, for readable ``from_dict`` errors."""
    if key not in d:
        raise ValueError(f"missing key {key!r} in {what} tokenizer data")
    value = d[key]
    # bool is an int subclass; a version of True is a corrupt file, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(
            f"key {key!r} in {what} tokenizer data should be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _check_header(d, expected_type):
    """Check that ``d`` is a dict of the expected tokenizer type and version."""
    if not isinstance(d, dict):
        raise ValueError(f"tokenizer data must be a JSON object, got {type(d).__name__}")
    found = d.get("type")
    if found != expected_type:
        raise ValueError(f"expected tokenizer type {expected_type!r}, got {found!r}")
    version = _require(d, "version", int, expected_type)
    if version != FORMAT_VERSION:
        raise ValueError(
            f"unsupported tokenizer format version {version} (this code reads version {FORMAT_VERSION})"
        )


def _check_special_ids(tokenizer, mapping):
    """The ids a file gives its special tokens must be the ones the tokenizer gives them:
    the ids right after the ordinary tokens, in order."""
    for token, expected in tokenizer.special_tokens.items():
        found = mapping[token]
        if found != expected or isinstance(found, bool):
            raise ValueError(f"special token {token!r} should have id {expected}, got {found!r}")
    return tokenizer