"""Estimate.vcov() and Estimate.contrast() against R survey 4.1-1 (vcov, svyby(covmat=TRUE), svycontrast).

R's numbers: tests/data/r_models.json, made by tests/data/r_models.R.
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis import EstimationError
from api_designs import cases, close, design

VCOV = {
    "vcov_mean_dstrat": lambda: design("dstrat").mean(["api00", "enroll"]),
    "vcov_by_mean_dclus1": lambda: design("dclus1").mean("api00", by="stype"),
    "vcov_by_mean2_dstrat": lambda: design("dstrat").mean(["api00", "api99"], by="stype"),
    "vcov_by_total_dclus2": lambda: design("dclus2").total("api00", by="stype"),
    "vcov_mean_dcal": lambda: design("dcal").mean(["api00", "enroll"]),
    "vcov_by_mean_rclus1": lambda: design("rclus1").mean(["api00", "api99"], by="stype"),
    "vcov_by_ratio_dstrat": lambda: design("dstrat").ratio("api00", "api99", by="stype"),
}


@pytest.mark.parametrize("case_id", sorted(VCOV))
def test_vcov_matches_r(case_id):
    est = VCOV[case_id]()
    r = cases()[case_id]
    V = est.vcov()
    close(est.estimate, r["coef"])  # same row order as R (variable-major, domains within)
    close(V.to_numpy(), r["vcov"], atol=1e-13 * np.abs(r["vcov"]).max())
    close(np.sqrt(np.diag(V.to_numpy())), est.se, rtol=1e-12)  # the diagonal is the estimate's own variance
    assert list(V.index) == list(V.columns) and len(V) == len(est)


def test_vcov_labels_and_proportions():
    d = design("dclus1")
    p = d.proportion("stype")
    V = p.vcov()
    assert list(V.index) == ["stype=E", "stype=H", "stype=M"]
    want = cases_api()["dclus1_mean_stype"]["vcov"]
    close(V.to_numpy(), [[want[a][b] for b in ("stypeE", "stypeH", "stypeM")] for a in ("stypeE", "stypeH", "stypeM")])
    by = d.mean("api00", by="sch.wide")
    assert list(by.vcov().index) == ["api00, sch.wide=No", "api00, sch.wide=Yes"]


def cases_api():
    import json
    from pathlib import Path

    return {c["id"]: c for c in json.loads((Path(__file__).parent / "data" / "r_survey_api.json").read_text())}


def test_linear_contrasts_match_svycontrast():
    e = design("dclus1").mean("api00", by="stype")
    c = e.contrast({"EvH": [1, -1, 0], "avg": [1 / 3, 1 / 3, 1 / 3]})
    r = cases()["contrast_linear_dclus1"]
    assert list(c.variable) == r["names"] == ["EvH", "avg"]
    close(c.estimate, r["coef"])
    close(c.se, r["se"])
    close(c.vcov().to_numpy(), r["vcov"])
    assert (c.df == design("dclus1").degf).all()  # t interval on the design df
    lo, hi = c.confint()
    from scipy import stats

    q = stats.t.ppf(0.975, design("dclus1").degf)
    close(lo, c.estimate - q * c.se, rtol=1e-12)
    r = cases()["contrast_linear_rclus1"]
    c = design("rclus1").mean(["api00", "api99"], by="stype").contrast([1, 0, -1, 0, 0, 0])
    close(c.estimate, r["coef"])
    close(c.se, r["se"])


def test_nonlinear_contrasts_match_svycontrast():
    e = design("dclus1").mean("api00", by="stype")
    r = cases()["contrast_nonlinear_dclus1"]
    c = e.contrast(lambda t: t[2] / t[0])  # R: quote(M / E)
    close(c.estimate, r["coef"])
    close(c.se, r["se"])
    r = cases()["contrast_nonlinear_dstrat"]
    c = design("dstrat").mean(["api00", "api99"]).contrast(lambda t: np.log(t[0]) - np.log(t[1]))
    close(c.estimate, r["coef"])
    close(c.se, r["se"])


def test_contrast_of_estimate_equals_design_contrast():
    """Estimate.contrast([1, -1, 0]) is the design's own two-domain contrast."""
    d = design("dstrat")
    e = d.mean("api00", by="stype")
    a = e.contrast([1, -1, 0])
    b = d.contrast(e, {"stype": "E"}, {"stype": "H"})
    close(a.estimate, b.estimate, rtol=1e-12)
    close(a.se, b.se, rtol=1e-12)


def test_complex_step_fallback_for_real_only_functions():
    import math

    e = design("dstrat").mean(["api00", "api99"])
    exact = e.contrast(lambda t: np.log(t[0] / t[1]))
    approx = e.contrast(lambda t: math.log(t[0] / t[1]))  # math.log takes no complex numbers
    close(approx.se, exact.se, rtol=1e-8)


def test_contrast_errors_and_html():
    e = design("dstrat").mean("api00", by="stype")
    with pytest.raises(EstimationError, match="^coefficients: expected 3 weights \\(one per row of the estimate\\), got 2$"):
        e.contrast([1, -1])
    with pytest.raises(EstimationError, match="^coefficients: the function reads a row the estimate does not have"):
        e.contrast(lambda t: t[5])
    q = design("dstrat").quantile("api00")
    with pytest.raises(EstimationError, match="^vcov: expected a mean, total, proportion or ratio estimate"):
        q.vcov()
    html = e._repr_html_()
    assert "95% confidence intervals, method t" in html


def test_several_contrasts_at_once_share_one_covariance():
    e = design("dstrat").mean(["api00", "api99"], by="stype")
    V = e.vcov().to_numpy()
    L = np.array([[1, -1, 0, 0, 0, 0], [0, 0, 0, 1, 0, -1]], float)
    c = e.contrast(L)
    assert list(c.variable) == ["contrast1", "contrast2"]
    close(c.estimate, L @ e.estimate, rtol=1e-13)
    close(c.vcov().to_numpy(), L @ V @ L.T, rtol=1e-12)
    f = e.contrast({"ratio_E": lambda t: t[0] / t[3], "growth_M": lambda t: t[2] - t[5]})
    assert list(f.variable) == ["ratio_E", "growth_M"]
    close(f.estimate[1], c.estimate[1] * 0 + (e.estimate[2] - e.estimate[5]), rtol=1e-13)
    g = np.array([1 / e.estimate[3], 0, 0, -e.estimate[0] / e.estimate[3] ** 2, 0, 0])  # d(t0/t3)
    close(f.se[0], np.sqrt(g @ V @ g), rtol=1e-12)
