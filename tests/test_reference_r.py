"""Every case of R survey 4.1-1's reference set (tests/data/r_survey_api.json).

Estimates, SEs, CI limits, df and deff must agree to 1e-6 relative (most
agree to ~1e-12).  Calibration cases are in test_weighting_*.py.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import LonelyPSUError, ReplicateDesign, SurveyDesign

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "r_survey_api.json").read_text())
RTOL = 1e-6


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


DATASETS = {k: load(k) for k in ("apistrat", "apiclus1", "apiclus2", "apisrs")}


def make_design(case) -> object:
    code = case["r_code"]
    opt = case.get("options", {}).get("survey.lonely.psu", "fail")
    if "rclus1" in code:
        return designs()["dclus1"].to_replicate("JK1")
    if "rstrat" in code:
        return designs()["dstrat"].to_replicate("JKn")
    if "rbrr" in code or "rfay" in code:
        strat = DATASETS["apistrat"].sort_values(["stype", "snum"], kind="stable").reset_index(drop=True)
        reps = pd.read_csv(DATA / "apistrat_brr_repweights.csv", dtype={"cds": str})
        assert (reps["snum"].to_numpy() == strat["snum"].to_numpy()).all()
        cols = [f"r{i}" for i in range(1, 105)]
        mult = reps[cols].to_numpy(float)
        if "rfay" in code:
            mult = np.where(mult > 1, 1.7, 0.3)
            return ReplicateDesign(strat, weights="pw", replicate_weights=mult, type="Fay", fay_rho=0.3,
                                   combined_weights=False)
        return ReplicateDesign(strat, weights="pw", replicate_weights=mult, type="BRR", combined_weights=False)
    if "dlonely" in code:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SurveyDesign(DATASETS["apiclus1"], weights="pw", strata="dnum", lonely_psu=opt)
    for name in ("dclus2nofpc", "dclus2", "dclus1", "dstrat", "dsrs"):
        if re.search(rf"\b{name}\b", code.split("result <-")[-1]):
            return designs()[name]
    raise AssertionError(f"no design for {case['id']}")


_D = {}


def designs():
    if not _D:
        _D["dstrat"] = SurveyDesign(DATASETS["apistrat"], weights="pw", strata="stype", fpc="fpc")
        _D["dclus1"] = SurveyDesign(DATASETS["apiclus1"], weights="pw", psu="dnum", fpc="fpc")
        _D["dclus2"] = SurveyDesign(DATASETS["apiclus2"], psu="dnum", ssu="snum", fpc=["fpc1", "fpc2"])
        _D["dclus2nofpc"] = SurveyDesign(DATASETS["apiclus2"], weights="pw", psu="dnum", ssu="snum")
        _D["dsrs"] = SurveyDesign(DATASETS["apisrs"], fpc="fpc")
    return _D


CALIBRATION = ("poststrat_", "rake_", "calibrate_")


def run_case(case):
    """Return {name: (estimate, se, ci_low, ci_high, deff, df)} for the case, named as R names them."""
    d = make_design(case)
    code = case["r_code"].split("result <-")[-1]
    stat = case["statistic"]
    narm = "na.rm = TRUE" in code
    deff = "replace" if 'deff = "replace"' in code else True
    var = re.findall(r"~([\w.]+)", code)[0]
    dom = case.get("domain")
    if stat.startswith("svyciprop") or stat.startswith("svyby(svyciprop"):
        method = re.search(r'method = "(\w+)"', code).group(1)
        data = d.data.assign(_yes=(d.data["sch.wide"] == "Yes").astype(int))
        d2 = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
        r = d2.proportion("_yes", by=dom, ci_method=method)
        f = r.to_frame()
        f = f[f["level"] == 1]
        keys = f[dom].tolist() if dom else [None]
    elif stat == "svyquantile":
        probs = [float(x) for x in re.search(r"c\(([^)]*)\)", code).group(1).split(",")]
        r = d.quantile(var, probs)
        f = r.to_frame()
        keys = [repr(p) if False else _pname(p) for p in f["level"]]
    elif stat == "svyratio":
        num, den = re.findall(r"~([\w.]+)", code)
        r = d.ratio(num, den, ci_method="normal", deff=deff)
        f = r.to_frame()
        keys = [None]
    else:
        fn = d.mean if "mean" in stat else d.total
        r = fn(var, by=dom, na_rm=narm, ci_method="normal", deff=deff)
        f = r.to_frame()
        if dom and var == "sch.wide":
            keys = [f"{a}:sch.wide{b}" for a, b in zip(f[dom], f["level"])]
        elif dom:
            keys = f[dom].tolist()
        elif f["level"].notna().any():
            keys = [f"{var}{lv}" for lv in f["level"]]
        else:
            keys = [None]
    out = {}
    for k, (_, row) in zip(keys, f.iterrows()):
        out[k] = row
    return d, r, out


def _pname(p):
    s = repr(float(p))
    return s[:-2] if s.endswith(".0") else s


def _get(case, field, key):
    v = case.get(field)
    if isinstance(v, dict):
        return v[str(key)]
    return v


def close(a, b, rtol=RTOL):
    if b is None:
        return True
    if isinstance(b, float) and np.isnan(b):
        return np.isnan(a)
    return abs(a - b) <= rtol * max(abs(b), 1e-300) or abs(a - b) < 1e-12


IDS = [c["id"] for c in CASES if not c["id"].startswith(CALIBRATION)]


@pytest.mark.parametrize("case_id", IDS)
def test_reference_case(case_id):
    case = next(c for c in CASES if c["id"] == case_id)
    if case.get("expect_error"):
        with pytest.raises(LonelyPSUError, match="413"):
            make_design(case)
        return
    d, r, rows = run_case(case)
    # R interpolates its profile likelihood with a spline; we solve exactly (README: agree to ~1e-4)
    ci_tol = 1e-4 if "likelihood" in case["statistic"] else RTOL
    assert len(rows) == (len(case["estimate"]) if isinstance(case["estimate"], dict) else 1)
    for key, row in rows.items():
        assert close(row["estimate"], _get(case, "estimate", key)), (key, row["estimate"], _get(case, "estimate", key))
        assert close(row["se"], _get(case, "se", key)), (key, row["se"], _get(case, "se", key))
        assert close(row["ci_low"], _get(case, "ci_low", key), ci_tol), (key, row["ci_low"], _get(case, "ci_low", key))
        assert close(row["ci_high"], _get(case, "ci_high", key), ci_tol), (key, row["ci_high"], _get(case, "ci_high", key))
        if "deff" in case:
            assert close(row["deff"], _get(case, "deff", key)), (key, row["deff"], _get(case, "deff", key))
        if "df" in case:
            assert row["df"] == _get(case, "df", key)
    if "design_df" in case:
        assert d.degf == case["design_df"]


@pytest.mark.parametrize("kind,rho", [("brr", 0.0), ("fay", 0.3)])
def test_to_replicate_brr_and_fay_match_as_svrepdesign(kind, rho):
    """Our own Hadamard replicates (not R's multipliers) give R's BRR/Fay results."""
    strat = DATASETS["apistrat"].sort_values(["stype", "snum"], kind="stable").reset_index(drop=True)
    strat = strat.assign(pair=np.repeat(np.arange(1, 101), 2))
    d = SurveyDesign(strat, weights="pw", strata="pair").to_replicate("Fay" if rho else "BRR", fay_rho=rho)
    assert d.n_replicates == 104 and d.degf == 100
    cases = {c["id"]: c for c in CASES}
    m, t = d.mean("api00"), d.total("enroll")
    assert close(m.estimate[0], cases[f"rep_{kind}_mean_api00"]["estimate"])
    assert close(m.se[0], cases[f"rep_{kind}_mean_api00"]["se"])
    assert close(t.se[0], cases[f"rep_{kind}_total_enroll"]["se"])


def test_hadamard_matrices_are_hadamard():
    from analysis.replicate import hadamard

    for k in (2, 3, 5, 12, 17, 40, 101, 150):
        H = hadamard(k)  # 0/1 as R's survey::hadamard
        m = H.shape[0]
        assert m > k and m % 4 == 0
        S = 2 * H.astype(int) - 1
        np.testing.assert_array_equal(S @ S.T, m * np.eye(m, dtype=int))
