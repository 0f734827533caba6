"""W5 benchmark: Fay-Herriot fits of 10 indicators x 10,000 areas.

Workload: 10,000 areas with an intercept and 4 covariates, 10 indicators
(direct estimates and sampling variances), each fitted by
``analysis.sae.fay_herriot`` (REML, EBLUP and Prasad-Rao MSE for every area,
R ``sae``'s iteration and stopping rule).  Target: under 1 s for the 10 fits
(R ``sae::mseFH`` forms m x m matrices: 10,000 areas need 800 MB per
matrix).  The time is the best of ``repeat`` runs, data in memory; ML, FH
and AMRL (Li-Lahiri adjusted REML, the demo's method) are shown too.

``run()`` returns one row per method; ``python bench/bench_sae.py`` prints them.
"""
from __future__ import annotations

import pathlib
import sys
import time
import tracemalloc

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.sae import fay_herriot  # noqa: E402

TARGET = 1.0


def make_areas(m: int = 10_000, k: int = 10, seed: int = 14):
    """``X`` (m, 5) and ``k`` indicators: ``y = X beta + u + e`` with known variances."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(m), rng.uniform(size=m), rng.normal(size=m),
                         rng.binomial(1, 0.3, m), rng.uniform(size=m)])
    ys, vs = [], []
    for j in range(k):
        beta = rng.normal(0, 0.1, 5) + np.array([0.5, 0, 0, 0, 0])
        psi = rng.uniform(0.002, 0.02, m)
        ys.append(X @ beta + rng.normal(0, np.sqrt(0.005 * (1 + j / k)), m)
                  + rng.normal(0, np.sqrt(psi)))
        vs.append(psi)
    return X, ys, vs


def run(m: int = 10_000, k: int = 10, repeat: int = 3) -> list[dict]:
    X, ys, vs = make_areas(m, k)
    input_mb = (X.nbytes + sum(y.nbytes + v.nbytes for y, v in zip(ys, vs))) / 2**20
    rows = []
    for method in ("REML", "ML", "FH", "AMRL"):
        def fit_all():
            return [fay_herriot(y, v, X, method) for y, v in zip(ys, vs)]
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            fits = fit_all()
            best = min(best, time.perf_counter() - t0)
        tracemalloc.start()
        fit_all()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append({"method": method, "areas": m, "indicators": k, "seconds": round(best, 4),
                     "target": TARGET, "ok": best <= TARGET, "peak_mb": round(peak / 2**20, 1),
                     "input_mb": round(input_mb, 1),
                     "iterations": max(f.iterations for f in fits)})
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
