"""Other supported Pythons for the tests: find an interpreter, and give it an environment.

Each version gets one environment at the repository root, ``.venv-py<version>``, made on
first use from ``requirements-chapters.txt`` (what running the chapters needs: NumPy,
Matplotlib, a kernel, myst-nb) and remade when that file changes. An interpreter is looked
for in ``$MINIGPT_OTHER_PYTHON_<major>_<minor>`` (e.g. ``MINIGPT_OTHER_PYTHON_3_12``), on the
PATH as ``python3.12``, and in pyenv's versions folder.

``require(version)`` returns the environment's python, or skips the test with what to
install, except in CI (``CI`` set), where a missing Python is a failure: CI must prove that
the project runs on every supported version.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements-chapters.txt"


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` that really runs (pyenv's shims may only complain)."""
    candidates = [os.environ.get(f"MINIGPT_OTHER_PYTHON_{version.replace('.', '_')}"),
                  shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / "python3")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def environment(python: str, version: str) -> Path:
    """``.venv-py<version>`` with requirements-chapters.txt installed; its python."""
    venv = REPO / f".venv-py{version}"
    stamp = venv / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text().strip() == wanted and (venv / "bin" / "python").exists()):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(REQUIREMENTS)], check=True, timeout=900)
        stamp.write_text(wanted)
    return venv / "bin" / "python"


def require(version: str) -> Path:
    """The python of version ``version``'s environment (made if needed), or skip/fail."""
    python = find_python(version)
    if python is None:
        message = (f"Python {version} not found: install it (e.g. `pyenv install {version}`) or set "
                   f"MINIGPT_OTHER_PYTHON_{version.replace('.', '_')} to its interpreter")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return environment(python, version)
