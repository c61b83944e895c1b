"""minigpt: a GPT built from scratch in NumPy, with hand-written, gradient-checked backprop.

The public surface (each concept lives in exactly one module):

=====================  ==========================================================
``GPTConfig``, ``GPT``  the model (``minigpt.model``), layers in ``minigpt.layers``
``CharTokenizer``,      tokenizers (``minigpt.tokenizer``)
``BPETokenizer``
``AdamW``               the optimizer (``minigpt.optim``), with the lr schedule
``TrainConfig``,        the training loop (``minigpt.train``)
``train``
``load_text``           corpora: ``"pydoc"`` (embedded), ``"tinyshakespeare"``, a path
``save_checkpoint``,    ``.npz`` + JSON checkpoints, never pickle
``load_checkpoint``
=====================  ==========================================================
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .corpora import load_text
from .data import get_batch, train_val_split
from .model import GPT, GPTConfig
from .optim import AdamW
from .tokenizer import BPETokenizer, CharTokenizer
from .train import TrainConfig, train

__version__ = "0.1.0"

__all__ = [
    "GPT", "GPTConfig", "CharTokenizer", "BPETokenizer", "AdamW", "TrainConfig", "train",
    "load_text", "train_val_split", "get_batch", "save_checkpoint", "load_checkpoint",
]
