"""W6 benchmark: the pipeline's own speed targets, on the bundled demo survey.

- ``make all`` from scratch (raw files generated, every stage, figures and
  report) on a copy of ``surveys/qb2022`` in a temporary folder: target 20 s;
- a no-op ``make all`` right after it: target 1 s;
- the demo generator's command line (244,921 households, 895,413 persons,
  the sample and the raw files): target 10 s, with its peak memory
  (target 1 GiB, the resident set size);
- drawing the demo's two-stage sample from the simulated population: target 0.5 s.

Wall times in fresh processes, median over the repeats; the machine should
be otherwise idle.  These were assertions in the unit tests once; a test
suite running on both cores is no place to time anything.

``run(repeat)`` returns the rows; ``python bench/bench_pipeline.py`` prints them.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEMO = ROOT / "surveys" / "qb2022"
TARGETS = {"make all (from scratch)": 20.0, "make all (no-op)": 1.0, "demo generator": 10.0,
           "draw_sample": 0.5}


def _wall(cmd, **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.perf_counter() - t0


def _make_all(repeat: int) -> tuple[list[float], list[float]]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    scratch, noop = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            survey = pathlib.Path(tmp) / "qb2022"
            shutil.copytree(DEMO, survey, ignore=shutil.ignore_patterns("raw", "__pycache__", "*.pyc"))
            cmd = ["make", "--no-print-directory", "all", f"SURVEY={survey}", f"BUILD={tmp}/build",
                   f"FIGS={tmp}/figures"]
            scratch.append(_wall(cmd, cwd=ROOT, env=env))
            noop.append(_wall(cmd, cwd=ROOT, env=env))
    return scratch, noop


_GENERATE = """
import runpy, sys

def _peak_kib():   # VmHWM: this address space only (ru_maxrss would count the parent's pages before exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

path, sys.argv = sys.argv[1], ["generate.py", "--out", sys.argv[2], "--survey-files", sys.argv[3]]
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
print(_peak_kib())
"""


def _generator(repeat: int) -> tuple[list[float], int]:
    """Wall times of the generator's command line, and its peak resident memory (MB)."""
    times, peak = [], 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", _GENERATE, str(DEMO / "generate.py"), f"{tmp}/raw",
                                f"{tmp}/survey"], cwd=ROOT, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            peak = max(peak, int(p.stdout.split()[-1]) // 1024)   # Linux reports KiB
    return times, peak


def _draw_sample(repeat: int) -> list[float]:
    import numpy as np
    spec = importlib.util.spec_from_file_location("qb2022_generate", DEMO / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    sys.modules["qb2022_generate"] = gen
    spec.loader.exec_module(gen)
    pop = gen.build_population(gen.DEFAULT_SEED)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        gen.draw_sample(pop, np.random.default_rng(i))
        times.append(time.perf_counter() - t0)
    return times


def run(repeat: int = 3, quick: bool = False) -> list[dict]:
    """One row per target: median and range of *repeat* runs (``quick``: make all once)."""
    scratch, noop = _make_all(1 if quick else repeat)
    gen, peak_mb = _generator(repeat)
    measured = {"make all (from scratch)": scratch, "make all (no-op)": noop, "demo generator": gen,
                "draw_sample": _draw_sample(max(repeat, 5))}
    rows = []
    for what, times in measured.items():
        med = statistics.median(times)
        rows.append({"what": what, "runs": len(times), "median_s": round(med, 3),
                     "range_s": f"{min(times):.3f}-{max(times):.3f}", "target_s": TARGETS[what],
                     "ok": med <= TARGETS[what], "peak_mb": peak_mb if what == "demo generator" else None})
    return rows


def main() -> int:
    rows = run(repeat=3)
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
