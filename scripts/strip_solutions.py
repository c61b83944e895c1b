"""Copy the chapter notebooks without their exercise solutions, to hand out to students.

    .venv/bin/python scripts/strip_solutions.py notebooks/ student_notebooks/

Each ``{solution}`` block in a Markdown cell (colon or backtick fence) is replaced by a short
note, and a gated solution (``{solution-start}`` ... ``{solution-end}``, which may span code
cells) is removed with everything between its two ends. Everything else, outputs included, is
copied unchanged. The source notebooks are never modified.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NOTE = "*The solution to this exercise is left out of this copy.*"
# an opening fence (::: or ```, three or more) with a {solution} directive, up to its closing fence
_BLOCK = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{solution\}[^\n]*\n.*?^(?P=fence)[ \t]*$\n?",
    re.MULTILINE | re.DOTALL,
)
_GATED_START = re.compile(r"^(:{3,}|`{3,})\{solution-start\}", re.MULTILINE)
_GATED_END = re.compile(r"^(:{3,}|`{3,})\{solution-end\}[^\n]*\n(?:\1[ \t]*\n?)?", re.MULTILINE)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_notebook(nb: dict) -> tuple[dict, int]:
    """Return a copy of the notebook ``nb`` without solutions, and how many were removed."""
    cells, removed, inside_gate = [], 0, False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            if not inside_gate:
                cells.append(cell)
            continue
        text = _source(cell)
        if inside_gate:  # drop everything up to the end of the gate
            end = _GATED_END.search(text)
            if not end:
                continue
            text, inside_gate = text[end.end():], False
        text, n = _BLOCK.subn(NOTE + "\n", text)
        removed += n
        start = _GATED_START.search(text)
        while start:
            removed += 1
            end = _GATED_END.search(text, start.end())
            if end:
                text = text[: start.start()] + NOTE + "\n" + text[end.end():]
                start = _GATED_START.search(text)
            else:
                text, inside_gate, start = text[: start.start()] + NOTE + "\n", True, None
        if text.strip():
            cells.append({**cell, "source": text})
    if inside_gate:
        raise ValueError("a {solution-start} has no {solution-end}")
    return {**nb, "cells": cells}, removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="folder of notebooks (e.g. notebooks/)")
    parser.add_argument("dest", type=Path, help="folder to write the copies to (created)")
    args = parser.parse_args(argv)
    if args.src.resolve() == args.dest.resolve():
        parser.error("dest must differ from src: the source notebooks are never modified")
    notebooks = sorted(args.src.glob("*.ipynb"))
    if not notebooks:
        parser.error(f"no notebooks in {args.src}")
    args.dest.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        stripped, removed = strip_notebook(nb)
        out = args.dest / path.name
        out.write_text(json.dumps(stripped, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{out}: {removed} solution(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
