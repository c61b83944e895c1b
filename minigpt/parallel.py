"""Element-wise work on every core.

NumPy hands matrix products to BLAS, which uses every core, but runs element-wise
functions (``exp``, ``tanh``, the arithmetic of LayerNorm, softmax and GELU) on one.  At the
sizes of this book those functions take about a third of a training step (see
``bench/profile_step.py``), so on two cores half of that time is a core sitting idle.

NumPy releases Python's GIL inside its loops, so ordinary Python threads can run them
side by side.  ``for_row_blocks(work, n_rows, size)`` cuts the rows ``0 .. n_rows`` into
one contiguous block per thread and calls ``work(start, stop)`` for each block in
parallel.  The layers use it only for *row-wise* work (every row of the output depends on
the same row of the input), and each block is computed exactly as the whole array would
be, so the results are bitwise identical with any number of threads: the threads change
the speed, never the numbers.

It is off by default (one thread).  ``MINIGPT_THREADS=2`` (an environment variable), or
``set_threads(2)`` at run time, turns it on.  Measured on an idle 2-core machine
(``bench/bench_train.py``; OpenBLAS also on 2 threads) it is worth a few per cent at most,
either way: about 4% faster for the (512, 128, 4, 4, 128, 16) configuration and about 4%
slower for nanoGPT's small Shakespeare model, whose arrays are so small that handing work
to a thread, and competing with OpenBLAS's own threads (which keep spinning for a while
after each matrix product), costs about what it saves.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

# Below this many elements, handing work to another thread costs more (tens of
# microseconds) than it saves.
MIN_PARALLEL_ELEMENTS = 1 << 15


def _threads_from_environment() -> int:
    value = os.environ.get("MINIGPT_THREADS")
    if value is None or value.strip() == "":
        return 1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"MINIGPT_THREADS must be a whole number of threads, got {value!r}") from None
    if n < 1:
        raise ValueError(f"MINIGPT_THREADS must be at least 1, got {n}")
    return n


_threads = _threads_from_environment()
_pool: ThreadPoolExecutor | None = None


def get_threads() -> int:
    """How many threads row-wise element-wise work is split over."""
    return _threads


def set_threads(n: int) -> None:
    """Use ``n`` threads from now on (1: everything on the calling thread)."""
    global _threads, _pool
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    if _pool is not None and n != _threads:
        _pool.shutdown(wait=True)
        _pool = None
    _threads = n


def for_row_blocks(work, n_rows: int, size: int) -> None:
    """Call ``work(start, stop)`` on blocks of rows covering ``range(n_rows)``, in parallel.

    size: the number of elements the work touches (to skip threading for small arrays).
    The calling thread does the first block itself, so with 2 threads one extra thread
    runs.  ``work`` must write only to rows ``start:stop`` of its outputs.
    """
    global _pool
    k = min(_threads, n_rows)
    if k <= 1 or size < MIN_PARALLEL_ELEMENTS:
        work(0, n_rows)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="minigpt")
    bounds = [n_rows * i // k for i in range(k + 1)]
    futures = [_pool.submit(work, bounds[i], bounds[i + 1]) for i in range(1, k)]
    work(bounds[0], bounds[1])
    for future in futures:
        future.result()  # re-raises an exception from a worker
