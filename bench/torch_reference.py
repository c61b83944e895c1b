"""The same GPT in PyTorch, for benchmarks and cross-checks only (PyTorch is never a
dependency of minigpt).

Parameter names and shapes match nanoGPT's and minigpt's ``state_dict`` exactly, so
``TorchGPT(config).load_state_dict({k: torch.from_numpy(v) for k, v in
model.state_dict().items()})`` moves a minigpt model into PyTorch.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x, cache=None, start=0):
        """x: (B, T, C).  cache (generation): (K, V) tensors (B, H, block_size, hs) holding
        positions 0 .. start-1; x's keys and values are written after them, in place."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if start > 0 and T > 1:
                raise ValueError("after cached positions, feed new positions one at a time")
            K, V = cache
            K[:, :, start:start + T] = k
            V[:, :, start:start + T] = v
            k, v = K[:, :, :start + T], V[:, :, :start + T]
        # causal among the new positions; one new position after cached ones sees them all
        y = F.scaled_dot_product_attention(q, k, v, is_causal=start == 0)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.c_proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model)

    def forward(self, x, cache=None, start=0):
        x = x + self.attn(self.ln_1(x), cache, start)
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.d_model),
            wpe=nn.Embedding(config.block_size, config.d_model),
            h=nn.ModuleList(Block(config.d_model, config.n_head) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.d_model),
        ))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or "ln_f" in name:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe.weight[:T]
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate_greedy(self, idx, max_new_tokens):
        """Greedy decoding with a KV cache (prompt + new tokens must fit in block_size)."""
        cfg = self.config
        B = idx.shape[0]
        hs = cfg.d_model // cfg.n_head
        caches = [(torch.zeros(B, cfg.n_head, cfg.block_size, hs), torch.zeros(B, cfg.n_head, cfg.block_size, hs))
                  for _ in range(cfg.n_layer)]
        out = [idx]
        new, start = idx, 0
        for _ in range(max_new_tokens):
            Tn = new.shape[1]
            x = self.transformer.wte(new) + self.transformer.wpe.weight[start:start + Tn]
            for block, cache in zip(self.transformer.h, caches):
                x = block(x, cache, start)
            logits = self.lm_head(self.transformer.ln_f(x[:, -1]))
            start += Tn
            new = logits.argmax(-1, keepdim=True)
            out.append(new)
        return torch.cat(out, dim=1)


def decay_groups(model, weight_decay):
    """AdamW groups matching minigpt's rule: decay the linear layers' matrices only."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_embedding = name.endswith("wte.weight") or name.endswith("wpe.weight")
        (decay if p.dim() >= 2 and not is_embedding else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
