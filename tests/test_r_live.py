"""Live cross-checks against R's survey package on randomly generated designs.

Skipped where ``Rscript`` or the ``survey`` package is absent (``.ci/run``
installs Debian's ``r-base-core`` and ``r-cran-survey`` when it can).
"""
from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import r_has

from analysis import SurveyDesign

pytestmark = pytest.mark.r


if not r_has():
    pytest.skip("Rscript with the survey package is not available", allow_module_level=True)

R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
options(survey.lonely.psu = args[3])
d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df, nest = TRUE)
out <- list()
add <- function(id, est, se, lo = NA, hi = NA, df = NA, deff = NA) {
  n <- length(id)
  f <- function(v) rep_len(as.numeric(unlist(v)), n)
  out[[length(out) + 1]] <<- data.frame(id = id, est = f(est), se = f(se), lo = f(lo), hi = f(hi),
                                        df = f(df), deff = f(deff), row.names = NULL)
}
m <- svymean(~y, d, na.rm = TRUE, deff = TRUE); add("mean_y", coef(m), SE(m), deff = deff(m))
t <- svytotal(~x, d, deff = TRUE); add("total_x", coef(t), SE(t), deff = deff(t))
r <- svyratio(~x, ~z, d); add("ratio_xz", coef(r), SE(r))
b <- svyby(~y, ~g, d, svymean, na.rm = TRUE, deff = TRUE)
add(paste0("by_mean_y_", b$g), coef(b), SE(b), deff = deff(b))
for (meth in c("logit", "beta", "mean", "xlogit", "asin")) {
  p <- svyby(~I(b == 1), ~g, d, svyciprop, method = meth, vartype = c("se", "ci"))
  dfs <- sapply(levels(df$g), function(l) degf(subset(d, g == l)))
  add(paste0("ciprop_", meth, "_", p$g), coef(p), SE(p), p$ci_l, p$ci_u, dfs)
}
q <- svyquantile(~x, d, c(0.25, 0.5, 0.9), ci = TRUE)
qq <- q[[1]]
add(paste0("quantile_", c(0.25, 0.5, 0.9)), qq[, 1], qq[, 4], qq[, 2], qq[, 3], degf(d))
rj <- as.svrepdesign(d, type = "JKn")
mj <- svymean(~x, rj); add("jkn_mean_x", coef(mj), SE(mj))
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
"""


def random_design(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(int(rng.integers(2, 6))):
        for k in range(int(rng.integers(2, 6))):
            rows += [(h, k)] * int(rng.integers(2, 8))
    df = pd.DataFrame(rows, columns=["stratum", "psu"])
    n = len(df)
    eff = rng.normal(0, 1, n)
    df["w"] = rng.uniform(1, 20, n).round(3)
    df["y"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n) + 5 * eff)
    df["x"] = rng.gamma(2, 10, n).round(1)
    df["z"] = rng.uniform(1, 5, n)
    df["b"] = (rng.random(n) < 1 / (1 + np.exp(-eff))).astype(int)
    df["g"] = rng.choice(["p", "q", "s"], n)
    return df


@pytest.mark.parametrize("seed,lonely", [(1, "fail"), (2, "fail"), (3, "fail"), (4, "fail")])
def test_random_designs_agree_with_r(tmp_path, seed, lonely):
    df = random_design(seed)
    src, dst = tmp_path / "d.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    script = tmp_path / "check.R"
    script.write_text(R_SCRIPT)
    run = subprocess.run(["Rscript", str(script), str(src), str(dst), lonely], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ref = pd.read_csv(dst).set_index("id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = SurveyDesign(df, weights="w", strata="stratum", psu="psu", nest=True, lonely_psu=lonely)
    got = {}
    m = d.mean("y", na_rm=True)
    got["mean_y"] = (m.estimate[0], m.se[0], None, None, None, m.deff[0])
    t = d.total("x")
    got["total_x"] = (t.estimate[0], t.se[0], None, None, None, t.deff[0])
    r = d.ratio("x", "z")
    got["ratio_xz"] = (r.estimate[0], r.se[0], None, None, None, None)
    for _, row in d.mean("y", by="g", na_rm=True).to_frame().iterrows():
        got[f"by_mean_y_{row['g']}"] = (row["estimate"], row["se"], None, None, None, row["deff"])
    for meth in ("logit", "beta", "mean", "xlogit", "asin"):
        f = d.proportion("b", by="g", ci_method=meth).to_frame()
        for _, row in f[f["level"] == 1].iterrows():
            got[f"ciprop_{meth}_{row['g']}"] = (row["estimate"], row["se"], row["ci_low"], row["ci_high"], row["df"], None)
    q = d.quantile("x", [0.25, 0.5, 0.9]).to_frame()
    for _, row in q.iterrows():
        got[f"quantile_{row['level']:g}"] = (row["estimate"], row["se"], row["ci_low"], row["ci_high"], row["df"], None)
    j = d.to_replicate("JKn").mean("x")
    got["jkn_mean_x"] = (j.estimate[0], j.se[0], None, None, None, None)
    assert set(got) == set(ref.index)
    for key, vals in got.items():
        exp = ref.loc[key]
        for name, v in zip(("est", "se", "lo", "hi", "df", "deff"), vals):
            if v is None or pd.isna(exp[name]):
                continue
            assert v == pytest.approx(exp[name], rel=1e-6, abs=1e-9), (key, name, v, exp[name])


PAIRS_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
d <- svydesign(id = ~psu, strata = ~pair, fpc = ~f, weights = ~w, data = df, nest = TRUE)
m <- svymean(~y, d, deff = TRUE)
b <- svyby(~y, ~g, d, svymean, deff = TRUE)
p <- svyciprop(~I(b == 1), d, method = "beta")
out <- data.frame(id = c("mean", paste0("by_", b$g), "prop"), est = c(coef(m), coef(b), coef(p)),
                  se = c(SE(m), SE(b), SE(p)), deff = c(deff(m), deff(b), NA),
                  df = c(degf(d), sapply(levels(df$g), function(l) degf(subset(d, g == l))), degf(d)))
write.csv(out, args[2], row.names = FALSE)
"""


@pytest.mark.parametrize("seed", [5, 6])
def test_paired_pseudo_strata_with_fpc_agree_with_r(tmp_path, seed):
    """pair_psus + stratum sampling fractions, given to R's svydesign as strata and fpc."""
    from analysis import pair_psus
    df = random_design(seed)
    df["y"] = df["y"].fillna(df["y"].mean())
    df["commune"] = df["psu"] // 2
    df["pair"] = pair_psus(df["stratum"], df["psu"], order=df["psu"], within=df["commune"])
    df["f"] = 0.05 + 0.04 * df["stratum"]
    src, dst = tmp_path / "d.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    (tmp_path / "pairs.R").write_text(PAIRS_SCRIPT)
    run = subprocess.run(["Rscript", str(tmp_path / "pairs.R"), str(src), str(dst)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ref = pd.read_csv(dst).set_index("id")
    d = SurveyDesign(df, weights="w", strata="pair", psu="psu", fpc="f", nest=True)
    m = d.mean("y")
    got = {"mean": (m.estimate[0], m.se[0], m.deff[0], m.df[0])}
    for _, row in d.mean("y", by="g").to_frame().iterrows():
        got[f"by_{row['g']}"] = (row["estimate"], row["se"], row["deff"], row["df"])
    p = d.proportion("b", ci_method="beta").to_frame()
    p = p[p["level"] == 1].iloc[0]
    got["prop"] = (p["estimate"], p["se"], None, p["df"])
    assert set(got) == set(ref.index)
    for key, vals in got.items():
        for name, v in zip(("est", "se", "deff", "df"), vals):
            if v is not None:
                assert v == pytest.approx(ref.loc[key, name], rel=1e-6), (key, name, v, ref.loc[key, name])
