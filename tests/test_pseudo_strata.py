"""Pseudo-strata for systematic samples (analysis.pseudo_strata.pair_psus)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from analysis import DesignError, SurveyDesign
from analysis.pseudo_strata import pair_psus


def test_pairs_in_selection_order_with_a_triple_at_the_end():
    assert pair_psus(["a"] * 5, [1, 2, 3, 4, 5]).tolist() == [1, 1, 2, 2, 2]
    # order, not the PSU labels, decides the pairs; rows of one PSU share its code
    strata = ["b", "b", "a", "a", "a", "c", "b", "b", "b"]
    psu = [9, 9, 3, 1, 2, 7, 4, 5, 6]
    order = [1, 1, 30, 10, 20, 0, 3, 2, 4]
    assert pair_psus(strata, psu, order).tolist() == [2, 2, 1, 1, 1, 4, 3, 2, 3]


def test_single_psu_stratum_and_no_strata():
    assert pair_psus(["x", "y", "y"], [1, 2, 3]).tolist() == [1, 2, 2]  # lonely PSU kept alone
    assert pair_psus(None, [4, 3, 2, 1], size=3).tolist() == [1, 1, 1, 1]
    assert pair_psus(None, [1, 2, 3, 4, 5, 6, 7], size=3).tolist() == [1, 1, 1, 2, 2, 2, 2]


def test_psu_labels_are_nested_in_strata():
    # PSU 1 of stratum a and PSU 1 of stratum b are different PSUs
    assert pair_psus(["a", "a", "b", "b"], [1, 2, 1, 2]).tolist() == [1, 1, 2, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(strata=["a", "a"], psu=[1, 1], order=[1, 2]), "order: expected one value per PSU, got several in PSU 1"),
    (dict(strata=["a"], psu=[1, 2]), "strata: expected 2 values"),
    (dict(strata=None, psu=[1, None]), "psu: expected no missing values, got 1 missing"),
    (dict(strata=None, psu=[1, 2], size=1), "size: expected an integer >= 2, got 1"),
    (dict(strata=None, psu=[1, 2], size=2.0), "size: expected an integer >= 2, got 2.0"),
])
def test_errors_name_parameter_expected_and_got(kwargs, message):
    with pytest.raises(DesignError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pair_psus(**kwargs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_pair_variance_is_wolters_nonoverlapping_differences(sizes, seed):
    """With pairs as strata and the stratum's sampling fraction, the variance of a total is
    Wolter's (2007, eq. 8.2.3) sum over pairs of (1 - f)(t1 - t2)^2 (triples: the usual
    stratum formula), and no pseudo-stratum crosses a design stratum."""
    rng = np.random.default_rng(seed)
    rows = []
    for h, n_h in enumerate(sizes):
        for i in rng.permutation(n_h):  # rows arrive in any order; `order` is the selection order
            for _ in range(rng.integers(1, 4)):
                rows.append({"h": h, "psu": i, "order": 10 * i, "y": rng.normal(), "w": rng.uniform(1, 5),
                             "f": 0.1 + 0.05 * h})
    df = pd.DataFrame(rows)
    df["ps"] = pair_psus(df["h"], df["psu"], df["order"])
    assert (df.groupby("ps")["h"].nunique() == 1).all()
    expected = 0.0
    for (h, ps), g in df.groupby(["h", "ps"]):
        t = (g["w"] * g["y"]).groupby(g["psu"]).sum().to_numpy()
        n = len(t)
        assert n == 1 or 2 <= n <= 3
        if n > 1:
            expected += (1 - g["f"].iloc[0]) * n / (n - 1) * ((t - t.mean()) ** 2).sum()
    if not (df.groupby("ps")["psu"].nunique() > 1).all():
        return  # a lonely PSU: the design's lonely_psu rule applies, tested elsewhere
    got = SurveyDesign(df, weights="w", strata="ps", psu="psu", fpc="f", nest=True).total("y").se ** 2
    assert got == pytest.approx(expected, rel=1e-10)


def test_within_implicit_strata():
    # communes y (2 EAs) and v (3) are paired inside; the single-EA communes x, z, w together
    within = ["x", "y", "y", "z", "w", "v", "v", "v"]
    assert pair_psus(["a"] * 8, range(1, 9), within=within).tolist() == [1, 2, 2, 1, 1, 3, 3, 3]
    # a lone single-EA commune joins the pseudo-stratum of the EA before it in selection order
    assert pair_psus(["b"] * 3, [1, 2, 3], within=["q", "q", "r"]).tolist() == [1, 1, 1]
    assert pair_psus(["b"] * 3, [1, 2, 3], within=["r", "q", "q"]).tolist() == [1, 1, 1]
    assert pair_psus(["c"] * 5, [1, 2, 3, 4, 5], within=["q", "q", "r", "s", "s"]).tolist() == [1, 1, 1, 2, 2]
    with pytest.raises(DesignError, match="within: expected one value per PSU, got several in PSU 1"):
        pair_psus(None, [1, 1, 2], within=["q", "r", "r"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=9), min_size=1, max_size=4))
def test_within_never_leaves_a_psu_alone_or_crosses_a_stratum(groups):
    strata = [h for h, g in enumerate(groups) for _ in g]
    within = [c for g in groups for c in g]
    psu = list(range(len(within)))
    code = pair_psus(strata, psu, psu, within=within)
    df = pd.DataFrame({"h": strata, "g": within, "ps": code})
    assert (df.groupby("ps")["h"].nunique() == 1).all()
    assert sorted(set(code)) == list(range(1, code.max() + 1))
    n_h = df.groupby("h").size()
    size = df.groupby("ps").size()
    ps_h = df.groupby("ps")["h"].first()
    assert ((size >= 2) | (n_h[ps_h].to_numpy() == 1)).all()
    # PSUs of one implicit stratum with 2+ sampled PSUs share pseudo-strata with no other group's,
    # except a lone PSU that joined them
    for ps, g in df.groupby("ps"):
        big = g["g"].map(df[df.h == g.h.iloc[0]].groupby("g").size()) >= 2
        if big.any():
            assert g.loc[big, "g"].nunique() == 1 and (~big).sum() <= 1


def test_analysis_exports_load_on_first_use():
    """``import analysis.sampling`` (a survey generator) does not load the estimators or scipy;
    the package's names still import, and an unknown one is an AttributeError."""
    import subprocess
    import sys
    code = ("import sys, analysis.sampling; assert 'scipy' not in sys.modules and 'analysis.design' not in sys.modules\n"
            "from analysis import SurveyDesign, pair_psus, DesignError, ReplicateDesign, PROPORTION_METHODS\n"
            "import analysis; assert set(analysis.__all__) <= set(dir(analysis))\n"
            "try:\n    analysis.nope\nexcept AttributeError as e:\n    assert 'nope' in str(e)\nelse:\n    raise SystemExit(1)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
