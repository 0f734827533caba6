"""The pipeline is not tied to the demo: a second, small survey made here, with a
different design (no strata, CSV input, within-EA probabilities from listing counts)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import run_stage


def test_csv_survey_without_strata(make_survey, tmp_path):
    survey = make_survey(fmt="csv", strata=False, name="second", n_ea=12, per_ea=8, seed=7)
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    assert "strata" not in text and "household.csv" in text
    build = tmp_path / "build"
    for stage in ("ingest", "clean", "weight", "estimate"):
        p = run_stage(stage, survey, build)
        assert p.returncode == 0, p.stderr
        assert f"[{stage}] done in" in p.stderr
    est = pd.read_csv(build / "estimates.csv")
    assert set(est.indicator) == {"hh_smartphone", "hh_fiber", "p_internet"}
    assert set(est.domain) == {"all", "district", "urban"}
    assert len(est) == 3 * (1 + 2 + 2)
    assert est.estimate.between(0, 1).all() and (est.se > 0).all()
    # the don't-know code declared in missing_codes became missing, and was logged
    fixes = pd.read_csv(build / "clean" / "fixes.csv", dtype=str, keep_default_na=False)
    assert ((fixes.rule == "user_missing") & (fixes.old_value == "98")).sum() == 1
    acc = json.loads((build / "clean" / "manifest.json").read_text())["accounting"]
    assert all(a["raw"] == a["clean"] + a["quarantined"] for a in acc.values())
    codebook = json.loads((build / "ingest" / "codebook.json").read_text())
    assert codebook["household"]["n_smartphones"]["missing"] == [98.0, 99.0]


def test_sav_survey_labels_reach_the_table(make_survey, tmp_path):
    survey = make_survey(fmt="sav")
    build = tmp_path / "build"
    for stage in ("ingest", "clean", "weight", "estimate"):
        run_stage(stage, survey, build, check=True)
    codebook = json.loads((build / "ingest" / "codebook.json").read_text())
    assert codebook["household"]["result"]["values"]["4"] == "vacant"
    assert codebook["household"]["n_smartphones"]["missing"] == [98.0, 99.0]
    assert codebook["household"]["n_smartphones"]["label"] == "n smartphones"
    diag = json.loads((build / "weight" / "diagnostics.json").read_text())
    assert set(diag["steps"]) == {"nonresponse", "rake", "trim"}


def test_replicate_weights_recalibrated(make_survey, tmp_path):
    survey = make_survey(fmt="csv", strata=False, name="reps")
    p = survey / "survey.toml"
    p.write_text(p.read_text(encoding="utf-8").replace(
        "[weighting.trim]", '[weighting.replicates]\nmethod = "JK1"\n\n[weighting.trim]'), encoding="utf-8")
    build = tmp_path / "build"
    for stage in ("ingest", "clean", "weight", "estimate"):
        run_stage(stage, survey, build, check=True)
    design = json.loads((build / "weight" / "design.json").read_text())
    assert design["replicates"]["type"] == "JK1"
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    reps = design["replicates"]["columns"]
    assert len(reps) == hh["ea_id"].nunique()
    # every replicate is re-raked to the household controls
    ctrl = pd.read_csv(survey / "controls" / "households.csv")
    for col in reps[:3]:
        tot = hh.groupby(["district", "urban"])[col].sum().reset_index().merge(ctrl, on=["district", "urban"])
        assert ((tot[col] - tot["count"]).abs() / tot["count"]).max() < 1e-6
    est = pd.read_csv(build / "estimates.csv")
    assert (est.se > 0).all() and (est.df > 0).all() and (est.df <= len(reps) - 1).all()


@pytest.mark.parametrize("fmt", ["dta", "parquet"])
def test_other_input_formats(make_survey, tmp_path, fmt):
    survey = make_survey(fmt=fmt, name=f"in_{fmt}")
    p = survey / "survey.toml"  # no SPSS missing-value metadata here: declare the codes in the config
    p.write_text(p.read_text(encoding="utf-8").replace(
        'require_children = "result == 1"\n',
        'require_children = "result == 1"\nmissing_codes = { n_smartphones = [98, 99] }\n'), encoding="utf-8")
    build = tmp_path / "build"
    for stage in ("ingest", "clean"):
        run_stage(stage, survey, build, check=True)
    manifest = json.loads((build / "ingest" / "manifest.json").read_text())
    assert [e["path"] for e in manifest["inputs"]] == [f"raw/household.{fmt}", f"raw/person.{fmt}"]
    assert all(len(e["sha256"]) == 64 and e["bytes"] > 0 for e in manifest["inputs"])
    fixes = pd.read_csv(build / "clean" / "fixes.csv", dtype=str, keep_default_na=False)
    assert ((fixes.rule == "user_missing") & (fixes.old_value == "98")).sum() == 1
