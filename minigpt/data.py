"""Training text and batches: where the characters come from.

Two corpora are built in, plus any text file of your own:

* ``"pydoc"`` (the default) -- Python's own documentation, assembled from the
  Python you are running. It needs no network and no download, so every
  example in the book works offline. It is made of
    1. the language reference topics that CPython ships for ``help()``
       (``pydoc_data.topics.topics``: "assert", "for", "lambda", ...), and
    2. the docstrings of a fixed list of standard-library modules,
       ``PYDOC_MODULES``: each module's own docstring, then those of its
       public functions and classes and of the classes' public methods.
  The text depends on the Python version (3.11 words things differently
  from 3.12), so record ``corpus_info(text)`` next to your results.
* ``"tinyshakespeare"`` -- 1.1 MB of Shakespeare's plays, the classic
  character-level corpus. Downloaded once into a cache and verified by its
  SHA-256 every time it is read (see ``load_text``).
* any other string or path -- a UTF-8 text file of your own.

Why these modules? ``PYDOC_MODULES`` lists modules that
  * exist on every Python from 3.10 to 3.13,
  * import silently (no printing, no windows, no network, no files written),
  * look the same on every operating system.
That last rule leaves out ``os``, ``sys``, ``time`` and ``shutil``, whose
contents depend on the platform, and ``os.path``, which is an alias of
``posixpath`` on Unix but of ``ntpath`` on Windows. We include ``posixpath``
by its own name instead, so a Windows user gets the same corpus. Joke and GUI
modules (``this``, ``antigravity``, ``turtle``, ``tkinter``, ``idlelib``) are
out for the same reason: importing them prints, or opens windows.

Finally, ``train_val_split`` and ``get_batch`` turn a long 1-D array of token
ids into what the model trains on: many short windows ``x`` and the same
windows shifted by one, ``y``, the "next token" at every position.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import inspect
import os
import shutil
import tempfile
import urllib.request
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "PYDOC_MODULES",
    "TINYSHAKESPEARE_URL",
    "TINYSHAKESPEARE_SHA256",
    "TINYSHAKESPEARE_BYTES",
    "load_text",
    "pydoc_corpus",
    "corpus_info",
    "iter_documented_objects",
    "train_val_split",
    "get_batch",
]

# Names that ``load_text`` understands as built-in corpora rather than paths.
CORPUS_NAMES = ("pydoc", "tinyshakespeare")

# Standard-library modules whose docstrings go into the "pydoc" corpus.
# Sorted, fixed and documented in the module docstring: changing this list
# changes the corpus (and so every number trained on it).
PYDOC_MODULES: tuple[str, ...] = (
    "abc",
    "argparse",
    "array",
    "base64",
    "bisect",
    "builtins",
    "calendar",
    "cmath",
    "collections",
    "colorsys",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "graphlib",
    "gzip",
    "hashlib",
    "heapq",
    "html",
    "inspect",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "numbers",
    "operator",
    "pathlib",
    "posixpath",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "statistics",
    "string",
    "struct",
    "textwrap",
    "typing",
    "unicodedata",
    "urllib.parse",
    "uuid",
    "zlib",
)

TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINYSHAKESPEARE_BYTES = 1115394

# Environment variables: a local copy of Tiny Shakespeare, and the cache folder.
TINYSHAKESPEARE_ENV = "MINIGPT_TINYSHAKESPEARE"
CACHE_ENV = "MINIGPT_CACHE"
DOWNLOAD_TIMEOUT_S = 30.0

# The pydoc corpus, built on first use and then reused (it never changes
# while the program runs, and building it imports ~50 modules).
_pydoc_cache: str | None = None


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
    same sha256 saw exactly the same data. Note that ``pydoc_corpus()``
    differs between Python versions, so its sha256 does too.
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
# The "pydoc" corpus
# --------------------------------------------------------------------------


def pydoc_corpus() -> str:
    """The embedded default corpus: Python's reference topics and docstrings.

    Each document is a header line ``== <title> ==`` followed by its text,
    with one blank line between documents, e.g.::

        == topic: assert ==
        The "assert" statement
        ...

        == math.sqrt ==
        Return the square root of x.

    Reference topics come first (sorted by name), then the docstrings of
    ``iter_documented_objects()``. A docstring identical to one already
    included is skipped. The result is the same on every call (and in every
    process) for a given Python version; it is built once and then cached.
    """
    global _pydoc_cache
    if _pydoc_cache is None:
        _pydoc_cache = _build_pydoc_corpus()
    return _pydoc_cache


def _build_pydoc_corpus() -> str:
    # pydoc_data ships with CPython: the text help("assert") shows.
    from pydoc_data.topics import topics

    documents: list[str] = []
    seen_texts: set[str] = set()

    def add(title: str, text: str) -> None:
        # Many objects share a docstring (e.g. random.randint is
        # random.Random.randint); repeating it would only teach memorisation.
        if text and text not in seen_texts:
            seen_texts.add(text)
            documents.append(f"== {title} ==\n{text}\n")

    for topic in sorted(topics):
        add(f"topic: {topic}", _normalise(topics[topic]))
    for qualified_name, _obj, doc in iter_documented_objects():
        add(qualified_name, doc)
    return "\n".join(documents)


def _normalise(text: str) -> str:
    """Plain text: ``\\n`` newlines, tabs expanded, no trailing spaces, and no
    blank lines at the start or end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def iter_documented_objects(
    modules: Iterable[str] = PYDOC_MODULES,
) -> Iterator[tuple[str, object, str]]:
    """Walk modules and yield ``(qualified_name, obj, docstring)`` triples.

    For each module name, in the order given, this yields
      1. the module itself (``"math"``),
      2. its public functions and classes, sorted by name (``"math.sqrt"``),
         each class followed by its public methods, sorted by name
         (``"collections.Counter.most_common"``).
    Only objects *defined in* that module count, so ``glob`` does not yield
    the ``os`` functions it imports. "Defined in" means the object's
    ``__module__`` is the module, one of its submodules (``json.decoder``
    for ``json.JSONDecoder``), or its C accelerator (``_heapq`` for
    ``heapq.heappush``: ``heapq`` re-exports the fast C versions as its own).

    Names starting with ``_`` are private and skipped; so is a second name
    for an object that is also exported under its own ``__name__`` (e.g.
    ``builtins.IOError``, an alias of ``OSError``). The docstring is
    ``inspect.getdoc(obj)`` normalised to plain text; objects without one are
    skipped. Callables are easy to pick out with ``callable(obj)``.
    """
    if isinstance(modules, str):  # one name, not a list of one-letter names
        modules = (modules,)
    for module_name in modules:
        module = importlib.import_module(module_name)
        doc = _docstring(module)
        if doc:
            yield module_name, module, doc
        namespace = vars(module)  # vars(), not getattr: no lazy-import hooks run
        for name in sorted(namespace):
            obj = namespace[name]
            if not _is_public_definition(name, obj, module_name, namespace):
                continue
            qualified_name = f"{module_name}.{name}"
            doc = _docstring(obj)
            if doc:
                yield qualified_name, obj, doc
            if inspect.isclass(obj):
                yield from _iter_methods(qualified_name, obj, module_name)


def _iter_methods(
    class_name: str, cls: type, module_name: str
) -> Iterator[tuple[str, object, str]]:
    """Public methods written in the body of ``cls`` itself (not inherited)."""
    class_namespace = vars(cls)
    for name in sorted(class_namespace):
        if name.startswith("_"):
            continue
        attribute = class_namespace[name]
        if isinstance(attribute, (staticmethod, classmethod)):
            attribute = attribute.__func__
        # Routines only: plain attributes, properties and enum members are not methods.
        if not inspect.isroutine(attribute):
            continue
        # A Python function assigned in the class body may come from elsewhere.
        # (Methods of C classes have no __module__; they belong to the class.)
        owner = getattr(attribute, "__module__", None)
        if owner is not None and not _belongs_to(owner, module_name):
            continue
        doc = _docstring(attribute)
        if doc:
            yield f"{class_name}.{name}", attribute, doc


# Built-in names that interactive shells replace with their own functions (Jupyter's
# kernel swaps ``input`` for one that asks the notebook front end).  They are left out
# everywhere, so the corpus is the same in a script, a terminal and a notebook.
SHELL_REPLACED_BUILTINS = frozenset({"input"})


def _is_public_definition(name: str, obj: object, module_name: str, namespace: dict) -> bool:
    """Is ``namespace[name]`` a public function or class defined in ``module_name``?"""
    if name.startswith("_"):
        return False
    if module_name == "builtins" and name in SHELL_REPLACED_BUILTINS:
        return False
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return False  # constants, submodules, special forms, ...
    # An alias: the object is also exported under its real name; keep that one.
    real_name = getattr(obj, "__name__", name)
    if real_name != name and namespace.get(real_name) is obj:
        return False
    return _belongs_to(_defining_module(obj), module_name)


def _defining_module(obj: object) -> str | None:
    """The name of the module an object was defined in, if it can be told."""
    owner = getattr(obj, "__module__", None)
    if owner is None:
        # A bound method of a hidden instance, such as random.random (a method
        # of random's shared Random() object): it belongs where its class does.
        bound_to = getattr(obj, "__self__", None)
        if bound_to is not None and not inspect.ismodule(bound_to):
            owner = type(bound_to).__module__
    return owner


def _belongs_to(owner: str | None, module_name: str) -> bool:
    """``owner`` is the module itself, a submodule of it, or its C accelerator."""
    if owner is None:
        return False
    return (
        owner == module_name
        or owner.startswith(module_name + ".")
        or owner == "_" + module_name
    )


def _docstring(obj: object) -> str:
    """``inspect.getdoc(obj)`` as normalised plain text ("" when there is none).

    Deprecated objects (such as ``typing.io`` on Python 3.11, which warns
    when its docstring is read) count as undocumented: they are on their way
    out, and skipping them by what they *do* rather than by the user's
    warning filters keeps the corpus the same however Python was started.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            doc = inspect.getdoc(obj)
        except Exception:  # a few exotic objects raise while looking up docs
            return ""
    if any(issubclass(w.category, DeprecationWarning) for w in caught):
        return ""
    return _normalise(doc) if isinstance(doc, str) else ""


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


# --------------------------------------------------------------------------
# From token ids to training batches
# --------------------------------------------------------------------------


def train_val_split(ids, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a 1-D sequence of token ids into (train, validation) parts.

    ids: (N,) token ids. Returns ``(ids[:N - n_val], ids[N - n_val:])``, where
    ``n_val`` is ``N * val_fraction`` rounded to the nearest integer.

    No shuffling: the validation text is the *end* of the corpus, text the
    model never trains on, and the split is the same every time. (Shuffling
    windows would leak: overlapping windows would put nearly the same text on
    both sides.) The parts are views of ``ids`` as an array, not copies.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    n_total = len(ids)
    n_val = int(n_total * val_fraction + 0.5)  # round half up
    n_train = n_total - n_val
    if n_val < 1 or n_train < 1:
        raise ValueError(
            f"too little data to split: {n_total} ids with val_fraction={val_fraction} "
            f"gives {n_train} for training and {n_val} for validation; both need at least 1"
        )
    return ids[:n_train], ids[n_train:]


def get_batch(
    ids, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``batch_size`` random windows of ``block_size + 1`` ids out of ``ids``.

    ids: (N,) token ids. Returns ``x, y``, both int64 of shape
    (batch_size, block_size), with ``y[b, t] == x[b, t + 1]`` for t < T - 1:
    at every position the target is the id that comes next in the text. So
    one window trains ``block_size`` predictions at once.

    Window starts are ``rng.integers(0, N - block_size, size=batch_size)``,
    so the same seed gives the same batches.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy Generator, e.g. np.random.default_rng(0); "
            f"got {type(rng).__name__}"
        )
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if batch_size < 1 or block_size < 1:
        raise ValueError(
            f"batch_size and block_size must be at least 1, got {batch_size} and {block_size}"
        )
    if len(ids) <= block_size:
        raise ValueError(
            f"need more than block_size={block_size} ids to make one (x, y) pair "
            f"(a window of block_size + 1), but got only {len(ids)}; use a longer "
            f"text or a smaller block_size"
        )
    # The last start that still leaves room for block_size + 1 ids is
    # N - block_size - 1; integers() excludes its upper bound.
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)  # (B,)
    # A (B, T + 1) grid of positions: row b is starts[b], starts[b] + 1, ...
    positions = starts[:, None] + np.arange(block_size + 1)[None, :]
    windows = ids[positions].astype(np.int64)  # (B, T + 1), one gather, no loop
    x = np.ascontiguousarray(windows[:, :-1])  # (B, T): the inputs
    y = np.ascontiguousarray(windows[:, 1:])  # (B, T): the next id for each input
    return x, y
