"""Variance strata for systematic samples: PSUs paired in selection order.

A systematic (or systematic PPS) selection along a sorted frame stratifies
implicitly: each PSU stands for its stretch of the frame (its commune, say).
The usual with-replacement variance, which treats the PSUs of a stratum as
independent draws, ignores that and overstates the variance when the sort
order is related to the survey variables.  The standard remedy (Wolter 2007,
§§8.2–8.3, the "non-overlapping differences" estimator; the paired-selection
model of Kish 1965, §8.6) pairs the PSUs in their selection order within each
stratum and uses the pairs as variance strata.  An odd PSU out joins the last
pair, as a triple.  The resulting design can be given to R's ``svydesign``
(``strata = ~pair``), so the variance stays checkable there.

References
----------
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 8.
Kish, L. (1965). *Survey Sampling*, §8.6 (collapsed strata).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .validation import DesignError

__all__ = ["pair_psus"]


def pair_psus(strata, psu, order=None, size: int = 2) -> np.ndarray:
    """Pseudo-strata of *size* consecutive PSUs in selection order, within each stratum.

    Parameters
    ----------
    strata : array-like, one value per row, or None
        The design strata (None: one stratum).
    psu : array-like, one value per row
        The PSU of each row.
    order : array-like, one value per row, optional
        The PSU's position in the systematic selection (e.g. its frame sort
        key); constant within a PSU.  Default: the PSU labels' own order.
    size : int, default 2
        PSUs per pseudo-stratum.  A stratum with ``n`` PSUs gets
        ``max(n // size, 1)`` pseudo-strata; the ``n % size`` PSUs left over
        join its last one.  A stratum with a single PSU keeps it alone (the
        design's ``lonely_psu`` rule then applies).

    Returns
    -------
    numpy.ndarray of int64
        Pseudo-stratum code per row, numbered 1, 2, ... in stratum and
        selection order.  Pseudo-strata never cross a design stratum.

    Raises
    ------
    DesignError
        If the lengths differ, a value is missing, *size* < 2, or *order*
        is not constant within a PSU.

    Examples
    --------
    >>> pair_psus(["a"] * 5, [1, 2, 3, 4, 5]).tolist()
    [1, 1, 2, 2, 2]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise DesignError(f"size: expected an integer >= 2, got {size!r}")
    psu = pd.Series(np.asarray(psu))
    n = len(psu)
    strata = pd.Series(np.zeros(n, np.int8) if strata is None else np.asarray(strata))
    order = psu if order is None else pd.Series(np.asarray(order))
    for name, col in (("strata", strata), ("order", order)):
        if len(col) != n:
            raise DesignError(f"{name}: expected {n} values (one per row, as psu), got {len(col)}")
    for name, col in (("psu", psu), ("strata", strata), ("order", order)):
        if col.isna().any():
            raise DesignError(f"{name}: expected no missing values, got {int(col.isna().sum())} missing")
    s_code = pd.factorize(strata, sort=True)[0]
    # a PSU is identified within its stratum (R's nest = TRUE)
    unit = np.unique(np.column_stack([s_code, pd.factorize(psu)[0]]), axis=0, return_inverse=True)[1].ravel()
    n_units = int(unit.max()) + 1 if n else 0
    o_code = pd.factorize(order, sort=True)[0]
    lo = np.full(n_units, np.iinfo(np.int64).max)
    hi = np.full(n_units, -1)
    np.minimum.at(lo, unit, o_code)
    np.maximum.at(hi, unit, o_code)
    if (lo != hi).any():
        bad = psu.iloc[int(np.flatnonzero(lo[unit] != hi[unit])[0])]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise DesignError(f"order: expected one value per PSU, got several in PSU {bad!r}")
    u_stratum = np.empty(n_units, np.int64)
    u_stratum[unit] = s_code
    rank_order = np.lexsort((lo, u_stratum))           # units in stratum, then selection order
    s_sorted = u_stratum[rank_order]
    start = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    counts = np.diff(np.r_[start, n_units])
    pos = np.arange(n_units) - np.repeat(start, counts)  # position within the stratum
    n_groups = np.maximum(counts // size, 1)
    group = np.minimum(pos // size, np.repeat(n_groups - 1, counts))
    code_sorted = np.repeat(np.cumsum(n_groups) - n_groups, counts) + group + 1
    code = np.empty(n_units, np.int64)
    code[rank_order] = code_sorted
    return code[unit]
