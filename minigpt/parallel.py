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

``MINIGPT_THREADS`` (an environment variable) sets the number of threads; the default is
the number of cores this process may use, at most 4.  ``MINIGPT_THREADS=1`` turns it off
(Binder's single core does).  ``set_threads(n)`` changes it at run time.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

# Below this many elements, handing work to another thread costs more (tens of
# microseconds) than it saves.
MIN_PARALLEL_ELEMENTS = 1 << 15


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _threads_from_environment() -> int:
    value = os.environ.get("MINIGPT_THREADS")
    if value is None or value.strip() == "":
        return max(1, min(4, _cores()))
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
