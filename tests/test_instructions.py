"""Tests for minigpt.instructions: the chat format, its SFT encoding and padding."""

from __future__ import annotations

import numpy as np
import pytest

from minigpt import GPT, GPTConfig
from minigpt.assistant import task_splits
from minigpt.instructions import (
    ASSISTANT,
    END,
    USER,
    encode_answer,
    encode_example,
    encode_prompt,
    format_example,
    format_prompt,
    pad_batch,
    right_pad,
)
from minigpt.tokenizer import SPECIAL_TOKENS, BPETokenizer, CharTokenizer

QUESTION = "What does `sorted('oar')` return?"
ANSWER = "The result is ['a', 'o', 'r']."
SHORT_QUESTION, SHORT_ANSWER = "Evaluate `2 + 3`.", "The result is 5."


@pytest.fixture(scope="module")
def conversations():
    return [format_example(e.question, e.answer) for e in task_splits(n_per_family=3, seed=0)["train"]]


@pytest.fixture(scope="module")
def char_tokenizer(conversations):
    text = "".join(conversations) + QUESTION + ANSWER + SHORT_QUESTION + SHORT_ANSWER
    return CharTokenizer.train(text, special_tokens=SPECIAL_TOKENS)


@pytest.fixture(scope="module")
def bpe_tokenizer(conversations):
    return BPETokenizer.train(" ".join(conversations), vocab_size=256 + 60 + len(SPECIAL_TOKENS))


def test_format():
    assert format_prompt(QUESTION) == f"{USER}{QUESTION}{ASSISTANT}"
    assert format_example(QUESTION, ANSWER) == f"{USER}{QUESTION}{ASSISTANT}{ANSWER}{END}"
    assert (USER, ASSISTANT, END) == SPECIAL_TOKENS[1:]


def test_prompt_and_answer_ids_make_the_conversation(bpe_tokenizer):
    prompt = encode_prompt(bpe_tokenizer, QUESTION)
    answer = encode_answer(bpe_tokenizer, ANSWER)
    assert bpe_tokenizer.decode(prompt) == format_prompt(QUESTION)
    assert prompt + answer == bpe_tokenizer.encode(format_example(QUESTION, ANSWER))
    assert encode_answer(bpe_tokenizer, ANSWER, ended=False) == answer[:-1]   # no <|end|>
    assert answer[-1] == bpe_tokenizer.special_tokens[END]


def test_right_pad():
    out = right_pad([[1, 2, 3], [4]], fill=-7)
    assert out.dtype == np.int64 and out.tolist() == [[1, 2, 3], [4, -7, -7]]
    with pytest.raises(ValueError, match="at least one"):
        right_pad([])


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
    short = encode_example(char_tokenizer, SHORT_QUESTION, SHORT_ANSWER, 200)
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
    short = encode_example(char_tokenizer, SHORT_QUESTION, SHORT_ANSWER, 200)
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
