"""design.glm (R's svyglm), wald_test (regTermTest) and predict against R survey 4.1-1.

R's numbers are in tests/data/r_models.json, made by tests/data/r_models.R;
every number must agree to 1e-6 relative (they agree to ~1e-12).
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import EstimationError, SurveyDesign
from analysis.models import SeparationWarning
from api_designs import cases, close, design

FORMULAS = {
    "gauss": ("api00 ~ ell + meals + mobility + stype", "gaussian"),
    "qbin": ("sch.wide ~ ell + meals + stype", "quasibinomial"),
    "qpois": ("enroll ~ meals + stype", "quasipoisson"),
}
DESIGNS = ("dstrat", "dclus1", "dclus2", "dcal", "rclus1", "rstrat")


def where(d, expr: str) -> np.ndarray:
    col, op, val = re.fullmatch(r'(\w+) (==|!=) "(\w+)"', expr).groups()
    m = d.data[col].to_numpy() == val
    return m if op == "==" else ~m


EXTRA = {  # id: (design, formula, family, domain)
    "glm_binomial_dclus1": ("dclus1", "sch.wide ~ ell + meals", "binomial", None),
    "glm_poisson_dstrat": ("dstrat", "enroll ~ meals + stype", "poisson", None),
    "glm_interaction_dstrat": ("dstrat", "api00 ~ ell * stype + meals", "gaussian", None),
    "glm_na_dclus2": ("dclus2", "api00 ~ enroll + stype", "gaussian", None),
    "glm_subset_dclus1": ("dclus1", "api00 ~ ell + meals", "gaussian", 'stype == "E"'),
    "glm_subset_dstrat_qbin": ("dstrat", "sch.wide ~ ell + meals", "quasibinomial", 'stype != "H"'),
    "glm_subset_rclus1": ("rclus1", "api00 ~ ell + meals", "gaussian", 'stype == "E"'),
    "glm_subset_dcal": ("dcal", "api00 ~ ell + meals", "gaussian", 'stype == "E"'),
}
GLM_CASES = {f"glm_{k}_{d}": (d, f, fam, None) for d in DESIGNS for k, (f, fam) in FORMULAS.items()} | EXTRA


@pytest.mark.parametrize("case_id", sorted(GLM_CASES))
def test_glm_matches_r(case_id):
    name, formula, family, dom = GLM_CASES[case_id]
    d = design(name)
    r = cases()[case_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        m = d.glm(formula, family=family, where=None if dom is None else where(d, dom))
    assert list(m.params.index) == r["names"]  # R's names and order (treatment coding, first level reference)
    assert m.df_resid == r["df_resid"]
    close(m.params, r["coef"])
    close(m.bse, r["se"])
    close(m.cov_params().to_numpy(), r["vcov"], atol=1e-12 * np.abs(r["vcov"]).max())
    close(m.tvalues, r["t"])
    close(m.pvalues, r["p"])
    ci = m.conf_int()
    close(ci["ci_low"], r["ci_low"])
    close(ci["ci_high"], r["ci_high"])


RTT = {
    "rtt_stype_dstrat": ("dstrat", "api00 ~ ell + meals + mobility + stype", "gaussian", "stype"),
    "rtt_ellmeals_dclus1": ("dclus1", "sch.wide ~ ell + meals + stype", "quasibinomial", ["ell", "meals"]),
    "rtt_stype_rclus1": ("rclus1", "api00 ~ ell + meals + mobility + stype", "gaussian", "stype"),
    "rtt_interaction_dstrat": ("dstrat", "api00 ~ ell * stype + meals", "gaussian", "ell:stype"),
}


@pytest.mark.parametrize("case_id", sorted(RTT))
def test_wald_test_matches_regtermtest(case_id):
    name, formula, family, terms = RTT[case_id]
    r = cases()[case_id]
    t = design(name).glm(formula, family=family).wald_test(terms)
    close(t.statistic, r["F"])
    assert t.df_num == r["df"] and t.df_denom == r["ddf"]
    close(t.pvalue, r["p"])


def test_wald_test_term_spellings():
    m = design("dstrat").glm("api00 ~ ell * stype + meals")
    a, b = m.wald_test("ell:stype"), m.wald_test("stype:ell")
    assert a.statistic == b.statistic
    assert m.wald_test("C(stype)").statistic == m.wald_test("stype").statistic
    with pytest.raises(EstimationError, match=r"^terms: expected term labels of the model .* got 'emer'$"):
        m.wald_test("emer")


def test_predict_matches_r():
    m = design("dclus1").glm("sch.wide ~ ell + meals + stype", family="quasibinomial")
    new = pd.DataFrame({"ell": [10, 30, 50], "meals": [20, 50, 80], "stype": ["E", "H", "M"]})
    p = m.predict(new)
    r = cases()["predict_qbin_dclus1"]
    close(p["fit"], r["fit"])
    close(p["se"], r["se"])
    assert ((p["ci_low"] < p["fit"]) & (p["fit"] < p["ci_high"]) & (p["ci_low"] > 0) & (p["ci_high"] < 1)).all()
    m = design("dstrat").glm("api00 ~ ell + meals + mobility + stype")
    p = m.predict(pd.DataFrame({"ell": [10, 30], "meals": [20, 50], "mobility": [10, 20], "stype": ["E", "M"]}),
                  type="link")
    r = cases()["predict_gauss_dstrat_link"]
    close(p["fit"], r["fit"])
    close(p["se"], r["se"])
    with pytest.raises(EstimationError, match="^new_data: expected the model's columns and known levels"):
        m.predict(pd.DataFrame({"ell": [1.0], "meals": [1.0], "mobility": [1.0], "stype": ["X"]}))


def test_to_frame_odds_ratios_and_html():
    m = design("dclus1").glm("sch.wide ~ ell + meals + stype", family="quasibinomial")
    f = m.to_frame()
    assert list(f.columns) == ["term", "estimate", "se", "t", "p", "ci_low", "ci_high", "exp_estimate",
                               "exp_ci_low", "exp_ci_high", "df"]
    np.testing.assert_allclose(f["exp_estimate"], np.exp(m.params.to_numpy()), rtol=1e-15)
    np.testing.assert_allclose(f["exp_ci_low"], np.exp(m.conf_int()["ci_low"].to_numpy()), rtol=1e-15)
    html = m._repr_html_()
    assert "95%" in html and "Taylor linearisation" in html and "stypeH" in html
    g = design("dstrat").glm("api00 ~ ell").to_frame()
    assert "exp_estimate" not in g.columns


def test_domain_is_estimated_inside_the_full_design():
    """A where= model keeps the full design: PSUs without domain rows count as zero totals."""
    d = design("dclus1")
    mask = where(d, 'stype == "M"')
    inside = d.glm("api00 ~ ell", where=mask)
    sub = SurveyDesign(d.data[mask].reset_index(drop=True), weights="pw", psu="dnum", fpc="fpc")
    filtered = sub.glm("api00 ~ ell")
    close(inside.params, filtered.params, rtol=1e-12)  # same point estimates ...
    assert not np.allclose(inside.bse, filtered.bse, rtol=1e-3)  # ... but not the same variance
    psus = d.data.loc[mask, "dnum"].nunique()
    assert psus < d.data["dnum"].nunique()
    assert inside.df_resid == psus - 1 + 1 - 2  # R: degf of the domain + 1 - coefficients


# ------------------------------------------------------------------ bad input
def test_missing_column_is_one_clear_error():
    with pytest.raises(EstimationError, match=r"^formula: expected column\(s\) of the data, got unknown name\(s\) \['income'\]"):
        design("dstrat").glm("api00 ~ ell + income")


def test_non_binary_response_with_binomial():
    with pytest.raises(EstimationError, match=r"^family: expected a 0/1 \(or proportion\) response with family='binomial', got values \[.*\] in 'api00'"):
        design("dstrat").glm("api00 ~ ell", family="binomial")
    with pytest.raises(EstimationError, match=r"^formula: expected a numeric, boolean or two-level response, got 'stype'"):
        design("dstrat").glm("stype ~ ell", family="binomial")
    with pytest.raises(EstimationError, match=r"^family: expected a non-negative response"):
        design("dstrat").glm("growth ~ ell", family="poisson")


def test_factor_with_one_level():
    d = design("dstrat")
    with pytest.raises(EstimationError, match=r"^formula: expected factor 'stype' to have at least 2 levels in the rows used, got 1 \(\['E'\]\)"):
        d.glm("api00 ~ ell + stype", where=where(d, 'stype == "E"'))


def test_singular_design_matrix_names_the_aliased_terms():
    d = design("dstrat")
    data = d.data.assign(ell2=2 * d.data["ell"] + 1)
    d2 = SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(EstimationError, match=r"^formula: expected a full-rank model matrix, got aliased .* \['ell2'\]"):
        d2.glm("api00 ~ ell + meals + ell2")


def test_perfect_separation_warns_with_the_terms():
    d = design("dstrat")
    data = d.data.assign(high=(d.data["api00"] > 700).astype(int))
    d2 = SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.warns(SeparationWarning, match=r"separation: fitted probabilities numerically 0 or 1 .* \['api00'\]"):
        d2.glm("high ~ api00 + ell", family="binomial")


def test_empty_domain_and_bad_arguments():
    d = design("dstrat")
    with pytest.raises(EstimationError, match="^where: expected a domain with at least one row, got an empty domain$"):
        d.glm("api00 ~ ell", where=np.zeros(d.n, dtype=bool))
    with pytest.raises(EstimationError, match="^where: expected a boolean mask of length 200"):
        d.glm("api00 ~ ell", where=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="^family: expected one of 'gaussian'"):
        d.glm("api00 ~ ell", family="gamma")
    with pytest.raises(EstimationError, match="^formula: expected a string 'y ~ x1 \\+ x2'"):
        d.glm("api00")
    with pytest.raises(EstimationError, match="^na_rm: expected no missing values with na_rm=False"):
        design("dclus2").glm("api00 ~ enroll", na_rm=False)


def test_r_style_dotted_names_and_transforms():
    d = design("dstrat")
    a = d.glm("api00 ~ api.stu + np.log(enroll)")
    assert list(a.params.index) == ["(Intercept)", "api.stu", "np.log(enroll)"]
    b = d.glm('api00 ~ Q("api.stu") + C(stype, Treatment("M"))')
    assert list(b.params.index) == ["(Intercept)", "api.stu", "stypeE", "stypeH"]
