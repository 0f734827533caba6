"""The demo's commune frame (surveys/qb2022/communes.csv) and commune truth (raw/truth_communes.csv).

* one row per commune of the demo's geography (151), consistent with the
  frame (codes, names, households) and with the population it summarises
  (census shares close to the population's own values);
* informative: the communes' true rates of hh_smartphone and hh_fiber are
  predictable from the covariates with R² in 0.5-0.8 (measured: 0.719 and
  0.685 with the default seed, linear in the covariates and log distance);
* the commune truth adds up to the province truth of truth.csv;
* a Fay-Herriot model on the demo sample's direct commune estimates
  (analysis.sae, GVF variances) is closer to the commune truth than the
  direct estimates are;
* made without changing the household raw files (tests/test_generator.py
  pins their digests), and the committed communes.csv is what the generator
  writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import SurveyDesign
from analysis.sae import fay_herriot_frame, gvf_proportion
from pipeline.config import load
from pipeline.validate import load_generator

from test_generator import ROOT, SURVEY  # noqa: F401

HH_RATES = ["hh_smartphone", "hh_fiber"]


@pytest.fixture(scope="module")
def gen():
    return load_generator(load(SURVEY), SURVEY)


@pytest.fixture(scope="module")
def run(gen, tmp_path_factory):
    base = tmp_path_factory.mktemp("qb2022c")
    res = gen.generate(base / "raw", gen.DEFAULT_SEED, survey_files=base / "survey")
    res["base"] = base
    res["communes"] = pd.read_csv(base / "survey" / "communes.csv")
    res["truth_c"] = pd.read_csv(base / "raw" / "truth_communes.csv", dtype={"level": str})
    res["truth"] = pd.read_csv(base / "raw" / "truth.csv")
    return res


def _r2(y, X):
    X = np.column_stack([np.ones(len(y)), X])
    e = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    return 1 - e.var() / y.var()


def _truth_wide(truth_c):
    return truth_c.pivot(index="level", columns="indicator", values="value")


def test_committed_file_is_the_generators(run):
    assert (SURVEY / "communes.csv").read_bytes() == (run["base"] / "survey" / "communes.csv").read_bytes()


def test_one_row_per_commune_of_the_frame(run, gen):
    c = run["communes"]
    frame = pd.read_csv(SURVEY / "frame.csv")
    assert list(c.columns) == ["commune_code", "commune", "commune_type", "district_code", "district", "households",
                               *gen.COVARIATES]
    assert len(c) == 151 == frame["commune_code"].nunique()
    assert c["commune_code"].is_unique and c["commune_code"].is_monotonic_increasing
    f = frame.groupby("commune_code").agg(households=("households", "sum"), commune=("commune", "first"),
                                          district=("district", "first"), urban=("urban", "first"))
    np.testing.assert_array_equal(c["households"], f["households"])
    assert (c["commune"].to_numpy() == f["commune"].to_numpy()).all()
    assert (c["district"].to_numpy() == f["district"].to_numpy()).all()
    np.testing.assert_array_equal(c["census_urban"], (f["urban"] == 1).astype(float))
    assert c["households"].sum() == len(run["population"].households) == 244_921
    assert not c.isna().any().any()


def test_values_in_range(run):
    c = run["communes"]
    for col in ("census_urban", "census_computer", "census_aged_60plus", "census_ethnic_minority", "coverage_4g"):
        assert c[col].between(0, 1).all(), col
    assert c["census_hh_size"].between(3.0, 4.5).all()
    assert c["fiber_ports_per_100hh"].between(5, 200).all()
    assert c["distance_km"].between(0.3, 60).all()
    rural = c["census_urban"] == 0
    # wards and towns are near their district centre, with full 4G coverage
    assert c.loc[~rural, "distance_km"].median() < c.loc[rural, "distance_km"].median()
    assert c.loc[~rural, "coverage_4g"].min() > 0.99
    # ethnic-minority communes only in the western, mountainous districts (codes 3, 4, 6, 7, 8)
    minority = c["census_ethnic_minority"] > 0.3
    assert 10 <= minority.sum() <= 40
    assert set(c.loc[minority, "district_code"]) <= {3, 4, 6, 7, 8}


def test_census_shares_follow_the_population(run):
    pop = run["population"]
    hh, P = pop.households, pop.persons
    c = run["communes"].set_index("commune_code")
    g = hh.groupby("commune")
    size = g["hh_size"].mean()
    computer = g["hh_computer"].mean()
    aged60 = (P["age"] >= 60).groupby(hh["commune"].to_numpy()[P["hh"].to_numpy()]).mean()
    assert np.abs(c["census_hh_size"] - size - 0.04).max() < 0.25
    assert np.abs(c["census_aged_60plus"] - aged60 + 0.008).max() < 0.02
    assert np.corrcoef(c["census_computer"], computer)[0, 1] > 0.75  # 0.789: three years of commune-specific change
    assert (c["census_computer"].mean() < computer.mean())  # 2019: fewer computers than in 2022
    fiber = g["hh_fiber"].mean()
    assert np.corrcoef(c["fiber_ports_per_100hh"], fiber)[0, 1] > 0.6  # 0.695: reporting noise, business ports


def test_true_rates_predictable_with_realistic_r2(run, gen):
    c = run["communes"]
    wide = _truth_wide(run["truth_c"]).loc[c["commune_code"].astype(str)]
    X = c[gen.COVARIATES].to_numpy(float).copy()
    X[:, -1] = np.log(X[:, -1])  # log distance
    r2 = {ind: _r2(wide[ind].to_numpy(), X) for ind in HH_RATES}
    assert r2["hh_smartphone"] == pytest.approx(0.719, abs=0.001)
    assert r2["hh_fiber"] == pytest.approx(0.685, abs=0.001)
    for ind, v in r2.items():
        assert 0.5 <= v <= 0.8, (ind, v)
    # the covariates carry the commune effect: urban/rural and district alone explain far less
    D = pd.get_dummies(c["district_code"], drop_first=True).to_numpy(float)
    base = np.column_stack([c["census_urban"], D])
    for ind in HH_RATES:
        assert _r2(wide[ind].to_numpy(), base) < r2[ind] - 0.15


def test_commune_truth_adds_up_to_the_province(run, gen):
    t, tc = run["truth"], run["truth_c"]
    assert list(tc.columns) == list(t.columns) == ["indicator", "domain", "level", "value"]
    assert (tc["domain"] == "commune").all()
    assert len(tc) == 151 * t["indicator"].nunique() == 151 * 25
    assert set(tc["indicator"]) == set(t["indicator"])
    assert not tc["value"].isna().any()
    pop = run["population"]
    hh, P = pop.households, pop.persons
    H = hh.groupby("commune").size()
    adults = (P["age"] >= 15).groupby(hh["commune"].to_numpy()[P["hh"].to_numpy()]).sum()
    wide = _truth_wide(tc).loc[H.index.astype(str)]
    province = t[t["domain"] == "all"].set_index("indicator")["value"]
    for ind in ["hh_mobile", "hh_smartphone", "hh_fiber", "hh_computer", "hh_n_smartphones"]:
        assert (wide[ind] * H.to_numpy()).sum() / H.sum() == pytest.approx(province[ind], rel=1e-12)
    for ind in ["p_internet", "p_esign", "p_anyskill"]:
        assert (wide[ind] * adults.to_numpy()).sum() / adults.sum() == pytest.approx(province[ind], rel=1e-12)
    spend = hh[hh["hh_internet"] == 1].groupby("commune")["internet_spend"].mean()
    np.testing.assert_allclose(wide["hh_internet_spend"].to_numpy(), spend.to_numpy(), rtol=1e-12)


def test_fay_herriot_on_the_demo_sample_beats_the_direct_estimates(run, gen):
    """Direct commune estimates from the demo sample (design weights, completed households),
    smoothed GVF variances, REML Fay-Herriot on the eight covariates: closer to the truth."""
    s = run["sample"]
    hh = s.households[s.households["result"] == 1].reset_index(drop=True)
    d = SurveyDesign(hh, weights="weight", strata="stratum", psu="ea_id", lonely_psu="adjust")
    c = run["communes"].copy()
    c["log_distance"] = np.log(c["distance_km"])
    covs = [x for x in gen.COVARIATES if x != "distance_km"] + ["log_distance"]
    wide = _truth_wide(run["truth_c"]).loc[c["commune_code"].astype(str)]
    n = hh.groupby("commune").size()
    c["n"] = c["commune_code"].map(n).fillna(0).to_numpy()
    n_psu = c["commune_code"].map(hh.groupby("commune")["ea_id"].nunique()).fillna(0).to_numpy()
    sampled = c["n"] > 0
    assert sampled.sum() == 117  # 150 EAs in 117 communes: 34 communes have no sample
    measured = {}
    for ind in HH_RATES:
        r = d.mean(ind, by="commune").to_frame()
        est = c["commune_code"].map(dict(zip(r["commune"], r["estimate"])))
        var = c["commune_code"].map(dict(zip(r["commune"], r["se"] ** 2)))
        # a commune with one sampled EA has a direct variance of about 0 (the domain mean's linearised
        # values sum to 0 within its only PSU): the GVF is fitted on communes with two EAs or more
        g = gvf_proportion(est[sampled].to_numpy(), var[sampled].to_numpy(), c.loc[sampled, "n"].to_numpy(),
                           usable=n_psu[sampled] >= 2)
        c["y"] = est
        c["v"] = np.nan
        c.loc[sampled, "v"] = g.variance
        fit = fay_herriot_frame(c, "y", "v", covs, area="commune_code")
        truth = wide[ind].to_numpy()
        tab = fit.table
        err_direct = tab.loc[sampled, "direct"].to_numpy() - truth[sampled]
        err_eblup = tab.loc[sampled, "estimate"].to_numpy() - truth[sampled]
        rmse_direct = np.sqrt(np.mean(err_direct ** 2))
        rmse_eblup = np.sqrt(np.mean(err_eblup ** 2))
        out = ~sampled.to_numpy()
        rmse_unsampled = np.sqrt(np.mean((tab.loc[out, "estimate"].to_numpy() - truth[out]) ** 2))
        z = np.abs(tab["estimate"].to_numpy() - truth) / tab["rmse"].to_numpy()
        cover = np.mean(z <= 1.96)
        measured[ind] = (rmse_direct, rmse_eblup, rmse_unsampled, cover)
        assert rmse_eblup < 0.75 * rmse_direct, (ind, rmse_eblup, rmse_direct)
        assert rmse_unsampled < 0.7 * truth[out].std(), (ind, rmse_unsampled)  # synthetic x'beta: informative
        assert 0.85 <= cover <= 1.0, (ind, cover)
    # measured with the default seed (RMSE over the 117 sampled communes; synthetic over the 34 others;
    # coverage of EBLUP +- 1.96 rmse over all 151)
    expected = {"hh_smartphone": (0.1116, 0.0749, 0.0735, 134 / 151), "hh_fiber": (0.1452, 0.0865, 0.1048, 142 / 151)}
    for ind, values in expected.items():
        np.testing.assert_allclose(measured[ind], values, atol=5e-4, err_msg=ind)
