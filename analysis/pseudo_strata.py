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


def pair_psus(strata, psu, order=None, size: int = 2, within=None) -> np.ndarray:
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
    within : array-like, one value per row, optional
        The implicit stratum of each PSU (e.g. its commune, a sort key of the
        frame); constant within a PSU.  Groups of at least *size* sampled PSUs
        are paired among themselves, so that a pair's difference does not
        carry the difference between implicit strata; the PSUs of smaller
        groups are paired in order among themselves, and a single one left
        over joins the pseudo-stratum of the PSU before it in selection order
        (after it, for the first).  Default: no implicit strata.

    Returns
    -------
    numpy.ndarray of int64
        Pseudo-stratum code per row, numbered 1, 2, ... in order of their
        first PSU in stratum and selection order.  Pseudo-strata never cross
        a design stratum.

    Raises
    ------
    DesignError
        If the lengths differ, a value is missing, *size* < 2, or *order* or
        *within* is not constant within a PSU.

    Examples
    --------
    >>> pair_psus(["a"] * 5, [1, 2, 3, 4, 5]).tolist()
    [1, 1, 2, 2, 2]
    >>> pair_psus(["a"] * 5, [1, 2, 3, 4, 5], within=["x", "y", "y", "z", "w"]).tolist()
    [1, 2, 2, 1, 1]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise DesignError(f"size: expected an integer >= 2, got {size!r}")
    psu = pd.Series(np.asarray(psu))
    n = len(psu)
    columns = {"strata": pd.Series(np.zeros(n, np.int8) if strata is None else np.asarray(strata)),
               "order": psu if order is None else pd.Series(np.asarray(order))}
    if within is not None:
        columns["within"] = pd.Series(np.asarray(within))
    for name, col in columns.items():
        if len(col) != n:
            raise DesignError(f"{name}: expected {n} values (one per row, as psu), got {len(col)}")
    for name, col in {"psu": psu, **columns}.items():
        if col.isna().any():
            raise DesignError(f"{name}: expected no missing values, got {int(col.isna().sum())} missing")
    s_code = pd.factorize(columns["strata"], sort=True)[0]
    # a PSU is identified within its stratum (R's nest = TRUE)
    unit = np.unique(np.column_stack([s_code, pd.factorize(psu)[0]]), axis=0, return_inverse=True)[1].ravel()
    n_units = int(unit.max()) + 1 if n else 0
    u_stratum = _per_unit(unit, n_units, s_code)
    u_order = _per_unit(unit, n_units, pd.factorize(columns["order"], sort=True)[0], psu, "order")
    key = u_stratum
    if within is not None:
        u_group = _per_unit(unit, n_units, pd.factorize(columns["within"])[0], psu, "within")
        cell = np.unique(np.column_stack([u_stratum, u_group]), axis=0, return_inverse=True)[1].ravel()
        big = np.bincount(cell)[cell] >= size
        # groups with enough PSUs are their own pairing sets; the rest share one set per stratum
        key = np.unique(np.column_stack([u_stratum, np.where(big, u_group, -1)]), axis=0,
                        return_inverse=True)[1].ravel()
    rank = np.lexsort((u_order, key))                  # units by pairing set, then selection order
    k_sorted = key[rank]
    first = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]
    counts = np.diff(np.r_[first, n_units])
    pos = np.arange(n_units) - np.repeat(first, counts)  # position within the set
    n_groups = np.maximum(counts // size, 1)
    group = np.minimum(pos // size, np.repeat(n_groups - 1, counts))
    code = np.empty(n_units, np.int64)
    code[rank] = np.repeat(np.cumsum(n_groups) - n_groups, counts) + group
    by_order = np.lexsort((u_order, u_stratum))        # units in stratum, then selection order
    if within is not None:
        # a set of one PSU (the lone small group of its stratum) joins its neighbour in selection order
        lone = np.zeros(n_units, bool)
        lone[rank[first[counts == 1]]] = True
        at = np.flatnonzero(lone[by_order])
        same_before = (at > 0) & (u_stratum[by_order[np.maximum(at - 1, 0)]] == u_stratum[by_order[at]])
        same_after = (at < n_units - 1) & (u_stratum[by_order[np.minimum(at + 1, n_units - 1)]] == u_stratum[by_order[at]])
        nb = np.where(same_before, at - 1, np.where(same_after, at + 1, at))
        code[by_order[at]] = code[by_order[nb]]
    # number the pseudo-strata 1, 2, ... by their first PSU in stratum and selection order
    code = pd.factorize(code[by_order])[0][np.argsort(by_order)] + 1
    return code[unit].astype(np.int64)


def _per_unit(unit: np.ndarray, n_units: int, values: np.ndarray, psu=None, name: str = "") -> np.ndarray:
    """The value of each PSU, checking it is constant within the PSU."""
    out = np.empty(n_units, np.int64)
    out[unit] = values
    if psu is not None and (out[unit] != values).any():
        bad = psu.iloc[int(np.flatnonzero(out[unit] != values)[0])]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise DesignError(f"{name}: expected one value per PSU, got several in PSU {bad!r}")
    return out
