"""Every chapter runs top to bottom on another supported Python (3.12, Colab's).

nbval re-runs the chapters on the Python of the test run (3.11 in CI) and compares their
outputs with the stored ones. This test runs each chapter once more, on Python 3.12, and
checks only that it finishes without an error: the assertions inside the chapters state
their claims with tolerances, so they hold there too. Data that could differ between
Python versions (the pydoc corpus, the stdlib (name, answer) pairs) ships with the package.

Python 3.12 and its environment (``.venv-py3.12``, only what running the chapters needs) come
from ``tests/other_pythons.py``. The chapters run two at a time, each kernel with one BLAS
thread, as on Binder.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import other_pythons

REPO = Path(__file__).resolve().parents[1]
VERSION = "3.12"
NOTEBOOK_TIMEOUT_S = 600
WORKERS = 2


# Runs in the 3.12 environment: execute the notebook in a fresh kernel, in its own folder
# (as Jupyter does), and raise at the first cell that fails.
RUN_NOTEBOOK = """
import sys, nbformat, nbclient
path, timeout = sys.argv[1], int(sys.argv[2])
notebook = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                 resources={"metadata": {"path": "."}})
client.execute()
"""


def execute(python: Path, notebook: Path) -> tuple[str, float, str]:
    """Run one chapter in a fresh kernel of ``venv``; return (name, seconds, error text or "")."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # this checkout's minigpt, not an installed copy
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    command = [str(python), "-c", RUN_NOTEBOOK, str(notebook), str(NOTEBOOK_TIMEOUT_S)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=notebook.parent, env=env, capture_output=True, text=True,
                            timeout=NOTEBOOK_TIMEOUT_S + 120)
    seconds = time.perf_counter() - start
    error = "" if result.returncode == 0 else (result.stdout + result.stderr)[-4000:]
    return notebook.name, seconds, error


def test_every_chapter_runs_on_python_3_12():
    python = other_pythons.require(VERSION)
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith(VERSION + "."), version
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 14
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda nb: execute(python, nb), notebooks))
    for name, seconds, error in results:
        print(f"Python {version}: {name} ran in {seconds:.0f} s" + (" -- FAILED" if error else ""))
    failed = {name: error for name, _, error in results if error}
    assert not failed, "\n\n".join(f"{name} failed on Python {version}:\n{error}" for name, error in failed.items())
