"""Execute chapters top to bottom and store their outputs, as they are committed.

    python scripts/execute_notebooks.py notebooks/04_attention.ipynb [more.ipynb ...]

Each notebook runs in a fresh kernel of this Python, in the notebooks folder, with OpenBLAS
on one thread (as on Binder, and as the tests re-run them), and is written back in place
only if every cell succeeded. Cell timing metadata is dropped, so a re-run that prints the
same outputs leaves the file unchanged. Prints each notebook's wall time and records it in
book/chapter_times.json ({"01_tokenization": seconds, ...}), which the book's chapter header
cards read ("about 2 min on one core"); --no-times leaves that file alone, --time-only
records the time without storing the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

TIMEOUT_S = 900
TIMES_PATH = Path(__file__).resolve().parent.parent / "book" / "chapter_times.json"


def record_time(stem: str, seconds: float, times_path: Path = TIMES_PATH) -> None:
    """Store one notebook's wall time (seconds, one decimal) under its file stem, keys sorted."""
    times = json.loads(times_path.read_text(encoding="utf-8")) if times_path.exists() else {}
    times[stem] = round(seconds, 1)
    text = json.dumps(dict(sorted(times.items())), indent=2) + "\n"
    tmp = times_path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, times_path)


def execute(path: Path, write: bool = True) -> float:
    """Run ``path`` top to bottom in a fresh kernel; store its outputs in place if ``write``.
    Returns the wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if not write:
        return seconds
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff
    text = nbformat.writes(notebook) + "\n"  # Jupyter's own layout: sources as lists of lines
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--no-times", action="store_true",
                        help=f"do not record wall times in {TIMES_PATH.name}")
    parser.add_argument("--time-only", action="store_true",
                        help="run and record the wall time, but leave the notebook's stored outputs as they are "
                             "(to re-time a chapter on a quiet machine)")
    args = parser.parse_args(argv)
    if args.time_only and args.no_times:
        parser.error("--time-only and --no-times together would do nothing but run the notebooks")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # inherited by the kernels
    for path in args.notebooks:
        try:
            seconds = execute(path, write=not args.time_only)
        except nbclient.exceptions.CellExecutionError as err:
            print(f"{path}: FAILED, not written\n{str(err)[-3000:]}", file=sys.stderr)
            return 1
        print(f"{path}: executed in {seconds:.1f} s{' (outputs not stored)' if args.time_only else ''}")
        if not args.no_times:
            record_time(path.stem, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
