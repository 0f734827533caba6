"""Proportions of integer and boolean columns summed per unit from the columns give the general path's numbers.

For numpy integer or boolean 0/1 columns whose domains nest in the units,
and units stored as runs of consecutive rows, the unit totals are summed
from the columns (``kernel.run_sums``) without the rows' float matrix.  The
same data with the indicators as float columns takes the group-matrix
product of the float matrix; with the rows shuffled, the units are no
longer runs; with a domain that cuts across PSUs, a ``where`` subset or
missing values, the row-level path.  All must give the same numbers.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import EstimationError, SurveyDesign
from analysis.weighting import trim

pytestmark = pytest.mark.filterwarnings("ignore::analysis.SurveyWarning")

Y = ["y1", "y2", "y3"]


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    n_psu, size = 60, 9
    stratum = rng.integers(0, 6, n_psu)
    psu = np.repeat(np.arange(n_psu), size)
    df = pd.DataFrame({"stratum": stratum[psu], "psu": psu, "district": stratum[psu] // 2,
                       "sex": rng.integers(0, 2, psu.shape[0]),  # varies within PSUs: does not nest
                       "w": rng.gamma(4.0, 25.0, n_psu)[psu] * rng.uniform(0.8, 1.25, psu.shape[0])})
    for j, c in enumerate(Y):
        df[c] = (rng.random(psu.shape[0]) < 0.2 + 0.2 * j).astype(np.int64)
    df["y3"] = df["y3"].astype(bool)
    return df


def _report(d, **kw):
    out = []
    for by in (None, "district", "sex", ["district", "sex"]):
        r = d.proportion(Y, by=by, **kw)
        out.append(np.concatenate([r.estimate, r.se, r.df, r.deff, r.n, r.weighted_n, r.n_rows, r.confint().low, r.confint().high]))
    return np.concatenate(out)


def _design(df, replicate):
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    return d.to_replicate("JKn") if replicate else d


@pytest.mark.parametrize("replicate", [False, True], ids=["taylor", "jkn"])
def test_integer_columns_match_float_columns_and_shuffled_rows(sample, replicate):
    d = _design(sample, replicate)
    got = _report(d)
    as_float = _report(_design(sample.astype({c: float for c in Y}), replicate))
    np.testing.assert_array_equal(got, as_float)  # the same sums in the same order
    shuffled = sample.sample(frac=1.0, random_state=3).reset_index(drop=True)
    np.testing.assert_allclose(got, _report(_design(shuffled, replicate)), rtol=1e-12, atol=1e-15)
    # a subset (row-level path) and contrasts/vcov (row-level matrix) after the unit-level path
    where = (sample["sex"] == 1).to_numpy()
    np.testing.assert_array_equal(_report(d, where=where),
                                  _report(_design(sample.astype({c: float for c in Y}), replicate), where=where))
    r = d.proportion(Y, by="district")
    rf = _design(sample.astype({c: float for c in Y}), replicate).proportion(Y, by="district")
    np.testing.assert_allclose(r.vcov().to_numpy(), rf.vcov().to_numpy(), rtol=1e-12, atol=1e-18)
    c = d.contrast(r, {"district": 0}, {"district": 1})
    cf = d.contrast(rf, {"district": 0}, {"district": 1})
    np.testing.assert_array_equal(c.se, cf.se)


def test_missing_values_and_nullable_integers(sample):
    df = sample.copy()
    df["y1"] = df["y1"].astype("Int64")
    df.loc[::7, "y1"] = pd.NA
    ref = df.astype({"y1": float})
    for by in (None, "district"):
        a = SurveyDesign(df, weights="w", strata="stratum", psu="psu").proportion(Y, by=by, na_rm=True)
        b = SurveyDesign(ref, weights="w", strata="stratum", psu="psu").proportion(Y, by=by, na_rm=True)
        np.testing.assert_array_equal(np.r_[a.estimate, a.se], np.r_[b.estimate, b.se])


def test_reweighting_after_the_unit_level_path(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = SurveyDesign(sample, weights="w", strata="stratum", psu="psu")
        _report(warm)
        cold = trim(SurveyDesign(sample, weights="w", strata="stratum", psu="psu"), upper=1.3)
        np.testing.assert_allclose(_report(trim(warm, upper=1.3)), _report(cold), rtol=1e-12, atol=0)


@pytest.mark.parametrize("bad", [2, -1])
def test_integer_column_outside_0_1_is_an_error(sample, bad):
    df = sample.copy()
    df.loc[5, "y2"] = bad
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=rf"'y2' with values \[{bad}\.0\]"):
        d.proportion(Y, by="district")


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "uint64", "bool"])
def test_other_integer_dtypes_and_strided_columns(sample, dtype):
    # the indicators from one 2-D array: pandas holds them as one block, each column a strided view
    df = pd.DataFrame(np.ascontiguousarray(sample[Y].to_numpy().astype(dtype)), columns=Y, copy=False)
    for c in sample.columns.drop(Y):
        df[c] = sample[c].to_numpy()
    assert df["y1"].to_numpy().strides[0] > df["y1"].dtype.itemsize
    got = _report(SurveyDesign(df, weights="w", strata="stratum", psu="psu"))
    want = _report(SurveyDesign(df.astype({c: float for c in Y}), weights="w", strata="stratum", psu="psu"))
    np.testing.assert_array_equal(got, want)
