"""Supervised fine-tuning: the loss and the loop refuse empty data with a clear message."""

import pytest

from minigpt import GPT, GPTConfig, TrainConfig
from minigpt.sft import sft_loss, train_sft


# defect class: smaller validation gaps -- empty data gave a raw ZeroDivisionError
def test_empty_pairs_are_refused():
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=1, d_model=8))
    with pytest.raises(ValueError, match="at least one"):
        sft_loss(model, [])
    with pytest.raises(ValueError, match="train_pairs is empty"):
        train_sft(model, [], [], TrainConfig(max_iters=1, eval_iters=1), progress=False)
