"""Draw the book's conceptual diagrams as SVG files in book/figures/diagrams/.

    python scripts/make_diagrams.py

Each diagram is plain SVG written by this script (boxes, arrows, text; no dependencies). They
are drawn to be read on a phone and in dark mode:

* a white background with a grey border, so the dark text reads on a dark page too;
* a view box 480 units wide with text of at least 17 units: shown 350 px wide on a 390 px
  phone, the smallest text is 12 px (the chapters show them at most 480 px wide);
* colour is never the only carrier of meaning: gradients are red *and* written as dL/d...

The numbers in the backpropagation graph are computed here, not typed in.
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


DIAGRAMS = (backprop_graph, attention_flow, transformer_block, gpt_stack, kv_cache)


def main() -> None:
    for make in DIAGRAMS:
        print(make())


if __name__ == "__main__":
    main()
