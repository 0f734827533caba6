"""The coverage study (pipeline.validate) on the bundled demo, fast version.

60 samples drawn from the demo's synthetic population with the survey's own
design and nonresponse, each run through the pipeline's clean rules, weight
stage and estimate stage on both cores.  At province level, for every CI
method, the coverage of the 95% intervals must be within 3 Monte-Carlo SEs of
0.95 (sqrt(0.95 x 0.05 / 60) = 0.0281, so [0.866, 1.0]) and the relative bias
under 1%.  A tiny run checks the CSV columns, the one-line error without a
generator and that the same seed gives the same bytes.  The same study runs the
demo's ``[sae]`` small-area estimates in every replicate (50 bootstrap samples
of the arcsine MSE instead of 200, for speed): coverage_sae.csv has one row per
indicator x commune, the commune truth is the generator's, and the EBLUP is
better than the direct estimate with about nominal interval coverage.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_stage

DEMO = ROOT / "surveys" / "qb2022"
KEY = ["hh_smartphone", "hh_internet", "hh_fiber", "p_smartphone", "p_internet", "p_account"]
COLUMNS = ["indicator", "domain", "level", "ci_method", "replicates", "truth", "mean_estimate", "relative_bias",
           "empirical_se", "mean_se", "coverage"]
R_FAST = 60  # 60 samples keep make test under 5 minutes; `make validate REPLICATES=200` is the full study
MC_SE = np.sqrt(0.95 * 0.05 / R_FAST)
BOUND = 3 * MC_SE  # coverage within 3 Monte-Carlo SEs of 0.95


@pytest.fixture(scope="module")
def demo(demo_built, tmp_path_factory):
    """The demo survey with its raw files and a build folder holding the ingest stage's outputs."""
    survey, built, _ = demo_built
    build = tmp_path_factory.mktemp("validate") / "build"
    shutil.copytree(built / "ingest", build / "ingest")
    return survey, build


@pytest.fixture(scope="module")
def fast_both(demo):
    from pipeline.validate import coverage_study
    survey, build = demo
    return coverage_study(survey, replicates=R_FAST, seed=7, jobs=2, indicators=KEY, build=build, sae_bootstrap=50,
                          small_areas=True)


@pytest.fixture(scope="module")
def fast(fast_both):
    return fast_both[0]


@pytest.fixture(scope="module")
def fast_sae(fast_both):
    return fast_both[1]


SAE_INDICATORS = ["hh_smartphone", "hh_fiber", "p_internet"]  # the demo's [sae] indicators


def test_sae_columns_and_rows(fast_sae, demo):
    from pipeline.validate import SAE_COLUMNS
    communes = pd.read_csv(demo[0] / "communes.csv")
    assert list(fast_sae.columns) == SAE_COLUMNS
    assert len(communes) == 151 and len(fast_sae) == 151 * 3
    assert list(fast_sae["indicator"].drop_duplicates()) == SAE_INDICATORS
    for ind in SAE_INDICATORS:  # every commune of the frame, in frame order
        assert list(fast_sae.loc[fast_sae["indicator"] == ind, "area"]) == [str(c) for c in communes["commune_code"]]
    assert not fast_sae.duplicated(["indicator", "area"]).any()
    assert (fast_sae["replicates"] == R_FAST).all()
    assert fast_sae["area_label"].notna().all() and fast_sae["district"].nunique() == 8
    # 150 EAs in 151 communes: most communes are sampled in some replicates, none in all of them by chance alone
    assert (fast_sae["n_sampled"] > 0).mean() > 0.9
    ok = fast_sae["n_sampled"] > 0
    assert fast_sae.loc[ok, ["direct_mse", "eblup_mse_sampled", "coverage_sampled"]].notna().all().all()
    assert fast_sae[["truth", "eblup_mse", "mean_mse_estimate", "coverage"]].notna().all().all()


def test_sae_truth_is_the_generators(fast_sae, demo):
    """The commune truth (config expressions on the population by commune) equals generator.truth.commune_truth."""
    gen = pd.read_csv(demo[0] / "raw" / "truth_communes.csv", dtype={"level": str})
    gen = gen.set_index(["indicator", "level"])["value"]
    got = fast_sae.set_index(["indicator", "area"])["truth"]
    np.testing.assert_allclose(got.to_numpy(), gen.reindex(got.index).to_numpy(), rtol=0, atol=1e-12)


def test_sae_gain_and_coverage(fast_sae):
    """Over 60 samples: the EBLUP's MSE is well below the direct estimate's in the sampled communes, and
    EBLUP ± 1.96 rmse covers each commune's truth in about 95% of samples on average: 92-97%, issue 14's
    criterion (with REML instead of the demo's AMRL the average was 0.90-0.91, pipeline.small_area)."""
    from pipeline.validate import sae_summary
    s = sae_summary(fast_sae).set_index("indicator")
    assert (s["areas_gain"] > 100).all()
    assert (s["mse_gain"] > 1.5).all(), s.to_string()
    assert s["coverage_mean"].between(0.92, 0.97).all(), s.to_string()
    assert s["mse_ratio_median"].between(0.6, 1.6).all(), s.to_string()


def test_columns_and_rows(fast):
    assert list(fast.columns[:len(COLUMNS)]) == COLUMNS
    assert set(fast["indicator"]) == set(KEY)
    assert set(fast["ci_method"]) == {"logit", "beta", "wilson", "mean"}
    assert set(fast["domain"]) == {"province", "district", "urban", "sex"}
    # one row per indicator x domain value x method: 3 household x (1 + 8 + 2) and 3 person indicators
    # x (1 + 8 + 2 + 2: the demo's domain by sex, for the male-female comparisons), x 4 methods
    assert len(fast) == (3 * 11 + 3 * 13) * 4
    assert not fast.duplicated(["indicator", "domain", "level", "ci_method"]).any()
    assert (fast["replicates"] == R_FAST).all()
    assert (fast["n_missing"] == 0).all()


def test_truth_is_the_generators(fast, demo):
    """The truth (config expressions on the whole population) equals the generator's own truth table."""
    truth = pd.read_csv(demo[0] / "raw" / "truth.csv")
    prov = fast[fast["domain"] == "province"].drop_duplicates("indicator").set_index("indicator")["truth"]
    gen = truth[truth["domain"] == "all"].set_index("indicator")["value"]
    for ind in KEY:
        assert prov[ind] == pytest.approx(gen[ind], abs=1e-12)


def test_province_coverage_within_monte_carlo_error(fast):
    prov = fast[fast["domain"] == "province"]
    assert len(prov) == len(KEY) * 4
    bad = prov[(prov["coverage"] - 0.95).abs() > BOUND]
    assert bad.empty, bad[["indicator", "ci_method", "coverage", "se_ratio"]].to_string()


def test_province_relative_bias_under_one_percent(fast):
    prov = fast[fast["domain"] == "province"]
    assert (prov["relative_bias"].abs() < 0.01).all(), prov[["indicator", "relative_bias"]].to_string()


def test_se_ratio_sane(fast):
    """Mean estimated SE against the SD of the estimates: within the Monte-Carlo error of 60 samples."""
    prov = fast[(fast["domain"] == "province") & (fast["ci_method"] == "logit")]
    assert prov["se_ratio"].between(0.75, 1.3).all(), prov[["indicator", "se_ratio"]].to_string()


def test_same_seed_same_bytes_and_no_generator_error(demo, fast, tmp_path):
    from pipeline.validate import main
    survey, build = demo
    outs = []
    for k, jobs in enumerate(("1", "2")):  # in-process (the population is cached), both process counts
        b = tmp_path / f"b{k}"
        shutil.copytree(build / "ingest", b / "ingest")
        with pytest.raises(SystemExit) as ex:
            from pipeline.errors import run
            run(main, ["--survey", str(survey), "--replicates", "4", "--indicators", ",".join(KEY), "--seed", "3",
                       "--no-figure", "--build", str(b), "--jobs", jobs])
        assert ex.value.code == 0
        outs.append([(b / "validation" / f).read_bytes() for f in ("coverage.csv", "coverage_sae.csv")])
    assert outs[0] == outs[1]  # same seed: same bytes, whatever the number of processes
    sae = pd.read_csv(tmp_path / "b0" / "validation" / "coverage_sae.csv")
    assert len(sae) == 151 * 3 and (sae["replicates"] == 4).all()

    nogen = tmp_path / "nogen"
    shutil.copytree(survey, nogen, ignore=shutil.ignore_patterns("raw", "generate.py"))
    toml = (nogen / "survey.toml").read_text(encoding="utf-8")
    start = toml.index("[raw]")
    end = toml.index("[files.household]")
    (nogen / "survey.toml").write_text(toml[:start] + toml[end:], encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pipeline.validate", "--survey", str(nogen), "--replicates", "4",
                        "--build", str(tmp_path / "b0")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "generator" in lines[0], r.stderr


def test_person_variance_with_household_calibration(demo):
    """A person proportion with NestedStep has the variance of the household-level ratio
    (members with the item / members) on the calibrated household design."""
    from pipeline import config
    from pipeline.calibration import calibration_steps
    from pipeline.designs import make_design
    survey, build = demo
    for stage in ("clean", "weight"):
        run_stage(stage, survey, build, check=True)
    cfg = config.load(survey)
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    person = pd.read_parquet(build / "weight" / "person.parquet")
    spec = {"weights": "weight", "strata": "stratum", "psu": "ea_id", "fpc": None, "lonely_psu": "adjust",
            "before_calibration": "w_nonresponse"}
    steps = calibration_steps({"household": hh, "person": person}, cfg, survey, spec)
    assert len(steps["household"]) >= 1 and len(steps["person"]) == 1

    adult = person[person["age"] >= 15].assign(y=lambda d: (d["p_internet"] == 1).astype(float))
    per_hh = adult.groupby("hhid").agg(Y=("y", "sum"), N=("y", "size"))
    hh2 = hh.assign(Y=hh["hhid"].map(per_hh["Y"]).fillna(0.0), N=hh["hhid"].map(per_hh["N"]).fillna(0.0))
    dh = make_design(hh2, spec)
    for s in steps["household"]:
        dh = dh.with_weights(dh.weights, calibration=s)
    r_hh = dh.ratio("Y", "N", by="district")

    p2 = person.assign(y=(person["p_internet"] == 1).astype(float).where(person["age"] >= 15))
    dp = make_design(p2, spec).with_weights(make_design(p2, spec).weights, calibration=steps["person"][0])
    r_p = dp.mean("y", by="district", na_rm=True)
    np.testing.assert_allclose(r_p.estimate, r_hh.estimate, rtol=1e-10)
    np.testing.assert_allclose(r_p.se, r_hh.se, rtol=1e-8)
    # and the calibration matters: without it the SEs differ
    r_plain = make_design(p2, spec).mean("y", by="district", na_rm=True)
    assert not np.allclose(r_plain.se, r_p.se, rtol=1e-4)


def test_report_shows_small_area_validation(fast, fast_sae, demo, tmp_path):
    """The report's validation section: per [sae] indicator the MSE gain and the commune coverage."""
    from pipeline import config
    from pipeline.report import validation
    from pipeline.validate import sae_summary
    (tmp_path / "validation").mkdir()
    fast.to_csv(tmp_path / "validation" / "coverage.csv", index=False)
    cfg = config.load(demo[0])
    assert len(validation(tmp_path, tmp_path, cfg, None, "en")["tables"]) == 2
    fast_sae.to_csv(tmp_path / "validation" / "coverage_sae.csv", index=False)
    sec = validation(tmp_path, tmp_path, cfg, None, "en")
    t = sec["tables"][-1]
    assert "Commune" in t["title"] and str(R_FAST) in t["title"] and len(t["rows"]) == 3
    s = sae_summary(fast_sae)
    assert t["rows"][0][1] == "151" and t["rows"][0][2] == f"{s['mse_gain'].iloc[0]:.2f}"
    assert validation(tmp_path, tmp_path, cfg, None, "vi")["tables"][-1]["title"].startswith("Ước lượng cấp xã")


def test_coverage_figure(fast, demo):
    """The study's figure: a PNG, the same bytes when drawn twice from the same table."""
    from pipeline import config
    from pipeline.validation_plot import coverage_figure
    cfg = config.load(demo[0])
    png = coverage_figure(fast, cfg)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert coverage_figure(fast, cfg) == png
