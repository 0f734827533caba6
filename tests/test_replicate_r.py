"""Replicate conventions of R survey 4.1.1 (tests/data/r_replicate.json, made by tests/data/r_replicate.R).

BRR and Fay replicate weights identical to ``as.svrepdesign``'s and the
nonlinear statistics on them; bootstrap with the fpc (R's ``bootweights``
rule; SE within Monte-Carlo error of R's for 5,000 replicates); the
subbootstrap; logit intervals on replicate designs; ``lonely_psu="average"``
inside domains; quantile df when whole PSUs have no value; the
successive-difference scale; ``with_replicates``.  The live test re-runs
the BRR/Fay part of the R script where R is installed.
"""
from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import r_has

from analysis import ReplicateDesign, SurveyDesign
from analysis.hadamard import hadamard
from analysis.repweights import boot_weights, brr_weights, successive_difference_weights, subboot_weights

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "r_replicate.json").read_text())
RTOL = 1e-6


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def pair_data() -> pd.DataFrame:
    """apistrat as the R script arranges it: 100 strata of two schools, rows in R's shuffled order."""
    strat = load("apistrat").sort_values(["stype", "snum"], kind="stable").reset_index(drop=True)
    strat["pair"] = np.repeat(np.arange(1, 101), 2)
    return strat.iloc[np.asarray(REF["perm"]) - 1].reset_index(drop=True)


def brr_design(name: str, rho: float):
    if name == "pair":
        d = SurveyDesign(pair_data(), weights="pw", strata="pair")
    else:
        s = load("apistrat")
        s["half"] = np.where(s["snum"] % 2 == 0, "even", "odd")
        d = SurveyDesign(s, weights="pw", strata="stype", psu="half", nest=True)
    return d.to_replicate("Fay" if rho else "BRR", fay_rho=rho)


@pytest.mark.parametrize("name", ["pair", "three"])
@pytest.mark.parametrize("rho", [0.0, 0.3], ids=["brr", "fay"])
def test_brr_fay_weights_and_nonlinear_statistics_as_r(name, rho):
    ref = REF[f"{'fay' if rho else 'brr'}_{name}"]
    r = brr_design(name, rho)
    up = np.array([[c == "1" for c in row] for row in ref["up"]])
    mult = r.replicate_weights / r.weights[:, None]
    np.testing.assert_array_equal(mult > 1, up)  # the same half-sample in every replicate, row by row
    np.testing.assert_allclose(np.where(up, 2 - rho, rho), mult, rtol=1e-14)
    assert r.n_replicates == ref["n_replicates"] and r.degf == ref["degf"]
    assert rel(r.scale, ref["scale"]) < 1e-14
    rat = r.ratio("api.stu", "enroll")
    assert rel(rat.estimate, ref["ratio"]) < RTOL and rel(rat.se, ref["ratio_se"]) < RTOL
    assert rel(r.mean("api00").se, ref["mean_se"]) < RTOL
    q = r.quantile("api00", [0.5])
    assert q.estimate[0] == ref["median"] and rel(q.se, ref["median_se"]) < RTOL
    b = r.ratio("api.stu", "enroll", by="stype")
    assert rel(b.estimate, ref["by_ratio"]) < RTOL and rel(b.se, ref["by_ratio_se"]) < RTOL


def test_brr_weights_from_plain_vectors():
    """``brr_weights`` works on plain vectors: strata sorted as text, PSUs by first appearance."""
    strata = np.array(["10", "2", "2", "10", "1", "1"])
    psu = np.array([7, 8, 9, 6, 5, 4])
    rw = brr_weights(strata, psu, fay_rho=0.0)
    H = hadamard(3)  # strata "1", "10", "2" take rows 2, 3, 4
    A = rw.multipliers[rw.psu]
    for row, (s, first) in enumerate(zip(["10", "2", "2", "10", "1", "1"], [True, True, False, False, True, False])):
        h = {"1": 1, "10": 2, "2": 3}[s]
        want = np.where(H[h] == 1, 2.0, 0.0) if first else np.where(H[h] == 1, 0.0, 2.0)
        np.testing.assert_array_equal(A[row], want)
    assert rw.scale == 1 / 4


def test_bootstrap_with_fpc_as_r():
    """15 of 30 PSUs sampled: R's without-replacement draw from the cyclic pseudo-population."""
    ref = REF["boot_fpc"]
    clus = load("apiclus1").assign(N30=30)
    d = SurveyDesign(clus, psu="dnum", fpc="N30")
    rb = d.to_replicate("bootstrap", replicates=5000, seed=2013)
    assert rel(rb.scale, ref["scale"]) < 1e-12
    A = rb._rep.patterns
    assert A.max() == ref["mult_max"] == 2  # N/n = 2 copies of each PSU: at most 2 draws
    np.testing.assert_array_equal(A.sum(axis=0), np.full(5000, ref["col_sums"]))
    # hypergeometric variance of a PSU's count, (1 - 1/n)(N - n)/(N - 1) = 14/15 * 15/29, and R's
    assert A.var(axis=1, ddof=1).mean() == pytest.approx(14 / 29, rel=0.03)
    assert A.var(axis=1, ddof=1).mean() == pytest.approx(ref["mult_var"], rel=0.03)
    # SE within Monte-Carlo error of R's (SD of an SE from 5,000 replicates: about 1%)
    se = rb.total("enroll").se[0]
    assert se == pytest.approx(ref["total_se"], rel=0.04)
    assert rb.mean("api00").se[0] == pytest.approx(ref["mean_se"], rel=0.04)
    assert se == pytest.approx(ref["taylor_total_se"], rel=0.05)  # and close to the Taylor SE with fpc
    nofpc = SurveyDesign(clus.assign(w2=2.0), weights="w2", psu="dnum").to_replicate("bootstrap", replicates=5000,
                                                                                     seed=7)
    assert nofpc.total("enroll").se[0] == pytest.approx(ref["total_se_nofpc"], rel=0.04)
    assert nofpc.total("enroll").se[0] > 1.3 * se  # ignoring the fpc overstates the SE (issue: 23.46 vs 17.75)


def test_bootstrap_multipliers_plain_vectors():
    rng = np.random.default_rng(5)
    strata = np.repeat([0, 1], [6, 4])
    psu = np.arange(10)
    rw = boot_weights(strata, psu, replicates=400, fpc=np.repeat([9.0, 1e9], [6, 4]), seed=rng)
    A = rw.multipliers
    np.testing.assert_array_equal(A[:6].sum(axis=0), 6)
    np.testing.assert_array_equal(A[6:].sum(axis=0), 4)
    assert A[:6].max() <= 2  # 9 units from 6 PSUs: 3 PSUs have 2 copies, 3 have 1
    assert rw.scale == pytest.approx(4.8 / (3.8 * 399))  # harmonic mean of 6 and 4 PSUs
    again = boot_weights(strata, psu, replicates=400, fpc=np.repeat([9.0, 1e9], [6, 4]), seed=np.random.default_rng(5))
    np.testing.assert_array_equal(A, again.multipliers)  # reproducible from the seed


def test_subbootstrap_as_r():
    ref = REF["subboot"]
    d = SurveyDesign(load("apistrat"), weights="pw", strata="stype")
    rs = d.to_replicate("subbootstrap", replicates=5000, seed=2014)
    assert rel(rs.scale, ref["scale"]) < 1e-12
    values = np.unique(np.round(rs._rep.patterns, 10))
    assert set(values[:8]).issubset(set(ref["mult_values"]) | {5.0505050505, 5.1020408163, 6.0606060606})
    assert rs.total("enroll").se[0] == pytest.approx(ref["total_se"], rel=0.04)
    rw = subboot_weights(np.repeat([0, 1], [3, 5]), np.arange(8), replicates=50, seed=1)
    np.testing.assert_allclose(rw.multipliers[:3].sum(axis=0), 2 * 3 / 2)
    np.testing.assert_allclose(rw.multipliers[3:].sum(axis=0), 4 * 5 / 4)


def _ci_designs():
    dclus1 = SurveyDesign(load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    dstrat = SurveyDesign(load("apistrat"), weights="pw", strata="stype", fpc="fpc")
    return dclus1.to_replicate(), dstrat.to_replicate()


@pytest.mark.parametrize("method", ["logit", "xlogit", "mean", "beta", "asin"])
def test_transformed_intervals_on_replicate_designs_as_r(method):
    rclus1, rstrat = _ci_designs()
    assert rclus1.degf == REF["degf"]["rclus1"] and rstrat.degf == REF["degf"]["rstrat"]
    df = load("apiclus1")
    p = rclus1.proportion("sch.wide", ci_method=method)
    i = list(p.level).index("Yes")
    est, se, lo, hi = REF["ci"][f"rclus1_{method}"]
    assert rel(p.estimate[i], est) < 1e-9 and rel(p.se[i], se) < RTOL
    ci = p.confint()
    assert rel([ci.low[i], ci.high[i]], [lo, hi]) < RTOL, (ci.low[i], ci.high[i], lo, hi)
    assert len(df)
    b = rstrat.proportion("both", by="stype", ci_method=method)
    yes = np.flatnonzero(b.level == "Yes")
    r = np.asarray(REF["ci"][f"rstrat_by_{method}"]).reshape(4, 3)
    ci = b.confint()
    assert rel(b.estimate[yes], r[0]) < 1e-9 and rel(b.se[yes], r[1]) < RTOL
    assert rel(ci.low[yes], r[2]) < RTOL and rel(ci.high[yes], r[3]) < RTOL


def test_logit_interval_issue_example():
    """Issue 13: 0.8232-0.9122 (delta method) vs R 0.8235-0.9121."""
    rclus1, _ = _ci_designs()
    p = rclus1.proportion("sch.wide")
    i = list(p.level).index("Yes")
    assert round(p.confint().low[i], 4) == 0.8235 and round(p.confint().high[i], 4) == 0.9121
    delta = p.confint(method="xlogit")
    assert round(delta.low[i], 4) == 0.8232


def test_lonely_average_inside_domains_as_r():
    ref = REF["lonely_average"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = SurveyDesign(load("apiclus1"), weights="pw", strata="dnum", lonely_psu="average")
    m = d.mean("api00", by="stype")
    assert rel(m.estimate, ref["mean"]) < 1e-12
    assert rel(m.se, ref["mean_se"]) < RTOL
    assert rel(d.total("enroll", by="stype").se, ref["total_se"]) < RTOL
    assert rel(d.mean("api00").se, ref["all_se"]) < RTOL


def test_quantile_df_drops_psus_without_values_as_r():
    ref = REF["quantile_na"]
    cl2 = load("apiclus2")
    first2 = np.sort(cl2["dnum"].unique())[:2]
    cl2["y"] = cl2["api00"].where(~cl2["dnum"].isin(first2))
    d = SurveyDesign(cl2, psu="dnum", ssu="snum", fpc=["fpc1", "fpc2"])
    q = d.quantile("y", [0.25, 0.5], na_rm=True)
    assert d.degf == ref["df_all"] == 39
    np.testing.assert_array_equal(q.df, [ref["df"]] * 2)  # 37: two PSUs have no value
    np.testing.assert_array_equal(q.estimate, ref["q"])
    ci = q.confint()
    np.testing.assert_array_equal(ci.low, ref["lo"])
    np.testing.assert_array_equal(ci.high, ref["hi"])
    assert rel(q.se, ref["se"]) < RTOL


def test_successive_difference_as_r():
    ref = REF["sdr"]
    srs = load("apisrs").sort_values("snum").head(40).reset_index(drop=True)
    np.testing.assert_array_equal(srs["snum"], ref["snum"])
    rw = successive_difference_weights(np.arange(40), replicates=16)
    f = rw.multipliers[rw.psu]
    np.testing.assert_allclose(f[:3].T.reshape(-1), ref["factors_first"], rtol=1e-14)
    assert rw.scale == ref["scale"] == 4 / 16
    d = ReplicateDesign(srs, weights="pw", replicate_weights=f, type="successive-difference", combined_weights=False)
    assert d.scale == ref["scale"]
    assert rel(d.total("enroll").se, ref["total_se"]) < RTOL
    assert rel(d.mean("api00").se, ref["mean_se"]) < RTOL


def test_with_replicates_as_r():
    ref = REF["with_replicates"]
    rclus1, rstrat = _ci_designs()
    r = rclus1.with_replicates(lambda w, data: (w * data["api.stu"]).sum() / (w * data["enroll"]).sum())
    assert rel(r.estimate, ref["theta"]) < 1e-12 and rel(r.se, ref["se"]) < RTOL
    r2 = rstrat.with_replicates(lambda w, data: [(w * data["api00"]).sum() / w.sum(), (w * data["enroll"]).sum()],
                                names=["mean_api00", "total_enroll"])
    assert list(r2.variable) == ["mean_api00", "total_enroll"]
    assert rel(r2.estimate, ref["theta2"]) < 1e-12 and rel(r2.se, ref["se2"]) < RTOL
    # the same numbers as the built-in estimators
    assert rel(r2.se[0], rstrat.mean("api00").se) < 1e-12


R_LIVE = r"""
suppressMessages(library(survey)); data(api)
apistrat$half <- ifelse(apistrat$snum %% 2 == 0, "even", "odd")
d3 <- svydesign(id = ~half, strata = ~stype, weights = ~pw, data = apistrat, nest = TRUE)
for (rho in c(0, 0.3)) {
  r <- as.svrepdesign(d3, type = if (rho == 0) "BRR" else "Fay", fay.rho = rho)
  rat <- svyratio(~api.stu, ~enroll, r)
  cat(rho, sprintf("%.17g", c(SE(rat), as.vector(as.matrix(weights(r, "replication"))[1:6, ]))), "\n")
}
"""


@pytest.mark.r
def test_brr_fay_live_r():
    if not r_has():
        pytest.skip("Rscript with the survey package is not available")
    out = subprocess.run(["Rscript", "-e", R_LIVE], capture_output=True, text=True, check=True).stdout
    for line in out.strip().splitlines():
        vals = [float(v) for v in line.split()]
        rho, se, mult = vals[0], vals[1], np.array(vals[2:]).reshape(-1, 6).T
        r = brr_design("three", rho)
        assert rel(r.ratio("api.stu", "enroll").se, se) < RTOL
        np.testing.assert_allclose((r.replicate_weights / r.weights[:, None])[:6], mult, rtol=1e-14)


def test_replicate_quantile_df_is_that_of_the_rows_with_values():
    """As R's svyquantile(na.rm=TRUE) on a replicate design: the df of the subset with values."""
    rclus1, _ = _ci_designs()
    data = rclus1.data.copy()
    dn = data["dnum"].to_numpy()
    data["y"] = data["api00"].where(~np.isin(dn, np.unique(dn)[:3]))
    r = ReplicateDesign(data, weights="pw", replicate_weights=rclus1.replicate_weights, type="JK1",
                        scale=rclus1.scale)
    q = r.quantile("y", [0.5], na_rm=True)
    keep = data["y"].notna().to_numpy()
    sub = ReplicateDesign(data[keep], weights="pw", replicate_weights=rclus1.replicate_weights[keep], type="JK1",
                          scale=rclus1.scale)
    assert q.df[0] == sub.degf < r.degf == 14
