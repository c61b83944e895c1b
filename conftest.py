"""pytest configuration shared by the unit tests and the notebook tests (nbval).

The chapters are stored executed with OpenBLAS on one thread, as Binder runs them, and nbval
re-runs each one in a kernel that inherits this process's environment. One thread is the
default here too; set ``OPENBLAS_NUM_THREADS`` to run the tests with another count. Either
way they must pass: a number whose last digits depend on the thread count or the CPU's BLAS
kernels is checked by an assertion with a tolerance, not as text (see
tests/test_notebook_rules.py).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
