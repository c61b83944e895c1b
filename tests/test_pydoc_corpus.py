"""Tests for minigpt.pydoc_corpus: the walker, the builder and the shipped snapshot."""

from __future__ import annotations

import gzip
import importlib
import inspect
import json
import math
import os
import subprocess
import sys
import warnings

import pytest

from minigpt import pydoc_corpus as pc
from minigpt.corpora import corpus_info, load_text

# --------------------------------------------------------------------------
# The pydoc corpus
# --------------------------------------------------------------------------


def test_pydoc_corpus_is_deterministic_and_cached():
    first = pc.pydoc_corpus()
    assert pc.pydoc_corpus() is first  # cached: the second call is free
    assert load_text() == first
    assert load_text("pydoc") == first


def test_the_snapshot_is_what_the_builder_makes_on_python_3_11():
    """The shipped text was built on Python 3.11; there a fresh build is identical.
    (Other Pythons word some docstrings differently: that is why the text is shipped.)"""
    live = pc.build_pydoc_corpus()
    # Warning filters must not change the text (deprecated objects are skipped
    # whether or not their warnings are shown or raised).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pc.build_pydoc_corpus() == live
    assert live.startswith('== topic: assert ==\nThe "assert" statement')
    if sys.version_info[:2] == (3, 11):
        assert live == pc.pydoc_corpus()


def test_a_changed_snapshot_is_refused(tmp_path):
    path = tmp_path / "pydoc.txt.gz"
    path.write_bytes(gzip.compress(b"== topic: assert ==\nedited\n"))
    with pytest.raises(ValueError, match="was changed"):
        pc.read_snapshot(path, pc.PYDOC_SNAPSHOT_SHA256)
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot be read"):
        pc.read_snapshot(path, pc.PYDOC_SNAPSHOT_SHA256)


def test_the_snapshot_is_the_same_on_every_python():
    """Python 3.10-3.13 read the same bytes: no part of pydoc_corpus() looks at the
    running interpreter. (The notebooks' test runs every chapter on 3.12 too.)"""
    assert corpus_info(pc.pydoc_corpus())["sha256"] == pc.PYDOC_SNAPSHOT_SHA256


def test_pydoc_corpus_is_the_same_when_a_shell_replaces_input(monkeypatch):
    """Jupyter's kernel swaps builtins.input for its own; the corpus must not notice."""
    import builtins

    before = pc.build_pydoc_corpus()
    monkeypatch.setattr(builtins, "input", lambda prompt="": "")
    assert pc.build_pydoc_corpus() == before


def test_pydoc_corpus_contents():
    text = pc.pydoc_corpus()
    info = corpus_info(text)
    assert 300_000 < info["bytes"] < 5_000_000
    # A reference topic, shipped with CPython for help("assert").
    assert '== topic: assert ==\nThe "assert" statement' in text
    # A docstring, under its qualified name.
    assert f"== math.sqrt ==\n{inspect.getdoc(math.sqrt)}\n\n" in text
    assert "== collections.Counter.most_common ==\n" in text
    # Plain text: \n newlines, no tabs, no trailing spaces, ends with a newline.
    assert "\r" not in text and "\t" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))
    assert text.endswith("\n") and not text.endswith("\n\n")
    # Topics come first, in sorted order.
    headers = [line for line in text.split("\n") if line.startswith("== ") and line.endswith(" ==")]
    topics = [h for h in headers if h.startswith("== topic: ")]
    assert headers[: len(topics)] == topics == sorted(topics)


def test_pydoc_corpus_has_no_duplicate_documents():
    documents = pc.pydoc_corpus().split("\n\n== ")
    titles = [doc.split(" ==\n", 1)[0] for doc in documents]
    bodies = [doc.split(" ==\n", 1)[1] for doc in documents]
    assert len(set(titles)) == len(titles)
    assert len(set(bodies)) == len(bodies)
    # random.randint is random.Random().randint: same docstring, kept once.
    assert "== random.Random.randint ==" in pc.pydoc_corpus()
    assert "== random.randint ==" not in pc.pydoc_corpus()


def test_pydoc_corpus_same_in_a_fresh_process_and_silent():
    # A new interpreter reads the snapshot (nothing may print) with a different
    # hash seed (set order must not leak into the text).
    script = "from minigpt import corpora; print(corpora.corpus_info(corpora.load_text('pydoc'))['sha256'])"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == corpus_info(pc.pydoc_corpus())["sha256"] + "\n"


def test_pydoc_modules_list():
    modules = pc.PYDOC_MODULES
    assert isinstance(modules, tuple)
    assert list(modules) == sorted(set(modules))
    assert 30 <= len(modules) <= 60
    banned = {"this", "antigravity", "idlelib", "tkinter", "turtle", "os", "os.path", "sys", "time"}
    assert banned.isdisjoint(modules)
    assert {"math", "builtins", "collections", "re", "json", "posixpath"} <= set(modules)


def test_walking_the_modules_prints_nothing(capsys):
    for name in pc.PYDOC_MODULES:
        importlib.import_module(name)
    walked = list(pc.iter_documented_objects())
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert len(walked) > 1000


def test_iter_documented_objects_finds_what_is_defined_here():
    found = {name: (obj, doc) for name, obj, doc in pc.iter_documented_objects()}
    # The module itself comes first, then its definitions.
    first_name, first_obj, _ = next(pc.iter_documented_objects(["math"]))
    assert first_name == "math" and first_obj is math
    assert found["math.sqrt"] == (math.sqrt, inspect.getdoc(math.sqrt))
    assert found["json.dumps"][0] is json.dumps
    assert "heapq.heappush" in found  # C accelerator (_heapq) counts as heapq
    assert "json.JSONDecoder" in found  # defined in the submodule json.decoder
    assert "random.random" in found  # bound method of random's hidden Random()
    assert "collections.Counter.most_common" in found  # a method
    assert "builtins.OSError" in found and "builtins.IOError" not in found  # alias
    # Imported names are not "defined here"; private names are skipped.
    assert not any(name.startswith(("glob.os", "glob.fnmatch", "json.codecs")) for name in found)
    assert not any(part.startswith("_") for name in found for part in name.split("."))
    assert all(doc and doc == doc.strip() for _, doc in found.values())


def test_iter_documented_objects_is_sorted_within_a_module():
    names = [name for name, _, _ in pc.iter_documented_objects(["heapq"])]
    assert names[0] == "heapq"
    top_level = [n for n in names[1:] if n.count(".") == 1]
    assert top_level == sorted(top_level)
