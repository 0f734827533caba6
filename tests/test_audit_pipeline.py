"""End-to-end audit of the demo's estimates.csv against R's survey package (survey 4.1-1).

tests/data/r_audit_pipeline.R rebuilds the design from the weight stage's files in R (svydesign, raking
calibrate with the integrated person counts, trimWeights and the re-calibration after it), estimates every
indicator x domain value (household indicators with svymean/Korn-Graubard, person indicators as svyratio of
household totals, their linearised values summed to the household as the pipeline's integrated weighting
does) and stores its numbers in tests/data/r_audit_pipeline.json; the live test re-runs it where R is present.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import r_has

DATA = Path(__file__).parent / "data"
COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n", "n_eff"]
KEY = ["indicator", "domain", "domain_value"]


def _stored() -> pd.DataFrame:
    return pd.DataFrame(json.loads((DATA / "r_audit_pipeline.json").read_text())["rows"])


def _merged(build: Path, r: pd.DataFrame) -> pd.DataFrame:
    est = pd.read_csv(build / "estimates.csv", dtype={"domain_value": str})
    r = r.assign(domain_value=r["domain_value"].astype(str).str.replace(r"\.0$", "", regex=True))
    m = est.merge(r, on=KEY, suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(est) == len(r) == 307
    return m


def _check(m: pd.DataFrame, cols=COLUMNS) -> None:
    for c in cols:
        a, b = m[c].astype(float), m[f"{c}_r"].astype(float)
        if c == "n_eff":  # R's n_eff is the Korn-Graubard one of the proportions (means: not compared)
            sel = m["kind"].eq("proportion")
            a, b = a[sel], b[sel]
        rel = ((a - b).abs() / b.abs().clip(lower=1e-300)).to_numpy()
        bad = rel > 1e-6
        assert not bad.any(), (c, m.loc[a.index[bad], KEY + [c, f"{c}_r"]].head().to_string())


def test_demo_estimates_match_stored_r(demo_built):
    """Every estimate, se, ci_low, ci_high, df, deff, n of the 307 rows, and the proportions' n_eff.

    Before the fix the proportions' n_eff was the library's unadjusted p(1-p)/SE^2 (e.g. hh_smartphone,
    district 7: 40.63 where the Korn-Graubard n_eff with the df adjustment, which the README and the
    suppression rule use, is 28.20), up to 45% too large.
    """
    _, build, _ = demo_built
    _check(_merged(build, _stored()))


def test_suppression_rule_uses_the_adjusted_n_eff(demo_built):
    """README: suppress when n_eff < 30, n_eff = p(1-p)/SE^2 (t_{n-1}/t_df)^2; district 7 has df 7."""
    _, build, _ = demo_built
    est = pd.read_csv(build / "estimates.csv", dtype={"domain_value": str}).set_index(KEY)
    for ind in ("hh_smartphone", "hh_internet"):
        row = est.loc[(ind, "district", "7")]
        assert row["n_eff"] < 30 and "n_eff<30" in row["flags"].split(";")
    # and where the adjustment leaves n_eff >= 30, no n_eff flag
    ok = est[(est["kind"] == "proportion") & (est["n_eff"] >= 30)]
    assert not ok["flags"].fillna("").str.contains("n_eff<").any()


def _check_comparisons_models(build: Path, comparisons: pd.DataFrame, models: pd.DataFrame) -> None:
    """comparisons.csv (difference, se) and models.csv (estimate, se, df, n) against R's svycontrast / svyglm.

    The person model's SE in R: svyglm's influence functions on the person rows, summed to the household
    and run through svyrecvar with the household calibration (the pipeline's NestedStep).
    """
    c = pd.read_csv(build / "comparisons.csv", dtype={"a": str, "b": str})
    m = c.merge(comparisons.astype({"a": str, "b": str}), on=["indicator", "domain", "a", "b"], suffixes=("", "_r"),
                validate="one_to_one")
    assert len(m) == len(c) == 38
    for col in ("difference", "se"):
        np.testing.assert_allclose(m[col], m[f"{col}_r"], rtol=1e-6, atol=1e-12)
    mo = pd.read_csv(build / "models.csv")
    r = models[models["model"] != "internet_use_uncal"].assign(
        term=lambda d: d["term"].str.replace(r"factor\((\w+)\)", r"\1", regex=True))
    m = mo.merge(r, on=["model", "term"], suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(mo) == 20
    for col in ("estimate", "se", "df", "n"):
        # The person model's SE: R fits it on the uncalibrated person subset (R has no person design
        # calibrated through its households), whose weights R's glm scales by the subset's mean; the
        # pipeline's design is calibrated, and R scales a calibrated subset by the domain total over all
        # rows (analysis.covariance.subset_keeps_rows).  The scale moves the point where glm stops iterating:
        # coefficients agree to 4e-9, and the SE, taken from the last iteration's working weights, to 4e-6.
        person = (m["model"] == "internet_use").to_numpy() if col == "se" else np.zeros(len(m), bool)
        np.testing.assert_allclose(m.loc[~person, col], m.loc[~person, f"{col}_r"], rtol=1e-6)
        np.testing.assert_allclose(m.loc[person, col], m.loc[person, f"{col}_r"], rtol=1e-5)


def test_demo_comparisons_and_models_match_stored_r(demo_built):
    _, build, _ = demo_built
    j = json.loads((DATA / "r_audit_pipeline.json").read_text())
    _check_comparisons_models(build, pd.DataFrame(j["comparisons"]), pd.DataFrame(j["models"]))


@pytest.mark.skipif(not r_has("survey"), reason="R with the survey package not available")
def test_live_r_matches_stored_and_pipeline(demo_built, tmp_path):
    survey, build, _ = demo_built
    for unit in ("household", "person"):
        pd.read_parquet(build / "weight" / f"{unit}.parquet").to_csv(tmp_path / f"{unit}.csv", index=False)
    subprocess.run(["Rscript", str(DATA / "r_audit_pipeline.R"), str(tmp_path), str(survey / "controls")],
                   check=True, capture_output=True)
    r = pd.concat([pd.read_csv(tmp_path / f"r_{u}.csv") for u in ("household", "person")])
    r = r[r["which"] == "two"][KEY + COLUMNS]
    _check(_merged(build, r))
    stored = _stored().set_index(KEY)
    live = r.assign(domain_value=r["domain_value"].astype(str).str.replace(r"\.0$", "", regex=True)).set_index(KEY)
    live = live.loc[stored.index]
    for c in COLUMNS:
        np.testing.assert_allclose(live[c].astype(float), stored[c].astype(float), rtol=1e-9, equal_nan=True)
    _check_comparisons_models(build, pd.read_csv(tmp_path / "r_comparisons.csv"), pd.read_csv(tmp_path / "r_models.csv"))
