"""lonely_psu="average" in models, tests of association and t tests, as R survey 4.1-1.

R multiplies the variance by (strata) / (strata with more than one PSU) of the
design it works on (its ``onestage``); models, ``chisq`` and ``ttest`` used to
leave the factor out (model SEs 11.37 and 0.334 against R's 13.92 and 0.409).
Reference numbers: ``tests/data/r_lonely_average.R`` (apistrat with one high school).
"""
from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import LonelyPSUWarning, SurveyDesign
from conftest import ROOT, r_has

DATA = ROOT / "tests" / "data"


def _design():
    api = pd.read_csv(DATA / "apistrat.csv")
    first_h = np.flatnonzero(api["stype"].to_numpy() == "H")[0]
    api = api[(api["stype"] != "H") | (np.arange(len(api)) == first_h)].reset_index(drop=True)
    with warnings.catch_warnings():   # the lonely stratum is the point here
        warnings.simplefilter("ignore", LonelyPSUWarning)
        return SurveyDesign(api, weights="pw", strata="stype", lonely_psu="average")


def _check(r):
    d = _design()
    np.testing.assert_allclose(d.mean("api00").se, np.ravel(r["mean_se"]), rtol=1e-9)
    m = d.glm("api00 ~ ell")
    np.testing.assert_allclose(m.params.to_numpy(), r["glm"]["coef"], rtol=1e-9)
    np.testing.assert_allclose(m.bse.to_numpy(), r["glm"]["se"], rtol=1e-9)
    md = d.glm("api00 ~ ell", where=d.data["sch.wide"] == "No")   # a domain without the lonely stratum
    np.testing.assert_allclose(md.bse.to_numpy(), r["glm_domain"]["se"], rtol=1e-9)
    c = d.chisq("sch.wide", "awards")
    assert (c.statistic, c.df_num, c.df_denom) == pytest.approx(
        (r["chisq_F"]["statistic"], r["chisq_F"]["ndf"], r["chisq_F"]["ddf"]), rel=1e-9)
    assert c.pvalue == pytest.approx(r["chisq_F"]["p"], rel=1e-7)
    w = d.chisq("sch.wide", "awards", statistic="Wald")
    assert w.statistic == pytest.approx(np.ravel(r["chisq_Wald"]["statistic"])[0], rel=1e-9)
    t = d.ttest("api00", "sch.wide")
    assert abs(t.estimate) == pytest.approx(r["ttest"]["estimate"], rel=1e-9)
    assert abs(t.statistic) == pytest.approx(r["ttest"]["statistic"], rel=1e-9)
    assert t.pvalue == pytest.approx(r["ttest"]["p"], rel=1e-7)


def test_stored_r_numbers():
    _check(json.loads((DATA / "r_lonely_average.json").read_text()))


@pytest.mark.r
@pytest.mark.skipif(not r_has(), reason="Rscript with the survey package is not available")
def test_live_r(tmp_path):
    out = tmp_path / "r.json"
    subprocess.run(["Rscript", str(DATA / "r_lonely_average.R"), str(DATA / "apistrat.csv"), str(out)], check=True,
                   capture_output=True)
    _check(json.loads(out.read_text()))
