"""Draw the book's conceptual diagrams as SVG files in book/figures/diagrams/.

    python scripts/make_diagrams.py

Each diagram is plain SVG written by this script (boxes, arrows, text; no dependencies). They
are drawn to be read on a phone and in dark mode:

* a white background with a grey border, so the dark text reads on a dark page too;
* a view box 480 units wide with text of at least 17 units: shown 342 px wide on a 390 px
  phone, the smallest text is 12 px (the chapters show them at most 480 px wide);
* colour is never the only carrier of meaning: gradients are red *and* written as dL/d...

The numbers in the backpropagation graph, the Bradley-Terry probability, the paired standard
error and the GRPO advantages are computed here, not typed in (the paired-evaluation scores
and the GRPO rewards are illustrative inputs).
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).resolve().parent.parent / "book" / "figures" / "diagrams"
WIDTH = 480
MIN_FONT = 17
INK = "#111827"
GRAD = "#b91c1c"
MUTED = "#374151"
FILLS = {"op": "#dbeafe", "data": "#f3f4f6", "param": "#fef3c7", "attn": "#e0e7ff",
         "mlp": "#dcfce7", "norm": "#fce7f3", "new": "#fecaca", "cache": "#e5e7eb"}


class Svg:
    def __init__(self, height: int, title: str, desc: str):
        self.height = height
        self.title = title
        self.desc = desc
        self.items: list[str] = []

    def text(self, x, y, s, size=MIN_FONT, anchor="middle", color=INK, weight="normal",
             italic=False):
        assert size >= MIN_FONT, (s, size)
        style = ' font-style="italic"' if italic else ""
        self.items.append(
            f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}"{style}>{escape(s)}</text>')

    def box(self, cx, cy, w, h, lines, fill="op", size=MIN_FONT, weight="normal", rx=8,
            stroke=INK, dash=False):
        x, y = cx - w / 2, cy - h / 2
        dashes = ' stroke-dasharray="6 4"' if dash else ""
        self.items.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{FILLS[fill]}" '
            f'stroke="{stroke}" stroke-width="1.5"{dashes}/>')
        lines = [lines] if isinstance(lines, str) else lines
        step = size * 1.2
        first = cy - step * (len(lines) - 1) / 2 + size * 0.35
        for i, line in enumerate(lines):
            self.text(cx, first + i * step, line, size=size,
                      weight=weight if i == 0 else "normal",
                      color=INK if i == 0 else MUTED)

    def arrow(self, x1, y1, x2, y2, color=INK, width=1.8, head=True):
        marker = f' marker-end="url(#head-{"grad" if color == GRAD else "ink"})"' if head else ""
        self.items.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" '
            f'stroke-width="{width}"{marker}/>')

    def path(self, d, color=INK, width=1.8, head=True):
        marker = ' marker-end="url(#head-ink)"' if head else ""
        self.items.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"'
                          f'{marker}/>')

    def rect(self, x, y, w, h, fill, stroke=INK):
        self.items.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" '
                          f'stroke="{stroke}" stroke-width="1"/>')

    def write(self, name: str) -> Path:
        heads = "".join(
            f'<marker id="head-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{color}"/></marker>' for key, color in (("ink", INK), ("grad", GRAD)))
        body = "\n".join(self.items)
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {self.height}" '
            f'width="{WIDTH}" height="{self.height}" role="img" '
            f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
            f"<title>{escape(self.title)}</title>\n<desc>{escape(self.desc)}</desc>\n"
            f"<defs>{heads}</defs>\n"
            f'<rect x="1" y="1" width="{WIDTH - 2}" height="{self.height - 2}" rx="10" '
            f'fill="#ffffff" stroke="#9ca3af" stroke-width="2"/>\n{body}\n</svg>\n')
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / name
        path.write_text(svg, encoding="utf-8")
        return path


def backprop_values(x=2.0, w=-0.5, b=1.5, t=1.0) -> dict:
    """Forward values and gradients of L = (tanh(w x + b) - t)^2."""
    z = w * x
    u = z + b
    y = math.tanh(u)
    loss = (y - t) ** 2
    dy = 2 * (y - t)
    du = dy * (1 - y**2)
    return {"x": x, "w": w, "b": b, "t": t, "z": z, "u": u, "y": y, "L": loss, "dL": 1.0,
            "dy": dy, "du": du, "db": du, "dz": du, "dw": du * x, "dx": du * w}


def fmt(v: float) -> str:
    return f"{v:.2f}".replace("-", "\u2212")


def backprop_graph() -> Path:
    v = backprop_values()
    s = Svg(780, "Computational graph of L = (tanh(w x + b) - t) squared",
            "Forward values flow down the graph; gradients dL/d(value) flow back up.")
    c, g = 240, "\u2202L/\u2202"
    s.text(c, 30, "L = (tanh(w\u00b7x + b) \u2212 t)\u00b2", size=19, weight="bold")
    s.box(120, 75, 130, 40, f"x = {fmt(v['x'])}", fill="data")
    s.box(360, 75, 130, 40, f"w = {fmt(v['w'])}", fill="param")
    s.arrow(140, 95, 225, 160)
    s.arrow(340, 95, 255, 160)
    s.text(20, 140, f"{g}x = {fmt(v['dx'])}", anchor="start", color=GRAD)
    s.text(460, 140, f"{g}w = {fmt(v['dw'])}", anchor="end", color=GRAD)
    rows = [("\u00d7", "z", 185), ("+", "u", 305), ("tanh", "y", 425), ("(y \u2212 t)\u00b2", "L", 545)]
    for i, (op, out, cy) in enumerate(rows):
        s.box(c, cy, 120 if len(op) > 4 else 80, 44, op, fill="op", size=19, weight="bold")
        nxt = rows[i + 1][2] - 22 if i + 1 < len(rows) else 640
        s.arrow(c, cy + 22, c, nxt)
        mid = (cy + 22 + nxt) / 2 + 6
        s.text(c - 14, mid, f"{out} = {fmt(v[out])}", anchor="end")
        s.text(c + 14, mid, f"{g}{out} = {fmt(v['d' + out])}", anchor="start", color=GRAD)
    s.box(395, 305, 110, 40, f"b = {fmt(v['b'])}", fill="param")
    s.arrow(340, 305, 282, 305)
    s.text(395, 345, f"{g}b = {fmt(v['db'])}", color=GRAD)
    s.box(70, 545, 100, 40, f"t = {fmt(v['t'])}", fill="data")
    s.arrow(120, 545, 178, 545)
    s.box(c, 662, 80, 40, "L", fill="data", weight="bold")
    s.text(c, 715, "black, down: forward values", color=INK)
    s.text(c, 742, f"red, up: gradients {g}\u00b7 (backward)", color=GRAD)
    s.text(c, 769, "each = local derivative \u00d7 the gradient below", color=MUTED)
    return s.write("backprop_graph.svg")


def attention_flow() -> Path:
    s = Svg(900, "Causal multi-head self-attention, step by step with shapes",
            "x is projected to queries, keys and values; scores are masked, softmaxed and "
            "used to average the values.")
    c = 240
    s.box(c, 45, 230, 52, ["input x", "(B, T, C)"], fill="data", weight="bold")
    s.arrow(c, 71, c, 106)
    s.box(c, 132, 320, 52, ["c_attn: x W + b, split heads", "(B, T, 3C) \u2192 3 \u00d7 (B, H, T, d)"],
          fill="param")
    xs = (85, 240, 395)
    for x, name in zip(xs, ("Q", "K", "V")):
        s.arrow(c + (x - c) * 0.45, 160, x, 200)
        s.box(x, 226, 140, 52, [name, "(B, H, T, d)"], fill="attn", weight="bold")
    s.arrow(85, 252, 180, 300)
    s.arrow(240, 252, 230, 300)
    s.box(205, 326, 330, 52, ["scores = Q K\u1d40 / \u221ad", "(B, H, T, T)"], fill="op")
    s.arrow(205, 352, 205, 384)
    s.box(205, 426, 330, 80, ["causal mask:", "\u2212\u221e above the", "diagonal"], fill="op")
    # a small T x T grid in the box: allowed (lower triangle) filled, the future left white
    n, cell, gx, gy = 5, 13, 290, 394
    for i in range(n):
        for j in range(n):
            fill = "#6366f1" if j <= i else "#ffffff"
            s.rect(gx + j * cell, gy + i * cell, cell, cell, fill)
    s.arrow(205, 466, 205, 496)
    s.box(205, 522, 330, 52, ["softmax over each row", "weights A (B, H, T, T)"], fill="op")
    s.arrow(205, 548, 205, 586)
    s.path("M395,252 L395,610 L372,610")
    s.box(205, 610, 330, 52, ["weighted sum of values", "Y = A V  (B, H, T, d)"], fill="attn")
    s.arrow(205, 636, 205, 676)
    s.box(c, 702, 360, 52, ["merge heads: (B, T, H\u00b7d = C)", "c_proj: linear C \u2192 C"],
          fill="param")
    s.arrow(c, 728, c, 768)
    s.box(c, 794, 230, 52, ["output", "(B, T, C)"], fill="data", weight="bold")
    s.text(c, 850, "B batch, T positions, C channels,", color=MUTED)
    s.text(c, 876, "H heads of size d = C / H", color=MUTED)
    return s.write("attention_flow.svg")


def transformer_block() -> Path:
    s = Svg(748, "A pre-LayerNorm transformer block",
            "The residual stream runs straight through; attention and the MLP each read a "
            "normalised copy and add their output back.")
    r = 90  # x of the residual stream
    s.text(240, 30, "x \u2190 x + attention(ln_1(x))", weight="bold")
    s.text(240, 54, "x \u2190 x + MLP(ln_2(x))", weight="bold")
    s.items.append('<g transform="translate(0, 28)">')
    s.box(r, 75, 140, 44, ["x (B, T, C)"], fill="data", weight="bold")
    s.arrow(r, 97, r, 280, width=4)
    s.text(r - 12, 190, "residual", anchor="end", size=17, color=MUTED)
    # branch 1
    s.path(f"M{r},130 L300,130 L300,150")
    s.box(300, 172, 220, 44, "LayerNorm ln_1", fill="norm")
    s.arrow(300, 194, 300, 222)
    s.box(300, 250, 250, 56, ["causal self-attention", "(chapter 4)"], fill="attn",
          weight="bold")
    s.path(f"M300,278 L300,302 L{r + 18},302")
    s.items.append(f'<circle cx="{r}" cy="302" r="16" fill="#ffffff" stroke="{INK}" '
                   'stroke-width="2"/>')
    s.text(r, 309, "+", size=22, weight="bold")
    s.arrow(r, 318, r, 540, width=4)
    s.text(r - 12, 440, "residual", anchor="end", size=17, color=MUTED)
    # branch 2
    s.path(f"M{r},360 L300,360 L300,378")
    s.box(300, 400, 220, 44, "LayerNorm ln_2", fill="norm")
    s.arrow(300, 422, 300, 446)
    s.box(300, 498, 250, 100, ["MLP", "linear C \u2192 4C", "GELU", "linear 4C \u2192 C"],
          fill="mlp", weight="bold")
    s.path(f"M300,548 L300,562 L{r + 18},562")
    s.items.append(f'<circle cx="{r}" cy="562" r="16" fill="#ffffff" stroke="{INK}" '
                   'stroke-width="2"/>')
    s.text(r, 569, "+", size=22, weight="bold")
    s.arrow(r, 578, r, 618, width=4)
    s.box(r, 640, 140, 44, ["out (B, T, C)"], fill="data", weight="bold")
    s.text(240, 692, "thick line: the residual stream, never normalised", color=MUTED)
    s.items.append("</g>")
    return s.write("transformer_block.svg")


def gpt_stack() -> Path:
    s = Svg(760, "The whole GPT: embeddings, a stack of blocks, a final LayerNorm, the LM head",
            "Token and position embeddings are added, pass through n_layer blocks and a final "
            "LayerNorm; the LM head, tied to the token embedding, gives logits.")
    c = 240
    s.box(c, 40, 260, 44, "token ids (B, T)", fill="data", weight="bold")
    s.arrow(150, 62, 130, 100)
    s.arrow(330, 62, 350, 100)
    s.box(130, 130, 210, 56, ["token embedding", "wte (V, C)"], fill="param")
    s.box(360, 130, 210, 56, ["position embedding", "wpe (T_max, C)"], fill="param")
    s.arrow(130, 158, 222, 200)
    s.arrow(360, 158, 258, 200)
    s.items.append(f'<circle cx="{c}" cy="212" r="16" fill="#ffffff" stroke="{INK}" '
                   'stroke-width="2"/>')
    s.text(c, 219, "+", size=22, weight="bold")
    s.arrow(c, 228, c, 262)
    s.text(c + 14, 250, "(B, T, C)", anchor="start", color=MUTED)
    for i, (y, label) in enumerate(((290, "block 1"), (362, "block 2"), (470, "block n_layer"))):
        s.box(c, y, 300, 46, [f"{label}: attention + MLP"], fill="attn")
        if i < 2:
            s.arrow(c, y + 23, c, y + 49)
    for dy in (-12, 0, 12):
        s.items.append(f'<circle cx="{c}" cy="{416 + dy}" r="3" fill="{INK}"/>')
    s.arrow(c, 432, c, 445)
    s.arrow(c, 493, c, 527)
    s.box(c, 550, 260, 44, "final LayerNorm ln_f", fill="norm")
    s.arrow(c, 572, c, 604)
    s.box(c, 634, 330, 56, ["LM head: logits = x wte\u1d40", "(B, T, V), tied to wte"],
          fill="param")
    s.path("M25,130 L10,130 L10,634 L70,634", color=MUTED)
    s.text(c, 700, "next-token logits \u2192 softmax,", color=MUTED)
    s.text(c, 727, "cross-entropy against the targets", color=MUTED)
    s.text(c, 752, "grey line: the same matrix wte", color=MUTED)
    return s.write("gpt_stack.svg")


def kv_cache() -> Path:
    s = Svg(800, "Generation with a KV cache: one new position per step",
            "At step t only the new token is run through each layer; its key and value are "
            "appended to the cache and its query attends over all cached keys.")
    c = 240
    s.text(c, 32, "step t, one attention layer and head", weight="bold", size=18)
    s.box(c, 75, 300, 48, ["new token at position t", "a_t (1, C)"], fill="new",
          weight="bold")
    s.arrow(c, 99, c, 134)
    s.box(c, 160, 330, 48, ["q_t, k_t, v_t = a_t W", "only this position"], fill="op")
    # caches as stacks of rows
    def stack(x, name):
        top, h, w = 250, 26, 120
        s.text(x, top - 12, f"{name} cache", weight="bold")
        s.rect(x - w / 2, top, w, 4 * h, FILLS["cache"])
        s.text(x, top + 2 * h - 4, "rows", color=MUTED)
        s.text(x, top + 2 * h + 18, "1 \u2026 t\u22121", color=MUTED)
        s.rect(x - w / 2, top + 4 * h, w, h, FILLS["new"])
        s.text(x, top + 4 * h + 19, f"{name.lower()}_t (new)", color=INK)
        return top + 5 * h
    bottom = stack(120, "K")
    stack(360, "V")
    s.arrow(200, 184, 140, 222)
    s.arrow(280, 184, 340, 222)
    s.text(c, 300, "kept", color=MUTED)
    s.text(c, 324, "from", color=MUTED)
    s.text(c, 348, "earlier", color=MUTED)
    s.text(c, 372, "steps", color=MUTED)
    s.arrow(120, bottom + 2, 120, 430)
    s.box(150, 462, 260, 60, ["scores q_t K\u1d40 / \u221ad", "(1, t): no mask needed"],
          fill="attn")
    s.arrow(150, 492, 150, 526)
    s.box(150, 550, 260, 44, "softmax \u2192 weights (1, t)", fill="attn")
    s.arrow(150, 572, 150, 614)  # into the weighted sum
    s.path(f"M360,{bottom + 2} L360,640 L342,640")
    s.box(200, 640, 280, 48, ["weighted sum of V rows", "(1, d) for position t"],
          fill="attn")
    s.arrow(c, 664, c, 694)
    s.box(c, 718, 340, 44, "c_proj, MLP, next layer \u2026 logits", fill="op")
    s.text(c, 770, "cost per step grows with t, not with t\u00b2", color=MUTED)
    return s.write("kv_cache.svg")


def sft_chat_format() -> Path:
    s = Svg(740, "One SFT conversation as tokens, with the positions that carry a loss",
            "Each position's input token and its target, the next token. Prompt targets are "
            "-1 and ignored; the answer's tokens and <|end|> are the targets of the loss.")
    xt, xi, xo = 38, 168, 368  # columns: position t, input token, target
    s.text(240, 32, "<|user|> question <|assistant|>", weight="bold", size=18)
    s.text(240, 56, "answer <|end|>", weight="bold", size=18)
    s.text(xt, 96, "t", color=MUTED, weight="bold")
    s.text(xi, 96, "input token", color=MUTED, weight="bold")
    s.text(xo, 96, "target", color=MUTED, weight="bold")

    def row(y, t, token, target, kept=False, h=38):
        s.text(xt, y + 6, t, color=MUTED)
        lines = [token] if isinstance(token, str) else token
        s.box(xi, y, 190, h, lines, fill="op")
        s.arrow(xi + 97, y, xo - 72, y)
        s.box(xo, y, 132, 38, target, fill="mlp" if kept else "cache", dash=not kept)

    s.text(20, 130, "prompt: target \u22121, no loss", anchor="start", weight="bold")
    row(160, "0", "<|user|>", "\u22121")
    row(222, "1\u201320", ["What does", "`len('owl')` return?"], "\u22121", h=58)
    s.text(20, 288, "answer: every target in the loss", anchor="start", weight="bold")
    y = 318
    for t, token, target in ((21, "<|assistant|>", "'T'"), (22, "'T'", "'he'"),
                             (23, "'he'", "' re'")):
        row(y, str(t), token, target, True)
        y += 48
    for dy in (-10, 0, 10):
        s.items.append(f'<circle cx="{xi}" cy="{y - 8 + dy}" r="3" fill="{INK}"/>')
        s.items.append(f'<circle cx="{xo}" cy="{y - 8 + dy}" r="3" fill="{INK}"/>')
    y += 22
    for t, token, target in ((31, "'3'", "'.'"), (32, "'.'", "<|end|>")):
        row(y, str(t), token, target, True)
        y += 48
    s.text(20, y + 4, "last position: nothing follows", anchor="start", weight="bold")
    row(y + 34, "33", "<|end|>", "\u22121")
    s.text(240, y + 90, "target at t = input token at t + 1", color=MUTED)
    s.text(240, y + 116, "loss: mean of \u2212log p(target) over", color=MUTED)
    s.text(240, y + 142, "the answer's targets, <|end|> included", color=MUTED)
    return s.write("sft_chat_format.svg")


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def reward_model(r_a=0.8, r_b=-0.4) -> Path:
    s = Svg(860, "A reward model: a GPT trunk with a scalar head, trained on comparisons",
            "The trunk reads prompt, reply and <|end|>; a scalar head reads the hidden state at "
            "the last position and gives the reward. Two replies to the same question are "
            "compared by the Bradley-Terry model, P(A preferred) = sigmoid(r_A - r_B).")
    c = 240
    s.box(400, 48, 150, 56, ["reward", "r(x, y)"], fill="new", weight="bold")
    s.arrow(400, 76, 400, 106)
    s.box(400, 134, 150, 56, ["scalar head", "w \u00b7 h_T + b"], fill="param", weight="bold")
    s.text(24, 62, "one hidden state h_t", anchor="start", color=MUTED)
    s.text(24, 86, "per position (C numbers);", anchor="start", color=MUTED)
    s.text(24, 110, "only the last, h_T,", anchor="start", color=MUTED)
    s.text(24, 134, "is read", anchor="start", color=MUTED)
    # hidden states, one per position; only the last one is read
    xs = [45 + 44 * i for i in range(7)] + [400]
    for i, x in enumerate(xs):
        last = i == len(xs) - 1
        s.rect(x - 14, 196, 28, 28, FILLS["new"] if last else FILLS["cache"])
        s.arrow(x, 252, x, 228, width=1.4)
    s.text(350, 216, "\u2026", color=MUTED)
    s.text(xs[-1] + 20, 216, "h_T", anchor="start", weight="bold")
    s.arrow(xs[-1], 194, xs[-1], 164)
    s.box(c, 280, 440, 52, ["GPT trunk (copied from the SFT model)",
                           "embeddings, blocks, final LayerNorm"], fill="attn")
    s.box(100, 354, 160, 40, "prompt x", fill="data")
    s.box(265, 354, 150, 40, "reply y", fill="data")
    s.box(400, 354, 100, 40, "<|end|>", fill="data", weight="bold")
    for x in (100, 265, 400):
        s.arrow(x, 334, x, 308)
    s.text(c, 400, "read at the last position: the only one", color=MUTED)
    s.text(c, 424, "that has seen the whole reply", color=MUTED)
    s.items.append('<line x1="20" y1="448" x2="460" y2="448" stroke="#9ca3af" '
                   'stroke-width="1.5" stroke-dasharray="6 4"/>')
    s.text(c, 482, "two replies to the same question", weight="bold", size=18)
    for x, name, r in ((125, "A", r_a), (355, "B", r_b)):
        s.box(x, 530, 190, 44, f"prompt + reply {name}", fill="data")
        s.arrow(x, 552, x, 582)
        s.box(x, 604, 190, 40, "reward model", fill="attn")
        s.arrow(x, 624, x, 650)
        s.text(x, 672, f"r_{name} = {fmt(r)}", weight="bold")
    s.arrow(125, 684, 200, 720)
    s.arrow(355, 684, 280, 720)
    p = sigmoid(r_a - r_b)
    s.box(c, 750, 420, 58, ["P(A preferred) = \u03c3(r_A \u2212 r_B)",
                           f"= \u03c3({fmt(r_a - r_b)}) = {p:.2f}"], fill="op", weight="bold")
    s.text(c, 808, "labelled A better: loss = \u2212log \u03c3(r_A \u2212 r_B)", color=MUTED)
    s.text(c, 834, "(the Bradley\u2013Terry model)", color=MUTED)
    return s.write("reward_model.svg")


def rlhf_ppo_loop() -> Path:
    s = Svg(660, "RLHF with PPO: the four models and one iteration of the loop",
            "The policy samples replies to prompts; the frozen reward model scores each reply at "
            "its last token and the frozen reference adds a per-token KL penalty; GAE with the "
            "value model gives advantages; a clipped update changes the policy and the value "
            "model, and the loop starts again.")
    c, lx, rx = 240, 68, 410  # the loop in the middle, the models on both sides
    s.text(c, 32, "RLHF with PPO: four models, one loop", weight="bold", size=18)
    s.box(c, 78, 180, 44, "prompts x", fill="data", weight="bold")
    s.arrow(c, 100, c, 126)
    s.box(c, 164, 180, 72, ["1  rollout", "sample replies", "at temperature 1"], fill="op",
          weight="bold")
    s.box(lx, 164, 112, 80, ["policy", "\u03c0_\u03b8", "trained"], fill="mlp", weight="bold")
    s.arrow(124, 164, 148, 164)
    s.arrow(c, 200, c, 228)
    s.box(c, 276, 180, 92, ["2  score", "r(x, y) at the end", "\u2212 \u03b2 \u00b7 KL to \u03c0_ref",
                           "per token"], fill="op", weight="bold")
    s.box(rx, 232, 112, 72, ["reference", "\u03c0_ref", "frozen"], fill="cache", weight="bold",
          dash=True)
    s.box(rx, 322, 112, 72, ["reward", "model r", "frozen"], fill="cache", weight="bold",
          dash=True)
    s.arrow(354, 240, 332, 250)
    s.arrow(354, 314, 332, 304)
    s.arrow(c, 322, c, 354)
    s.box(c, 384, 180, 56, ["3  advantages", "GAE with V"], fill="op", weight="bold")
    s.box(rx, 420, 112, 72, ["value", "model V", "trained"], fill="mlp", weight="bold")
    s.arrow(354, 406, 332, 396)
    s.arrow(c, 412, c, 452)
    s.box(c, 490, 180, 72, ["4  update", "clipped losses", "for \u03c0_\u03b8 and V"], fill="op",
          weight="bold")
    s.path(f"M150,490 L{lx},490 L{lx},206")
    s.path(f"M330,490 L{rx},490 L{rx},458")
    s.text(lx + 10, 350, "new", anchor="start", color=MUTED)
    s.text(lx + 10, 374, "\u03c0_\u03b8", anchor="start", color=MUTED)
    s.text(rx - 10, 480, "new V", anchor="end", color=MUTED)
    s.text(c, 560, "green, solid: trained; grey, dashed: frozen", color=MUTED)
    s.text(c, 586, "policy and \u03c0_ref start as the SFT model,", color=MUTED)
    s.text(c, 612, "V as the reward model (chapter 10)", color=MUTED)
    s.text(c, 638, "each iteration: new prompts, steps 1\u20134", color=MUTED)
    return s.write("rlhf_ppo_loop.svg")


def dpo_vs_rlhf() -> Path:
    s = Svg(760, "RLHF with PPO and DPO side by side",
            "RLHF fits a reward model to the preference pairs and then runs PPO, sampling "
            "replies from the policy; DPO trains the policy directly on the pairs with one "
            "loss on log-probability ratios against the frozen reference: no reward model, no "
            "sampling.")
    lc, rc = 122, 362
    s.items.append('<line x1="240" y1="20" x2="240" y2="600" stroke="#9ca3af" '
                   'stroke-width="1.5" stroke-dasharray="6 4"/>')
    s.text(lc, 36, "RLHF with PPO", weight="bold", size=18)
    s.text(lc, 60, "chapters 10\u201311", color=MUTED)
    s.text(rc, 36, "DPO", weight="bold", size=18)
    s.text(rc, 60, "chapter 12", color=MUTED)
    for x in (lc, rc):
        s.box(x, 110, 200, 56, ["preference pairs", "(x, y_w, y_l)"], fill="data",
              weight="bold")
    # RLHF: a reward model, then the PPO loop
    s.arrow(lc, 138, lc, 172)
    s.box(lc, 204, 200, 60, ["reward model", "Bradley\u2013Terry fit"], fill="attn",
          weight="bold")
    s.arrow(lc, 234, lc, 270)
    s.box(lc + 14, 340, 172, 136, ["PPO loop", "sample replies,", "score them,",
                                   "GAE with V,", "clipped update"], fill="op", weight="bold")
    s.path("M50,392 L26,392 L26,292 L48,292")
    s.arrow(lc, 408, lc, 446)
    # DPO: one loss on the pairs, the reference read once
    s.box(rc + 40, 214, 120, 72, ["\u03c0_ref", "frozen,", "read once"], fill="cache",
          weight="bold", dash=True)
    s.arrow(rc - 70, 138, rc - 70, 282)
    s.arrow(rc + 40, 250, rc + 40, 282)
    s.box(rc, 340, 200, 116, ["one loss on", "log-prob ratios", "\u03c0_\u03b8 / \u03c0_ref of",
                              "chosen vs rejected"], fill="op", weight="bold")
    s.arrow(rc, 398, rc, 446)
    for x in (lc, rc):
        s.box(x, 474, 200, 52, ["policy \u03c0_\u03b8", ], fill="mlp", weight="bold")
    s.text(lc, 530, "in memory: policy,", color=MUTED)
    s.text(lc, 554, "\u03c0_ref, reward model,", color=MUTED)
    s.text(lc, 578, "value model", color=MUTED)
    s.text(rc, 530, "in memory: policy,", color=MUTED)
    s.text(rc, 554, "\u03c0_ref; no reward", color=MUTED)
    s.text(rc, 578, "model, no sampling", color=MUTED)
    s.box(240, 672, 440, 112, ["DPO: loss = \u2212log \u03c3(\u03b2 (\u0394_w \u2212 \u0394_l))",
                               "\u0394 = log \u03c0_\u03b8(y | x) \u2212 log \u03c0_ref(y | x)",
                               "w: the chosen reply, l: the rejected",
                               "a supervised loss on fixed pairs"], fill="data", weight="bold")
    return s.write("dpo_vs_rlhf.svg")


EVAL_SFT = (0.88, 0.20, 0.60, 0.12, 0.70, 0.38)  # illustrative per-prompt gold scores
EVAL_PPO = (0.95, 0.36, 0.52, 0.30, 0.83, 0.47)


def mean_sd(xs) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def signed(v: float) -> str:
    return f"{v:+.2f}".replace("-", "\u2212")


def evaluation_pairing(sft=EVAL_SFT, ppo=EVAL_PPO) -> Path:
    s = Svg(780, "Paired evaluation: two stages on the same held-out prompts",
            "Each prompt is answered by both stages and scored; the per-prompt differences "
            "cancel how hard each prompt is, and their mean has a small paired standard error.")
    c = 240
    s.box(c, 40, 300, 44, "N held-out prompts x_i", fill="data", weight="bold")
    s.arrow(200, 62, 140, 96)
    s.arrow(280, 62, 340, 96)
    s.box(130, 118, 190, 44, "SFT answers", fill="op")
    s.box(350, 118, 190, 44, "PPO answers", fill="op")
    s.arrow(140, 140, 200, 174)
    s.arrow(340, 140, 280, 174)
    s.box(c, 198, 380, 48, "gold score g of each answer", fill="param", weight="bold")
    x0, x1 = 84, 344  # the gold-score axis, 0 to 1

    def gx(g):
        return x0 + (x1 - x0) * g

    s.text(40, 262, "x_i", color=MUTED, weight="bold")
    s.text(gx(0), 262, "0", color=MUTED)
    s.text(gx(0.5), 262, "gold score", color=MUTED, weight="bold")
    s.text(gx(1), 262, "1", color=MUTED)
    s.text(418, 262, "d_i", color=MUTED, weight="bold")
    s.text(418, 286, "PPO \u2212 SFT", color=MUTED)
    diffs = [b - a for a, b in zip(sft, ppo)]
    for i, (a, b, d) in enumerate(zip(sft, ppo, diffs)):
        y = 316 + 36 * i
        s.text(40, y + 6, str(i + 1), color=MUTED)
        s.items.append(f'<line x1="{gx(0)}" y1="{y}" x2="{gx(1)}" y2="{y}" stroke="#d1d5db" '
                       'stroke-width="1"/>')
        s.items.append(f'<line x1="{gx(a):.1f}" y1="{y}" x2="{gx(b):.1f}" y2="{y}" '
                       f'stroke="{INK}" stroke-width="2.5"/>')
        s.items.append(f'<circle cx="{gx(a):.1f}" cy="{y}" r="7" fill="#ffffff" stroke="{INK}" '
                       'stroke-width="2"/>')
        s.items.append(f'<rect x="{gx(b) - 6:.1f}" y="{y - 6}" width="12" height="12" '
                       f'fill="{INK}"/>')
        s.text(418, y + 6, signed(d), weight="bold")
    y = 316 + 36 * len(sft) + 4
    s.items.append(f'<circle cx="110" cy="{y}" r="7" fill="#ffffff" stroke="{INK}" '
                   'stroke-width="2"/>')
    s.text(124, y + 6, "SFT", anchor="start")
    s.items.append(f'<rect x="194" y="{y - 6}" width="12" height="12" fill="{INK}"/>')
    s.text(214, y + 6, "PPO", anchor="start")
    s.text(c, y + 40, "easy or hard, a prompt moves both scores;", color=MUTED)
    s.text(c, y + 64, "the difference d_i cancels its difficulty", color=MUTED)
    n = len(diffs)
    mean_d, sd_d = mean_sd(diffs)
    se_sft, se_ppo = mean_sd(sft)[1] / math.sqrt(n), mean_sd(ppo)[1] / math.sqrt(n)
    se_paired, se_unpaired = sd_d / math.sqrt(n), math.hypot(se_sft, se_ppo)
    s.box(c, y + 138, 420, 100, [f"mean d = {signed(mean_d)} \u00b1 {se_paired:.2f}",
                                 "paired SE = sd(d) / \u221aN",
                                 f"unpaired: \u221a(SE\u2081\u00b2 + SE\u2082\u00b2) = {se_unpaired:.2f}",
                                 f"z = {mean_d / se_paired:.1f} paired, {mean_d / se_unpaired:.1f} unpaired"],
          fill="op", weight="bold")
    s.text(c, y + 214, f"illustrative numbers, N = {n}", color=MUTED)
    return s.write("evaluation_pairing.svg")


GRPO_REWARDS = (1, 0, 0, 1, 0, 0)  # the verifier's verdicts on one group


def grpo_groups(rewards=GRPO_REWARDS) -> Path:
    s = Svg(756, "GRPO: a group of sampled replies per prompt is its own baseline",
            "For one prompt the policy samples G replies; the verifier scores each 1 or 0; each "
            "reply's advantage is its reward minus the group mean, divided by the group's "
            "standard deviation. No value model is needed.")
    c, g = 240, len(rewards)
    s.text(c, 32, "GRPO: the group is the baseline", weight="bold", size=18)
    s.box(c, 76, 200, 44, "one prompt x", fill="data", weight="bold")
    s.arrow(c, 98, c, 124)
    s.box(c, 148, 300, 44, f"policy \u03c0_\u03b8 samples G = {g}", fill="mlp", weight="bold")
    s.arrow(90, 170, 90, 226)
    mean = sum(rewards) / g
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / g)
    s.text(250, 214, "verifier r", color=MUTED, weight="bold")
    s.text(400, 214, "advantage A", color=MUTED, weight="bold")
    for i, r in enumerate(rewards):
        y = 252 + 46 * i
        s.box(90, y, 120, 38, f"reply {i + 1}", fill="op")
        s.arrow(152, y, 196, y)
        s.box(250, y, 100, 38, f"r = {r}", fill="mlp" if r else "cache", weight="bold",
              dash=not r)
        s.arrow(302, y, 346, y)
        s.text(400, y + 6, signed((r - mean) / std), weight="bold")
    y = 252 + 46 * g
    s.box(c, y + 22, 420, 78, ["A = (r \u2212 group mean) / group std",
                               f"here: mean {mean:.2f}, std {std:.2f}",
                               "every token of a reply gets its A"], fill="op", weight="bold")
    s.text(c, y + 92, "all right or all wrong: A = 0, no signal", color=MUTED)
    s.items.append(f'<line x1="20" y1="{y + 114}" x2="460" y2="{y + 114}" stroke="#9ca3af" '
                   'stroke-width="1.5" stroke-dasharray="6 4"/>')
    vy = y + 172
    s.box(110, vy, 170, 72, ["value model V", "PPO's baseline", "(chapter 11)"], fill="cache",
          stroke="#9ca3af", dash=True)
    s.items.append(f'<line x1="42" y1="{vy - 21}" x2="178" y2="{vy - 21}" stroke="{GRAD}" '
                   'stroke-width="2.5"/>')
    s.text(214, vy - 18, "not needed: the group", anchor="start")
    s.text(214, vy + 6, "mean stands in for it,", anchor="start")
    s.text(214, vy + 30, "one model less to train", anchor="start")
    return s.write("grpo_groups.svg")


DIAGRAMS = (backprop_graph, attention_flow, transformer_block, gpt_stack, kv_cache,
            sft_chat_format, reward_model, rlhf_ppo_loop, dpo_vs_rlhf, evaluation_pairing,
            grpo_groups)


def main() -> None:
    for make in DIAGRAMS:
        print(make())


if __name__ == "__main__":
    main()
