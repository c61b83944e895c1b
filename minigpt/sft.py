"""Supervised fine-tuning (SFT): teaching a pretrained GPT to answer in the chat format (chapter 9).

The model and the loss are unchanged from pre-training; only the data differ.  Each
example is one conversation ``<|user|>question<|assistant|>answer<|end|>`` and the loss
is taken on the answer and end tokens only (the prompt's targets are -1, see
``minigpt.instructions.encode_example``), so the model learns to answer, and to stop.
"""

from __future__ import annotations

import numpy as np

from .instructions import END, encode_example, encode_prompt, pad_batch
from .sampling import as_generator
from .train import TrainConfig, run_training


def encode_dataset(tokenizer, examples, block_size):
    """(ids, targets) pairs for a list of example dicts (keys question, answer).

    Examples longer than block_size are dropped; returns (pairs, kept_examples)."""
    pairs, kept = [], []
    for ex in examples:
        try:
            pairs.append(encode_example(tokenizer, ex["question"], ex["answer"], block_size))
        except ValueError:
            continue
        kept.append(ex)
    return pairs, kept


def sft_loss(model, pairs, batch_size=64) -> float:
    """Mean loss per answer token over all ``pairs`` (every token counts once)."""
    if len(pairs) == 0:
        raise ValueError("sft_loss needs at least one (ids, targets) pair; got none (were all the examples "
                         "longer than block_size and dropped by encode_dataset?)")
    total, count = 0.0, 0
    for start in range(0, len(pairs), batch_size):
        x, y = pad_batch(pairs[start:start + batch_size])
        n = int((y != -1).sum())
        _, loss = model.forward(x, y)
        total += loss * n
        count += n
    model.release()
    return total / count


def train_sft(model, train_pairs, val_pairs, config: TrainConfig, *, progress=True, **kwargs) -> dict:
    """Fine-tune ``model`` on (ids, targets) pairs; returns the history.

    Each step draws ``config.batch_size`` examples with ``default_rng([seed, step])``;
    evaluation reports the loss over all validation pairs and over an equally large
    fixed sample of training pairs.
    """
    for what, pairs in (("train_pairs", train_pairs), ("val_pairs", val_pairs)):
        if len(pairs) == 0:
            raise ValueError(f"train_sft: {what} is empty; encode_dataset drops examples longer than "
                             "block_size, so check the data or use a larger block_size")
    n_eval = min(len(train_pairs), len(val_pairs))
    eval_rows = np.random.default_rng([config.seed, 1]).choice(len(train_pairs), n_eval, replace=False)
    train_eval = [train_pairs[i] for i in eval_rows]

    def batch_for_step(step):
        rows = np.random.default_rng([config.seed, step]).integers(0, len(train_pairs), config.batch_size)
        return pad_batch([train_pairs[i] for i in rows])

    def evaluate():
        return sft_loss(model, train_eval), sft_loss(model, val_pairs)

    return run_training(model, batch_for_step, evaluate, config, progress=progress, desc="SFT", **kwargs)


def prompt_ids(tokenizer, question) -> np.ndarray:
    """The chat prompt for ``question`` as ids: <|user|> question <|assistant|>, the
    markers added by id and the question encoded as plain text (as in encode_example)."""
    return np.array(encode_prompt(tokenizer, question), dtype=np.int64)


def answer_prompts(model, prompts, end_id, max_new_tokens, rng, temperature=1.0):
    """Answer each prompt (a list of 1-D id arrays) by sampling until ``end_id``.

    Prompts of equal length are generated together (no padding needed, so causal
    attention sees exactly what it would for one prompt).  Returns a list of 1-D arrays:
    each answer's ids, ending with ``end_id`` if the model produced it.
    """
    answers = [None] * len(prompts)
    lengths = np.array([len(p) for p in prompts])
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        batch = np.stack([prompts[i] for i in rows])
        budget = min(max_new_tokens, model.config.block_size - int(length))
        out = model.generate(batch, budget, temperature=temperature, seed=rng, stop_token=end_id)
        for row, seq in zip(rows, out):
            answer = seq[length:]
            stop = np.flatnonzero(answer == end_id)
            answers[row] = answer[: stop[0] + 1] if len(stop) else answer
    return answers


def answer_questions(model, tokenizer, questions, max_new_tokens=40, temperature=1.0, seed=0):
    """Text answers to a list of questions.  Returns a list of (answer_text, ended)."""
    replies = sample_replies(model, tokenizer, questions, 1, max_new_tokens, temperature, seed)
    return [(text, ended) for ((text, ended, _),) in replies]


def sample_replies(model, tokenizer, questions, samples=1, max_new_tokens=40, temperature=1.0, seed=0):
    """``samples`` replies to each question, keeping their token ids: a list of N lists of
    ``samples`` tuples ``(text, ended, ids)``, ``ids`` the reply's tokens (with ``<|end|>``
    if it ended), ``text`` their decoding without it. ``temperature`` 0 is greedy (then
    ``samples`` should be 1: every draw would be the same)."""
    end_id = tokenizer.special_tokens[END]
    rng = as_generator(seed)
    prompts = [prompt_ids(tokenizer, q) for q in questions]
    out = [[] for _ in prompts]
    for _ in range(samples):
        for i, ids in enumerate(answer_prompts(model, prompts, end_id, max_new_tokens, rng, temperature)):
            ended = len(ids) > 0 and ids[-1] == end_id
            out[i].append((tokenizer.decode(ids[:-1] if ended else ids), bool(ended), ids))
    return out


__all__ = ["encode_dataset", "sft_loss", "train_sft", "prompt_ids", "answer_prompts", "answer_questions",
           "sample_replies"]
