"""End to end on the bundled demo (surveys/qb2022): generator -> ingest -> clean -> weight -> estimate.

Runs in a temporary copy of the survey folder (the raw files are generated
there), twice, to check coverage of the estimates table, the population
truth inside the province CIs, that every injected defect is caught, exact
row accounting and byte-identical reruns.
"""
from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from conftest import ROOT, run_stage

DEMO = ROOT / "surveys" / "qb2022"
pytestmark = pytest.mark.skipif(not (DEMO / "generate.py").exists(), reason="demo generator not present")


@pytest.fixture(scope="module")
def demo(demo_built, tmp_path_factory):
    """The session's demo build and a second build of the same survey (for byte-identical reruns)."""
    survey, build, _ = demo_built
    again = tmp_path_factory.mktemp("demo") / "build2"
    for stage in ("ingest", "clean", "weight", "estimate"):
        run_stage(stage, survey, again, check=True)
    return survey, [build, again]


def test_every_indicator_for_province_districts_and_urban_rural(demo):
    survey, (build, _) = demo
    est = pd.read_csv(build / "estimates.csv")
    import tomllib
    cfg = tomllib.loads((survey / "survey.toml").read_text(encoding="utf-8"))
    for ind in cfg["indicators"]:
        e = est[est.indicator == ind["id"]]
        assert (e.domain == "province").sum() == 1, ind["id"]
        assert sorted(e.loc[e.domain == "district", "domain_value"].astype(int)) == list(range(1, 9)), ind["id"]
        assert sorted(e.loc[e.domain == "urban", "domain_value"].astype(int)) == [1, 2], ind["id"]
    assert est["estimate"].notna().all() and est["se"].notna().all()
    assert set(est.columns) >= {"estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "n", "n_eff", "suppress", "flags"}
    assert (build / "estimates.parquet").stat().st_size > 0 and (build / "estimates.xlsx").stat().st_size > 0


@pytest.mark.parametrize("indicator, published", [("hh_smartphone", 0.7907), ("hh_fiber", 0.5921)])
def test_province_ci_contains_truth(demo, indicator, published):
    survey, (build, _) = demo
    est = pd.read_csv(build / "estimates.csv")
    row = est[(est.indicator == indicator) & (est.domain == "province")].iloc[0]
    truth = pd.read_csv(survey / "raw" / "truth.csv")
    value = truth[(truth.indicator == indicator) & (truth.domain == "all")]["value"].iloc[0]
    assert abs(value - published) < 5e-5
    assert row.ci_low <= value <= row.ci_high, (row.ci_low, value, row.ci_high)


def test_every_defect_is_caught(demo):
    survey, (build, _) = demo
    defects = pd.read_csv(survey / "raw" / "defects.csv", dtype=str, keep_default_na=False)
    fixes = pd.read_csv(build / "clean" / "fixes.csv", dtype=str, keep_default_na=False)
    fixed = set(zip(fixes.file, fixes.key, fixes.variable, fixes.old_value))
    quarantined = {}
    for f in ("household", "person"):
        q = pd.read_csv(build / "clean" / f"quarantine_{f}.csv", dtype=str, keep_default_na=False)
        keys = q["hhid"] if f == "household" else q["hhid"] + "/" + q["line"].str.replace(r"\.0$", "", regex=True)
        quarantined[f] = set(keys) | set(q["hhid"][q["_rule"] == "unique_key"])
    missed = []
    for d in defects.itertuples():
        if d.expected_action == "set_missing":
            ok = (d.file, d.key, d.variable, d.injected_value) in fixed
        else:  # quarantine, drop_duplicate (the later copy goes to quarantine)
            ok = d.key in quarantined[d.file]
        if not ok:
            missed.append(f"{d.defect_type} {d.file} {d.key} {d.variable}")
    assert not missed, f"{len(missed)} defects not caught, e.g. {missed[:5]}"
    assert len(defects) > 100


def test_row_accounting(demo):
    survey, (build, _) = demo
    manifest = json.loads((build / "clean" / "manifest.json").read_text())
    ingest = json.loads((build / "ingest" / "manifest.json").read_text())
    for f, a in manifest["accounting"].items():
        raw = pd.read_parquet(build / "ingest" / f"{f}.parquet")
        clean = pd.read_parquet(build / "clean" / f"{f}.parquet")
        q = pd.read_csv(build / "clean" / f"quarantine_{f}.csv")
        assert a["raw"] == len(raw) == ingest["records"][f]
        assert a["clean"] == len(clean) and a["quarantined"] == len(q)
        assert len(raw) == len(clean) + len(q)
    v = pd.read_csv(build / "clean" / "validation.csv")
    assert {"file", "rule", "action", "records"} <= set(v.columns)


def test_two_runs_are_byte_identical(demo):
    _, (b1, b2) = demo

    def digest(b):
        return {str(p.relative_to(b)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(b.rglob("*"))
                if p.is_file() and p.relative_to(b).parts[0] != ".locks"}  # the stages' lock files are no output
    d1, d2 = digest(b1), digest(b2)
    assert d1 == d2
    assert "estimates.xlsx" in d1 and "weight/diagnostics.json" in d1


def test_weights_match_controls(demo):
    survey, (build, _) = demo
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    ctrl = pd.read_csv(survey / "controls" / "households_district_urban.csv")
    got = hh.groupby(["district", "urban"])["weight"].sum().reset_index()
    m = ctrl.merge(got, on=["district", "urban"])
    assert len(m) == len(ctrl)
    assert ((m.weight - m["count"]).abs() / m["count"]).max() < 1e-6


def test_person_weights_match_person_controls(demo):
    """Integrated weighting: the household weight carried by each member reproduces
    the census persons by sex x age group (members whose age is missing take no part)."""
    survey, (build, _) = demo
    pp = pd.read_parquet(build / "weight" / "person.parquet")
    ctrl = pd.read_csv(survey / "controls" / "persons_sex_age.csv")
    got = pp.groupby(["sex", "age_group"])["weight"].sum().reset_index()
    m = ctrl.assign(sex=ctrl.sex.astype(float)).merge(got, on=["sex", "age_group"])
    assert len(m) == len(ctrl)
    assert ((m.weight - m["count"]).abs() / m["count"]).max() < 1e-6


def test_persons_carry_their_household_design_and_weight(demo):
    _, (build, _) = demo
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    pp = pd.read_parquet(build / "weight" / "person.parquet")
    m = pp[["hhid", "stratum", "ea_id", "weight"]].merge(hh[["hhid", "stratum", "ea_id", "weight"]],
                                                         on="hhid", suffixes=("", "_hh"))
    assert len(m) == len(pp) and set(pp.hhid) <= set(hh.hhid)
    for c in ("stratum", "ea_id", "weight"):
        assert (m[c] == m[f"{c}_hh"]).all()


def _pairs(eas: pd.DataFrame) -> set:
    """Reference (loop) version of the demo's pseudo-strata: within each stratum, the EAs of a
    commune with 2+ sampled EAs in pairs, the other EAs in pairs in frame order, a last odd
    one joining the pair before it, and a single EA left alone joining its predecessor's group."""
    groups = []
    for _, g in eas.sort_values("ea_id").groupby("stratum"):
        n_c = g.groupby("commune_code")["ea_id"].transform("size")
        sets, lone = [], None
        for c, part in list(g[n_c >= 2].groupby("commune_code")) + [(None, g[n_c < 2])]:
            ids = part["ea_id"].tolist()
            if len(ids) == 1 and c is None and len(g) > 1:
                lone = ids[0]
                continue
            chunks = [ids[k:k + 2] for k in range(0, len(ids) - len(ids) % 2 or len(ids), 2)] if ids else []
            if len(ids) % 2 and len(ids) > 1:
                chunks[-1].append(ids[-1])
            sets += chunks
        if lone is not None:
            ids = g["ea_id"].tolist()
            k = ids.index(lone)
            nb = ids[k - 1] if k > 0 else ids[k + 1]
            next(s for s in sets if nb in s).append(lone)
        groups += [frozenset(s) for s in sets]
    return set(groups)


def test_variance_pairs_the_eas_in_frame_order(demo):
    """[design.pseudo_strata]: the variance strata are pairs of EAs in frame order within each
    design stratum, a commune's EAs together, with the stratum's sampling fraction; the
    estimates' df is #EAs - #pseudo-strata (R's degf of that design)."""
    survey, (build, _) = demo
    spec = json.loads((build / "weight" / "design.json").read_text())
    assert spec["strata"] == "variance_stratum" and spec["fpc"] == "variance_fpc"
    assert spec["variance"]["design_strata"] == "stratum" and spec["variance"]["order"] == "ea_id"
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    eas = hh.drop_duplicates("ea_id").sort_values(["stratum", "ea_id"])
    got = {frozenset(g["ea_id"]) for _, g in eas.groupby("variance_stratum")}
    assert got == _pairs(eas)
    assert any(len(s) == 3 for s in got) and all(len(s) >= 2 for s in got)
    frame = pd.read_csv(survey / "frame.csv").drop_duplicates("stratum").set_index("stratum")["stratum_eas"]
    f = eas.groupby("stratum")["ea_id"].transform("size") / eas["stratum"].map(frame)
    assert (eas["variance_fpc"].to_numpy() == f.to_numpy()).all()
    est = pd.read_csv(build / "estimates.csv")
    prov = est[est.domain == "province"]
    assert (prov["df"] == eas["ea_id"].nunique() - eas["variance_stratum"].nunique()).all()
