"""Rebuild the text snapshot shipped in ``minigpt/snapshots/`` from the running Python.

The book's numbers come from this file, which was made on Python 3.11: run this on
Python 3.11 only when you mean to change the corpus (and then re-run the notebooks).

    python scripts/make_snapshots.py

It writes ``pydoc.txt.gz`` (``minigpt.pydoc_corpus.build_pydoc_corpus()``), gzipped with
a fixed timestamp so the same text gives the same bytes, and prints the SHA-256 constant to
paste into ``minigpt/pydoc_corpus.py``.
"""

import gzip
import hashlib
import sys

from minigpt import pydoc_corpus
from minigpt.fileio import atomic_write


def write_snapshot(path, text: str) -> str:
    """Gzip ``text`` into ``path`` (mtime 0: reproducible bytes); return its SHA-256."""
    packed = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    atomic_write(path, lambda f: f.write(packed))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    print(f"Python {sys.version.split()[0]}")
    corpus = pydoc_corpus.build_pydoc_corpus()
    digest = write_snapshot(pydoc_corpus.PYDOC_SNAPSHOT, corpus)
    print(f"{pydoc_corpus.PYDOC_SNAPSHOT}: {len(corpus):,} characters")
    print(f'PYDOC_SNAPSHOT_SHA256 = "{digest}"')


if __name__ == "__main__":
    main()
