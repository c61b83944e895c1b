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
