"""Every chapter runs top to bottom on another supported Python (3.12, Colab's).

nbval re-runs the chapters on the Python of the test run (3.11 in CI) and compares their
outputs with the stored ones. This test runs each chapter once more, on Python 3.12, and
checks only that it finishes without an error: the assertions inside the chapters state
their claims with tolerances, so they hold there too. Data that could differ between
Python versions (the pydoc corpus, the stdlib (name, answer) pairs) ships with the package.

Python 3.12 is looked for in ``$MINIGPT_OTHER_PYTHON``, on the PATH as ``python3.12``, and in
pyenv's versions folder. Its environment (``.venv-py3.12`` at the repository root, made on
first use) holds only what running the chapters needs: ``requirements-chapters.txt``. The
chapters run two at a time, each kernel with one BLAS thread, as on Binder.

On a machine without Python 3.12 the test is skipped with a message that says how to get it,
except in CI (``CI`` set), where a missing Python 3.12 is a failure.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VERSION = "3.12"
VENV = REPO / f".venv-py{VERSION}"
REQUIREMENTS = REPO / "requirements-chapters.txt"
NOTEBOOK_TIMEOUT_S = 600
WORKERS = 2


def find_python(version: str) -> str | None:
    """A Python ``version`` interpreter that really runs (pyenv's shims may only complain)."""
    candidates = [os.environ.get("MINIGPT_OTHER_PYTHON"), shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / "python3")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return candidate
    return None


def chapter_environment(python: str) -> Path:
    """``.venv-py3.12`` with requirements-chapters.txt installed; remade when that file changes."""
    stamp = VENV / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted and (VENV / "bin" / "python").exists():
        return VENV
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, timeout=900)
    stamp.write_text(wanted)
    return VENV


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


def execute(venv: Path, notebook: Path) -> tuple[str, float, str]:
    """Run one chapter in a fresh kernel of ``venv``; return (name, seconds, error text or "")."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # this checkout's minigpt, not an installed copy
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    command = [str(venv / "bin" / "python"), "-c", RUN_NOTEBOOK, str(notebook), str(NOTEBOOK_TIMEOUT_S)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=notebook.parent, env=env, capture_output=True, text=True,
                            timeout=NOTEBOOK_TIMEOUT_S + 120)
    seconds = time.perf_counter() - start
    error = "" if result.returncode == 0 else (result.stdout + result.stderr)[-4000:]
    return notebook.name, seconds, error


def test_every_chapter_runs_on_python_3_12():
    python = find_python(VERSION)
    if python is None:
        message = (f"Python {VERSION} not found: set MINIGPT_OTHER_PYTHON to its interpreter, or "
                   f"install it (e.g. `pyenv install {VERSION}`)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    venv = chapter_environment(python)
    version = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith(VERSION + "."), version
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 14
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda nb: execute(venv, nb), notebooks))
    for name, seconds, error in results:
        print(f"Python {version}: {name} ran in {seconds:.0f} s" + (" -- FAILED" if error else ""))
    failed = {name: error for name, _, error in results if error}
    assert not failed, "\n\n".join(f"{name} failed on Python {version}:\n{error}" for name, error in failed.items())
