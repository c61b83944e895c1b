"""The chat format: a question and its answer as one sequence of tokens (chapter 9).

A conversation is one string with three of the special tokens of
``minigpt.tokenizer.SPECIAL_TOKENS``::

    <|user|>What does `sorted('oar')` return?<|assistant|>The result is ['a', 'o', 'r'].<|end|>
    '-------------------- the prompt --------------------''-------- the answer --------''-end-'

At generation time we feed the prompt and let the model write until it produces
``<|end|>``. ``format_prompt`` and ``format_example`` write the text; ``encode_prompt`` and
``encode_answer`` turn its parts into ids (the markers by id, the words as plain text);
``encode_example`` gives the ids and loss targets of supervised fine-tuning (SFT), with the
prompt masked; ``right_pad`` and ``pad_batch`` stack examples of different lengths into a
batch. What is asked and answered in this format is the Python assistant task of
``minigpt.assistant``.
"""

from __future__ import annotations

import numpy as np

from .layers import IGNORE_INDEX  # targets the loss skips: the prompt and the padding
from .tokenizer import SPECIAL_TOKENS

__all__ = [
    "USER",
    "ASSISTANT",
    "END",
    "IGNORE_INDEX",
    "format_prompt",
    "format_example",
    "encode_prompt",
    "encode_answer",
    "encode_example",
    "right_pad",
    "pad_batch",
]

# The chat markers: three of the tokenizer's special tokens ("<|user|>", "<|assistant|>",
# "<|end|>"), each a single token id.
_, USER, ASSISTANT, END = SPECIAL_TOKENS


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
