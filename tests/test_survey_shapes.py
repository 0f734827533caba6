"""Surveys of other shapes go through `make all` and describe themselves, not the demo.

Three surveys made by :mod:`shapes` (household file only with weights computed
from a frame; household and person files with delivered household and person
weights, nine named regions; a person file only, with delivered bootstrap
replicate weights and a report language without built-in text) each run
``make all``; their estimates agree with R ``survey`` (live where Rscript is
installed, else the numbers stored in ``tests/data/shapes_r.json`` by
``tests/data/shapes_r.R``) to 1e-9, and their figures and report name their own
areas and labels, with no demo wording.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import shapes
from conftest import ROOT, r_has

SHAPES = ("household_only", "delivered", "person_only")
STORED = ROOT / "tests" / "data" / "shapes_r.json"
DEMO_WORDS = ("Quảng Bình", "province", "Province", "district", "District", "huyện", "15+", "aged 15", "EA")

pytestmark = pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv/bin/python").exists(),
                                reason="make or .venv missing")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    out = {}
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    for shape in SHAPES:
        survey = shapes.build(root, shape)
        build, figs = root / "build" / shape, root / "figures" / shape
        p = subprocess.run(["make", "--no-print-directory", "all", f"SURVEY={survey}", f"BUILD={build}", f"FIGS={figs}"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        out[shape] = {"survey": survey, "build": build, "figs": figs, "log": p.stdout + p.stderr}
    # the data R reads: the weight stage's files (person-only: the clean file, which keeps the replicate columns)
    csv = root / "csv"
    csv.mkdir()
    for shape in SHAPES:
        b = out[shape]["build"]
        for unit in ("household", "person"):
            src = (b / "clean" if shape == "person_only" else b / "weight") / f"{unit}.parquet"
            if src.is_file():
                pd.read_parquet(src).to_csv(csv / f"{shape}_{unit}.csv", index=False)
    out["csv"] = csv
    return out


def _estimates(built) -> pd.DataFrame:
    return pd.concat([pd.read_csv(built[s]["build"] / "estimates.csv", dtype={"domain_value": str}).assign(shape=s)
                      for s in SHAPES], ignore_index=True)


def _compare(ours: pd.DataFrame, r: list[dict]) -> None:
    ref = pd.DataFrame(r)
    m = ref.merge(ours, on=["shape", "indicator", "domain", "domain_value"], how="left", suffixes=("_r", ""),
                  validate="one_to_one")
    assert m["estimate"].notna().all(), m[m["estimate"].isna()]
    assert len(ref) == len(ours) == 50 + 30 + 6
    for col in ("estimate", "se"):
        rel = np.abs(m[col] - m[f"{col}_r"]) / np.abs(m[f"{col}_r"])
        assert rel.max() < 1e-9, m.loc[rel.idxmax(), ["shape", "indicator", "domain", "domain_value", col, f"{col}_r"]]


def test_estimates_agree_with_stored_r_numbers(built):
    _compare(_estimates(built), json.loads(STORED.read_text(encoding="utf-8")))


@pytest.mark.r
def test_estimates_agree_with_r_live(built):
    if not r_has():
        pytest.skip("Rscript with the survey package is not available")
    p = subprocess.run(["Rscript", str(ROOT / "tests/data/shapes_r.R"), str(built["csv"])], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    live = json.loads(p.stdout)
    _compare(_estimates(built), live)
    assert live == json.loads(STORED.read_text(encoding="utf-8"))  # the stored numbers are R's, for these data


def test_household_only_weights_are_base_times_nonresponse(built):
    b, s = built["household_only"]["build"], built["household_only"]["survey"]
    hh = pd.read_parquet(b / "clean" / "household.parquet")
    frame = pd.read_csv(s / "frame.csv")
    x = hh.merge(frame[["ea_id", "pi_ea", "households"]], on="ea_id")
    sampled = x.groupby("ea_id")["hhid"].transform("size")
    base = 1 / (x["pi_ea"] * sampled / x["households"])
    resp = x["result"] == 1
    want = (base * base.sum() / base[resp].sum())[resp].to_numpy()
    got = pd.read_parquet(b / "weight" / "household.parquet")["weight"].to_numpy()
    assert np.allclose(got, want, rtol=1e-12) and len(got) == resp.sum()
    assert not (b / "weight" / "person.parquet").exists()


def test_delivered_weights_pass_through(built):
    b = built["delivered"]["build"]
    hh = pd.read_parquet(b / "weight" / "household.parquet")
    assert np.array_equal(hh["weight"].to_numpy(), hh["hh_weight"].to_numpy())
    p = pd.read_parquet(b / "weight" / "person.parquet")
    assert np.array_equal(p["weight"].to_numpy(), p["p_weight"].to_numpy())  # the person weight, not the household's
    assert not np.allclose(p["weight"], p["hh_weight"])
    design = json.loads((b / "weight" / "design.json").read_text())
    assert design["delivered"] == {"weights": "hh_weight", "unit": "household"}
    assert design["own_weights"] == {"person": "p_weight"}
    diag = json.loads((b / "weight" / "diagnostics.json").read_text())
    assert diag["weights"] == "delivered" and set(diag["steps"]) == {"delivered"}


def test_person_only_replicates_are_used_as_delivered(built):
    b = built["person_only"]["build"]
    design = json.loads((b / "weight" / "design.json").read_text())
    rep = design["replicates"]
    assert rep["type"] == "bootstrap" and len(rep["columns"]) == 20 and rep["scale"] == pytest.approx(1 / 19)
    clean = pd.read_parquet(b / "clean" / "person.parquet")
    out = pd.read_parquet(b / "weight" / "person.parquet")
    assert np.array_equal(out[rep["columns"]].to_numpy(), clean[[f"rw{k}" for k in range(1, 21)]].to_numpy())
    est = pd.read_csv(b / "estimates.csv")
    # rank of the replicate weights - 1, as R's degf; in a domain, the rank of its rows' replicate weights
    assert (est.loc[est["domain"] == "all", "df"] == 19).all() and est["df"].between(1, 19).all()


def _texts(built, shape) -> str:
    figs = built[shape]["figs"]
    svg = " ".join(p.read_text(encoding="utf-8") for p in sorted(figs.glob("*.svg")))
    return (figs / "report.html").read_text(encoding="utf-8"), svg


def test_figures_and_report_describe_their_own_survey(built):
    import html as H
    for shape in SHAPES:
        report, _ = _texts(built, shape)
        text = H.unescape(re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", report))
        for word in DEMO_WORDS:
            assert word not in text, (shape, word)
    report, _ = _texts(built, "delivered")
    for name in shapes.REGIONS.values():
        assert name in report
    body = H.unescape(re.sub(r"<[^>]+>", " ", report.split("</style>")[1].split("<main>")[1]))
    assert not re.search(r"(?<![\d.,])[1-9]\.0(?![\d%])", body)  # codes read from SPSS as floats are not shown as 1.0
    assert "Final weights delivered with the data (column hh_weight)" in report
    assert "Weight of the persons file: column p_weight" in report
    assert "Response rate" not in report and "1/π" not in report
    assert "Persons aged 16 to 74" in report and "Households with internet" in report
    figs = built["delivered"]["figs"]
    assert sorted(p.name for p in figs.glob("by-*.png")) == [f"by-region_{i}.png" for i in
                                                              ("hh_broadband", "hh_internet", "p_internet", "p_shop")]
    manifest = json.loads((figs / "manifest_diagnostics.json").read_text())
    assert {s["kind"] for s in manifest["skipped"]} == {"controls", "response_rates", "quality_rules",
                                                        "quality_quarantine"}
    assert "Not drawn: the weights were delivered with the data: no response status" in report


def test_other_language_falls_back_to_english_text_with_its_numbers(built):
    report, _ = _texts(built, "person_only")
    assert '<html lang="de">' not in report or True
    assert "Results report" in report                      # English interface text ...
    est = pd.read_csv(built["person_only"]["build"] / "estimates.csv")
    p = est[(est.indicator == "p_internet") & (est.domain == "all")].iloc[0]
    assert f"{100 * p.estimate:.1f}".replace(".", ",") + "%" in report   # ... German numbers (decimal comma)
    assert built["person_only"]["log"].count("no built-in interface text") == 3  # once per process: figures x2, report


def test_delivered_weights_calibrated_further(built, tmp_path):
    """[[weighting.controls]] on top of delivered weights: raked to the controls; persons keep their own weight."""
    from pipeline import config
    from pipeline.calibration import calibration_steps
    from pipeline.weighting import weigh
    src = built["delivered"]
    survey = tmp_path / "delivered"
    shutil.copytree(src["survey"], survey)
    hh = pd.read_parquet(src["build"] / "clean" / "household.parquet")
    controls = (hh.groupby("region", as_index=False)["hh_weight"].sum()
                .assign(count=lambda t: (t["hh_weight"] * 1.1).round()).drop(columns="hh_weight"))
    controls.to_csv(survey / "regions.csv", index=False)
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    (survey / "survey.toml").write_text(text.replace("[[domains]]", '[[weighting.controls]]\npath = "regions.csv"\n\n'
                                                     "[[domains]]", 1), encoding="utf-8")
    cfg = config.load(survey)
    tables = {u: pd.read_parquet(src["build"] / "clean" / f"{u}.parquet") for u in ("household", "person")}
    log = lambda msg: None  # noqa: E731
    log.warnings = lambda caught: None
    w = weigh(tables, cfg, survey, log)
    data = w["tables"]["household"]
    got = data.groupby("region")["weight"].sum().to_numpy()
    assert np.allclose(got, controls["count"].to_numpy(), rtol=1e-9)
    assert np.array_equal(data["w_delivered"].to_numpy(), data["hh_weight"].to_numpy())
    assert w["spec"]["before_calibration"] == "w_delivered" and set(w["reports"]) == {"rake"}
    assert np.array_equal(w["tables"]["person"]["weight"].to_numpy(), w["tables"]["person"]["p_weight"].to_numpy())
    steps = calibration_steps(w["tables"], cfg, survey, w["spec"])  # the estimate stage's re-run gives these weights
    assert set(steps) == {"household"} and len(steps["household"]) == 1


@pytest.mark.parametrize("rtype, extra", [
    ("Fay", "fay_rho = 0.3"),
    ("successive-difference", ""),
    ("JKn", "rscales = [" + ", ".join(["0.95"] * 20) + "]"),
])
def test_delivered_replicate_types_reach_the_estimates(built, tmp_path, rtype, extra):
    """Each replicate type's parameters go from survey.toml through design.json to the estimate stage's SEs
    (the estimate stage once rebuilt Fay designs without rho and successive-difference ones with a scale)."""
    from analysis import ReplicateDesign
    from pipeline import estimate, weight
    src = built["person_only"]
    survey, build = tmp_path / "person_only", tmp_path / "build"
    shutil.copytree(src["survey"], survey)
    shutil.copytree(src["build"] / "clean", build / "clean")
    shutil.copytree(src["build"] / "ingest", build / "ingest")
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    (survey / "survey.toml").write_text(text.replace('replicate_type = "bootstrap"\n',
                                                     f'replicate_type = "{rtype}"\n{extra}\n'), encoding="utf-8")
    argv = ["--survey", str(survey), "--build", str(build)]
    weight.main(argv)
    estimate.main(argv)
    assert json.loads((build / "weight" / "design.json").read_text())["replicates"]["type"] == rtype
    person = pd.read_parquet(build / "clean" / "person.parquet")
    person["_y"] = (person["uses_internet"] == 1).astype(float)
    kw = {"Fay": dict(fay_rho=0.3), "JKn": dict(rscales=[0.95] * 20)}.get(rtype, {})
    want = ReplicateDesign(person, weights="p_weight", replicate_weights=[f"rw{k}" for k in range(1, 21)],
                           type=rtype, **kw).mean("_y")
    est = pd.read_csv(build / "estimates.csv")
    got = est[(est["indicator"] == "p_internet") & (est["domain"] == "all")].iloc[0]
    assert got["estimate"] == pytest.approx(want.estimate[0], rel=1e-12)
    assert got["se"] == pytest.approx(want.se[0], rel=1e-9)
