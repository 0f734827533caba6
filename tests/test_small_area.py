"""pipeline.small_area: the sae.csv table from a commune domain's estimates, the commune frame and [sae].

The demo survey copied with a `commune` domain added to its config runs
the estimate stage on the session's demo build (about 5 s); its commune estimates and
surveys/qb2022/communes.csv go into small_area_estimates.  Checked: the table's
shape and columns, that it is exactly analysis.sae on the same inputs, R's
sae::mseFH live on the same model, the error against the commune truth
(raw/truth_communes.csv), benchmarking, the direct-variance option and
one-line errors naming the [sae] key.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from analysis.sae import fay_herriot_frame, gvf_proportion
from conftest import run_stage, r_has
from pipeline.errors import PipelineError
from pipeline.small_area import SAE_COLUMNS, small_area_estimates

COVARIATES = ["census_urban", "census_computer", "census_hh_size", "census_aged_60plus", "census_ethnic_minority",
              "fiber_ports_per_100hh", "coverage_4g", "log(distance_km)"]
SAE = dict(domain="commune", area="commune_code", label="commune", group="district_code", group_label="district",
           indicators=["hh_smartphone", "hh_fiber", "p_internet"], covariates=COVARIATES, _path="survey.toml")


@pytest.fixture(scope="module")
def demo(demo_built, tmp_path_factory):
    survey0, built, _ = demo_built
    root = tmp_path_factory.mktemp("sae")
    survey = root / "qb2022"
    shutil.copytree(survey0, survey)   # raw files copied: input paths must resolve inside the survey folder
    cfg = survey / "survey.toml"
    text = cfg.read_text(encoding="utf-8")
    text = text.replace('[[domains]]\nid = "urban"', '[[domains]]\nid = "commune"\nby = ["commune"]\n'
                        'label = { vi = "Xã/phường/thị trấn", en = "Commune" }\n\n[[domains]]\nid = "urban"', 1)
    cfg.write_text(text, encoding="utf-8")
    build = root / "build"
    for stage in ("ingest", "clean", "weight"):        # a new domain changes only the estimate stage's work
        shutil.copytree(built / stage, build / stage)
    run_stage("estimate", survey, build, check=True)
    est = pd.read_csv(build / "estimates.csv")
    frame = pd.read_csv(survey / "communes.csv")
    truth = pd.read_csv(survey / "raw" / "truth_communes.csv", dtype={"level": str})
    return dict(est=est, frame=frame, truth=truth.rename(columns={"level": "area"}))


@pytest.fixture(scope="module")
def result(demo):
    return small_area_estimates(demo["est"], demo["frame"], SAE)


def test_table_rows_and_columns(demo, result):
    t = result.table
    assert list(t.columns) == SAE_COLUMNS
    assert len(t) == 3 * 151
    for ind, g in t.groupby("indicator", sort=False):
        assert g["area"].tolist() == demo["frame"]["commune_code"].astype(str).tolist()
        assert (g["method"] == "eblup").sum() == 117 and (g["method"] == "synthetic").sum() == 34
        syn = g["method"] == "synthetic"
        assert (g.loc[syn, "n"] == 0).all() and g.loc[syn, ["direct", "direct_se"]].isna().all().all()
        assert (g.loc[syn, "gamma"] == 0).all() and g.loc[~syn, "gamma"].between(0, 1, inclusive="neither").all()
        d = demo["est"][(demo["est"]["domain"] == "commune") & (demo["est"]["indicator"] == ind)]
        assert g["n"].sum() == d["n"].sum()
        np.testing.assert_allclose(g["cv"], g["rmse"] / g["eblup"], rtol=1e-12)
        assert g["eblup"].between(0, 1).all() and (g["rmse"] > 0).all()
    first = t.iloc[0]
    assert (first["area"], first["area_label"], first["district"]) == ("101", "Phường 01, Đồng Hới", "Đồng Hới")
    fit = result.fits["hh_fiber"]
    assert fit["converged"] and not fit["sigma2_u_zero"] and fit["areas_sampled"] == 117
    assert list(fit["beta"]) == ["(Intercept)", *COVARIATES]
    assert fit["gvf"]["areas_used"] == 23 and fit["gvf"]["from_gvf"] == 117
    # a linear model near 1: two communes' hh_smartphone EBLUPs were above 1, clipped and counted
    assert result.fits["hh_smartphone"]["clipped_to_0_1"] >= 1 and fit["clipped_to_0_1"] == 0


def _inputs(demo, ind):
    """The model's inputs rebuilt by hand: direct estimates, GVF variances (areas with df >= 1), covariates."""
    e = demo["est"]
    d = e[(e["domain"] == "commune") & (e["indicator"] == ind)].copy()
    d["area"] = d["domain_value"].astype(int)
    f = demo["frame"].merge(d[["area", "estimate", "se", "n", "df"]], left_on="commune_code", right_on="area",
                            how="left")
    s = f["estimate"].notna().to_numpy()
    g = gvf_proportion(f.loc[s, "estimate"], f.loc[s, "se"] ** 2, f.loc[s, "n"], usable=f.loc[s, "df"] >= 1)
    f["v"] = np.nan
    f.loc[s, "v"] = g.variance
    f["log(distance_km)"] = np.log(f["distance_km"])
    return f, s


def test_is_analysis_sae_on_the_same_inputs(demo, result):
    for ind in SAE["indicators"]:
        f, _ = _inputs(demo, ind)
        ref = fay_herriot_frame(f, "estimate", "v", COVARIATES).table
        got = result.table[result.table["indicator"] == ind]
        np.testing.assert_allclose(got["eblup"], np.clip(ref["estimate"], 0, 1), rtol=1e-12)
        assert result.fits[ind]["clipped_to_0_1"] == int((~ref["estimate"].between(0, 1)).sum())
        np.testing.assert_allclose(got["rmse"], ref["rmse"], rtol=1e-12)
        np.testing.assert_allclose(got["gamma"], ref["gamma"], rtol=1e-12)


@pytest.mark.r
@pytest.mark.skipif(not r_has("sae"), reason="Rscript with the sae package is not available")
def test_matches_r_sae_live(demo, result, tmp_path):
    """R sae::mseFH (REML) on the sampled communes' inputs gives our sigma2_u, EBLUPs and MSEs to 1e-6."""
    f, s = _inputs(demo, "hh_fiber")
    d = f[s].rename(columns={"log(distance_km)": "logdist"})
    d.to_csv(tmp_path / "d.csv", index=False)
    code = (f"suppressMessages(library(sae)); d <- read.csv('{tmp_path / 'd.csv'}');"
            "r <- mseFH(estimate ~ census_urban + census_computer + census_hh_size + census_aged_60plus + "
            "census_ethnic_minority + fiber_ports_per_100hh + coverage_4g + logdist, v, method='REML', data=d);"
            "cat(sprintf('%.17g', c(r$est$fit$refvar, r$est$eblup, r$mse)), sep='\\n')")
    vals = np.array(subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
                    .stdout.split(), dtype=float)
    got = result.table[(result.table["indicator"] == "hh_fiber") & (result.table["method"] == "eblup")]
    ours = np.concatenate([[result.fits["hh_fiber"]["sigma2_u"]], got["eblup"], got["rmse"] ** 2])
    assert np.max(np.abs(ours - vals) / np.abs(vals)) < 1e-6


def test_closer_to_the_commune_truth_than_direct(demo, result):
    """Measured on the demo sample: RMSE against the truth over the 117 sampled communes,
    and the share of the 151 communes whose truth lies within EBLUP +- 1.96 rmse."""
    t = result.table.merge(demo["truth"][["indicator", "area", "value"]], on=["indicator", "area"])
    expected = {"hh_smartphone": (0.1125, 0.0624, 0.947), "hh_fiber": (0.1486, 0.0857, 0.881),
                "p_internet": (0.1039, 0.0535, 0.954)}
    for ind, g in t.groupby("indicator"):
        s = g["method"] == "eblup"
        direct = np.sqrt(np.mean((g.loc[s, "direct"] - g.loc[s, "value"]) ** 2))
        eblup = np.sqrt(np.mean((g.loc[s, "eblup"] - g.loc[s, "value"]) ** 2))
        cover = np.mean(np.abs(g["eblup"] - g["value"]) <= 1.96 * g["rmse"])
        assert eblup < 0.65 * direct
        assert 0.85 <= cover <= 0.99
        np.testing.assert_allclose([direct, eblup, cover], expected[ind], atol=6e-4, err_msg=ind)


def test_arcsine_transformation_stays_inside_and_covers(demo):
    r = small_area_estimates(demo["est"], demo["frame"], {**SAE, "transform": "arcsin"})
    t = r.table.merge(demo["truth"][["indicator", "area", "value"]], on=["indicator", "area"])
    assert t["eblup"].between(0, 1, inclusive="neither").all()
    for ind, g in t.groupby("indicator"):
        assert r.fits[ind]["clipped_to_0_1"] == 0 and r.fits[ind]["transform"] == "arcsin"
        s = g["method"] == "eblup"
        direct = np.sqrt(np.mean((g.loc[s, "direct"] - g.loc[s, "value"]) ** 2))
        eblup = np.sqrt(np.mean((g.loc[s, "eblup"] - g.loc[s, "value"]) ** 2))
        cover = np.mean(np.abs(g["eblup"] - g["value"]) <= 1.96 * g["rmse"])
        assert eblup < 0.65 * direct and 0.9 <= cover <= 0.99, (ind, eblup, direct, cover)


def test_benchmarked_communes_add_up_to_the_district(demo, result):
    sae = {**SAE, "benchmark": "district", "benchmark_weight": "households"}
    b = small_area_estimates(demo["est"], demo["frame"], sae)
    e = demo["est"]
    w = demo["frame"]["households"].to_numpy(float)
    dist = demo["frame"]["district_code"].to_numpy()
    for ind in SAE["indicators"]:
        g = b.table[b.table["indicator"] == ind]
        plain = result.table[result.table["indicator"] == ind]
        target = e[(e["domain"] == "district") & (e["indicator"] == ind)].set_index("domain_value")["estimate"]
        at_bound = (g["eblup"] == 1.0).to_numpy() | (g["eblup"] == 0.0).to_numpy()
        assert b.fits[ind]["benchmark"]["clipped_to_0_1"] <= at_bound.sum() <= 1  # clipped after benchmarking
        for code in np.unique(dist):
            m = dist == code
            if at_bound[m].any():  # that district adds up only up to the clipped excess
                continue
            got = np.sum(w[m] * g["eblup"].to_numpy()[m]) / w[m].sum()
            assert got == pytest.approx(target[str(code)], rel=1e-12)
        assert (g["rmse"].to_numpy() >= plain["rmse"].to_numpy()).all()  # MSE + squared adjustment
        assert set(b.fits[ind]["benchmark"]["factor"]) == {str(c) for c in np.unique(dist)}


def test_direct_variance_option(demo, result):
    sae = {**SAE, "variance": "direct"}
    r = small_area_estimates(demo["est"], demo["frame"], sae)
    f, s = _inputs(demo, "hh_fiber")
    keep = (f.loc[s, "df"] >= 1).to_numpy()
    g = r.table[(r.table["indicator"] == "hh_fiber") & (r.table["method"] == "eblup")]
    # areas with two PSUs or more keep their design variance: gamma = s2u / (s2u + se^2)
    s2u = r.fits["hh_fiber"]["sigma2_u"]
    se2 = g["direct_se"].to_numpy()[keep] ** 2
    np.testing.assert_allclose(g["gamma"].to_numpy()[keep], s2u / (s2u + se2), rtol=1e-10)
    assert r.fits["hh_fiber"]["gvf"]["from_gvf"] == 117 - keep.sum() == 94


@pytest.mark.parametrize("change, key", [
    ({"covariates": ["census_urban", "no_such_column"]}, "sae.covariates"),
    ({"covariates": ["log(census_urban)"]}, "sae.covariates"),
    ({"indicators": ["hh_smartphone", "not_an_indicator"]}, "sae.indicators"),
    ({"domain": "district"}, "sae.area"),
    ({"label": "nom"}, "sae.label"),
    ({"variance": "smooth"}, "sae.variance"),
    ({"transform": "logit"}, "sae.transform"),
    ({"transform": "arcsin", "indicators": ["hh_n_smartphones"], "variance": "direct"}, "sae.transform"),
    ({"indicators": ["hh_n_smartphones"]}, "sae.variance"),
    ({"benchmark": "district"}, "sae.benchmark_weight"),
    ({"benchmark": "urban", "benchmark_weight": "households"}, "sae.benchmark"),
    ({"covariates": ["census_urban", "census_urban"]}, "sae.covariates"),
])
def test_errors_name_the_key_in_one_line(demo, change, key):
    sae = {**SAE, **change}
    with pytest.raises(PipelineError) as exc:
        small_area_estimates(demo["est"], demo["frame"], sae)
    line = str(exc.value)
    assert line.startswith(f"survey.toml: {key}: ") and "\n" not in line, line


def test_missing_covariate_value_and_unknown_area(demo):
    frame = demo["frame"].copy()
    frame.loc[3, "coverage_4g"] = np.nan
    with pytest.raises(PipelineError, match=r"sae.covariates: .*'coverage_4g'.*1 missing .*area 104"):
        small_area_estimates(demo["est"], frame, SAE)
    with pytest.raises(PipelineError, match=r"sae.area: .*not .*e.g. '101'"):
        small_area_estimates(demo["est"], demo["frame"].iloc[1:], SAE)
