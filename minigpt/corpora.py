"""Training text: where the characters come from (chapter 1).

Two corpora are built in, plus any text file of your own:

* ``"pydoc"`` (the default) -- Python's own documentation, shipped with the
  package (``minigpt.pydoc_corpus``). No network, no download, and the same
  text on every Python version, so every example in the book works offline
  and gives the book's numbers.
* ``"tinyshakespeare"`` -- 1.1 MB of Shakespeare's plays, the classic
  character-level corpus. Downloaded once into a cache and verified by its
  SHA-256 every time it is read (see ``load_text``).
* any other string or path -- a UTF-8 text file of your own.

``corpus_info(text)`` gives a text's size and fingerprint, to record next to
results trained on it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from .pydoc_corpus import pydoc_corpus

__all__ = [
    "TINYSHAKESPEARE_URL",
    "TINYSHAKESPEARE_SHA256",
    "TINYSHAKESPEARE_BYTES",
    "load_text",
    "corpus_info",
]

# Names that ``load_text`` understands as built-in corpora rather than paths.
CORPUS_NAMES = ("pydoc", "tinyshakespeare")

TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINYSHAKESPEARE_BYTES = 1115394

# Environment variables: a local copy of Tiny Shakespeare, and the cache folder.
TINYSHAKESPEARE_ENV = "MINIGPT_TINYSHAKESPEARE"
CACHE_ENV = "MINIGPT_CACHE"
DOWNLOAD_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------
# Loading text
# --------------------------------------------------------------------------


def load_text(name_or_path: str | os.PathLike = "pydoc") -> str:
    """Return a training text as one string.

    ``name_or_path`` is
      * ``"pydoc"``: the embedded Python-documentation corpus (``pydoc_corpus()``);
      * ``"tinyshakespeare"``: Tiny Shakespeare, from (1) the file named by the
        ``MINIGPT_TINYSHAKESPEARE`` environment variable, else (2) the cache
        file ``<cache>/tinyshakespeare.txt`` (``<cache>`` is ``$MINIGPT_CACHE``
        or ``~/.cache/minigpt``), else (3) a download into that cache.
        Whichever it is, its size and SHA-256 are checked;
      * anything else: a path to a UTF-8 text file. (A ``Path`` object is
        always a path, even ``Path("pydoc")``.) Windows ``\\r\\n`` line ends
        become ``\\n``, so the same text gives the same characters everywhere.

    Raises FileNotFoundError for a missing file, ValueError for a file that
    is empty, not UTF-8, or (Tiny Shakespeare) not the expected bytes, and
    RuntimeError when a needed download fails.
    """
    if isinstance(name_or_path, str) and name_or_path == "pydoc":
        return pydoc_corpus()
    if isinstance(name_or_path, str) and name_or_path == "tinyshakespeare":
        return _load_tinyshakespeare()
    return _load_text_file(Path(name_or_path).expanduser())


def _load_text_file(path: Path) -> str:
    """Read a user's UTF-8 text file, with error messages that say what to do."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No such file: {str(path)!r}. load_text() treated this as a path to a "
            f"text file because it is not one of the built-in corpus names "
            f"{', '.join(repr(n) for n in CORPUS_NAMES)}."
        ) from err
    if not raw:
        raise ValueError(f"{str(path)!r} is empty: there is nothing to train on.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{str(path)!r} is not valid UTF-8 text (byte 0x{raw[err.start]:02x} at "
            f"offset {err.start}). Save it as UTF-8, or convert it, e.g. "
            f"`iconv -f latin1 -t utf-8 in.txt > out.txt`."
        ) from err
    return text.replace("\r\n", "\n").replace("\r", "\n")


def corpus_info(text: str) -> dict:
    """Size and fingerprint of a text, to record alongside training results.

    Returns ``{"chars": ..., "bytes": ..., "sha256": ..., "lines": ...}``:
    the number of characters (code points), its UTF-8 size in bytes, the
    SHA-256 of that UTF-8 encoding, and the number of lines (a last line
    without a final "\\n" still counts). Two runs trained on texts with the
    same sha256 saw exactly the same data.
    """
    if not isinstance(text, str):
        raise TypeError(f"corpus_info() expects a str, got {type(text).__name__}")
    encoded = text.encode("utf-8")
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return {
        "chars": len(text),
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "lines": lines,
    }


# --------------------------------------------------------------------------
# Tiny Shakespeare: local file, cache or download -- always verified
# --------------------------------------------------------------------------


def _cache_dir() -> Path:
    """``$MINIGPT_CACHE`` if set, else ``~/.cache/minigpt``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "minigpt"


def _load_tinyshakespeare() -> str:
    """Tiny Shakespeare from $MINIGPT_TINYSHAKESPEARE, the cache, or the web."""
    local_copy = os.environ.get(TINYSHAKESPEARE_ENV)
    if local_copy:
        path = Path(local_copy).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{TINYSHAKESPEARE_ENV} is set to {local_copy!r}, but there is no such "
                f"file. Point it at a copy of {TINYSHAKESPEARE_URL}, or unset it to "
                f"use the cache in {_cache_dir()}."
            )
        data = path.read_bytes()
        _verify_tinyshakespeare(
            data,
            source=f"{str(path)!r} (from {TINYSHAKESPEARE_ENV})",
            remedy=f"Point {TINYSHAKESPEARE_ENV} at an unmodified copy of "
            f"{TINYSHAKESPEARE_URL}, or unset it to download one.",
        )
        return data.decode("utf-8")

    cache_file = _cache_dir() / "tinyshakespeare.txt"
    if not cache_file.exists():
        _download_tinyshakespeare(cache_file)
    data = cache_file.read_bytes()
    _verify_tinyshakespeare(
        data,
        source=f"the cache file {str(cache_file)!r}",
        remedy="The cached copy is damaged or was edited: delete it and run "
        "again to download a fresh copy.",
    )
    return data.decode("utf-8")


def _verify_tinyshakespeare(data: bytes, source: str, remedy: str) -> None:
    """Raise ValueError unless ``data`` has the expected size and SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    if len(data) == TINYSHAKESPEARE_BYTES and digest == TINYSHAKESPEARE_SHA256:
        return
    raise ValueError(
        f"Tiny Shakespeare from {source} failed verification: expected "
        f"{TINYSHAKESPEARE_BYTES} bytes with SHA-256 {TINYSHAKESPEARE_SHA256}, "
        f"found {len(data)} bytes with SHA-256 {digest}. {remedy}"
    )


def _download_tinyshakespeare(destination: Path) -> None:
    """Download Tiny Shakespeare to ``destination``, all or nothing.

    The bytes go to a temporary file next to ``destination``; only once its
    size and SHA-256 check out is it renamed into place. ``os.replace`` is
    atomic, so an interrupted or corrupted download never leaves a
    half-written cache file that a later run would trust.
    """
    temp_path: Path | None = None
    try:
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                dir=destination.parent, prefix=".tinyshakespeare-", suffix=".part"
            )
            temp_path = Path(temp_name)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                TINYSHAKESPEARE_URL, timeout=DOWNLOAD_TIMEOUT_S
            ) as response:
                shutil.copyfileobj(response, out)
        # URLError, HTTPError, timeouts and dropped connections are OSErrors;
        # IncompleteRead and friends are HTTPExceptions.
        except (OSError, http.client.HTTPException) as err:
            raise RuntimeError(
                f"Could not download Tiny Shakespeare from {TINYSHAKESPEARE_URL} "
                f"to {str(destination)!r}: {err}. To use it without this download, "
                f"fetch the file yourself (e.g. `curl -L -o tinyshakespeare.txt "
                f"{TINYSHAKESPEARE_URL}` on a machine with internet access) and "
                f"point {TINYSHAKESPEARE_ENV} at it "
                f"(`export {TINYSHAKESPEARE_ENV}=/path/to/tinyshakespeare.txt`), "
                f"or copy it to {str(destination)!r}."
            ) from err
        _verify_tinyshakespeare(
            temp_path.read_bytes(),
            source=TINYSHAKESPEARE_URL,
            remedy="The download was incomplete or altered and was not saved; "
            f"try again, or fetch the file yourself and point "
            f"{TINYSHAKESPEARE_ENV} at it.",
        )
        os.replace(temp_path, destination)
    finally:
        # After a successful os.replace the temporary name no longer exists;
        # after any failure this removes the partial file.
        if temp_path is not None:
            temp_path.unlink(missing_ok=True)
