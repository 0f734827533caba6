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
from analysis import SeparationWarning
from api_designs import cases, close, design
from conftest import r_has

FORMULAS = {
    "gauss": ("api00 ~ ell + meals + mobility + stype", "gaussian"),
    "qbin": ("sch.wide ~ ell + meals + stype", "quasibinomial"),
    "qpois": ("enroll ~ meals + stype", "quasipoisson"),
}
DESIGNS = ("dstrat", "dclus1", "dclus2", "dcal", "rclus1", "rstrat")


def where(d, expr: str) -> np.ndarray:
    col, op, val = re.fullmatch(r'([\w.]+) (==|!=) "(\w+)"', expr).groups()
    m = d.data[col].to_numpy() == val
    return m if op == "==" else ~m


EXTRA = {  # id: (design, formula, family, domain)
    "glm_binomial_dclus1": ("dclus1", "sch.wide ~ ell + meals", "binomial", None),
    "glm_poisson_dstrat": ("dstrat", "enroll ~ meals + stype", "poisson", None),
    "glm_interaction_dstrat": ("dstrat", "api00 ~ ell * stype + meals", "gaussian", None),
    "glm_na_dclus2": ("dclus2", "api00 ~ enroll + stype", "gaussian", None),
    "glm_logical_dstrat": ("dstrat", "api00 ~ I(enroll > 500) + ell", "gaussian", None),  # R: I(enroll > 500)TRUE
    "glm_factors_dstrat": ("dstrat", "api00 ~ stype * sch.wide + ell", "gaussian", None),
    "glm_nointercept_dclus1": ("dclus1", "api00 ~ 0 + stype + ell", "gaussian", None),
    "glm_subset_dclus2_qpois": ("dclus2", "enroll ~ meals", "quasipoisson", 'sch.wide == "Yes"'),
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


def test_wald_test_null_values():
    m = design("dstrat").glm("api00 ~ ell + meals + mobility + stype")
    b, V = m.params[["ell", "meals"]].to_numpy(), m.cov_params().loc[["ell", "meals"], ["ell", "meals"]].to_numpy()
    t = m.wald_test(["ell", "meals"], null=[-1.0, -3.0])
    d = b - [-1.0, -3.0]
    close(t.chisq, d @ np.linalg.solve(V, d), rtol=1e-12)
    assert t.df_num == 2 and t.df_denom == m.df_resid


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


# ------------------------------------------------------------------ live R
LIVE_R = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df, nest = TRUE)
out <- list()
add <- function(id, v) out[[length(out) + 1]] <<- data.frame(id = paste0(id, "_", seq_along(v)), value = as.numeric(v))
m <- svyglm(y ~ x + grp, d); add("gauss_coef", coef(m)); add("gauss_se", SE(m)); add("gauss_df", m$df.residual)
q <- svyglm(b ~ x + grp, d, family = quasibinomial()); add("qbin_coef", coef(q)); add("qbin_se", SE(q))
s <- svyglm(b ~ x, d, subset = grp != "s", family = quasibinomial()); add("sub_coef", coef(s)); add("sub_se", SE(s))
add("sub_df", s$df.residual)
r <- regTermTest(q, ~grp); add("rtt", c(r$Ftest, r$ddf, r$p))
for (st in c("F", "Chisq", "Wald", "adjWald")) {
  h <- svychisq(~grp + sex, d, statistic = st); add(paste0("chisq_", st), c(h$statistic, h$parameter, h$p.value))
}
t <- svyttest(y ~ sex, d); add("ttest", c(t$estimate, t$statistic, t$parameter, t$p.value, t$conf.int))
b <- svyby(~y, ~grp, d, svymean, covmat = TRUE); add("vcov", vcov(b))
add("nlcon", c(coef(svycontrast(b, quote(q / p))), SE(svycontrast(b, quote(q / p)))))
rj <- as.svrepdesign(d, type = "JKn"); mj <- svyglm(b ~ x + grp, rj, family = quasibinomial())
add("jkn_coef", coef(mj)); add("jkn_se", SE(mj))
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
"""


@pytest.mark.r
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_live_random_designs_agree_with_r(tmp_path, seed):
    """Models, tests, covariances and contrasts on random stratified cluster designs, against R run now.

    (No column is named ``g``: R's svyglm for replicate designs would evaluate it in place of its own call.)
    """
    import subprocess

    if not r_has():
        pytest.skip("Rscript with the survey package is not available")
    rng = np.random.default_rng(seed)
    rows = [(h, k) for h in range(int(rng.integers(3, 6))) for k in range(int(rng.integers(3, 7)))
            for _ in range(int(rng.integers(3, 9)))]
    df = pd.DataFrame(rows, columns=["stratum", "psu"])
    n = len(df)
    df["w"] = rng.uniform(1, 20, n).round(3)
    df["x"] = rng.normal(0, 1, n).round(4)
    df["grp"] = rng.choice(["p", "q", "s"], n)
    df["sex"] = rng.choice(["f", "m"], n)
    df["y"] = (2 + df["x"] + (df["grp"] == "q") + rng.normal(0, 1, n)).round(4)
    df["b"] = (rng.random(n) < 1 / (1 + np.exp(-df["x"]))).astype(int)
    (tmp_path / "live.R").write_text(LIVE_R)
    df.to_csv(tmp_path / "d.csv", index=False)
    run = subprocess.run(["Rscript", str(tmp_path / "live.R"), str(tmp_path / "d.csv"), str(tmp_path / "o.csv")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ref = pd.read_csv(tmp_path / "o.csv")
    want = {k: ref.loc[ref["id"].str.rsplit("_", n=1).str[0] == k, "value"].to_numpy()
            for k in ref["id"].str.rsplit("_", n=1).str[0].unique()}
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu", nest=True)
    m = d.glm("y ~ x + grp")
    q = d.glm("b ~ x + grp", family="quasibinomial")
    s = d.glm("b ~ x", family="quasibinomial", where=(df["grp"] != "s").to_numpy())
    rtt = q.wald_test("grp")
    got = {"gauss_coef": m.params, "gauss_se": m.bse, "gauss_df": [m.df_resid], "qbin_coef": q.params,
           "qbin_se": q.bse, "sub_coef": s.params, "sub_se": s.bse, "sub_df": [s.df_resid],
           "rtt": [rtt.statistic, rtt.df_denom, rtt.pvalue]}
    for st in ("F", "Chisq", "Wald", "adjWald"):
        c = d.chisq("grp", "sex", statistic=st)
        got[f"chisq_{st}"] = [c.statistic, c.df, c.pvalue] if st == "Chisq" else [c.statistic, c.df_num,
                                                                                   c.df_denom, c.pvalue]
    t = d.ttest("y", "sex")
    got["ttest"] = [t.estimate, t.statistic, t.df, t.pvalue, t.ci_low, t.ci_high]
    e = d.mean("y", by="grp")
    got["vcov"] = e.vcov().to_numpy().T.ravel()
    nl = e.contrast(lambda v: v[1] / v[0])
    got["nlcon"] = [nl.estimate[0], nl.se[0]]
    j = d.to_replicate("JKn").glm("b ~ x + grp", family="quasibinomial")
    got["jkn_coef"], got["jkn_se"] = j.params, j.bse
    assert set(got) == set(want)
    for k, v in got.items():
        close(np.asarray(v, float), want[k], rtol=1e-6)


def test_where_series_is_aligned_by_index():
    """A boolean Series `where=` is matched to the design's rows by index, as the estimators do (issue 13)."""
    import numpy as np
    import pandas as pd
    from analysis import SurveyDesign
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "g": np.repeat([1, 2, 3], 20),
                       "w": rng.uniform(1, 3, 60)}, index=np.arange(100, 160))
    d = SurveyDesign(df, weights="w", strata="g")
    mask = df["x"] > 0
    shuffled = mask.sample(frac=1, random_state=1)
    a = d.glm("y ~ x", where=mask).params
    b = d.glm("y ~ x", where=shuffled).params
    pd.testing.assert_series_equal(a, b)
    with pytest.raises(Exception, match="where: expected a boolean Series with the index"):
        d.glm("y ~ x", where=mask.reset_index(drop=True))
    t1 = d.ttest("y", "g", where=df["g"] != 3)
    t2 = d.ttest("y", "g", where=(df["g"] != 3).sample(frac=1, random_state=2))
    assert t1.statistic == t2.statistic
