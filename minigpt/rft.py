"""Rejection-sampling fine-tuning (RFT): the verifier as a filter (chapter 14).

GRPO (``minigpt.grpo``) turns the verifier's 0/1 into a policy gradient. RFT uses it more
bluntly: sample ``k`` replies to each question, keep a reply the verifier accepts, and
fine-tune on the kept replies with the ordinary SFT loss (Yuan et al. 2023, "Scaling
Relationship on Learning Mathematical Reasoning with Large Language Models"; one round of
the "expert iteration" of Anthony et al. 2017). In policy-gradient terms it is REINFORCE with
reward 1 for a correct reply and 0 otherwise, without a baseline, taken as many supervised
steps on a fixed set of samples: wrong replies are never pushed down, only ignored, which
is what makes large steps safe. Its limit is plain too: a question the model never
answers right in ``k`` tries teaches it nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .assistant import Example, verify
from .sft import sample_replies

__all__ = ["rejection_sample"]


def rejection_sample(model, tokenizer, examples: Sequence[Example], samples: int = 8, max_new_tokens: int = 40,
                     temperature: float = 1.0, seed=0) -> tuple[list[dict], np.ndarray]:
    """``samples`` replies of ``model`` to each question; for each question the first reply
    that ended and that the verifier accepts is kept.

    Returns (kept, solved): kept, a list of ``{"question", "answer"}`` dicts (the model's own
    correct reply as the answer, ready for ``sft.encode_dataset``), one per solved question,
    in the order of ``examples``; solved, a (N,) bool array, True where a reply was kept."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    drawn = sample_replies(model, tokenizer, [e.question for e in examples], samples, max_new_tokens,
                           temperature=temperature, seed=seed)
    kept, solved = [], np.zeros(len(examples), dtype=bool)
    for i, (e, replies) in enumerate(zip(examples, drawn)):
        for text, ended, _ in replies:
            if ended and verify(e, text):
                kept.append({"question": e.question, "answer": text})
                solved[i] = True
                break
    return kept, solved
