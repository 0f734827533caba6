"""W3 benchmark: rake household weights to three margins.

Workload: ``n`` households with base weights, raked to 16 district x urban
cells, 5 household-size classes and 4 head-of-household age classes, to a
relative tolerance of 1e-8 on every margin cell.  Targets: 0.05 s at
200,000 and 0.4 s at 2,000,000 households (R ``rake`` takes 1.2 s and
9.9 s).  Memory: no copy of the data frame per iteration -- the peak of
Python/numpy allocations during the call (``tracemalloc``) is reported.

``run()`` returns one row per size; ``python bench/bench_weighting.py``
prints them.
"""

from __future__ import annotations

import pathlib
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.weighting import rake, rake_weights  # noqa: E402

TARGETS = {200_000: 0.05, 2_000_000: 0.4}
TOL = 1e-8


def make_households(n: int, seed: int = 20240601):
    """Synthetic household sample and census margins (consistent totals)."""
    rng = np.random.default_rng(seed)
    district = rng.integers(1, 9, n).astype(np.int64)                 # 8 districts
    urban = (rng.random(n) < 0.3 + 0.05 * (district % 3)).astype(np.int64)
    hhsize = np.minimum(rng.poisson(2.2, n) + 1, 5).astype(np.int64)   # 1..5
    age = rng.choice(np.arange(4, dtype=np.int64), n, p=[0.2, 0.35, 0.3, 0.15])
    w = np.exp(rng.normal(4.0, 0.35, n))
    df = pd.DataFrame({"district": district, "urban": urban, "hhsize": hhsize,
                       "age_class": age, "w0": w})
    N = float(w.sum()) * 1.07
    # population structure: a perturbed version of the sample's
    def table(cols, noise):
        t = df.groupby(cols, observed=True)["w0"].sum()
        t = t * np.exp(rng.normal(0, noise, len(t)))
        t = t / t.sum() * N
        return t.rename("count").reset_index()
    margins = [table(["district", "urban"], 0.05), table(["hhsize"], 0.05),
               table(["age_class"], 0.05)]
    return df, margins


def _design(df):
    try:
        from analysis.design import SurveyDesign  # noqa: F401
    except Exception:
        return None
    try:
        d = SurveyDesign(df, weights="w0")
    except Exception:
        return None
    return d if hasattr(d, "with_weights") else None


def _time(fn, repeat: int):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return best, peak, out


def run(sizes=(200_000, 2_000_000), repeat: int = 3) -> list[dict]:
    rows = []
    for n in sizes:
        df, margins = make_households(n)
        d = _design(df)
        if d is not None:
            level = "design"
            fn = lambda: rake(d, margins, tol=TOL)  # noqa: E731
        else:
            level = "arrays"
            w = df["w0"].to_numpy()
            fn = lambda: rake_weights(df, w, margins, tol=TOL)  # noqa: E731
        fn()  # warm-up
        sec, peak, out = _time(fn, repeat)
        rep = out.weighting_report if level == "design" else out[1]
        data_mb = df.memory_usage(deep=True).sum() / 2**20
        rows.append({
            "workload": "W3 rake 3 margins (16+5+4 cells)",
            "n": n,
            "seconds": round(sec, 4),
            "target": TARGETS.get(n),
            "ok": bool(TARGETS.get(n) is None or sec <= TARGETS[n]),
            "peak_memory_mb": round(peak / 2**20, 1),
            "data_frame_mb": round(float(data_mb), 1),
            "sweeps": rep.iterations,
            "max_discrepancy": rep.max_discrepancy,
            "level": level,
        })
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
