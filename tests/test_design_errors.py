"""Every bad input to the estimator core gets a clear error: parameter, expected, got."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import (
    DesignError,
    EmptyDomainWarning,
    EstimationError,
    LonelyPSUError,
    LonelyPSUWarning,
    ReplicateDesign,
    SurveyDesign,
)
from analysis.intervals import interval


@pytest.fixture
def df():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({
        "stratum": np.repeat(["A", "B"], 12),
        "psu": np.repeat(np.arange(8), 3),
        "w": rng.uniform(1, 2, 24),
        "y": rng.normal(size=24),
        "b": rng.integers(0, 2, 24),
        "g": np.tile(["u", "r"], 12),
        "txt": ["x"] * 24,
    })
    return d


def test_unknown_column(df):
    with pytest.raises(DesignError, match=r"strata: expected column.*'stratm'"):
        SurveyDesign(df, weights="w", strata="stratm", psu="psu")
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(DesignError, match=r"variables: .*'yy'"):
        d.mean("yy")
    with pytest.raises(DesignError, match=r"by: .*'district'"):
        d.mean("y", by="district")


def test_bad_weights(df):
    with pytest.raises(DesignError, match=r"weights: expected a numeric column, got column 'txt'"):
        SurveyDesign(df, weights="txt")
    neg = df.assign(w=df["w"].where(df.index != 3, -1.0))
    with pytest.raises(DesignError, match=r"weights: expected finite non-negative weights, got -1.0 .* row 3"):
        SurveyDesign(neg, weights="w")
    miss = df.assign(w=df["w"].where(df.index != 5))
    with pytest.raises(DesignError, match=r"weights: expected no missing weights, got 1 missing"):
        SurveyDesign(miss, weights="w")


def test_missing_design_values(df):
    with pytest.raises(DesignError, match=r"strata: expected no missing values, got 1 missing in column 'stratum'"):
        SurveyDesign(df.assign(stratum=df["stratum"].where(df.index != 0)), weights="w", strata="stratum", psu="psu")
    with pytest.raises(DesignError, match=r"psu: expected no missing values"):
        SurveyDesign(df.assign(psu=df["psu"].where(df.index != 2)), weights="w", strata="stratum", psu="psu")


def test_psu_in_two_strata_needs_nest(df):
    reused = df.assign(psu=df["psu"] % 4)  # PSU codes 0-3 reused in both strata
    with pytest.raises(DesignError, match=r"nest: expected each PSU code .* pass nest=True"):
        SurveyDesign(reused, weights="w", strata="stratum", psu="psu")
    d = SurveyDesign(reused, weights="w", strata="stratum", psu="psu", nest=True)
    assert d.n_psu == 8


def test_lonely_psu_fail_lists_strata(df):
    lone = df.assign(stratum=np.where(df["psu"] == 7, "C", df["stratum"]))
    with pytest.raises(LonelyPSUError, match=r"stratum\(s\) \['C'\]"):
        SurveyDesign(lone, weights="w", strata="stratum", psu="psu")
    with pytest.warns(LonelyPSUWarning):
        d = SurveyDesign(lone, weights="w", strata="stratum", psu="psu", lonely_psu="adjust")
    assert np.isfinite(d.mean("y").se).all()


def test_unknown_method_names_list_the_valid_ones(df):
    with pytest.raises(ValueError, match=r"lonely_psu: expected one of 'fail', 'remove'"):
        SurveyDesign(df, weights="w", lonely_psu="drop")
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(ValueError, match=r"ci_method: expected one of 'logit', 'xlogit', 'beta', 'wilson'"):
        d.proportion("b", ci_method="clopper")
    with pytest.raises(ValueError, match=r"ci_method: expected one of 't', 'normal', got 'beta'"):
        d.mean("y", ci_method="beta")
    with pytest.raises(ValueError, match=r"type: expected one of"):
        d.to_replicate("jackknife")
    with pytest.raises(ValueError, match=r"level: expected a number in \(0, 1\), got 95"):
        d.mean("y").confint(level=95)
    with pytest.raises(ValueError, match=r"ci_method"):
        interval("proportion", "exact", [0.5], [0.1], [10], [20])


def test_empty_domain_gives_nan_with_n_zero(df):
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.warns(EmptyDomainWarning):
        r = d.mean("y", by="g", where=(df["g"] == "u").to_numpy())
    f = r.to_frame().set_index("g")
    assert np.isnan(f.loc["r", "estimate"]) and f.loc["r", "n"] == 0 and np.isnan(f.loc["r", "se"])
    assert f.loc["u", "n"] == 12


def test_proportion_with_unexpected_levels(df):
    d = SurveyDesign(df.assign(c=np.arange(24) % 3), weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=r"expected a 0/1, boolean or categorical column .* 'c' with values \[2.0\]"):
        d.proportion("c")
    many = df.assign(k=[f"v{i}" for i in range(24)])
    with pytest.raises(EstimationError, match=r"expected at most max_levels=10 levels, got 24 in column 'k'"):
        SurveyDesign(many, weights="w").proportion("k", max_levels=10)


def test_missing_values_need_na_rm(df):
    d = SurveyDesign(df.assign(y=df["y"].where(df.index % 5 != 0)), weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=r"na_rm: expected no missing values with na_rm=False, got 5 missing in 'y'"):
        d.mean("y")
    assert d.mean("y", na_rm=True).n[0] == 19


def test_non_numeric_variable_and_bad_where(df):
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=r"numerator: expected a numeric column, got column 'txt'"):
        d.ratio("txt", "y")
    with pytest.raises(EstimationError, match=r"where: expected a boolean mask of length 24"):
        d.mean("y", where=np.ones(5, dtype=bool))
    with pytest.raises(EstimationError, match=r"probs: expected probabilities in \[0, 1\]"):
        d.quantile("y", [1.5])


def test_fpc_errors(df):
    with pytest.raises(DesignError, match=r"fpc: expected population size >= sample size, got 2 < 4 units in stratum 'A'"):
        SurveyDesign(df.assign(N=2), weights="w", strata="stratum", psu="psu", fpc="N")
    bad = df.assign(N=np.where(df.index == 0, 50, 40))
    with pytest.raises(DesignError, match=r"fpc: expected one value of 'N' per stratum"):
        SurveyDesign(bad, weights="w", strata="stratum", psu="psu", fpc="N")


def test_replicate_design_errors(df):
    with pytest.raises(DesignError, match=r"rscales: expected .* for type='JKn'"):
        ReplicateDesign(df, weights="w", replicate_weights=["w", "w"], type="JKn")
    with pytest.raises(DesignError, match=r"fay_rho: expected"):
        ReplicateDesign(df, weights="w", replicate_weights=["w", "w"], type="Fay")
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(DesignError, match=r"type: expected exactly 2 PSUs in every stratum for BRR"):
        d.to_replicate("BRR")


def test_input_is_not_mutated_and_design_is_a_snapshot(df):
    before = df.copy()
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    m = d.mean("y").estimate[0]
    d.proportion("b", by="g")
    pd.testing.assert_frame_equal(df, before)
    df.loc[0, "y"] = 1e6  # a later edit of the caller's frame does not reach the design
    assert d.mean("y").estimate[0] == m
    with pytest.raises(ValueError):
        d.weights[0] = 3.0


def test_mixed_numeric_and_categorical_totals_and_means(df):
    """As R's svytotal(~y + g): numeric columns as they are, categorical ones by level."""
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    t = d.total(["y", "g"]).to_frame()
    assert list(t["variable"]) == ["y", "g", "g"] and list(t["level"][1:]) == ["r", "u"]
    assert t["estimate"].iloc[1] + t["estimate"].iloc[2] == pytest.approx(df["w"].sum())
    m = d.mean(["g"]).to_frame()
    assert m["estimate"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(m["se"], d.proportion("g").se)


def test_frame_and_confint_default_to_the_level_of_the_call(df):
    """A 90% estimate's table shows 90% limits (its caption says so), not 95% ones."""
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    r = d.proportion("b", level=0.9)
    f = r.to_frame()
    ci90, ci95 = r.confint(0.9), r.confint(0.95)
    np.testing.assert_array_equal(f["ci_low"], ci90.low)
    np.testing.assert_array_equal(r.confint().high, ci90.high)
    assert (ci95.low < ci90.low).all()
    np.testing.assert_array_equal(r.to_frame(level=0.95)["ci_low"], ci95.low)
