"""The rules that keep the chapters' tests portable, checked on the stored notebooks.

nbval (run on every chapter by the README's test command) compares a re-run's outputs
with the stored ones as text. That is only fair for text that is the same on every machine
and supported Python; so:

* a number printed below 1e-4 in scientific notation (round-off, "1.2e-07") is masked by
  ``tests/nbval_sanitize.cfg``, and the cell that prints it must state its claim with an
  ``assert`` (the bound is what is tested, not the digits);
* a cell whose printed numbers depend on BLAS kernels or threads in their last digits is
  tagged ``nbval-ignore-output`` and must also carry an ``assert`` with a tolerance (a cell
  that measures time is the exception: the project never asserts on time);
* tags, not ``# NBVAL_...`` comments, say so (a reader of the book never sees tags);
* the chapters are stored executed, in order, without errors.
"""

from __future__ import annotations

import base64
import configparser
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"


def _round_off_pattern() -> re.Pattern:
    config = configparser.ConfigParser()
    config.read(SANITIZE)
    return re.compile(config["round-off"]["regex"])


def _code_cells(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append("".join(output["text"]))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") or mime.startswith("application/papermill"):
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def _where(path: Path, index: int, cell) -> str:
    first = "".join(cell["source"]).strip().split("\n")[0][:70]
    return f"{path.name} code cell {index + 1} ({first!r})"


def test_the_round_off_rule_masks_round_off_only():
    pattern = _round_off_pattern()
    assert pattern.sub("R", "loss 1.2e-07, gradient 7.0e-10, exact +0.0e+00") == "loss R, gradient R, exact R"
    assert pattern.sub("R", "lr 3e-4, 1.5e-03, 2.5e+03, 0.0123, 1e-3") == "lr 3e-4, 1.5e-03, 2.5e+03, 0.0123, 1e-3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_round_off_prints_come_with_an_assertion(path):
    pattern = _round_off_pattern()
    missing = [_where(path, i, cell) for i, cell in enumerate(_code_cells(path))
               if pattern.search(_output_text(cell)) and "assert" not in "".join(cell["source"])]
    assert not missing, "cells that print round-off with no assertion of its bound:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_unchecked_outputs_come_with_an_assertion(path):
    missing = [_where(path, i, cell) for i, cell in enumerate(_code_cells(path))
               if "nbval-ignore-output" in cell.get("metadata", {}).get("tags", [])
               and "assert" not in "".join(cell["source"])
               and "perf_counter" not in "".join(cell["source"])]
    assert not missing, "cells whose output nbval ignores, with no assertion of what they claim:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tags_not_comments(path):
    comments = [_where(path, i, cell) for i, cell in enumerate(_code_cells(path))
                if re.search(r"#\s*NBVAL_", "".join(cell["source"]))]
    assert not comments, "use cell tags (nbval-ignore-output, nbval-skip), not NBVAL comments:\n" + "\n".join(comments)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_executed_in_order_without_errors(path):
    cells = [c for c in _code_cells(path) if "".join(c["source"]).strip()]
    counts = [c.get("execution_count") for c in cells]
    assert None not in counts, f"{path.name}: not executed (run it top to bottom before committing)"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not executed top to bottom in one run"
    errors = [o.get("ename") for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored error outputs {errors}"


# --- The reader's view (issue #13) -------------------------------------------------------
# Every chapter: code that fits its box, figures with alt text and a caption, stored sharp
# and no wider than the column, and exercises with a tier and a time.
READER_RULES = NOTEBOOKS
# A code cell in the built book shows about 77 characters at 1280 px before it scrolls;
# scripts/format_notebooks.py fits the chapters to this width.
CODE_WIDTH = 76
# A fenced code block in a markdown cell (an exercise's solution) sits in the solution's
# box, 20 px narrower: about 75 characters; 74 keeps the same margin of about a character.
FENCED_CODE_WIDTH = CODE_WIDTH - 2
# The book's text column at 1280 px; a wider figure is shrunk, and its text with it.
COLUMN_PX = 688


def _images(cell):
    return [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("path", READER_RULES, ids=lambda p: p.stem)
def test_every_figure_has_alt_text_and_a_caption(path):
    missing = []
    for i, cell in enumerate(_code_cells(path)):
        if not _images(cell):
            continue
        mystnb = cell.get("metadata", {}).get("mystnb", {})
        alt = mystnb.get("image", {}).get("alt", "")
        caption = mystnb.get("figure", {}).get("caption", "")
        if len(alt.split()) < 5 or not caption.strip():
            missing.append(_where(path, i, cell))
    assert not missing, ("figures without alt text (metadata mystnb.image.alt, a sentence) "
                         "or a caption (mystnb.figure.caption):\n" + "\n".join(missing))


@pytest.mark.parametrize("path", READER_RULES, ids=lambda p: p.stem)
def test_figures_fit_the_column_at_high_density(path):
    problems = []
    for i, cell in enumerate(_code_cells(path)):
        for output in _images(cell):
            size = output.get("metadata", {}).get("image/png", {})
            png = output["data"]["image/png"]
            png = "".join(png) if isinstance(png, list) else png
            pixels = int.from_bytes(base64.b64decode(png[:64])[16:20], "big")
            if "width" not in size or pixels < 1.9 * size["width"]:
                problems.append(_where(path, i, cell) + ": not stored at 2x (call book_style())")
            elif size["width"] > COLUMN_PX:
                problems.append(_where(path, i, cell) + f": {size['width']} px wide, shrunk")
    assert not problems, "figures that would be soft or shrunk:\n" + "\n".join(problems)


_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_CODE_DIRECTIVES = ("{code-block}", "{code}", "{sourcecode}", "{code-cell}")


def _fenced_code_lines(markdown: str) -> list[str]:
    """The lines of the fenced code blocks (```` ```python ````, ```` ```text ````, ...) in a
    markdown cell, shown in the same code box as a code cell. A ```` ```{directive} ````
    fence is a container whose body is markdown, not code."""
    code_lines, containers, code = [], [], None  # code: (fence, indent) of the open block
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if code is not None:
            if m and m.group(2)[0] == code[0][0] and len(m.group(2)) >= len(code[0]) \
                    and not m.group(3).strip():
                code = None
            else:
                code_lines.append(line[min(code[1], len(line) - len(line.lstrip(" "))):])
            continue
        if not m or (m.group(2)[0] == "`" and "`" in m.group(3)):
            continue
        fence, info = m.group(2), m.group(3).strip()
        if not info and containers and containers[-1][0] == fence[0] \
                and len(fence) >= len(containers[-1]):
            containers.pop()
        elif info.startswith("{") and not info.startswith(_CODE_DIRECTIVES):
            containers.append(fence)
        else:
            code = (fence, len(m.group(1)))
    return code_lines


def test_fenced_code_lines_are_found():
    markdown = ("text ```inline```\n````{exercise} T\nbody\n```python\nx = 1\n```\n````\n"
                "```{note}\nprose\n```\n  ~~~text\n  y\n  ~~~\n```\nz\n```\n")
    assert _fenced_code_lines(markdown) == ["x = 1", "y", "z"]


@pytest.mark.parametrize("path", READER_RULES, ids=lambda p: p.stem)
def test_code_lines_fit_the_code_box(path):
    def width(cell):   # a folded cell (hide-input) opens in a box as narrow as a solution's
        return FENCED_CODE_WIDTH if "hide-input" in cell.get("metadata", {}).get("tags", []) else CODE_WIDTH

    long = [f"{_where(path, i, cell)}: {line!r}"
            for i, cell in enumerate(_code_cells(path))
            for line in "".join(cell["source"]).split("\n") if len(line) > width(cell)]
    notebook = json.loads(path.read_text(encoding="utf-8"))
    long += [f"{path.name} markdown cell {i + 1}, fenced code: {line!r}"
             for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown"
             for line in _fenced_code_lines("".join(cell["source"]))
             if len(line) > FENCED_CODE_WIDTH]
    assert not long, (f"code lines longer than {CODE_WIDTH} characters in code cells or "
                      f"{FENCED_CODE_WIDTH} in folded cells and in fenced code blocks of markdown cells (they "
                      "scroll sideways; scripts/format_notebooks.py fits them):\n"
                      + "\n".join(long))


@pytest.mark.parametrize("path", READER_RULES, ids=lambda p: p.stem)
def test_exercises_have_a_tier_and_a_time(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    heads = re.findall(r"(?:```+|:::+)\{exercise\}([^\n]*)\n((?::[^\n]*\n)*)", text)
    assert heads, f"{path.name}: no exercises found"
    bad = [title for title, options in heads
           if not re.search(r"\(~\d+ min\)\s*$", title)
           or not re.search(r"^:class: (warm-up|core|challenge)$", options, re.M)]
    assert not bad, f"{path.name}: exercises without a tier or a time estimate: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_installs_what_the_chapter_imports(path):
    """On Colab only the first cell's installs exist: the package, and myst-nb where the
    chapter glues numbers into its prose (without it the chapter stops at its import)."""
    cells = _code_cells(path)
    source = "".join(cells[0]["source"])
    assert "google.colab" in source and "minigpt @" in source, f"{path.name}: first code cell is not the Colab install"
    uses_glue = any(re.search(r"import glue\b|\bglue\(", "".join(c["source"])) for c in cells)
    assert not uses_glue or "myst-nb" in source, f"{path.name} uses glue but its Colab cell does not install myst-nb"


_PLOTTING = re.compile(r"\b(plt|ax|axes|axs|fig|ax\d)\b[.\[]|plots\.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_that_only_draw_are_folded(path):
    """A cell that shows a figure and is mostly matplotlib (60% of its code lines or more) is
    tagged hide-input: the figure stays in the reading flow, its code opens with a click."""
    unfolded = []
    for i, cell in enumerate(_code_cells(path)):
        if not _images(cell):
            continue
        lines = [ln for ln in "".join(cell["source"]).split("\n") if ln.strip() and not ln.strip().startswith("#")]
        drawing = sum(bool(_PLOTTING.search(ln)) for ln in lines)
        tags = cell.get("metadata", {}).get("tags", [])
        if len(lines) > 1 and drawing >= 0.6 * len(lines) and "hide-input" not in tags:
            unfolded.append(_where(path, i, cell))
    assert not unfolded, "cells that only draw a figure, not folded (tag hide-input):\n" + "\n".join(unfolded)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sections_are_numbered_in_order(path):
    """Every chapter numbers its sections the same way (1.1, 1.2, ...; A.1, ... in the
    appendix), so a reference like "section 4.3" means the same thing in every chapter."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.M | re.S)          # not inside code blocks
    sections = re.findall(r"^## (\S+) ", text, re.M)
    prefix = "A" if path.stem.startswith("appendix") else path.stem.split("_")[0].lstrip("0")
    assert sections == [f"{prefix}.{k}" for k in range(1, len(sections) + 1)], f"{path.name}: {sections}"
