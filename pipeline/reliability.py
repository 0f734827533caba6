"""Reliability flags for estimated proportions (US NCHS data presentation standards).

Parker JD et al. (2017), *National Center for Health Statistics Data
Presentation Standards for Proportions*, Vital Health Stat 2(175).  An
estimate is **suppressed** when

* its effective sample size is below ``min_n_eff`` (30).  ``n_eff`` is the
  Korn-Graubard effective sample size with the design-df adjustment,
  ``p(1-p)/SE^2 * (t_{n-1}/t_df)^2`` (:func:`analysis.intervals.effective_n`,
  the n of the beta interval); or
* its CI's absolute width is at least ``max_ci_width`` (0.30); or
* its absolute width lies between ``rel_width_from`` (0.05) and
  ``max_ci_width`` and its relative width (width / p) exceeds
  ``max_rel_ci_width`` (130 %);

and is **flagged** for statistical review when its design df is below
``min_df`` (8) or the estimate is exactly 0 or 1.  Means get only the
``n_eff`` and df rules; their ``n_eff`` is Kish's ``n / deff`` (the NCHS
standards define no df adjustment for means).  The thresholds come from
``[reporting]``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def flags(table: pd.DataFrame, rules: dict, kind: pd.Series) -> pd.DataFrame:
    """Add ``suppress`` (bool) and ``flags`` (';'-joined reasons) to an estimates table."""
    p, lo, hi = table["estimate"], table["ci_low"], table["ci_high"]
    width = hi - lo
    prop = kind.eq("proportion")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = width / p
    reasons = {
        f"n_eff<{rules['min_n_eff']:g}": table["n_eff"].fillna(0) < rules["min_n_eff"],
        f"ci_width>={rules['max_ci_width']:g}": prop & (width >= rules["max_ci_width"]),
        f"rel_ci_width>{rules['max_rel_ci_width']:.0%}": prop & (width > rules["rel_width_from"])
        & (width < rules["max_ci_width"]) & (rel > rules["max_rel_ci_width"]),
    }
    review = {
        f"df<{rules['min_df']:g}": table["df"].fillna(0) < rules["min_df"],
        "estimate_0_or_1": prop & ((p == 0) | (p == 1)),
    }
    out = table.copy()
    out["suppress"] = np.logical_or.reduce([m.to_numpy(bool) for m in reasons.values()])
    labels = [[name for name, m in {**reasons, **review}.items() if m.iloc[i]] for i in range(len(table))]
    out["flags"] = [";".join(x) for x in labels]
    return out
