"""A tiny float64 GPT, moved away from its near-uniform start, for gradient checks."""

import numpy as np

from minigpt import GPT, GPTConfig

TINY = GPTConfig(vocab_size=9, block_size=8, n_layer=1, n_head=2, d_model=8)


def tiny_model(seed=0):
    model = GPT(TINY, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 10)
    for p in model.params.values():
        p += rng.normal(0, 0.1, p.shape)
    return model


def tiny_assistant(n_per_family=2, split="train", families=None, seed=0, dtype=np.float32):
    """A few questions of the assistant task, a BPE tokenizer trained on them, and an untrained
    one-layer GPT over that tokenizer: (examples, tokenizer, model). For tests of Part II's
    training loops, which need the chat markers and real questions but no skill."""
    from minigpt import BPETokenizer
    from minigpt.assistant import ASSISTANT_FAMILIES, task_splits

    examples = task_splits(n_per_family={split: n_per_family}, seed=0, families=families or ASSISTANT_FAMILIES)[split]
    tokenizer = BPETokenizer.train(" ".join(e.question + e.answer for e in examples), 300)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=1, n_head=2, d_model=16)
    return examples, tokenizer, GPT(config, seed=seed, dtype=dtype)
