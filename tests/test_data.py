"""Tests for minigpt.data: corpora, Tiny Shakespeare caching, splits and batches.

No test touches the network or ~/.cache: an autouse fixture points the cache
at a temporary folder and replaces ``urllib.request.urlopen`` with a function
that fails the test. Tests of the download path install their own fake.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import inspect
import io
import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigpt import data

REAL_SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")

# A stand-in for Tiny Shakespeare: the tests patch the expected size and hash
# to match it, so every mechanism can be tested without the real 1 MB file.
FAKE_SHAKESPEARE = b"First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Private cache folder, no local-copy variable, and no network."""
    monkeypatch.setenv("MINIGPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGPT_TINYSHAKESPEARE", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


@pytest.fixture
def fake_shakespeare(monkeypatch):
    """Make FAKE_SHAKESPEARE the expected Tiny Shakespeare file."""
    monkeypatch.setattr(data, "TINYSHAKESPEARE_BYTES", len(FAKE_SHAKESPEARE))
    monkeypatch.setattr(data, "TINYSHAKESPEARE_SHA256", hashlib.sha256(FAKE_SHAKESPEARE).hexdigest())
    return FAKE_SHAKESPEARE


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def install_fake_urlopen(monkeypatch, make_response):
    """Replace urlopen with one that records its calls and returns make_response()."""
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append((url, timeout))
        return make_response()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return calls


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------
# The pydoc corpus
# --------------------------------------------------------------------------


def test_pydoc_corpus_is_deterministic_and_cached():
    first = data.pydoc_corpus()
    assert data.pydoc_corpus() is first  # cached: the second call is free
    assert data._build_pydoc_corpus() == first  # and a fresh build is identical
    # Warning filters must not change the text (deprecated objects are skipped
    # whether or not their warnings are shown or raised).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data._build_pydoc_corpus() == first
    assert data.load_text() == first
    assert data.load_text("pydoc") == first


def test_pydoc_corpus_is_the_same_when_a_shell_replaces_input(monkeypatch):
    """Jupyter's kernel swaps builtins.input for its own; the corpus must not notice."""
    import builtins

    before = data._build_pydoc_corpus()
    monkeypatch.setattr(builtins, "input", lambda prompt="": "")
    assert data._build_pydoc_corpus() == before


def test_pydoc_corpus_contents():
    text = data.pydoc_corpus()
    info = data.corpus_info(text)
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
    documents = data.pydoc_corpus().split("\n\n== ")
    titles = [doc.split(" ==\n", 1)[0] for doc in documents]
    bodies = [doc.split(" ==\n", 1)[1] for doc in documents]
    assert len(set(titles)) == len(titles)
    assert len(set(bodies)) == len(bodies)
    # random.randint is random.Random().randint: same docstring, kept once.
    assert "== random.Random.randint ==" in data.pydoc_corpus()
    assert "== random.randint ==" not in data.pydoc_corpus()


def test_pydoc_corpus_same_in_a_fresh_process_and_silent():
    # A new interpreter imports every module from scratch (nothing may print)
    # and uses a different hash seed (set order must not leak into the text).
    script = "from minigpt import data; print(data.corpus_info(data.pydoc_corpus())['sha256'])"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == data.corpus_info(data.pydoc_corpus())["sha256"] + "\n"


def test_pydoc_modules_list():
    modules = data.PYDOC_MODULES
    assert isinstance(modules, tuple)
    assert list(modules) == sorted(set(modules))
    assert 30 <= len(modules) <= 60
    banned = {"this", "antigravity", "idlelib", "tkinter", "turtle", "os", "os.path", "sys", "time"}
    assert banned.isdisjoint(modules)
    assert {"math", "builtins", "collections", "re", "json", "posixpath"} <= set(modules)


def test_walking_the_modules_prints_nothing(capsys):
    for name in data.PYDOC_MODULES:
        importlib.import_module(name)
    walked = list(data.iter_documented_objects())
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert len(walked) > 1000


def test_iter_documented_objects_finds_what_is_defined_here():
    found = {name: (obj, doc) for name, obj, doc in data.iter_documented_objects()}
    # The module itself comes first, then its definitions.
    first_name, first_obj, _ = next(data.iter_documented_objects(["math"]))
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
    names = [name for name, _, _ in data.iter_documented_objects(["heapq"])]
    assert names[0] == "heapq"
    top_level = [n for n in names[1:] if n.count(".") == 1]
    assert top_level == sorted(top_level)


# --------------------------------------------------------------------------
# corpus_info and load_text(path)
# --------------------------------------------------------------------------


def test_corpus_info_numbers():
    text = "héllo\nworld"  # é is 2 bytes in UTF-8
    assert data.corpus_info(text) == {
        "chars": 11,
        "bytes": 12,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lines": 2,
    }
    assert data.corpus_info("a\nb\n")["lines"] == 2
    assert data.corpus_info("")["lines"] == 0
    with pytest.raises(TypeError, match="str"):
        data.corpus_info(b"bytes")


def test_load_text_reads_a_utf8_file(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_bytes("Ünïcode line one\r\nline two\n".encode("utf-8"))
    assert data.load_text(path) == "Ünïcode line one\nline two\n"  # \r\n -> \n
    assert data.load_text(str(path)) == data.load_text(path)


def test_load_text_missing_file_explains_names(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"(?s)No such file.*path.*'pydoc'.*'tinyshakespeare'"):
        data.load_text(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="tinyshakespeare"):
        data.load_text("tiny_shakespeare")  # a typo is read as a path
    # A Path object is always a path, even when it looks like a corpus name.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError):
        data.load_text(Path("pydoc"))


def test_load_text_rejects_non_utf8_and_empty_files(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not valid UTF-8.*0xe9.*offset 3"):
        data.load_text(latin1)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        data.load_text(empty)


# --------------------------------------------------------------------------
# Tiny Shakespeare
# --------------------------------------------------------------------------


def test_tinyshakespeare_constants():
    assert data.TINYSHAKESPEARE_URL == (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    )
    assert data.TINYSHAKESPEARE_SHA256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert data.TINYSHAKESPEARE_BYTES == 1115394


def test_cache_dir_comes_from_env_or_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGPT_CACHE", str(tmp_path / "elsewhere"))
    assert data._cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("MINIGPT_CACHE")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    assert data._cache_dir() == tmp_path / "home" / ".cache" / "minigpt"


def test_env_var_file_is_used_first(fake_shakespeare, monkeypatch, tmp_path, cache_dir):
    local = tmp_path / "my_copy.txt"
    local.write_bytes(fake_shakespeare)
    # Even a (bad) cache file is not consulted when the variable is set.
    cache_dir.mkdir()
    (cache_dir / "tinyshakespeare.txt").write_bytes(b"something else")
    monkeypatch.setenv("MINIGPT_TINYSHAKESPEARE", str(local))
    assert data.load_text("tinyshakespeare") == fake_shakespeare.decode()


def test_env_var_pointing_nowhere(fake_shakespeare, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGPT_TINYSHAKESPEARE", str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError, match="MINIGPT_TINYSHAKESPEARE.*no such file"):
        data.load_text("tinyshakespeare")


def test_env_var_file_with_wrong_content(fake_shakespeare, monkeypatch, tmp_path):
    local = tmp_path / "edited.txt"
    local.write_bytes(fake_shakespeare.replace(b"speak", b"SPEAK"))
    monkeypatch.setenv("MINIGPT_TINYSHAKESPEARE", str(local))
    found = hashlib.sha256(local.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as excinfo:
        data.load_text("tinyshakespeare")
    message = str(excinfo.value)
    assert data.TINYSHAKESPEARE_SHA256 in message  # what was expected
    assert found in message  # what was found
    assert "MINIGPT_TINYSHAKESPEARE" in message  # what to do


def test_valid_cache_file_is_used_without_download(fake_shakespeare, cache_dir):
    cache_dir.mkdir()
    (cache_dir / "tinyshakespeare.txt").write_bytes(fake_shakespeare)
    # The autouse fixture makes any download attempt fail the test.
    assert data.load_text("tinyshakespeare") == fake_shakespeare.decode()


def test_corrupt_cache_file_is_reported(fake_shakespeare, cache_dir):
    cache_dir.mkdir()
    (cache_dir / "tinyshakespeare.txt").write_bytes(fake_shakespeare[:-5])
    with pytest.raises(ValueError, match=r"(?s)expected \d+ bytes.*found \d+ bytes.*delete it"):
        data.load_text("tinyshakespeare")


def test_download_fills_the_cache_once(fake_shakespeare, monkeypatch, cache_dir):
    calls = install_fake_urlopen(monkeypatch, lambda: io.BytesIO(fake_shakespeare))
    assert data.load_text("tinyshakespeare") == fake_shakespeare.decode()
    assert calls == [(data.TINYSHAKESPEARE_URL, data.DOWNLOAD_TIMEOUT_S)]
    assert (cache_dir / "tinyshakespeare.txt").read_bytes() == fake_shakespeare
    assert files_in(cache_dir) == ["tinyshakespeare.txt"]  # no temporary files left
    # The second load reads the cache.
    assert data.load_text("tinyshakespeare") == fake_shakespeare.decode()
    assert len(calls) == 1


def test_download_failure_explains_the_manual_route(fake_shakespeare, monkeypatch, cache_dir):
    def offline():
        raise urllib.error.URLError("Temporary failure in name resolution")

    install_fake_urlopen(monkeypatch, offline)
    with pytest.raises(RuntimeError, match=r"(?s)Could not download.*MINIGPT_TINYSHAKESPEARE") as excinfo:
        data.load_text("tinyshakespeare")
    assert data.TINYSHAKESPEARE_URL in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, urllib.error.URLError)
    assert files_in(cache_dir) == []


def test_interrupted_download_leaves_no_file(fake_shakespeare, monkeypatch, cache_dir):
    seen_partial_file = []

    class DroppedConnection(io.BytesIO):
        """Delivers 10 bytes, then the connection breaks."""

        def read(self, size=-1):
            if self.tell() == 0:
                return super().read(10)
            # The first 10 bytes went to a temporary file, not the cache file.
            seen_partial_file.append(files_in(cache_dir))
            raise http.client.IncompleteRead(b"")

    install_fake_urlopen(monkeypatch, lambda: DroppedConnection(fake_shakespeare))
    with pytest.raises(RuntimeError, match="Could not download") as excinfo:
        data.load_text("tinyshakespeare")
    assert isinstance(excinfo.value.__cause__, http.client.IncompleteRead)
    [partial] = seen_partial_file
    assert len(partial) == 1 and partial[0].endswith(".part")
    assert files_in(cache_dir) == []


def test_corrupted_download_is_not_saved(fake_shakespeare, monkeypatch, cache_dir):
    truncated = fake_shakespeare[:-3]
    install_fake_urlopen(monkeypatch, lambda: io.BytesIO(truncated))
    with pytest.raises(ValueError, match=r"(?s)failed verification.*not saved") as excinfo:
        data.load_text("tinyshakespeare")
    assert hashlib.sha256(truncated).hexdigest() in str(excinfo.value)
    assert files_in(cache_dir) == []
    # A later good download still works.
    install_fake_urlopen(monkeypatch, lambda: io.BytesIO(fake_shakespeare))
    assert data.load_text("tinyshakespeare") == fake_shakespeare.decode()


def test_fake_file_is_loadable_as_a_plain_path(fake_shakespeare, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(fake_shakespeare)
    assert data.load_text(path) == fake_shakespeare.decode()


@pytest.mark.skipif(not REAL_SHAKESPEARE.exists(), reason="no local copy of the real file")
def test_real_tinyshakespeare(monkeypatch, cache_dir):
    monkeypatch.setenv("MINIGPT_TINYSHAKESPEARE", str(REAL_SHAKESPEARE))
    text = data.load_text("tinyshakespeare")
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    info = data.corpus_info(text)
    assert info["bytes"] == info["chars"] == data.TINYSHAKESPEARE_BYTES
    assert info["sha256"] == data.TINYSHAKESPEARE_SHA256
    assert data.load_text(REAL_SHAKESPEARE) == text
    # The same file also works as the cache, and then needs no variable.
    monkeypatch.delenv("MINIGPT_TINYSHAKESPEARE")
    cache_dir.mkdir()
    (cache_dir / "tinyshakespeare.txt").write_bytes(REAL_SHAKESPEARE.read_bytes())
    assert data.load_text("tinyshakespeare") == text


# --------------------------------------------------------------------------
# train_val_split
# --------------------------------------------------------------------------


def test_train_val_split_sizes_and_order():
    ids = np.arange(1000)
    train, val = data.train_val_split(ids)
    assert train.shape == (900,) and val.shape == (100,)
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)  # first 90% / last 10%
    train2, val2 = data.train_val_split(ids)
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(val, val2)
    train, val = data.train_val_split([5, 6, 7, 8], val_fraction=0.25)  # lists work too
    assert train.tolist() == [5, 6, 7] and val.tolist() == [8]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_train_val_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split(np.arange(100), val_fraction=fraction)


def test_train_val_split_rejects_too_little_data():
    with pytest.raises(ValueError, match="too little data"):
        data.train_val_split(np.arange(1))
    with pytest.raises(ValueError, match="too little data"):
        data.train_val_split(np.arange(4), val_fraction=0.1)  # 0.4 ids of validation
    with pytest.raises(ValueError, match="1-D"):
        data.train_val_split(np.zeros((10, 2), dtype=int))


# --------------------------------------------------------------------------
# get_batch
# --------------------------------------------------------------------------


def test_get_batch_shapes_dtypes_and_shift():
    ids = np.arange(100, 200, dtype=np.uint16)
    x, y = data.get_batch(ids, batch_size=4, block_size=8, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    assert x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    # Each row is a contiguous slice of ids: ids are consecutive numbers here.
    np.testing.assert_array_equal(x, x[:, :1] + np.arange(8))
    np.testing.assert_array_equal(y, x + 1)


def test_get_batch_uses_rng_integers_for_starts():
    ids = np.arange(50) * 3
    x, _ = data.get_batch(ids, batch_size=5, block_size=4, rng=np.random.default_rng(42))
    starts = np.random.default_rng(42).integers(0, 50 - 4, size=5)
    np.testing.assert_array_equal(x[:, 0], ids[starts])


def test_get_batch_is_deterministic_per_seed():
    ids = np.random.default_rng(1).integers(0, 65, size=500)
    a = data.get_batch(ids, 8, 16, np.random.default_rng(7))
    b = data.get_batch(ids, 8, 16, np.random.default_rng(7))
    c = data.get_batch(ids, 8, 16, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_get_batch_reaches_both_ends():
    ids = np.arange(12)
    x, y = data.get_batch(ids, batch_size=500, block_size=4, rng=np.random.default_rng(0))
    assert x[:, 0].min() == 0  # the first window
    assert y[:, -1].max() == 11  # the last id is used as a target, never read past
    # The shortest text that works: exactly block_size + 1 ids, one window.
    x, y = data.get_batch(np.arange(5), 3, 4, np.random.default_rng(0))
    assert x.tolist() == [[0, 1, 2, 3]] * 3 and y.tolist() == [[1, 2, 3, 4]] * 3


def test_get_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"block_size=8.*only 8"):
        data.get_batch(np.arange(8), 2, 8, rng)
    with pytest.raises(TypeError, match="default_rng"):
        data.get_batch(np.arange(100), 2, 8, np.random.RandomState(0))
    with pytest.raises(TypeError, match="integers"):
        data.get_batch(np.linspace(0, 1, 100), 2, 8, rng)
    with pytest.raises(ValueError, match="at least 1"):
        data.get_batch(np.arange(100), 0, 8, rng)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(2, 60),
    block_size=st.integers(1, 20),
    batch_size=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_get_batch_windows_are_slices_of_the_text(n, block_size, batch_size, seed):
    ids = np.random.default_rng(seed).integers(0, 1000, size=n)
    if n <= block_size:
        with pytest.raises(ValueError):
            data.get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
        return
    x, y = data.get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    starts = np.random.default_rng(seed).integers(0, n - block_size, size=batch_size)
    for row, start in enumerate(starts):
        np.testing.assert_array_equal(x[row], ids[start : start + block_size])
        np.testing.assert_array_equal(y[row], ids[start + 1 : start + block_size + 1])
