"""Cross-check minigpt against the same model in PyTorch: logits, loss, every gradient,
and greedy generation, with the weights moved through ``state_dict``.

    python bench/check_against_torch.py

Needs PyTorch (``pip install torch==2.13.0``); prints the largest differences and exits
non-zero if any exceeds its tolerance.
"""

import sys

import numpy as np
import torch

from minigpt import GPT, GPTConfig
from torch_reference import TorchGPT


def main():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=97, block_size=32, n_layer=3, n_head=4, d_model=64)
    model = GPT(cfg, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    for p in model.params.values():  # move away from the trivial LayerNorm init
        p += rng.normal(0, 0.05, p.shape)
    ref = TorchGPT(cfg).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})

    idx = rng.integers(0, 97, (4, 32))
    targets = rng.integers(0, 97, (4, 32))
    targets[:, :5] = -1
    logits, loss = model.forward(idx, targets)
    grads = model.backward()
    t_logits, t_loss = ref(torch.from_numpy(idx), torch.from_numpy(targets))
    t_loss.backward()
    t_grads = {k: p.grad.numpy() for k, p in ref.named_parameters()}

    failures = []

    def compare(what, a, b, tol):
        err = float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30))
        print(f"{what:45s} max relative difference {err:.2e}")
        if err > tol:
            failures.append(what)

    compare("logits", logits, t_logits.detach().numpy(), 1e-10)
    compare("loss", np.array(loss), np.array(t_loss.item()), 1e-12)
    for name in model.params:
        # torch names the tied matrix transformer.wte.weight (lm_head.weight is the same tensor)
        compare(f"grad {name}", grads[name], t_grads[name], 1e-9)

    model32 = GPT(cfg, seed=1)
    ref32 = TorchGPT(cfg)
    ref32.load_state_dict({k: torch.from_numpy(v) for k, v in model32.state_dict().items()})
    prompt = rng.integers(0, 97, (2, 4))
    ours = model32.generate(prompt, 20, temperature=0)
    theirs = ref32.generate_greedy(torch.from_numpy(prompt), 20).numpy()
    same = np.array_equal(ours, theirs)
    print(f"greedy generation, 20 tokens: {'identical' if same else 'DIFFERENT'}")
    if not same:
        failures.append("generation")
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    print("minigpt and PyTorch agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
