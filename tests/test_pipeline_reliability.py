"""NCHS data presentation standards for proportions (pipeline/reliability.py)."""
import pandas as pd
import pytest

from pipeline.reliability import flags

RULES = {"min_n_eff": 30, "max_ci_width": 0.30, "max_rel_ci_width": 1.30, "rel_width_from": 0.05, "min_df": 8}


def _one(p, lo, hi, n_eff=100.0, df=20.0, kind="proportion"):
    t = pd.DataFrame({"estimate": [p], "ci_low": [lo], "ci_high": [hi], "n_eff": [n_eff], "df": [df]})
    out = flags(t, RULES, pd.Series([kind]))
    return bool(out["suppress"].iloc[0]), out["flags"].iloc[0]


@pytest.mark.parametrize("args, suppress, flag", [
    ((0.50, 0.45, 0.55), False, ""),                              # reliable
    ((0.50, 0.45, 0.55, 29.9), True, "n_eff<30"),                 # too small an effective sample
    ((0.50, 0.35, 0.65), True, "ci_width>=0.3"),                  # absolute width 0.30
    ((0.50, 0.36, 0.64), False, ""),                              # width 0.28, relative 56%
    ((0.05, 0.01, 0.12), True, "rel_ci_width>130%"),              # width 0.11 and relative width 220%
    ((0.04, 0.005, 0.10), True, "rel_ci_width>130%"),             # width 0.095 > 0.05 and 238% > 130%
    ((0.02, 0.005, 0.045), False, ""),                            # width 0.04 <= 0.05: relative rule not applied
    ((0.50, 0.45, 0.55, 100, 7), False, "df<8"),                  # review only
    ((0.0, 0.0, 0.03), False, "estimate_0_or_1"),                 # review only
    ((1.0, 0.97, 1.0), False, "estimate_0_or_1"),
])
def test_nchs_rules(args, suppress, flag):
    assert _one(*args) == (suppress, flag)


def test_means_get_only_sample_size_and_df_rules():
    assert _one(5.0, 1.0, 9.0, kind="mean") == (False, "")
    assert _one(5.0, 4.9, 5.1, n_eff=10, df=3, kind="mean") == (True, "n_eff<30;df<8")
