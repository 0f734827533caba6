"""Audit of design.glm, chisq and ttest against R survey 4.1-1: cases the other test files do not cover.

R's numbers are in tests/data/r_audit_models.json, made by tests/data/r_audit_models.R.
"""
from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import SeparationWarning
from analysis.weighting import poststratify
from api_designs import DATA, POP_STYPE, close, design


@functools.cache
def audit_cases() -> dict:
    return {c["id"]: c for c in json.loads((DATA / "r_audit_models.json").read_text())}


@functools.cache
def dps():
    return poststratify(design("dclus1"), POP_STYPE)


GLM = {  # id: (design, formula, family, domain column, excluded level)
    "glm_qbin_dcal_subset": (lambda: design("dcal"), "sch.wide ~ ell + meals", "quasibinomial", "H"),
    "glm_bin_dps_subset": (dps, "sch.wide ~ ell + meals", "binomial", "M"),
}


@pytest.mark.parametrize("case_id", sorted(GLM))
def test_binomial_glm_in_a_domain_of_a_calibrated_design(case_id):
    """R's subset of a calibrated design keeps all rows with weight 0 outside the domain, so svyglm
    rescales the weights by (domain weight total) / (all rows); that scale sets the binomial start
    (w y + 1/2) / (w + 1) and the deviance stopping rule, hence the last working weights and the SEs.
    (Before: the library divided by the mean weight of all rows; SEs off by up to 4e-5 relative.)"""
    make, formula, family, level = GLM[case_id]
    d = make()
    r = audit_cases()[case_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        m = d.glm(formula, family=family, where=(d.data["stype"] != level).to_numpy())
    assert list(m.params.index) == r["names"]
    assert m.df_resid == r["df_resid"]
    close(m.params, r["coef"], rtol=1e-9)
    close(m.bse, r["se"], rtol=1e-9)


def test_scale_is_r_scale():
    """``scale(x)`` divides by R's sd (divisor n - 1), not patsy's (n): before, the coefficient of
    scale(ell) was 1 - sqrt(199/200) = 0.25% too small; new data are scaled with the model's centre and
    SD (R's makepredictcall); ``standardize`` keeps patsy's meaning."""
    r = audit_cases()["glm_scale_dstrat"]
    d = design("dstrat")
    m = d.glm("api00 ~ scale(ell) + meals + stype")
    assert list(m.params.index) == r["names"]
    close(m.params, r["coef"], rtol=1e-9)
    close(m.bse, r["se"], rtol=1e-9)
    ell = d.data["ell"]
    new = pd.DataFrame({"ell": [0.0, 40.0], "meals": [50.0, 50.0], "stype": ["E", "E"]})
    z = (new["ell"] - ell.mean()) / ell.std(ddof=1)
    want = r["coef"][0] + r["coef"][1] * z + r["coef"][2] * 50.0
    close(m.predict(new, type="link")["fit"], want, rtol=1e-9)
    s = d.glm("api00 ~ standardize(ell) + meals + stype")
    close(s.params.iloc[1], r["coef"][1] * np.sqrt((len(ell) - 1) / len(ell)), rtol=1e-9)


EP = pd.read_csv(DATA / "election_pps.csv")


def test_binomial_glm_in_a_domain_of_a_pps_design():
    """R's subset of a PPS design keeps every row as a calibrated one does (``is.pps``): the weight scale of
    svyglm is the domain's weight total over all rows.  (Before: SEs off by 4e-5 relative on random designs.)"""
    from analysis import SurveyDesign

    r = audit_cases()["glm_qbin_brewer_subset"]
    d = SurveyDesign(EP, fpc="p", pps="brewer")
    m = d.glm("bushwin ~ np.log(votes)", family="quasibinomial", where=(EP["big"] == "yes").to_numpy())
    assert m.df_resid == r["df_resid"]
    close(m.params, r["coef"], rtol=1e-9)
    close(m.bse, r["se"], rtol=1e-9)


@pytest.mark.parametrize("strata", [None, "half"])
@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald"])
def test_chisq_in_a_domain_of_a_pps_design(statistic, strata):
    """svychisq on a subset of a PPS design counts all rows in N (the scale of Pearson's X2) and all PSUs
    in nu, as for a calibrated design.  (Before: the domain's rows: F 27% off on random designs.)"""
    from analysis import SurveyDesign

    r = audit_cases()[f"chisq_{statistic}_brewer{'_strat' if strata else ''}_subset"]
    d = SurveyDesign(EP, strata=strata, fpc="p", pps="brewer")
    c = d.chisq("big", "bushwin", statistic=statistic, where=(EP["votes"] > 20000).to_numpy())
    got = [c.statistic, c.df, c.pvalue] if statistic == "Chisq" else [c.statistic, c.df_num, c.df_denom, c.pvalue]
    close(got, np.concatenate([np.atleast_1d(r[k]) for k in ("statistic", "parameter", "p")]), rtol=1e-8)
