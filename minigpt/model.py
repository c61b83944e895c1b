"""The GPT model: GPT-2's architecture, with a hand-written backward pass.

Chapter 5 (The transformer block and the GPT) builds this model from the layers of
chapters 3 and 4; chapter 8 (Generation) adds ``generate`` and its KV cache.

Architecture (Radford et al. 2019, as laid out in nanoGPT's ``model.py``):

    x = wte[idx] + wpe[positions]                        token + position embeddings
    for each of n_layer blocks (pre-LayerNorm):
        x = x + attn.c_proj(attention(attn.c_attn(ln_1(x))))
        x = x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))
    logits = ln_f(x) @ wte^T                              LM head tied to the embedding

One block implementation, ``GPT._block_forward``, serves training, evaluation and
generation: with a KV cache its attention also sees the keys and values of earlier
positions.  Parameter names and shapes are exactly those of nanoGPT's PyTorch
``state_dict`` so that weights move between the two (see ``state_dict`` /
``from_state_dict``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import layers as L
from .checks import check_int


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT.

    vocab_size: number of token ids; block_size: longest sequence (number of learned
    positions); n_layer: transformer blocks; n_head: attention heads; d_model: width.
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    d_model: int

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            check_int(getattr(self, name), f"GPTConfig.{name}", minimum=1)
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_head={self.n_head} "
                "(each head gets d_model // n_head channels)"
            )

    def to_dict(self) -> dict:
        return {k: int(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        fields = ("vocab_size", "block_size", "n_layer", "n_head", "d_model")
        missing = [f for f in fields if f not in d]
        if missing:
            raise ValueError(f"GPT config is missing {missing}; got keys {sorted(d)}")
        # check_int, not int(): a crafted 12.5 must be refused, not truncated to 12
        return cls(**{f: check_int(d[f], f"GPT config {f}", minimum=1) for f in fields})


def parameter_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every trainable array (nanoGPT's names; lm_head is tied to wte)."""
    C, V = config.d_model, config.vocab_size
    shapes = {
        "transformer.wte.weight": (V, C),
        "transformer.wpe.weight": (config.block_size, C),
    }
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        shapes.update({
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (3 * C, C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (4 * C, C), p + "mlp.c_fc.bias": (4 * C,),
            p + "mlp.c_proj.weight": (C, 4 * C), p + "mlp.c_proj.bias": (C,),
        })
    shapes["transformer.ln_f.weight"] = (C,)
    shapes["transformer.ln_f.bias"] = (C,)
    return shapes


def training_flops(config: GPTConfig, batch_size: int, seq_len: int) -> int:
    """Floating-point operations of one training step (forward + backward).

    Counts the matrix multiplies, which are nearly all of the work: 2 FLOPs per
    multiply-add in the forward pass and twice as many in the backward pass (one product
    for the gradient of the input, one for the weight).  Per token and layer the forward
    pass does qkv 6C^2, the output projection 2C^2, the MLP 16C^2, and attention's
    scores and weighted sum 4TC (the whole T x T product, as computed, masked half
    included); the tied LM head adds 2CV per token.
    """
    C, T, L, V = config.d_model, seq_len, config.n_layer, config.vocab_size
    forward_per_token = L * (24 * C * C + 4 * T * C) + 2 * C * V
    return 3 * forward_per_token * T * batch_size


def init_params(config: GPTConfig, seed=0, dtype=np.float32) -> dict[str, np.ndarray]:
    """GPT-2 initialisation: weights ~ N(0, 0.02), biases 0, LayerNorm weights 1, and the
    two projections that write into the residual stream (attn.c_proj, mlp.c_proj) scaled
    by 1/sqrt(2 n_layer) so the stream's variance does not grow with depth."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in parameter_shapes(config).items():
        if name.endswith(".bias"):
            array = np.zeros(shape)
        elif ".ln_" in name or name.startswith("transformer.ln_f"):
            array = np.ones(shape)
        else:
            std = 0.02
            if name.endswith("c_proj.weight"):
                std = 0.02 / math.sqrt(2 * config.n_layer)
            array = rng.normal(0.0, std, size=shape)
        params[name] = array.astype(dtype)
    return params


def check_token_ids(idx, config: GPTConfig, what="idx", allow_ignore=False) -> np.ndarray:
    """Validate an integer (B, T) array of token ids and return it as int64."""
    arr = np.asarray(idx)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must hold integer token ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{what} must have shape (B, T), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must hold at least one sequence of at least one token, got shape {arr.shape}")
    if arr.shape[1] > config.block_size:
        raise ValueError(
            f"{what} has {arr.shape[1]} positions but block_size is {config.block_size}; "
            f"crop the input to its last {config.block_size} tokens"
        )
    if arr.size:
        low = L.IGNORE_INDEX if allow_ignore else 0
        bad = (arr < low) | (arr >= config.vocab_size)
        if allow_ignore:
            bad &= arr != L.IGNORE_INDEX
            bad |= arr < L.IGNORE_INDEX
        if bad.any():
            value = arr[bad].flat[0]
            extra = f" (or {L.IGNORE_INDEX} to ignore a position)" if allow_ignore else ""
            raise ValueError(
                f"{what} contains id {int(value)} outside [0, {config.vocab_size}){extra}; "
                "was the data encoded with a different tokenizer?"
            )
    return arr.astype(np.int64, copy=False)


class GPT:
    """A GPT language model in NumPy.

    ``params`` maps nanoGPT's parameter names to arrays; ``forward`` computes logits and
    the loss and remembers what ``backward`` needs; ``backward`` returns the gradients.
    """

    def __init__(self, config: GPTConfig, seed=0, dtype=np.float32):
        self.config = config
        self.dtype = np.dtype(dtype)
        self.params = init_params(config, seed=seed, dtype=self.dtype)
        self._caches = self._head_cache = None

    # ---------------------------------------------------------------- bookkeeping
    def num_parameters(self, include_embeddings=True) -> int:
        """Number of trainable numbers (the tied LM head counts once)."""
        n = sum(p.size for p in self.params.values())
        if not include_embeddings:
            n -= self.params["transformer.wpe.weight"].size
        return int(n)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters under nanoGPT's names, including the tied
        ``lm_head.weight`` (the same values as ``transformer.wte.weight``)."""
        sd = {name: array.copy() for name, array in self.params.items()}
        sd["lm_head.weight"] = sd["transformer.wte.weight"].copy()
        return sd

    @classmethod
    def from_state_dict(cls, config: GPTConfig, state_dict, dtype=None) -> "GPT":
        """Build a GPT from arrays named as in nanoGPT (e.g. a converted PyTorch
        ``state_dict``: ``{k: v.numpy() for k, v in model.state_dict().items()}``)."""
        expected = parameter_shapes(config)
        keys = set(state_dict)
        ignorable = {"lm_head.weight"} | {k for k in keys if k.endswith(".attn.bias")}  # tied head, causal-mask buffer
        missing = sorted(set(expected) - keys)
        unexpected = sorted(keys - set(expected) - ignorable)
        if missing or unexpected:
            raise ValueError(
                f"state_dict does not match {config}: missing {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                f"{' ...' if len(unexpected) > 5 else ''}"
            )
        first = np.asarray(state_dict["transformer.wte.weight"])
        dtype = np.dtype(dtype) if dtype is not None else (first.dtype if first.dtype.kind == "f" else np.dtype(np.float32))
        model = cls.__new__(cls)
        model.config, model.dtype = config, dtype
        model._caches = model._head_cache = None
        model.params = {}
        for name, shape in expected.items():
            array = np.asarray(state_dict[name])
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, but {config} needs {shape}")
            model.params[name] = np.array(array, dtype=dtype)  # a copy: the model owns its weights
        if "lm_head.weight" in state_dict:
            head = np.asarray(state_dict["lm_head.weight"])
            if head.shape != expected["transformer.wte.weight"] or not np.array_equal(head, first):
                raise ValueError(
                    "lm_head.weight differs from transformer.wte.weight, but minigpt ties the "
                    "LM head to the token embedding (as GPT-2 and nanoGPT do)"
                )
        return model

    # ---------------------------------------------------------------- training pass
    def forward(self, idx, targets=None):
        """idx: (B, T) token ids; targets: (B, T) ids or -1 (ignored), optional.

        Returns (logits: (B, T, vocab_size), loss: float or None).  The intermediate
        values are kept for ``backward``.
        """
        cfg, P = self.config, self.params
        if targets is not None:
            targets = check_token_ids(targets, cfg, what="targets", allow_ignore=True)
            if targets.shape != np.shape(idx):
                raise ValueError(f"targets shape {targets.shape} differs from idx shape {np.shape(idx)}")
        h = self.forward_hidden(idx)                                              # (B, T, C)
        B, T, C = h.shape
        # The LM head shares the embedding matrix: logits = h @ wte^T, a bias-free linear
        # layer done as one (B*T, C) x (C, V) product.
        logits = (h.reshape(B * T, C) @ P["transformer.wte.weight"].T).reshape(B, T, -1)  # (B, T, V)
        loss, loss_cache = None, None
        if targets is not None:
            loss, loss_cache = L.cross_entropy_forward(logits, targets)          # float
        self._head_cache = (h, loss_cache)
        return logits, loss

    def forward_hidden(self, idx):
        """The trunk: embeddings, blocks and final LayerNorm, without the LM head.

        idx: (B, T) -> h: (B, T, C).  Reward and value models put their own heads on h;
        ``backward_hidden`` takes the gradient with respect to h.
        """
        P = self.params
        x, caches = self._trunk(idx)                                              # (B, T, C)
        h, lnf_cache = L.layernorm_forward(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"])  # (B, T, C)
        self._caches = (*caches, lnf_cache)
        self._head_cache = None
        return h

    def _trunk(self, idx, kv_cache=None):
        """Embeddings and blocks.  idx: (B, T) -> x: (B, T, C), before the final LayerNorm.

        kv_cache (generation): one ``layers.KVCache`` per block; ``idx`` then holds only
        new positions, which follow the ones already cached.  Returns x and what the
        backward pass needs.
        """
        cfg, P = self.config, self.params
        idx = check_token_ids(idx, cfg)                                           # (B, T)
        B, T = idx.shape
        start = 0 if kv_cache is None else kv_cache[0].length                    # position of idx[:, 0]
        if start + T > cfg.block_size:
            raise ValueError(f"{start} cached and {T} new positions exceed block_size {cfg.block_size}")
        tok, tok_cache = L.embedding_forward(idx, P["transformer.wte.weight"])    # (B, T, C)
        x = tok + P["transformer.wpe.weight"][start:start + T]                    # (B, T, C)
        block_caches = []
        for i in range(cfg.n_layer):
            x, cache = self._block_forward(x, i, None if kv_cache is None else kv_cache[i])  # (B, T, C)
            if kv_cache is None:  # generation keeps nothing for a backward pass
                block_caches.append(cache)
        return x, (tok_cache, T, block_caches)

    def _block_params(self, i):
        """Block i's arrays under their short names ("ln_1.weight", ...): the same arrays."""
        prefix = f"transformer.h.{i}."
        return {name[len(prefix):]: array for name, array in self.params.items() if name.startswith(prefix)}

    def _block_forward(self, x, i, kv_cache=None):
        """One pre-LayerNorm transformer block.  x: (B, T, C) -> (B, T, C).

        kv_cache: block i's ``layers.KVCache`` when generating (x then holds only the new
        positions), None otherwise.
        """
        w = self._block_params(i)
        a, ln1 = L.layernorm_forward(x, w["ln_1.weight"], w["ln_1.bias"])                  # (B, T, C)
        qkv, c_attn = L.linear_forward(a, w["attn.c_attn.weight"], w["attn.c_attn.bias"])  # (B, T, 3C)
        y, attn = L.attention_forward(qkv, self.config.n_head, kv_cache)                   # (B, T, C)
        y, c_proj = L.linear_forward(y, w["attn.c_proj.weight"], w["attn.c_proj.bias"])    # (B, T, C)
        x = x + y  # (B, T, C), residual 1: a new array, the caller's x stays as it was
        m, ln2 = L.layernorm_forward(x, w["ln_2.weight"], w["ln_2.bias"])                  # (B, T, C)
        m, c_fc = L.linear_forward(m, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"])            # (B, T, 4C)
        m, gelu = L.gelu_forward(m)                                                        # (B, T, 4C)
        m, mlp_proj = L.linear_forward(m, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"])    # (B, T, C)
        x += m  # (B, T, C), residual 2: in place is safe, no cache holds this x
        return x, (ln1, c_attn, attn, c_proj, ln2, c_fc, gelu, mlp_proj)

    @staticmethod
    def _block_backward(dx, cache):
        """dx: dloss/d(block output), (B, T, C) -> dloss/d(block input), (B, T, C), and the
        block's gradients under their short names."""
        ln1, c_attn, attn, c_proj, ln2, c_fc, gelu, mlp_proj = cache
        g = {}
        # residual 2, x_out = x_mid + mlp(x_mid): dx passes straight through, plus the MLP's share
        dm, g["mlp.c_proj.weight"], g["mlp.c_proj.bias"] = L.linear_backward(dx, mlp_proj)  # (B, T, 4C)
        dm = L.gelu_backward(dm, gelu)                                                      # (B, T, 4C)
        dm, g["mlp.c_fc.weight"], g["mlp.c_fc.bias"] = L.linear_backward(dm, c_fc)          # (B, T, C)
        dm, g["ln_2.weight"], g["ln_2.bias"] = L.layernorm_backward(dm, ln2)                # (B, T, C)
        dm += dx  # (B, T, C): dx_mid = dx_out (residual) + the MLP branch's gradient
        dx = dm
        # residual 1, x_mid = x_in + attn(x_in): the same through the attention branch
        dy, g["attn.c_proj.weight"], g["attn.c_proj.bias"] = L.linear_backward(dx, c_proj)  # (B, T, C)
        dqkv = L.attention_backward(dy, attn)                                               # (B, T, 3C)
        da, g["attn.c_attn.weight"], g["attn.c_attn.bias"] = L.linear_backward(dqkv, c_attn)  # (B, T, C)
        da, g["ln_1.weight"], g["ln_1.bias"] = L.layernorm_backward(da, ln1)                # (B, T, C)
        da += dx  # (B, T, C): dx_in
        return da, g

    def backward(self, dlogits=None) -> dict[str, np.ndarray]:
        """Gradients of the last ``forward``'s loss for every parameter.

        Returns a dict with the same keys and shapes as ``self.params``.  Pass ``dlogits``
        (B, T, V) to backpropagate another objective through the logits instead (the
        alignment stages do this).
        """
        if self._caches is None or self._head_cache is None:
            raise RuntimeError("call forward() before backward()")
        h, loss_cache = self._head_cache
        if dlogits is None:
            if loss_cache is None:
                raise RuntimeError("forward() was called without targets, so there is no loss to differentiate")
            dlogits = L.cross_entropy_backward(1.0, loss_cache)                  # (B, T, V)
        wte = self.params["transformer.wte.weight"]
        V, C = wte.shape
        # logits = h @ wte^T  ->  dh = dlogits @ wte,  dwte (head part) = dlogits^T @ h
        dlogits2d = dlogits.reshape(-1, V)                                        # (B*T, V)
        dh = (dlogits2d @ wte).reshape(h.shape)                                   # (B, T, C)
        grads = self.backward_hidden(dh)
        grads["transformer.wte.weight"] += dlogits2d.T @ h.reshape(-1, C)         # (V, C)
        return grads

    def backward_hidden(self, dh) -> dict[str, np.ndarray]:
        """Gradients of every parameter given dh: (B, T, C), the gradient of some loss
        with respect to the output of the last ``forward_hidden`` (or ``forward``)."""
        if self._caches is None:
            raise RuntimeError("call forward() or forward_hidden() before backward")
        tok_cache, T, block_caches, lnf_cache = self._caches
        P, grads = self.params, {}
        dx, grads["transformer.ln_f.weight"], grads["transformer.ln_f.bias"] = L.layernorm_backward(
            dh, lnf_cache)                                                        # (B, T, C)
        for i in reversed(range(self.config.n_layer)):
            dx, block_grads = self._block_backward(dx, block_caches[i])          # (B, T, C)
            grads.update({f"transformer.h.{i}.{name}": g for name, g in block_grads.items()})
        # x = tok + pos: both embeddings receive dx
        dwpe = np.zeros_like(P["transformer.wpe.weight"])                         # (block_size, C)
        dwpe[:T] = dx.sum(axis=0)                                                 # (T, C): summed over the batch
        grads["transformer.wpe.weight"] = dwpe
        grads["transformer.wte.weight"] = L.embedding_backward(dx, tok_cache)    # (V, C)
        return {name: grads[name] for name in P}  # same order as params

    def release(self):
        """Drop the activations kept for backward (after an inference-only forward)."""
        self._caches = None
        self._head_cache = None

    # ---------------------------------------------------------------- inference
    def logits_last(self, idx):
        """Logits of the next token after each row of ``idx`` (no cache, no loss).

        idx: (B, T) with T <= block_size.  Returns (B, vocab_size).
        """
        logits, _ = self.forward(idx)
        self.release()  # inference: nothing to keep for backward
        return logits[:, -1, :]

    def _new_kv_cache(self, batch_size):
        """An empty ``layers.KVCache`` per block, room for block_size positions each."""
        cfg = self.config
        hs = cfg.d_model // cfg.n_head
        return [L.KVCache(batch_size, cfg.n_head, cfg.block_size, hs, self.dtype) for _ in range(cfg.n_layer)]

    def _forward_with_kv_cache(self, idx_new, kv_cache):
        """Logits of the token after ``idx_new``, reusing the keys and values of earlier ones.

        idx_new: (B, Tn) ids of the positions that follow the ones in ``kv_cache`` (from
        ``_new_kv_cache``), which is extended in place.  Returns (B, vocab_size).  Only
        the new tokens go through the MLPs and projections, which is what makes each
        generated token cheap.
        """
        P = self.params
        x, _ = self._trunk(idx_new, kv_cache)                                     # (B, Tn, C)
        # only the last position is sampled from: the final LayerNorm and head see it alone
        h, _ = L.layernorm_forward(x[:, -1], P["transformer.ln_f.weight"], P["transformer.ln_f.bias"])  # (B, C)
        return h @ P["transformer.wte.weight"].T                                  # (B, V)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 use_cache=True, stop_token=None):
        """Sample ``max_new_tokens`` tokens after each row of ``idx``.

        idx: (B, T) prompt ids.  Returns (B, T + max_new_tokens).
        temperature: 0 means greedy (argmax); top_k keeps the k most likely tokens; top_p
        keeps the smallest set of tokens whose probability adds up to at least p.
        seed: an int or a ``numpy.random.Generator`` (sampling is reproducible with it).
        stop_token: an id that ends a row (e.g. the chat format's end token).  A row that
        has produced it is filled with it from then on, and generation stops early once
        every row has, so the result may be shorter than T + max_new_tokens.

        With ``use_cache`` (the default) the keys and values of past positions are kept,
        so each new token costs one position's work instead of the whole context's.  Once
        the sequence is longer than block_size, the context window slides and every
        position moves, so each step recomputes the window: exactly what the uncached
        path does, and no faster.
        """
        from .sampling import as_generator, sample_next  # sampling rules live in one place

        cfg = self.config
        idx = np.asarray(idx)
        if idx.ndim == 1:
            raise ValueError(f"idx must have shape (B, T); for one prompt use idx[None, :] (got shape {idx.shape})")
        if idx.shape[1] == 0:
            raise ValueError("idx needs at least one token to condition on (e.g. <|endoftext|> or a newline)")
        check_token_ids(idx[:, -cfg.block_size:], cfg)
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        rng = as_generator(seed)
        out = np.empty((idx.shape[0], idx.shape[1] + max_new_tokens), dtype=np.int64)
        out[:, : idx.shape[1]] = idx
        n = idx.shape[1]
        kv_cache = self._new_kv_cache(len(out)) if use_cache else None
        finished = np.zeros(idx.shape[0], dtype=bool)
        for _ in range(max_new_tokens):
            first = max(0, n - cfg.block_size)  # the context: out[:, first:n], at most block_size tokens
            if not use_cache:
                logits = self.logits_last(out[:, first:n])
            else:
                if first > 0:  # the window slid and every position moved: recompute it all
                    for layer_cache in kv_cache:
                        layer_cache.length = 0
                # only the context's tokens that are not cached yet go through the model
                logits = self._forward_with_kv_cache(out[:, first + kv_cache[0].length:n], kv_cache)
            next_ids = sample_next(logits, rng, temperature=temperature, top_k=top_k, top_p=top_p)
            if stop_token is not None:
                next_ids[finished] = stop_token
                finished |= next_ids == stop_token
            out[:, n] = next_ids
            n += 1
            if stop_token is not None and finished.all():
                break
        return out[:, :n]
