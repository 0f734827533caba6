"""W4 benchmark: a survey logistic model and a Rao-Scott test, each on a fresh design.

* ``glm``: ``design.glm`` of a 0/1 outcome on 10 terms (urban, district,
  household size, head's age, head's education, income group, head female,
  workers, remittances, years online; 24 coefficients), quasibinomial,
  on 200,000 households of a stratified two-stage sample (16 strata, PSUs
  of 20 households): declaring the design, building the model matrix,
  fitting and the sandwich variance.
* ``chisq``: ``design.chisq`` (second-order Rao-Scott F) of a 10 x 8 table
  on 2,000,000 households, design declaration included.

Times are wall seconds, best of ``repeat`` runs, each on a new design.
Where ``Rscript`` with the survey package is installed, the same work is
timed in R in the same run (``svydesign`` + ``svyglm`` / ``svychisq``; the
data are read before the clock starts), one run each.

``run()`` returns one row per workload; ``python bench/bench_models.py``
prints them; ``make bench`` shows them as W4 rows, with R's time as the
target (``ok``: at least as fast as R).
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis import SurveyDesign  # noqa: E402

FORMULA = ("fiber ~ urban + C(district) + hhsize + age + C(educ) + C(income) + female + workers + remit + "
           "online_years")
R_FORMULA = "fiber ~ urban + factor(district) + hhsize + age + educ + income + female + workers + remit + online_years"


def households(n: int, seed: int = 4) -> pd.DataFrame:
    """A stratified two-stage household sample with the model's and the table's variables."""
    rng = np.random.default_rng(seed)
    n_psu = n // 20
    psu_stratum = rng.integers(0, 16, n_psu)
    psu = np.repeat(np.arange(n_psu), 20)[:n]
    stratum = psu_stratum[psu]
    district = stratum // 2 + 1
    urban = stratum % 2
    w = (rng.gamma(4.0, 25.0, n_psu)[psu] * rng.uniform(0.8, 1.25, n)).round(6)
    hhsize = np.minimum(rng.poisson(3.0, n) + 1, 10)
    age = rng.integers(20, 85, n)
    educ = rng.choice(["none", "primary", "lower", "upper", "tertiary"], n, p=[0.1, 0.3, 0.3, 0.2, 0.1])
    income = rng.choice(["q1", "q2", "q3", "q4"], n)
    female = (rng.random(n) < 0.3).astype(int)
    workers = rng.integers(0, 4, n)
    remit = (rng.random(n) < 0.2).astype(int)
    online = rng.gamma(2.0, 2.0, n).round(2)
    eff = rng.normal(0, 0.5, n_psu)[psu]
    lin = (-1.5 + 0.8 * urban + 0.1 * district - 0.05 * hhsize - 0.01 * (age - 50)
           + 0.3 * (educ == "tertiary") + 0.2 * (income == "q4") + 0.1 * online + eff)
    fiber = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    occupation = rng.integers(0, 10, n)
    occupation = np.where(rng.random(n) < 0.3, (district + urban) % 10, occupation)  # associated with district
    return pd.DataFrame({"stratum": stratum, "psu": psu, "district": district, "urban": urban, "w": w,
                         "hhsize": hhsize, "age": age, "educ": educ, "income": income, "female": female,
                         "workers": workers, "remit": remit, "online_years": online, "fiber": fiber,
                         "occupation": occupation})


def _fresh(df):
    return SurveyDesign(df, weights="w", strata="stratum", psu="psu")


def _time(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, out


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1])
if (args[2] == "glm") {
  df$educ <- factor(df$educ); df$income <- factor(df$income)
  t <- system.time({d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df)
                    m <- svyglm(%s, d, family = quasibinomial())})
} else {
  t <- system.time({d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df)
                    x <- svychisq(~occupation + district, d)})
}
cat(t[["elapsed"]], "\n")
""" % R_FORMULA


def _r_seconds(df: pd.DataFrame, what: str, cols) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "d.csv"
        df[cols].to_csv(src, index=False)
        script = pathlib.Path(tmp) / "w4.R"
        script.write_text(R_SCRIPT)
        run = subprocess.run(["Rscript", str(script), str(src), what], capture_output=True, text=True)
    if run.returncode != 0:
        return None
    try:
        return float(run.stdout.split()[-1])
    except (ValueError, IndexError):
        return None


def run(glm_n: int = 200_000, chisq_n: int = 2_000_000, repeat: int = 3, with_r: bool = True) -> list[dict]:
    rows = []
    df = households(glm_n)
    sec, peak, m = _time(lambda: _fresh(df).glm(FORMULA, family="quasibinomial"), repeat)
    cols = ["stratum", "psu", "w", "fiber", "urban", "district", "hhsize", "age", "educ", "income", "female",
            "workers", "remit", "online_years"]
    rows.append({"workload": "W4 glm", "n": glm_n, "seconds": round(sec, 3), "coefficients": len(m.params),
                 "peak_mb": round(peak / 2**20, 1), "r_seconds": _r_seconds(df, "glm", cols) if with_r else None})
    df = households(chisq_n)
    sec, peak, t = _time(lambda: _fresh(df).chisq("occupation", "district"), repeat)
    rows.append({"workload": "W4 chisq 10x8", "n": chisq_n, "seconds": round(sec, 3), "coefficients": None,
                 "peak_mb": round(peak / 2**20, 1),
                 "r_seconds": _r_seconds(df, "chisq", ["stratum", "psu", "w", "occupation", "district"])
                 if with_r else None})
    return rows


def table_rows(quick: bool = False, repeat: int = 3) -> list[dict]:
    """W4 rows in ``bench/run.py``'s table format; R's times (same run) are printed beside."""
    rows = []
    for r in run(glm_n=20_000 if quick else 200_000, chisq_n=200_000 if quick else 2_000_000, repeat=repeat):
        r_s = r["r_seconds"]
        print(f"{r['workload']} n={r['n']}: {r['seconds']} s here, "
              + (f"{r_s} s in R survey (svydesign + {'svyglm' if 'glm' in r['workload'] else 'svychisq'})"
                 if r_s is not None else "R not available"))
        rows.append({"workload": r["workload"].replace(" ", "_"), "n": r["n"], "design_s": None,
                     "first_s": r["seconds"], "target_s": r_s, "ok": r_s is None or r["seconds"] <= r_s,
                     "estimates": r["coefficients"], "peak_mb": r["peak_mb"], "input_mb": None, "peak/input": None})
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for r in run(glm_n=20_000 if quick else 200_000, chisq_n=200_000 if quick else 2_000_000,
                 with_r="--no-r" not in sys.argv):
        print(r)
