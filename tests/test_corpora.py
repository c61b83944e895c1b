"""Tests for minigpt.corpora: load_text, corpus_info, Tiny Shakespeare caching.

No test touches the network or ~/.cache: an autouse fixture points the cache
at a temporary folder and replaces ``urllib.request.urlopen`` with a function
that fails the test. Tests of the download path install their own fake.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from minigpt import corpora as data

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
