"""Does every chapter fit its budget? Time and peak memory of each notebook, run as a reader would.

    .venv/bin/python bench/notebook_budget.py                     # every notebook in notebooks/
    .venv/bin/python bench/notebook_budget.py notebooks/01_*.ipynb --threads 1

Each notebook runs top to bottom in a fresh kernel (``jupyter execute``, nbclient), with
``notebooks/`` as its working directory, exactly as nbval and Binder run it, but on a
temporary copy of that folder, so the committed notebooks are never modified. For each one it
reports the wall time and the peak memory, measured two ways:

* ``tree``: the resident memory (RSS) of the whole process tree (``jupyter execute`` and the
  kernel), summed and sampled every 50 ms with psutil (or /proc where psutil is missing);
* ``largest``: the peak RSS of the largest single process (the kernel), exact, from
  ``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that runs nothing else.

A notebook over 180 s or over 1.5 GB (1536 MiB) is flagged: the budget of a chapter on Binder
(one core, 2 GB), with room for the notebook server. ``--threads 1`` pins the BLAS to one
thread, like Binder's single core. The exit status is 1 if a notebook fails to run, and with
``--strict`` also if one is over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 180.0
LIMIT_MIB = 1536.0

# Runs `jupyter execute` as its only child and reports the largest RSS of any descendant that
# has been waited for (the kernel is): ru_maxrss is in KiB on Linux.
_WRAPPER = """
import json, resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print(json.dumps({"rc": rc, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tree_rss_psutil(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def _tree_rss_proc(pid: int) -> int:
    """The same from /proc (Linux), for machines without psutil."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def tree_rss(pid: int) -> int:
    try:
        return _tree_rss_psutil(pid)
    except ImportError:
        return _tree_rss_proc(pid)


class Sampler(threading.Thread):
    """Samples the process tree's total RSS until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def run_notebook(name: str, workdir: Path, timeout: int, env: dict) -> dict:
    cmd = [sys.executable, "-c", _WRAPPER,
           sys.executable, "-m", "jupyter", "execute", "--inplace", f"--timeout={timeout}", name]
    started = time.perf_counter()
    # its own process group, so that a timeout or Ctrl-C ends the kernel too
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout + 120)
    except BaseException as exc:  # timeout, KeyboardInterrupt
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    try:
        report = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {"rc": proc.returncode or 1, "maxrss_kib": 0}
    return {
        "notebook": name,
        "ok": report["rc"] == 0,
        "wall_s": wall,
        "tree_mib": sampler.peak / 2**20,
        "largest_mib": report["maxrss_kib"] / 1024,
        "error": "" if report["rc"] == 0 else _ANSI.sub("", err).strip().splitlines()[-1:] or ["failed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--timeout", type=int, default=600, help="per cell, seconds (default 600)")
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads (1 mimics Binder)")
    parser.add_argument("--limit-s", type=float, default=LIMIT_S)
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a notebook is over budget")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    source = REPO / "notebooks"
    paths = [p.resolve() for p in args.notebooks] or sorted(source.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {source}")
        return 1
    env = dict(os.environ)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    env.setdefault("MPLBACKEND", "Agg")

    print(f"{'notebook':<32} {'wall s':>8} {'tree MiB':>9} {'largest MiB':>12}  status")
    results = []
    with tempfile.TemporaryDirectory(prefix="notebook-budget-") as tmp:
        for path in paths:
            # a fresh copy of the notebook's folder for each run: data files it reads are there,
            # files it writes go nowhere, the committed notebook is untouched
            workdir = Path(tmp) / path.stem
            shutil.copytree(path.parent, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            r = run_notebook(path.name, workdir, args.timeout, env)
            flags = []
            if not r["ok"]:
                flags.append(f"FAILED: {' '.join(r['error'])}")
            if r["wall_s"] > args.limit_s:
                flags.append(f"OVER {args.limit_s:.0f} s")
            if max(r["tree_mib"], r["largest_mib"]) > args.limit_mib:
                flags.append(f"OVER {args.limit_mib:.0f} MiB")
            r["flags"] = flags
            results.append(r)
            print(f"{path.name:<32} {r['wall_s']:8.1f} {r['tree_mib']:9.0f} {r['largest_mib']:12.0f}  "
                  f"{'; '.join(flags) or 'ok'}", flush=True)
            shutil.rmtree(workdir, ignore_errors=True)

    total = sum(r["wall_s"] for r in results)
    failed = [r for r in results if not r["ok"]]
    over = [r for r in results if r["ok"] and r["flags"]]
    print(f"{len(results)} notebooks in {total:.0f} s; {len(failed)} failed, {len(over)} over budget "
          f"(limits {args.limit_s:.0f} s, {args.limit_mib:.0f} MiB)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if failed or (args.strict and over) else 0


if __name__ == "__main__":
    sys.exit(main())
