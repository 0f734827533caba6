"""`make bench`: speed and memory of the estimator core and weighting.

W1 "province report": 20 binary indicators x 27 domains (overall, 8
districts, urban/rural, district x urban) = 540 proportions with SE, logit
CI and deff, from a stratified two-stage sample (16 strata, PSUs of 20
households, unequal weights).  W2: the same with 200 bootstrap
replicate-weight columns.  W3: raking (bench_weighting.py).

Times are compute time after the data is in memory (best of several runs);
the design is declared once outside the timed part, as a user does, and its
construction time is shown separately.  Peak memory is the peak of Python
and numpy allocations during one run (tracemalloc), against the size of the
input columns the run reads.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time
import tracemalloc

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from analysis import ReplicateDesign, SurveyDesign  # noqa: E402
from workloads import household_sample  # noqa: E402

DOMAINS = (None, "district", "urban", ["district", "urban"])
INDICATORS = [f"y{j}" for j in range(1, 21)]
TARGETS = {("W1", 20_000): 0.03, ("W1", 200_000): 0.1, ("W1", 2_000_000): 0.6,
           ("W2", 20_000): 0.05, ("W2", 200_000): 0.3}


def province_report(design):
    out = []
    for by in DOMAINS:
        r = design.proportion(INDICATORS, by=by, ci_method="logit")
        f = r.to_frame()
        out.append(f[f["level"] == 1])
    return out


def measure(fn, repeat, design):
    """Best wall time of one province report, domain codes and unit totals recomputed each run.

    The indicator columns stay converted to a float matrix between runs
    ("after the data is in memory"); ``first_s`` in the table is the first
    report on a new design, conversion included.
    """
    t0 = time.perf_counter()
    fn()  # first report on the new design: converts the columns
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeat):
        design.clear_cache(columns=False)
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    design.clear_cache()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, res, first


def row(workload, n, build, sec, peak, input_bytes, n_est, first=None):
    target = TARGETS.get((workload, n))
    return {"workload": workload, "n": n, "design_s": round(build, 4),
            "first_s": None if first is None else round(first, 4), "seconds": round(sec, 4),
            "target_s": target, "ok": target is None or sec <= target, "estimates": n_est,
            "peak_mb": round(peak / 2**20, 1), "input_mb": round(input_bytes / 2**20, 1),
            "peak/input": round(peak / input_bytes, 2)}


def w1(sizes, repeat):
    rows = []
    for n in sizes:
        df = household_sample(n)
        t0 = time.perf_counter()
        d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
        build = time.perf_counter() - t0
        sec, peak, res, first = measure(lambda: province_report(d), repeat, d)
        cols = INDICATORS + ["w", "stratum", "psu", "district", "urban"]
        rows.append(row("W1", n, build, sec, peak, df[cols].memory_usage(index=False).sum(), sum(len(f) for f in res), first))
    return rows


def w2(sizes, repeat):
    rows = []
    for n in sizes:
        df = household_sample(n, n_rep=200)
        rep_cols = [f"rw{r + 1}" for r in range(200)]
        t0 = time.perf_counter()
        d = ReplicateDesign(df, weights="w", replicate_weights=rep_cols, type="bootstrap")
        build = time.perf_counter() - t0
        sec, peak, res, first = measure(lambda: province_report(d), repeat, d)
        cols = INDICATORS + ["w", "district", "urban"] + rep_cols
        rows.append(row("W2", n, build, sec, peak, df[cols].memory_usage(index=False).sum(), sum(len(f) for f in res), first))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    s1 = (20_000, 200_000) if a.quick else (20_000, 200_000, 2_000_000)
    s2 = (20_000,) if a.quick else (20_000, 200_000)
    rows = w1(s1, a.repeat) + w2(s2, a.repeat)
    try:
        import bench_weighting

        for r in bench_weighting.run(sizes=(200_000,) if a.quick else (200_000, 2_000_000), repeat=a.repeat):
            rows.append({"workload": "W3", "n": r["n"], "design_s": None, "first_s": None, "seconds": r["seconds"],
                         "target_s": r["target"], "ok": r["ok"], "estimates": None,
                         "peak_mb": r["peak_memory_mb"], "input_mb": r["data_frame_mb"],
                         "peak/input": round(r["peak_memory_mb"] / r["data_frame_mb"], 2)})
    except ImportError as e:  # pragma: no cover
        print(f"W3 skipped: {e}")
    import bench_sae  # W5: Fay-Herriot, 10 indicators x 10,000 areas (REML)
    rows += [{"workload": "W5", "n": r["areas"], "design_s": None, "first_s": None, "seconds": r["seconds"], "target_s": r["target"], "ok": r["ok"], "estimates": r["areas"] * r["indicators"],
              "peak_mb": r["peak_mb"], "input_mb": r["input_mb"], "peak/input": round(r["peak_mb"] / r["input_mb"], 2)} for r in bench_sae.run(repeat=a.repeat) if r["method"] == "REML"]
    rows += __import__("bench_models").table_rows(a.quick, a.repeat)  # W4: models and tests (bench_models.py)
    cols = ["workload", "n", "design_s", "first_s", "seconds", "target_s", "ok", "estimates", "peak_mb", "input_mb", "peak/input"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).rjust(w) for c, w in zip(cols, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
