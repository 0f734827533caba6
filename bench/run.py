"""`make bench`: speed and memory of the estimator core, weighting, models, small areas and the pipeline.

W1 "province report": 20 binary indicators x 27 domains (overall, 8
districts, urban/rural, district x urban) = 540 proportions with SE, logit
CI and deff, from a stratified two-stage sample (16 strata, PSUs of 20
households, unequal weights).  W2: the same with 200 bootstrap
replicate-weight columns.  W3: raking (bench_weighting.py).  W4: models
and tests (bench_models.py).  W5: Fay-Herriot fits (bench_sae.py).  W6: the
pipeline on the demo survey: ``make all`` from scratch and no-op, the demo
generator, the sample draw (bench_pipeline.py).

The headline number (``first_s``) is what a user waits for: the first
report on a freshly declared design, every conversion and cache included
(the median over ``--repeat`` fresh designs; the Python process has made one
small report before, so that one-time module imports are not charged to
whichever workload runs first).  ``warm_s`` (labelled) is the
best repeat of the same report on the same design afterwards.  The design's
construction time is shown separately (``design_s``).  ``numpy_s`` (W2) is a
plain numpy computation of the same numbers (estimates, replicate SEs,
logit CIs from the replicate variance of logit(p), each domain's df as the
rank of its replicate weights minus one), timed in the same run from the
same in-memory arrays; its numbers are checked against the library's.
Peak memory is the peak of Python and numpy allocations during one first
report on a fresh design (tracemalloc), against the size of the input
columns the report reads.
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
           ("W2", 20_000): 0.05, ("W2", 200_000): 0.5}


def province_report(design):
    out = []
    for by in DOMAINS:
        r = design.proportion(INDICATORS, by=by, ci_method="logit")
        f = r.to_frame()
        out.append(f[f["level"] == 1])
    return out


def measure(make_design, repeat):
    """First report on fresh designs (median), warm best, peak memory of a first report."""
    firsts, builds = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        d = make_design()
        builds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = province_report(d)
        firsts.append(time.perf_counter() - t0)
    warm = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        province_report(d)
        warm = min(warm, time.perf_counter() - t0)
    d = make_design()
    tracemalloc.start()
    province_report(d)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(np.median(builds)), float(np.median(firsts)), warm, peak, res


def row(workload, n, build, first, warm, peak, input_bytes, n_est, numpy_s=None):
    target = TARGETS.get((workload, n))
    ok = target is None or first <= target
    if numpy_s is not None:
        ok = ok and first <= 3 * numpy_s
    return {"workload": workload, "n": n, "design_s": round(build, 4), "first_s": round(first, 4),
            "target_s": target, "numpy_s": None if numpy_s is None else round(numpy_s, 4),
            "first/numpy": None if numpy_s is None else round(first / numpy_s, 2), "ok": ok,
            "warm_s": round(warm, 4), "estimates": n_est, "peak_mb": round(peak / 2**20, 1),
            "input_mb": round(input_bytes / 2**20, 1), "peak/input": round(peak / input_bytes, 2)}


def w1(sizes, repeat):
    rows = []
    for n in sizes:
        df = household_sample(n)
        build, first, warm, peak, res = measure(lambda: SurveyDesign(df, weights="w", strata="stratum", psu="psu"),
                                                repeat)
        cols = INDICATORS + ["w", "stratum", "psu", "district", "urban"]
        rows.append(row("W1", n, build, first, warm, peak, df[cols].memory_usage(index=False).sum(),
                        sum(len(f) for f in res)))
    return rows


# ------------------------------------------------------------- plain numpy W2
def numpy_report(Y, w, RW, psu, doms, scale):
    """The W2 numbers in plain numpy: PSU totals, replicate totals per domain, logit CIs, df.

    Uses what the data holds: replicate weights that are the full weight
    times one multiplier row per PSU (read off each PSU's first row).
    """
    from scipy import special
    from threadpoolctl import threadpool_limits

    n_psu = int(psu.max()) + 1
    first = np.full(n_psu, -1)
    first[psu[::-1]] = np.arange(psu.shape[0])[::-1]
    A = RW[first] / w[first][:, None]  # (P, R) multipliers
    out = []
    for dom, D in doms:
        key = psu * D + dom
        K = n_psu * D
        wy = np.stack([np.bincount(key, weights=w * Y[:, j], minlength=K) for j in range(Y.shape[1])], axis=1)
        wx = np.bincount(key, weights=w, minlength=K)
        est, se, lo, hi, dfs = [], [], [], [], []
        for d in range(D):
            sel = np.arange(n_psu) * D + d
            has = wx[sel] > 0
            Ad = A[has]
            ty, tx = wy[sel][has], wx[sel][has]
            p = ty.sum(axis=0) / tx.sum()
            theta = (ty.T @ Ad) / (tx @ Ad)  # (J, R)
            v = scale * ((theta - theta.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            lt = np.log(theta / (1 - theta))
            vl = scale * ((lt - lt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            with threadpool_limits(1, "blas"):  # small eigen-problem: one thread (the library does the same)
                ev = np.linalg.eigvalsh(Ad.T @ Ad)
            df = int((ev > 1e-10 * ev.max()).sum()) - 1
            c = special.stdtrit(df, 0.975)
            lg = np.log(p / (1 - p))
            est.append(p), se.append(np.sqrt(v)), dfs.append(df)
            lo.append(special.expit(lg - c * np.sqrt(vl))), hi.append(special.expit(lg + c * np.sqrt(vl)))
        out.append((np.array(est), np.array(se), np.array(lo), np.array(hi), np.array(dfs)))
    return out


def w2(sizes, repeat):
    rows = []
    for n in sizes:
        df = household_sample(n, n_rep=200)
        rep_cols = [f"rw{r + 1}" for r in range(200)]
        build, first, warm, peak, res = measure(
            lambda: ReplicateDesign(df, weights="w", replicate_weights=rep_cols, type="bootstrap"), repeat)
        # plain numpy from the same starting point as the library's first report: the weights and
        # replicate weights already converted (as the design holds them), the analysis columns not
        w = df["w"].to_numpy(float)
        RW = df[rep_cols].to_numpy(float)
        psu = df["psu"].to_numpy()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            Y = df[INDICATORS].to_numpy(float)
            dist, urb = df["district"].to_numpy() - 1, df["urban"].to_numpy()
            doms = [(np.zeros(n, dtype=np.int64), 1), (dist, 8), (urb, 2), (dist * 2 + urb, 16)]
            ref = numpy_report(Y, w, RW, psu, doms, 1.0 / 199)
            times.append(time.perf_counter() - t0)
        for f, (est, se, lo, hi, dfs) in zip(res, ref):  # the same numbers
            D = est.shape[0]
            got = f[["estimate", "se", "ci_low", "ci_high", "df"]].to_numpy().reshape(len(INDICATORS), D, 5)
            for k, want in enumerate((est, se, lo, hi, np.repeat(dfs[:, None], len(INDICATORS), 1))):
                np.testing.assert_allclose(got[:, :, k], want.T, rtol=1e-8)
        cols = INDICATORS + ["w", "district", "urban"] + rep_cols
        rows.append(row("W2", n, build, first, warm, peak, df[cols].memory_usage(index=False).sum(),
                        sum(len(f) for f in res), float(np.median(times))))
    return rows


def warm_up_process() -> None:
    """One small report on each kind of design before any timing: the modules the estimators import on
    first use (scipy.sparse, LAPACK, pandas' internals) are loaded once per Python session, not per
    design, so they would otherwise be charged to whichever workload happens to run first."""
    df = household_sample(2000, n_rep=20)
    with np.errstate(all="ignore"):  # some small domains' replicate proportions are 0 or 1 here
        province_report(SurveyDesign(df, weights="w", strata="stratum", psu="psu"))
        province_report(ReplicateDesign(df, weights="w", replicate_weights=[f"rw{r + 1}" for r in range(20)],
                                        type="bootstrap"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--repeat", type=int, default=5)  # medians of 5: this VM's speed drifts by up to 40%
    a = ap.parse_args(argv)
    s1 = (20_000, 200_000) if a.quick else (20_000, 200_000, 2_000_000)
    s2 = (20_000,) if a.quick else (20_000, 200_000)
    warm_up_process()
    rows = w1(s1, a.repeat) + w2(s2, a.repeat)
    try:
        import bench_weighting

        for r in bench_weighting.run(sizes=(200_000,) if a.quick else (200_000, 2_000_000), repeat=a.repeat):
            rows.append({"workload": "W3", "n": r["n"], "design_s": None, "first_s": None,
                         "target_s": r["target"], "numpy_s": None, "first/numpy": None, "ok": r["ok"],
                         "warm_s": r["seconds"], "estimates": None, "peak_mb": r["peak_memory_mb"],
                         "input_mb": r["data_frame_mb"],
                         "peak/input": round(r["peak_memory_mb"] / r["data_frame_mb"], 2)})
    except ImportError as e:  # pragma: no cover
        print(f"W3 skipped: {e}")
    import bench_sae  # W5: Fay-Herriot, 10 indicators x 10,000 areas (REML)
    rows += [{"workload": "W5", "n": r["areas"], "design_s": None, "first_s": r["seconds"], "target_s": r["target"], "ok": r["ok"], "estimates": r["areas"] * r["indicators"],
              "peak_mb": r["peak_mb"], "input_mb": r["input_mb"], "peak/input": round(r["peak_mb"] / r["input_mb"], 2)} for r in bench_sae.run(repeat=a.repeat) if r["method"] == "REML"]
    rows += __import__("bench_models").table_rows(a.quick, a.repeat)  # W4: models and tests (bench_models.py)
    cols = ["workload", "n", "design_s", "first_s", "target_s", "numpy_s", "first/numpy", "ok", "warm_s",
            "estimates", "peak_mb", "input_mb", "peak/input"]
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    print("first_s: first report on a fresh design (headline); warm_s: best repeat on the same design; "
          "numpy_s: plain numpy, same numbers, same run; W3 (raking): best repeat, in warm_s")
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))
    import bench_pipeline  # W6: the pipeline on the demo survey (make all, the generator, the sample draw)
    prows = bench_pipeline.run(repeat=min(a.repeat, 3), quick=a.quick)
    pcols = ["what", "runs", "median_s", "range_s", "target_s", "ok", "peak_mb"]
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in prows)) for c in pcols]
    print("\nW6, the pipeline on the demo survey (wall time of fresh processes; median of the runs)")
    print("  ".join(c.rjust(w) for c, w in zip(pcols, widths)))
    for r in prows:
        print("  ".join(("" if r.get(c) is None else str(r.get(c))).rjust(w) for c, w in zip(pcols, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
