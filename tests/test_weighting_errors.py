"""Error and edge-case behaviour of analysis.weighting, and the array-level
helpers (base weights, nonresponse, propensity classes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.validation import SurveyError
from analysis.weighting import (CalibrationError, ControlTotalsError, ConvergenceError,
                                NonresponseError, WeightingError, WeightingReport,
                                adjust_nonresponse, base_weights, calibrate_weights,
                                poststratify_weights, propensity_classes, rake_weights,
                                trim_weights)


@pytest.fixture
def toy():
    df = pd.DataFrame({
        "region": ["N", "N", "N", "S", "S", "S", "S", "E", "E", "E"],
        "sex": ["m", "f", "f", "m", "f", "m", "f", "m", "f", "f"],
        "age": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
        "x": [3.0, 4.0, 5.0, 1.0, 2.0, 6.0, 7.0, 2.0, 3.0, 4.0],
    })
    w = np.array([10, 12, 9, 20, 18, 22, 25, 15, 14, 16], dtype=float)
    return df, w


REGION = pd.DataFrame({"region": ["N", "S", "E"], "count": [40.0, 100.0, 60.0]})
SEX = pd.DataFrame({"sex": ["m", "f"], "count": [90.0, 110.0]})


def test_errors_are_value_errors():
    assert issubclass(ControlTotalsError, ValueError)
    assert issubclass(WeightingError, SurveyError)
    assert issubclass(ConvergenceError, CalibrationError)


def test_grand_totals_disagree(toy):
    df, w = toy
    bad = SEX.assign(count=[90.0, 150.0])
    with pytest.raises(ControlTotalsError, match=r"margin region sums to 200 but margin sex "
                                                  r"sums to 240"):
        rake_weights(df, w, [REGION, bad])
    with pytest.raises(ControlTotalsError, match="disagree"):
        calibrate_weights(df, w, [REGION, bad])
    # within tolerance: the later margin is rescaled to the first one's total
    new, rep = rake_weights(df, w, [REGION, SEX.assign(count=[90.0, 110.0 + 1e-5])])
    assert new.sum() == pytest.approx(200.0, rel=1e-12) and rep.converged


def test_control_cell_without_sample_units(toy):
    df, w = toy
    t = pd.DataFrame({"region": ["N", "S", "E", "W"], "count": [40.0, 100.0, 50.0, 10.0]})
    with pytest.raises(ControlTotalsError, match=r"margin region: 1 control cell\(s\) have no "
                                                  r"sample units: region='W' \(control 10\)"):
        poststratify_weights(df, w, t)
    with pytest.raises(ControlTotalsError, match="region='W'"):
        rake_weights(df, w, [t, SEX])
    with pytest.raises(ControlTotalsError, match="region='W'"):
        calibrate_weights(df, w, [t])
    # R's partial=TRUE: ignored
    new, rep = poststratify_weights(df, w, t, partial=True)
    assert rep.details["ignored_cells"] == ["region='W'"]


def test_sample_cell_without_control(toy):
    df, w = toy
    t = pd.DataFrame({"region": ["N", "S"], "count": [40.0, 100.0]})
    with pytest.raises(ControlTotalsError, match=r"3 sample unit\(s\) fall in cell\(s\) with no "
                                                  r"control total: region='E' \(3 unit\(s\)\)"):
        poststratify_weights(df, w, t)
    zero = pd.DataFrame({"region": ["N", "S", "E"], "count": [40.0, 100.0, 0.0]})
    with pytest.raises(ControlTotalsError, match=r"region='E' has 3 sample unit\(s\).*control "
                                                  r"count of 0"):
        rake_weights(df, w, [zero])


@pytest.mark.parametrize("value, word", [(-5.0, "negative"), (np.nan, "missing")])
def test_negative_or_missing_counts(toy, value, word):
    df, w = toy
    t = REGION.assign(count=[40.0, value, 60.0])
    with pytest.raises(ControlTotalsError, match=rf"cell region='S' is {word}"):
        poststratify_weights(df, w, t)


def test_malformed_tables(toy):
    df, w = toy
    with pytest.raises(ControlTotalsError, match="appears 2 times"):
        poststratify_weights(df, w, pd.DataFrame({"region": ["N", "N", "S", "E"],
                                                  "count": [1.0, 2, 3, 4]}))
    with pytest.raises(ControlTotalsError, match="count column"):
        poststratify_weights(df, w, pd.DataFrame({"region": ["N", "S", "E"], "n": [1, 2, 3]}))
    with pytest.raises(ControlTotalsError, match=r"column\(s\) \['zone'\] not found"):
        poststratify_weights(df, w, pd.DataFrame({"zone": ["N"], "count": [1.0]}))
    df2 = df.assign(region=df["region"].where(df.index != 3))
    with pytest.raises(ControlTotalsError, match="missing value"):
        poststratify_weights(df2, w, REGION)


def test_bounds_cannot_be_met(toy):
    df, w = toy
    far = pd.DataFrame({"region": ["N", "S", "E"], "count": [150.0, 30.0, 20.0]})
    with pytest.raises(CalibrationError, match=r"cannot meet its bounds: control region: "
                                                r"region='N' = 150"):
        calibrate_weights(df, w, [far], method="logit", bounds=(0.5, 2.0))


def test_not_converged_reports_worst_margin(toy):
    df, w = toy
    with pytest.raises(ConvergenceError, match=r"did not converge in 1 sweeps.*worst margin") as ei:
        rake_weights(df, w, [REGION, SEX], max_iter=1)
    assert ei.value.worst in ("region", "sex") and ei.value.gap > 0
    with pytest.raises(ConvergenceError, match=r"did not converge in 1 iterations: worst "
                                                r"control .* has gap"):
        calibrate_weights(df, w, [REGION], {"x": 700.0}, method="raking", max_iter=1)


def test_weight_becomes_negative(toy):
    df, w = toy
    with pytest.raises(CalibrationError, match=r"became zero, negative.*use bounds"):
        calibrate_weights(df, w, [REGION], {"x": 2.5 * float(w @ df["x"])})


def test_integer_margin_is_categorical(toy):
    """An integer-coded margin is a set of categories, never a numeric total."""
    df, w = toy
    age = pd.DataFrame({"age": [1, 2, 3], "count": [80.0, 60.0, 60.0]})
    for method in ("linear", "raking"):
        new, _ = calibrate_weights(df, w, [age], method=method)
        np.testing.assert_allclose(np.bincount(df["age"], weights=new)[1:], [80, 60, 60])
    new, _ = rake_weights(df, w, [age, SEX])
    np.testing.assert_allclose(np.bincount(df["age"], weights=new)[1:], [80, 60, 60])
    # a numeric total must name a numeric column; a categorical one fails
    with pytest.raises(ControlTotalsError, match="must be numeric"):
        calibrate_weights(df, w, totals={"region": 5.0})


def test_method_and_bounds_validation(toy):
    df, w = toy
    with pytest.raises(ValueError, match="finite bounds"):
        calibrate_weights(df, w, [REGION], method="logit")
    with pytest.raises(ValueError, match="method"):
        calibrate_weights(df, w, [REGION], method="probit")
    with pytest.raises(ValueError, match="bounds"):
        calibrate_weights(df, w, [REGION], method="raking", bounds=(1.2, 2.0))
    with pytest.raises(ValueError, match="convergence"):
        rake_weights(df, w, [REGION], convergence="absolute")


def test_report_fields(toy):
    df, w = toy
    new, rep = rake_weights(df, w, [REGION, SEX])
    assert isinstance(rep, WeightingReport)
    assert rep.iterations >= 1 and rep.converged and rep.max_discrepancy < 1e-10
    assert rep.min_weight == new.min() and rep.max_weight == new.max()
    assert rep.ratio_max_min == pytest.approx(new.max() / new.min())
    assert rep.n_eff == pytest.approx(new.sum() ** 2 / (new ** 2).sum())
    assert rep.kish_deff == pytest.approx(1 + new.var() / new.mean() ** 2)
    assert set(rep.margins) == {"region", "sex"}
    d = rep.to_dict()
    assert d["step"] == "rake" and d["steps"] == ["rake"]
    with pytest.raises(Exception):
        rep.iterations = 3  # frozen


def test_trim_without_controls_keeps_total():
    w = np.array([1.0, 1, 1, 1, 1, 1, 1, 1, 1, 20])
    new, rep = trim_weights(None, w, 3.0)
    assert rep.n_trimmed == 1 and new.max() <= 3.0 * 1 * (1 + 1e-12) + 1e-9 or new.max() <= 4
    assert new.sum() == pytest.approx(w.sum())
    new, rep = trim_weights(None, w, 15.0, relative_to="absolute")
    assert new[-1] == pytest.approx(15.0) and new.sum() == pytest.approx(w.sum())
    with pytest.raises(CalibrationError, match="cannot hold"):
        trim_weights(None, w, 1.5, relative_to="absolute")
    with pytest.raises(ValueError, match="relative_to"):
        trim_weights(None, w, 2.0, relative_to="mode")


# ---------------------------------------------------------------------------
# base weights and nonresponse
# ---------------------------------------------------------------------------

def test_base_weights():
    df = pd.DataFrame({"pi_ea": [0.1, 0.1, 0.5], "pi_hh": [0.2, 0.5, 1.0]})
    np.testing.assert_allclose(base_weights(df, ["pi_ea", "pi_hh"]), [50.0, 20.0, 2.0])
    np.testing.assert_allclose(base_weights(None, [np.array([0.5, 0.25])]), [2.0, 4.0])
    for bad in (0.0, 1.5, np.nan, -0.1):
        d2 = df.assign(pi_hh=[0.2, bad, 1.0])
        with pytest.raises(WeightingError, match=r"'pi_hh' must be in \(0, 1\].*row 1"):
            base_weights(d2, ["pi_ea", "pi_hh"])


@pytest.fixture
def nr():
    return pd.DataFrame({
        "cls": ["a", "a", "a", "b", "b", "c", "c", "c"],
        "resp": [1, 0, 1, 1, 1, 0, 0, 1],
        "w": [10.0, 10, 20, 5, 5, 8, 8, 4],
        "elig": [True, True, True, True, True, True, False, True],
    })


def test_adjust_nonresponse(nr):
    new, rep = adjust_nonresponse(nr, "w", "resp", ["cls"])
    # class a: eligible 40, respondents 30 -> 4/3; class c: eligible 20, resp 4 -> 5
    np.testing.assert_allclose(new, [40 / 3, 0, 80 / 3, 5, 5, 0, 0, 20])
    assert new.sum() == pytest.approx(nr["w"].sum())
    assert rep.step == "nonresponse"
    assert rep.details["classes"]["cls='a'"]["factor"] == pytest.approx(4 / 3)
    # ineligible units keep their weight and do not count
    new, _ = adjust_nonresponse(nr, "w", "resp", "cls", eligible="elig")
    np.testing.assert_allclose(new, [40 / 3, 0, 80 / 3, 5, 5, 0, 8, 12])


def test_nonresponse_class_without_respondents(nr):
    df = nr.assign(resp=[1, 0, 1, 1, 1, 0, 0, 0])
    with pytest.raises(NonresponseError, match=r"weighting class cls='c' has 3 eligible unit\(s\) "
                                                r"but no respondents"):
        adjust_nonresponse(df, "w", "resp", ["cls"])
    new, rep = adjust_nonresponse(df, "w", "resp", ["cls"], collapse={"c": "b"})
    # b+c: eligible 10 + 20 = 30, respondents 10 -> factor 3
    np.testing.assert_allclose(new, [40 / 3, 0, 80 / 3, 15, 15, 0, 0, 0])
    assert rep.details["collapsed"] == {"cls='c'": "cls='b'"}
    with pytest.raises(NonresponseError, match="class 'z' is not a weighting class"):
        adjust_nonresponse(df, "w", "resp", ["cls"], collapse={"c": "z"})


def test_propensity_classes():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"age": rng.normal(40, 12, n), "urban": rng.choice(["u", "r"], n)})
    p = 1 / (1 + np.exp(-(-1 + 0.04 * df["age"] + 0.5 * (df["urban"] == "u"))))
    df["resp"] = rng.random(n) < p
    cls, prop = propensity_classes(df, "resp", ["age", "urban"], n_classes=5,
                                   return_propensity=True)
    assert sorted(cls.unique()) == [0, 1, 2, 3, 4]
    assert cls.value_counts().min() >= 390
    means = prop.groupby(cls).mean()
    assert means.is_monotonic_increasing
    rates = df["resp"].groupby(cls).mean()
    assert rates.iloc[-1] > rates.iloc[0]
    new, rep = adjust_nonresponse(df.assign(pc=cls), np.ones(n), "resp", ["pc"])
    assert new.sum() == pytest.approx(n)


def test_trim_falls_back_to_bounded_calibration():
    import warnings as _w
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"a": rng.integers(0, 4, n), "b": rng.integers(0, 3, n)})
    w = np.exp(rng.normal(3, 0.6, n))
    N = w.sum()

    def table(col, k):
        t = df.assign(w=w).groupby(col)["w"].sum().rename("count").reset_index()
        t["count"] *= np.exp(rng.normal(0, 0.2, k))
        t["count"] *= N / t["count"].sum()
        return t

    A, B = table("a", 4), table("b", 3)
    raked, rep = rake_weights(df, w, [A, B])
    with _w.catch_warnings():
        _w.simplefilter("error")
        new, trep = trim_weights(df, raked, 2.0, controls=rep, max_rounds=3)
    assert trep.method.startswith("bounded")
    assert new.max() <= 2.0 * np.median(raked) * (1 + 1e-9)
    assert trep.max_discrepancy < 1e-8 and trep.n_trimmed >= int((raked > 2 * np.median(raked)).sum())


def test_trim_quantile_and_lower_bounds(toy):
    df, w = toy
    new, rep = trim_weights(df, w, 0.8, relative_to="quantile")
    cap = float(np.quantile(w, 0.8))
    assert rep.details["upper"] == pytest.approx(cap) and new.max() <= cap * (1 + 1e-12)
    assert new.sum() == pytest.approx(w.sum()) and rep.n_trimmed >= int((w > cap).sum())
    new, rep = trim_weights(df, w, lower=0.8, relative_to="median")
    assert new.min() >= 0.8 * np.median(w) * (1 - 1e-12)
    assert new.sum() == pytest.approx(w.sum())
    _, raked = rake_weights(df, w, [REGION, SEX])
    new, rep = trim_weights(df, _, 1.6, lower=0.6, controls=raked)
    assert rep.steps == ("rake", "trim") and rep.max_discrepancy < 1e-8
    with pytest.raises(ValueError, match="upper and/or lower"):
        trim_weights(df, w)
