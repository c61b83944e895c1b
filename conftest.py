"""pytest configuration shared by the unit tests and the notebook tests (nbval).

The chapters are stored executed with OpenBLAS on one thread, as Binder runs them, and nbval
re-runs each one in a kernel that inherits this process's environment. Pinning the thread
count here makes the re-run compute the same numbers: with a different number of BLAS
threads a matrix product may round differently in its last bit, and a sampled token can then
come out differently. (minigpt's own threads, ``minigpt.parallel``, never change a number.)
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
