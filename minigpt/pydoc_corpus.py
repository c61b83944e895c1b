"""The "pydoc" corpus: Python's own documentation as training text (chapter 1).

The book's default corpus needs no network and no download. It is made of
  1. the language reference topics that CPython ships for ``help()``
     (``pydoc_data.topics.topics``: "assert", "for", "lambda", ...), and
  2. the docstrings of a fixed list of standard-library modules,
     ``PYDOC_MODULES``: each module's own docstring, then those of its
     public functions and classes and of the classes' public methods.

``build_pydoc_corpus()`` assembles it from the Python you are running; that
text depends on the Python version (3.12 words some docstrings differently
from 3.11). So the package ships the text built once on Python 3.11
(``minigpt/snapshots/pydoc.txt.gz``), and ``pydoc_corpus()`` -- what
``load_text("pydoc")`` returns -- reads that snapshot: the same characters,
and so the same numbers, on every Python from 3.10 to 3.13.

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
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import inspect
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "PYDOC_MODULES",
    "pydoc_corpus",
    "build_pydoc_corpus",
    "iter_documented_objects",
    "read_snapshot",
]

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

# The shipped text (see the module docstring) and the SHA-256 of its UTF-8 bytes.
SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
PYDOC_SNAPSHOT = SNAPSHOT_DIR / "pydoc.txt.gz"
PYDOC_SNAPSHOT_SHA256 = "bba4c23856816038fb45668d9a3b79b30fbf09002490c17084ef2eb36e45f227"

# Read once per process, then reused.
_pydoc_cache: str | None = None


def pydoc_corpus() -> str:
    """The default corpus: Python's reference topics and docstrings, as shipped.

    The text is ``build_pydoc_corpus()`` run once on Python 3.11 and shipped
    in ``minigpt/snapshots/pydoc.txt.gz`` (``scripts/make_snapshots.py``
    rebuilds it). Shipping it, rather than building it from the Python you
    run, means every Python from 3.10 to 3.13 trains on the same characters
    and every number in the book comes out the same. Its SHA-256 is checked
    on every load; the text is read once per process and then cached.
    """
    global _pydoc_cache
    if _pydoc_cache is None:
        _pydoc_cache = read_snapshot(PYDOC_SNAPSHOT, PYDOC_SNAPSHOT_SHA256)
    return _pydoc_cache


def read_snapshot(path: Path, sha256: str) -> str:
    """The UTF-8 text of a gzipped snapshot shipped with the package, verified.

    Raises ValueError (with what to do) when the file is missing or its
    SHA-256 is not ``sha256``: an edited or damaged install.
    """
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise ValueError(
            f"The shipped snapshot {str(path)!r} cannot be read ({err}). Reinstall minigpt "
            f"(`pip install -e .` in the repository), or rebuild it with "
            f"`python scripts/make_snapshots.py`."
        ) from err
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"The shipped snapshot {str(path)!r} has SHA-256 {digest}, not the expected "
            f"{sha256}: it was changed. Restore it from the repository (`git checkout "
            f"{path.name}`), or, if you rebuilt it on purpose, update the constant next to "
            f"its path in minigpt/pydoc_corpus.py."
        )
    return text


def build_pydoc_corpus() -> str:
    """Build the corpus from the Python that is running (what the snapshot holds).

    Each document is a header line ``== <title> ==`` followed by its text,
    with one blank line between documents, e.g.::

        == topic: assert ==
        The "assert" statement
        ...

        == math.sqrt ==
        Return the square root of x.

    Reference topics come first (sorted by name), then the docstrings of
    ``iter_documented_objects()``. A docstring identical to one already
    included is skipped. The result depends on the Python version: 3.12
    words some docstrings differently from 3.11.
    """
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


