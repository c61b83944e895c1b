"""Fit the code cells of chapters to the width of the book's code box.

    python scripts/format_notebooks.py notebooks/04_attention.ipynb [...] [--width 76]
        [--fenced-width 74] [--check]

A code cell in the built book shows about 77 characters at 1280 px before it scrolls
sideways. This script touches only the statements that are too wide, so the rest of a cell
keeps its hand-made layout (the aligned shape comments, compact imports):

1. a trailing comment that makes its line too long moves onto its own line above it
   (wrapped if it is long), so the explanation is never cut off;
2. a statement that is still too long is reformatted by yapf (PEP 8 style: continuation
   lines aligned with the opening bracket, arguments filled), only on that statement's
   lines (``.venv/bin/pip install yapf``); where yapf would break inside a bracket of a
   condition, ``ruff format --range`` wraps it in parentheses instead (``pip install ruff``);
3. a string literal inside brackets that still overflows is split into two adjacent
   literals at a space, and its statement is formatted again.

IPython magics (``%pip ...``) are left as they are. Lines that cannot be fitted are listed;
``--check`` lists the too-long lines and changes nothing (exit status 1 if there are any).

Fenced code blocks inside markdown cells (the exercise solutions' ```` ```python ````) are
code boxes too, but a solution's box is 20 px narrower (about 75 characters), so they are
fitted to ``--fenced-width`` (74: the same margin of about a character as a code cell's
76). A ``python`` (``py``, ``ipython``, ``{code-block} python``) block whose code parses is
fitted by the rules above; any other block (```` ```text ````, ```` ```bash ````, or Python
that does not parse) is left for a hand edit and its too-long lines are listed. The
markdown outside the fences is kept byte for byte; a ```` ```{directive} ```` fence is a
container, not code, and its body is read as markdown.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

WIDTH = 76
FENCED_WIDTH = 74  # fenced code in markdown cells: mostly inside a solution's narrower box
RUFF = Path(sys.executable).with_name("ruff")
AWKWARD = re.compile(r"^\s*[\]\)\}]+ ?(?:[=<>!+\-*/%]|and\b|or\b|if\b|for\b|in\b)", re.M)
STYLE = "{based_on_style: pep8, column_limit: %d, split_before_named_assigns: false}"
MAGIC = re.compile(r"^(\s*)([%!].*)$")


def too_long(src: str, width: int) -> list[int]:
    """1-based numbers of the lines of ``src`` longer than ``width``."""
    return [i + 1 for i, line in enumerate(src.split("\n")) if len(line) > width]


def mask_magics(src: str) -> tuple[str, list[str]]:
    """Replace IPython magic lines by placeholders that Python can parse."""
    magics, lines = [], []
    for line in src.split("\n"):
        m = MAGIC.match(line)
        if m:
            lines.append(f"{m.group(1)}pass  # __magic_{len(magics)}__")
            magics.append(line)
        else:
            lines.append(line)
    return "\n".join(lines), magics


def unmask_magics(src: str, magics: list[str]) -> str:
    lines = src.split("\n")
    for i, line in enumerate(lines):
        m = re.search(r"pass  # __magic_(\d+)__$", line)
        if m:
            lines[i] = magics[int(m.group(1))]
    return "\n".join(lines)


def move_comments(src: str, width: int) -> str:
    """Fit the comments of too-long lines.

    A trailing comment first moves closer to its code (two spaces), keeping a block of
    aligned comments aligned; if that is not enough it moves onto its own line above.
    A comment on its own line that is too long is wrapped.
    """
    tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
    lines = src.split("\n")
    trailing = {}  # line number -> column of its trailing comment
    for tok in tokens:
        if tok.type == tokenize.COMMENT and "__magic_" not in tok.string:
            row, col = tok.start
            if lines[row - 1][:col].strip():
                trailing[row] = col
    # blocks of consecutive lines whose trailing comments share a column
    blocks, row = [], None
    for r in sorted(trailing):
        if blocks and r == blocks[-1][-1] + 1 and trailing[r] == trailing[blocks[-1][-1]]:
            blocks[-1].append(r)
        else:
            blocks.append([r])
    moves = set()
    for block in blocks:
        if all(len(lines[r - 1]) <= width for r in block):
            continue
        codes = {r: lines[r - 1][: trailing[r]].rstrip() for r in block}
        comments = {r: lines[r - 1][trailing[r]:] for r in block}
        col = max(len(c) for c in codes.values()) + 2
        if all(col + len(comments[r]) <= width for r in block):
            for r in block:
                lines[r - 1] = codes[r].ljust(col) + comments[r]
        else:
            moves.update(r for r in block if len(lines[r - 1]) > width)
    for row in sorted(set(range(1, len(lines) + 1)), reverse=True):
        line = lines[row - 1]
        indent = re.match(r"\s*", line).group(0)
        if row in moves:
            col = trailing[row]
            text = line[col:].lstrip("#").strip()
            lines[row - 1] = line[:col].rstrip()
        elif line.strip().startswith("#") and len(line) > width and "__magic_" not in line:
            text = line.strip().lstrip("#").strip()
            del lines[row - 1]
        else:
            continue
        wrapped = textwrap.wrap(text, width - len(indent) - 2) or [""]
        lines[row - 1 : row - 1] = [f"{indent}# {part}" for part in wrapped]
    return "\n".join(lines)


def statement_span(src: str, line: int) -> tuple[int, int] | None:
    """First and last line of the innermost simple statement that contains ``line``."""
    best = None
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.stmt) and node.lineno <= line <= node.end_lineno:
            if isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try,
                                 ast.FunctionDef, ast.ClassDef, ast.AsyncFor, ast.AsyncWith,
                                 ast.AsyncFunctionDef)):
                # a compound statement: only its header lines, up to its body
                end = node.body[0].lineno - 1 if node.body[0].lineno > node.lineno else node.lineno
                if hasattr(node, "decorator_list") and node.decorator_list:
                    start = node.decorator_list[0].lineno
                else:
                    start = node.lineno
                if not (start <= line <= end):
                    continue
                span = (start, end)
            else:
                span = (node.lineno, node.end_lineno)
            if best is None or span[1] - span[0] <= best[1] - best[0]:
                best = span
    return best


def yapf_lines(src: str, start: int, end: int, width: int) -> str:
    """Reformat lines ``start`` to ``end`` (1-based, inclusive) of ``src`` with yapf."""
    from yapf.yapflib.yapf_api import FormatCode

    new, _ = FormatCode(src + "\n", style_config=STYLE % width, lines=[(start, end)])
    new = new if src.endswith("\n") else new.rstrip("\n")
    if len(AWKWARD.findall(new)) > len(AWKWARD.findall(src)):
        # yapf broke inside a bracket (`foo([a\n  ]) == b`): ruff adds parentheses instead
        result = subprocess.run(
            [str(RUFF), "format", "--line-length", str(width), "--range", f"{start}-{end + 1}",
             "--stdin-filename", "cell.py", "-"],
            input=src, capture_output=True, text=True, check=True)
        new = result.stdout if src.endswith("\n") else result.stdout.rstrip("\n")
    return new


def format_long_statements(src: str, width: int) -> str:
    done = set()
    while True:
        todo = [n for n in too_long(src, width) if n not in done]
        if not todo:
            return src
        span = statement_span(src, todo[0])
        done.add(todo[0])
        if span is None:
            continue
        new = yapf_lines(src, *span, width)
        if new != src:
            done = set()
            src = new


def _split_point(body: str, room: int, fstring: bool) -> int | None:
    """Where to cut a string body so its first part fits in ``room`` characters."""
    depth, best = 0, None
    for k, ch in enumerate(body[: max(room, 0)]):
        if fstring and ch == "{":
            depth += 1
        elif fstring and ch == "}":
            depth -= 1
        elif ch == " " and depth == 0 and k > 0 and body[k - 1] != "\\":
            best = k + 1  # cut after the space
    return best if best and best < len(body) else None


def split_long_strings(src: str, width: int) -> str:
    """Split single-line string literals inside brackets that overflow the width."""
    tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
    lines = src.split("\n")
    depth = 0
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type != tokenize.STRING or depth == 0 or tok.start[0] != tok.end[0]:
            continue
        row, col = tok.start
        if tok.end[1] <= width:
            continue
        m = re.match(r"^([rRbBfFuU]*)('|\")(.*)\2$", tok.string, re.S)
        if not m or tok.string.endswith(m.group(2) * 3):
            continue
        prefix, quote, body = m.groups()
        cut = _split_point(body, width - col - len(prefix) - 2, "f" in prefix.lower())
        if cut is None:
            continue
        first, second = body[:cut], body[cut:]
        def literal(part):
            p = prefix if "{" in part or "}" in part or "f" not in prefix.lower() else prefix.replace("f", "").replace("F", "")
            return f"{p}{quote}{part}{quote}"
        line = lines[row - 1]
        indent = " " * col
        lines[row - 1] = line[:col] + literal(first) + "\n" + indent + literal(second) + line[tok.end[1]:]
        return "\n".join(lines)  # one at a time: the caller re-tokenizes
    return src


def fit(src: str, width: int) -> str:
    masked, magics = mask_magics(src)
    try:
        ast.parse(masked)
    except SyntaxError:
        return src
    for _ in range(20):
        before = masked
        masked = move_comments(masked, width)
        masked = format_long_statements(masked, width)
        split = split_long_strings(masked, width)
        if split != masked:
            masked = format_long_statements(split, width)
        if masked == before:
            break
    return unmask_magics(masked, magics)


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
CODE_DIRECTIVES = ("{code-block}", "{code}", "{sourcecode}", "{code-cell}")
PYTHON = {"python", "python3", "py", "ipython", "ipython3"}


def fenced_blocks(src: str) -> list[tuple[int, int, str, int]]:
    """The fenced code blocks of the markdown ``src``.

    One ``(first, end, language, indent)`` per block: its content is ``lines[first:end]``
    of ``src.split("\n")``, ``language`` the first word of its info string (``""`` if
    none) and ``indent`` the indentation of its opening fence. A ```` ```{directive} ````
    fence (not a code directive) is a container whose body is markdown.
    """
    lines = src.split("\n")
    blocks, containers, code = [], [], None  # code: (first, fence, language, indent)
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if code is not None:
            fence = code[1]
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) \
                    and not m.group(3).strip():
                blocks.append((code[0], i, code[2], code[3]))
                code = None
            continue
        if not m or (m.group(2)[0] == "`" and "`" in m.group(3)):
            continue  # not a fence (inline code such as ```x``` is not one)
        fence, info = m.group(2), m.group(3).strip()
        if not info and containers and containers[-1][0] == fence[0] \
                and len(fence) >= len(containers[-1]):
            containers.pop()  # closes the innermost directive
        elif info.startswith("{") and not info.startswith(CODE_DIRECTIVES):
            containers.append(fence)
        else:
            words = info.split()
            if info.startswith("{"):
                words = words[1:]
            language = words[0].strip("{}").lower() if words else ""
            code = (i + 1, fence, language, len(m.group(1)))
    if code is not None:  # an unclosed fence runs to the end of the cell
        blocks.append((code[0], len(lines), code[2], code[3]))
    return blocks


def _dedent(lines: list[str], indent: int) -> list[str]:
    return [line[min(indent, len(line) - len(line.lstrip(" "))):] for line in lines]


def fenced_too_long(src: str, width: int) -> list[int]:
    """1-based numbers of the lines of fenced code blocks in markdown ``src`` that are
    longer than ``width`` (measured without the indentation of their fence)."""
    lines = src.split("\n")
    return [first + k + 1
            for first, end, _, indent in fenced_blocks(src)
            for k, line in enumerate(_dedent(lines[first:end], indent)) if len(line) > width]


def fit_markdown(src: str, width: int) -> str:
    """Fit the too-long lines of the Python fenced code blocks of markdown ``src``; every
    other character of ``src`` is kept."""
    lines = src.split("\n")
    for first, end, language, indent in reversed(fenced_blocks(src)):
        if language not in PYTHON:
            continue
        code = _dedent(lines[first:end], indent)
        if all(len(line) <= width for line in code):
            continue
        new = fit("\n".join(code), width).split("\n")
        pad = " " * indent
        lines[first:end] = [pad + line if line else line for line in new]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--width", type=int, default=WIDTH, help="code cells")
    parser.add_argument("--fenced-width", type=int, default=FENCED_WIDTH,
                        help="fenced code blocks in markdown cells")
    parser.add_argument("--check", action="store_true", help="only list too-long lines")
    args = parser.parse_args(argv)
    left = 0
    for path in args.notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        changed = False
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "code":
                fitter, lister, kind, width = fit, too_long, "", args.width
            elif cell["cell_type"] == "markdown":
                fitter, lister, kind = fit_markdown, fenced_too_long, " (markdown)"
                width = args.fenced_width
            else:
                continue
            src = "".join(cell["source"])
            new = src if args.check else fitter(src, width)
            if new != src:
                cell["source"] = new.splitlines(keepends=True)
                changed = True
            for n in lister(new, width):
                left += 1
                print(f"{path.name} cell {index}{kind} line {n}: {new.split(chr(10))[n - 1]!r}")
        if changed:
            text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
    print(f"{left} line(s) too long (code cells: over {args.width} characters, fenced code "
          f"in markdown: over {args.fenced_width})", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
