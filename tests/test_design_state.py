"""A design that has estimated and is then re-weighted gives the numbers of a fresh design.

Issue 13: the cached unit totals of a design used to travel into its
re-weighted copy, so ``trim(d).mean(...)`` after ``d.mean(...)`` returned the
untrimmed numbers.  Each weighting function (trim, poststratify, rake,
calibrate) is applied to a design that has already estimated ("warm") and to
one that never has ("cold"); every estimate and SE must agree to 1e-12, and
the point estimates must equal those of a plain design declared with the
new weights as a column.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import DesignError, EstimationError, SurveyDesign
from analysis.validation import ZeroDenominatorWarning
from analysis.weighting import WeightingWarning, calibrate, poststratify, rake, trim

from api_designs import POP_SCHWIDE, POP_STYPE, load


@pytest.fixture(scope="module")
def apiclus1():
    return load("apiclus1").copy()


@pytest.fixture(scope="module")
def api99_total():
    return float(load("apipop")["api99"].sum())


def _design(data):
    # unequal weights (the cluster sample's are all equal), so that trimming acts
    w = data["pw"] * np.where(data["stype"] == "E", 0.8, 1.6) * (1 + (data["snum"] % 7) / 10)
    return SurveyDesign(data.assign(w=w), weights="w", psu="dnum", fpc="fpc")


STATS = {
    "mean": lambda d: d.mean(["api00", "api99"]),
    "total": lambda d: d.total("enroll"),
    "mean_by": lambda d: d.mean("api00", by="stype"),
    "total_by": lambda d: d.total(["enroll", "api00"], by="stype"),
    "proportion": lambda d: d.proportion("sch.wide"),
    "proportion_by": lambda d: d.proportion("sch.wide", by="stype"),
    "ratio": lambda d: d.ratio("api.stu", "enroll"),
    "ratio_by": lambda d: d.ratio("api.stu", "enroll", by="stype"),
    "quantile": lambda d: d.quantile("api00", [0.5]),
}


def _numbers(r):
    return np.concatenate([r.estimate, r.se, r.df])


def _ops(T):
    return {
        "trim": lambda d: trim(d, upper=1.5),
        "poststratify": lambda d: poststratify(d, POP_STYPE),
        "rake": lambda d: rake(d, [POP_STYPE, POP_SCHWIDE], tol=1e-10, max_iter=100),
        "calibrate": lambda d: calibrate(d, margins=[POP_STYPE], totals={"api99": T}),
        "chain": lambda d: trim(calibrate(poststratify(d, POP_STYPE), margins=[POP_STYPE], totals={"api99": T}),
                                upper=1.8),
    }


@pytest.mark.parametrize("op", ["trim", "poststratify", "rake", "calibrate", "chain"])
@pytest.mark.parametrize("replicate", [False, True], ids=["taylor", "jk1"])
def test_reweighting_a_used_design_gives_fresh_numbers(apiclus1, api99_total, op, replicate):
    fn = _ops(api99_total)[op]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        cold = _design(apiclus1)
        cold = fn(cold.to_replicate("JK1") if replicate else cold)
        changed = 0
        for name, stat in STATS.items():
            warm = _design(apiclus1)
            if replicate:
                warm = warm.to_replicate("JK1")
            before = _numbers(stat(warm))  # the statistic fills the caches of `warm` ...
            new = fn(warm)  # ... then the design is re-weighted and asked the same again
            assert not np.array_equal(new.weights, warm.weights)
            np.testing.assert_array_equal(new.weights, cold.weights)
            got = _numbers(stat(new))
            np.testing.assert_allclose(got, _numbers(stat(cold)), rtol=1e-12, atol=0, err_msg=name)
            changed += np.abs(got - before)[np.isfinite(got)].max() > 1e-6
            np.testing.assert_array_equal(_numbers(stat(warm)), before)  # the original design is untouched
    assert changed >= 5  # the weighting did change the numbers (by-stype means keep theirs under poststratification by stype)
    # point estimates: those of a design declared with the new weights as a column
    plain = SurveyDesign(new.data.assign(w_new=new.weights), weights="w_new", psu="dnum", fpc="fpc")
    for stat in ("mean", "total"):
        a = getattr(new, stat)(["api00", "enroll"], by="stype").estimate
        b = getattr(plain, stat)(["api00", "enroll"], by="stype").estimate
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_trim_after_mean_issue_example(apiclus1):
    """The issue's report: ``d.mean`` then ``trim(d).mean`` gave the untrimmed mean."""
    d = _design(apiclus1)
    m0 = d.mean("api00").estimate[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        t = trim(d, upper=1.3)
    w = t.weights
    y = apiclus1["api00"].to_numpy(float)
    assert t.mean("api00").estimate[0] == pytest.approx(w @ y / w.sum(), rel=1e-13)
    assert t.mean("api00").estimate[0] != pytest.approx(m0, rel=1e-9)
    t0 = d.total("enroll").estimate[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        t = trim(d, upper=1.3)
    assert t.total("enroll").estimate[0] == pytest.approx(w @ apiclus1["enroll"].to_numpy(float), rel=1e-13)
    assert t.total("enroll").estimate[0] != pytest.approx(t0, rel=1e-9)
    assert d.mean("api00").estimate[0] == m0


def test_with_weights_public_api(apiclus1):
    d = _design(apiclus1)
    d.total("enroll")
    d2 = d.with_weights(2 * d.weights)
    assert type(d2) is SurveyDesign and d2.calibration == ()
    assert d2.total("enroll").estimate[0] == pytest.approx(2 * d.total("enroll").estimate[0], rel=1e-14)
    assert d2.total("enroll").se[0] == pytest.approx(2 * d.total("enroll").se[0], rel=1e-12)
    with pytest.raises(DesignError, match="weights: expected 183 weights"):
        d.with_weights(np.ones(5))
    with pytest.raises(DesignError, match="finite non-negative"):
        d.with_weights(np.r_[-1.0, np.ones(182)])
    with pytest.raises(DesignError, match="replicate_weights: expected None for a Taylor design"):
        d.with_weights(d.weights, replicate_weights=np.ones((183, 3)))
    with pytest.raises(DesignError, match="calibration: expected a calibration step"):
        d.with_weights(d.weights, calibration="raking")
    assert not d.weights.flags.writeable and not d2.weights.flags.writeable


def test_replicate_with_weights_keeps_multipliers(apiclus1):
    jk = _design(apiclus1).to_replicate("JK1")
    jk.mean("api00")
    j2 = jk.with_weights(3 * jk.weights)
    np.testing.assert_allclose(j2.replicate_weights, 3 * jk.replicate_weights, rtol=1e-14)
    assert j2.total("enroll").se[0] == pytest.approx(3 * jk.total("enroll").se[0], rel=1e-12)
    assert j2.mean("api00").se[0] == pytest.approx(jk.mean("api00").se[0], rel=1e-12)
    with pytest.raises(DesignError, match="calibration: expected None for a replicate design"):
        jk.with_weights(jk.weights, calibration=object())
    with pytest.raises(DesignError, match=r"replicate_weights: expected shape \(183, 15\)"):
        jk.with_weights(jk.weights, replicate_weights=np.ones((183, 2)))


def test_data_is_read_only(apiclus1):
    d = _design(apiclus1)
    with pytest.raises(DesignError, match="data: expected the design's data to stay as built"):
        d.data = apiclus1.head()


def test_where_is_aligned_by_index(apiclus1):
    d = _design(apiclus1)
    mask = apiclus1["stype"] == "E"
    ref = d.mean("api00", where=mask.to_numpy())
    shuffled = mask.sample(frac=1.0, random_state=np.random.default_rng(3).integers(1 << 30))
    got = d.mean("api00", where=shuffled)  # same labels, other order: aligned, not taken by position
    assert got.estimate[0] == ref.estimate[0] and got.se[0] == ref.se[0]
    other = pd.Series(mask.to_numpy(), index=np.arange(1000, 1000 + len(mask)))
    with pytest.raises(EstimationError, match="where: expected a boolean Series with the index of the design's data"):
        d.mean("api00", where=other)
    with pytest.raises(EstimationError, match="where: expected a boolean mask of length 183"):
        d.mean("api00", where=np.ones(5, bool))


def test_zero_denominator_is_nan_with_warning(apiclus1):
    df = apiclus1.assign(z=np.where(apiclus1["stype"] == "H", 0.0, apiclus1["enroll"]))
    d = _design(df)
    with pytest.warns(ZeroDenominatorWarning, match=r"'api\.stu/z' in stype=H"):
        r = d.ratio("api.stu", "z", by="stype")
    est = dict(zip(r.domain["stype"], r.estimate))
    se = dict(zip(r.domain["stype"], r.se))
    assert np.isnan(est["H"]) and np.isnan(se["H"])
    assert np.isfinite(est["E"]) and np.isfinite(se["M"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroDenominatorWarning)
        d.ratio("api.stu", "enroll", by="stype")  # no warning when every denominator is positive


def test_replicate_input_checks(apiclus1):
    from analysis import ReplicateDesign

    d = _design(apiclus1)
    for bad in (1, 0, -3, 2.5):
        with pytest.raises(DesignError, match=r"replicates: expected an integer >= 2, got"):
            d.to_replicate("bootstrap", replicates=bad)
    rw = d.to_replicate("JK1").replicate_weights
    with pytest.raises(DesignError, match=r"replicate_weights \(number of columns\): expected an integer >= 2, got 1"):
        ReplicateDesign(d.data, weights="w", replicate_weights=rw[:, :1], type="bootstrap")
    with pytest.raises(DesignError, match=r"rscales: expected one value per replicate \(15\), got shape \(3,\)"):
        ReplicateDesign(d.data, weights="w", replicate_weights=rw, type="other", scale=1.0, rscales=[1, 2, 3])
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(DesignError, match=r"scale: expected a finite number > 0"):
            ReplicateDesign(d.data, weights="w", replicate_weights=rw, type="other", scale=bad)
    ok = ReplicateDesign(d.data, weights="w", replicate_weights=rw, type="JK1")
    assert ok.scale == pytest.approx(14 / 15) and ok.rscales.shape == (15,)
