"""Unchecked numeric kernels: group sums, stage variances, replicate totals.

Every estimator in the library is a ratio of two weighted totals.  The
kernels here take numpy arrays and integer codes (never DataFrames), validate
nothing, and vectorise over variables, domains and replicates at once; the
public design methods validate their inputs once and call them.  They are
written as group-by sums over (stratum, PSU, domain) so that they can run on
a distributed engine with the same meaning.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "Stage",
    "compact_codes",
    "group_sum",
    "group_matrix",
    "run_sums",
    "stage_variance",
    "taylor_variance",
    "domain_sums",
    "replicate_domain_totals",
    "domain_products",
    "one_blas_thread",
    "domain_df",
]


def compact_codes(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Map integer keys in ``[0, size)`` to compact codes ``0..K-1``.

    Returns ``(uniques, codes)`` with ``uniques`` sorted.  Uses a counting
    pass when the key space is small (no sort), ``np.unique`` otherwise.
    When every key in ``[0, size)`` occurs, ``codes`` is ``key`` itself
    (not a copy): callers must not write into it.
    """
    n = key.shape[0]
    if size <= 4 * n + 4096:
        present = np.bincount(key, minlength=size) > 0
        uniques = np.flatnonzero(present)
        if uniques.shape[0] == size:  # every key present: the keys are their own codes (no remapping pass)
            return uniques, key.astype(np.int64, copy=False)
        remap = np.empty(size, dtype=np.int64)
        remap[uniques] = np.arange(uniques.shape[0])
        return uniques, remap[key]
    uniques, codes = np.unique(key, return_inverse=True)
    return uniques, codes.reshape(-1)


def group_sum(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (n x m) within ``codes`` (n,), vectorised over columns."""
    n = codes.shape[0]
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups)
    m = values.shape[1]
    if n * m <= 200_000:  # small: one flat bincount beats building a sparse matrix
        flat = (codes[:, None] * m + np.arange(m)).ravel()
        return np.bincount(flat, weights=values.ravel(), minlength=n_groups * m).reshape(n_groups, m)
    return np.asarray(group_matrix(codes, n_groups) @ values)


def group_summer(codes: np.ndarray, n_groups: int):
    """``values -> group_sum(codes, values, n_groups)`` for several arrays with the same codes.

    The same sums as :func:`group_sum` (the same method for each size of
    ``values``), with the sparse group matrix built once, on first need,
    instead of once per call.
    """
    M = None

    def gsum(values):
        nonlocal M
        if values.ndim == 1 or codes.shape[0] * values.shape[1] <= 200_000:
            return group_sum(codes, values, n_groups)
        if M is None:
            M = group_matrix(codes, n_groups)
        return np.asarray(M @ values)

    return gsum


def group_matrix(codes: np.ndarray, n_groups: int, weights: np.ndarray | None = None) -> sparse.csr_matrix:
    """The (n_groups x n) CSR matrix with ``weights[i]`` (default 1) at ``(codes[i], i)``.

    When ``codes`` is sorted (rows stored by PSU, as survey files usually
    are), the CSR arrays are written directly (a count and a cumulative
    sum): no COO-to-CSR conversion.  Entries keep the row order within each
    group either way, so products with it sum in the same order.
    """
    n = codes.shape[0]
    data = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if n and codes[0] >= 0 and codes[-1] < n_groups and not (codes[1:] < codes[:-1]).any():
        indptr = np.zeros(n_groups + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes, minlength=n_groups), out=indptr[1:])
        if n < 2**31 and n_groups < 2**31:
            indptr = indptr.astype(np.int32)
            idx = np.arange(n, dtype=np.int32)
        else:
            idx = np.arange(n, dtype=np.int64)
        return sparse.csr_matrix((data, idx, indptr), shape=(n_groups, n))
    return sparse.csr_matrix((data, (codes, np.arange(n))), shape=(n_groups, n))


def run_sums(columns: list[np.ndarray], weights: np.ndarray, starts: np.ndarray, block: int = 32768) -> np.ndarray:
    """Weighted sums of numeric columns over runs of consecutive rows: an (n_runs x k) float64 array.

    Run ``r`` holds rows ``starts[r]`` to ``starts[r + 1] - 1`` (the last
    run ends at the last row); ``starts[0]`` must be 0.  Each sum is taken in
    row order, as the product of a :func:`group_matrix` with the columns
    converted to float64, so the sums are the same to the last bit.  The
    columns are converted a block of rows at a time (whole runs, about
    ``block`` rows): the blocks stay in cache, and no (n x k) float matrix is
    built.
    """
    n = weights.shape[0]
    n_runs = starts.shape[0]
    out = np.zeros((len(columns), n_runs))
    if not n or not columns:
        return out.T
    bounds = np.append(starts, n)
    edges = np.unique(np.append(np.searchsorted(starts, np.arange(0, n, block)), n_runs))
    longest = int((bounds[edges[1:]] - bounds[edges[:-1]]).max())
    buf = np.empty(longest)
    itype = np.int32 if longest < 2**31 else np.int64
    idx = np.arange(longest, dtype=itype)
    for e0, e1 in zip(edges[:-1], edges[1:]):
        r0, r1 = int(bounds[e0]), int(bounds[e1])
        m = sparse.csr_matrix((weights[r0:r1], idx[:r1 - r0], (bounds[e0:e1 + 1] - r0).astype(itype)),
                              shape=(e1 - e0, r1 - r0))
        b = buf[:r1 - r0]
        for j, c in enumerate(columns):
            b[...] = c[r0:r1]
            out[j, e0:e1] = m @ b
    return out.T


@dataclass(frozen=True)
class Stage:
    """One sampling stage in the variance formula.

    Attributes
    ----------
    unit : (n,) int
        Code of each row's sampling unit at this stage, unique across groups.
    group : (U,) int
        The group (stratum at stage 1, parent PSU at stage 2) of each unit.
    n_units : (G,) float
        Number of units each group holds in the whole design.
    scale : (G,) float
        Multiplier of the group's sum of squares: ``(1 - f) n / (n - 1)``
        (times ``n1/N1`` of the parent at stage 2); the lonely-PSU rule sets it.
    centre : (G,) bool
        Whether unit totals are centred at the group mean (``False`` only for
        lonely units under ``lonely_psu="adjust"``).
    factor : float
        Overall multiplier (1; kept for stages built by hand).
    averaged : (G,) bool, optional
        Lonely groups left out under ``lonely_psu="average"``: each domain's
        variance is multiplied by (groups holding domain rows) / (those of
        them not averaged), as R's ``onestage`` does on the domain's subset.
    unit_scale : (U,) float, optional
        A further multiplier per unit: ``1 - π_k`` of PPS units whose
        inclusion probabilities vary within the group (R's ``svyrecvar``
        with the probabilities as fpc, ``pps="brewer"``).  The sum of squares
        is then ``Σ_k unit_scale_k (Z_gk - Z̄_g)²`` (units without domain
        rows count as zeros, with their own multiplier).
    """

    unit: np.ndarray
    group: np.ndarray
    n_units: np.ndarray
    scale: np.ndarray
    centre: np.ndarray
    factor: float = 1.0
    fine_map: np.ndarray | None = None  # last-stage unit -> this stage's unit (None: identity)
    averaged: np.ndarray | None = None
    unit_scale: np.ndarray | None = None


def stage_variance(stage: Stage, z: np.ndarray, dom: np.ndarray, n_dom: int, rows=None) -> np.ndarray:
    """Between-unit variance of one stage for every domain and column.

    Implements Σ_g scale_g Σ_k (Z_gk - Z̄_g)² where ``Z_gk`` is the total of
    ``z`` over the rows of unit ``k`` that belong to the domain; units of the
    group without domain rows count as zero totals (standard domain
    estimation; Lohr 2022, sec. 4.3; Wolter 2007, ch. 1).

    Parameters
    ----------
    z : (r, J) linearised values of the rows in ``rows``.
    dom : (r,) domain code of those rows, in ``[0, n_dom)``.
    rows : (r,) index of those rows in the design, or None for all rows.

    Returns
    -------
    (n_dom, J) array of variances.
    """
    unit = stage.unit if rows is None else stage.unit[rows]
    return stage_variance_units(stage, unit, dom, n_dom, z)


def stage_variance_units(stage: Stage, unit: np.ndarray, dom: np.ndarray, n_dom: int, z: np.ndarray) -> np.ndarray:
    """:func:`stage_variance` from values already labelled with this stage's unit codes.

    ``z`` may hold rows or pre-summed (finer unit x domain) totals: the
    stage sums them to its own units first.
    """
    n_groups = stage.n_units.shape[0]
    n_unit_total = stage.group.shape[0]
    key = unit.astype(np.int64) * n_dom + dom
    if key.shape[0] and (key[1:] > key[:-1]).all():
        # one input row per (unit, domain) already, in order (unit totals of domains nested in units):
        # they are the totals (compact_codes would number them 0..K-1 and the sums would copy them)
        uniq, totals = key, z
    else:
        uniq, codes = compact_codes(key, n_unit_total * n_dom)
        totals = group_sum(codes, z, uniq.shape[0])  # (K, J) unit x domain totals
    k_unit = uniq // n_dom
    k_dom = uniq % n_dom
    k_group = stage.group[k_unit]
    gd = k_group * n_dom + k_dom
    gsum = group_summer(gd, n_groups * n_dom)
    s1 = gsum(totals)
    cnt = np.bincount(gd, minlength=n_groups * n_dom).astype(float)
    n_g = np.repeat(stage.n_units, n_dom)
    centre = np.repeat(stage.centre, n_dom)
    mean = np.where(centre[:, None], s1 / n_g[:, None], 0.0)
    dev = np.take(mean, gd, axis=0)  # deviations from the group mean, squared, in place (no further temporaries)
    np.subtract(totals, dev, out=dev)
    np.multiply(dev, dev, out=dev)
    if stage.unit_scale is None:
        ss = gsum(dev) + ((n_g - cnt)[:, None] * mean * mean)
    else:  # per-unit multipliers; the units without domain rows add theirs times the squared mean
        u = stage.unit_scale[k_unit]
        dev *= u[:, None]
        u_all = np.repeat(np.bincount(stage.group, weights=stage.unit_scale, minlength=n_groups), n_dom)
        u_present = np.bincount(gd, weights=u, minlength=n_groups * n_dom)
        ss = gsum(dev) + ((u_all - u_present)[:, None] * mean * mean)
    ss *= np.repeat(stage.scale, n_dom)[:, None]
    out = ss.reshape(n_groups, n_dom, -1).sum(axis=0) * stage.factor
    if stage.averaged is not None and stage.averaged.any():
        out = out * averaged_factor(stage.averaged, cnt.reshape(n_groups, n_dom) > 0)[:, None]
    return out


def averaged_factor(averaged: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``lonely_psu="average"``: (groups present) / (those of them not averaged), per column of ``present``.

    ``averaged`` (G,) marks the lonely groups left out; ``present`` (G,) or
    (G, D) the groups holding rows of the design (or of each domain), as
    R's ``onestage`` counts the strata of its (subset) design.  NaN where
    every present group is averaged.
    """
    n_all = present.sum(axis=0)
    n_kept = n_all - (present & averaged.reshape((-1,) + (1,) * (present.ndim - 1))).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_kept > 0, n_all / np.maximum(n_kept, 1), np.nan)


def taylor_variance(stages, z: np.ndarray, dom: np.ndarray, n_dom: int, rows=None) -> np.ndarray:
    """Sum of the stage variances (R's ``svyrecvar`` without calibration)."""
    out = stage_variance(stages[0], z, dom, n_dom, rows)
    for st in stages[1:]:
        out = out + stage_variance(st, z, dom, n_dom, rows)
    return out


def domain_sums(dom: np.ndarray, n_dom: int, values: np.ndarray) -> np.ndarray:
    """Column sums of ``values`` (r x m) within each domain: (n_dom, m)."""
    return group_sum(dom, values, n_dom)


def replicate_domain_totals(values: np.ndarray, dom: np.ndarray, n_dom: int, rep, rows=None) -> np.ndarray:
    """Replicate totals Σ_{i in d} rw_ir v_ij for every domain, column, replicate.

    ``rep`` is a :class:`analysis.replicate.ReplicateStructure`: either full
    replicate weights (n x R), or the compressed form ``w_i * A[u_i, r]``
    with one row of multipliers ``A`` per distinct pattern (typically per
    PSU), which turns the product into group sums plus a small matrix
    product.  Returns an (n_dom, J, R) array.
    """
    r_, j_ = values.shape
    if rep.patterns is not None:
        u = rep.pattern_of_row if rows is None else rep.pattern_of_row[rows]
        w = rep.weights if rows is None else rep.weights[rows]
        n_pat = rep.patterns.shape[0]
        uniq, codes = compact_codes(u.astype(np.int64) * n_dom + dom, n_pat * n_dom)
        tot = group_sum(codes, values * w[:, None], uniq.shape[0])  # (K, J)
        k = uniq.shape[0]
        k_dom = uniq % n_dom
        k_pat = uniq // n_dom
        rows_ = (k_dom[:, None] * j_ + np.arange(j_)).ravel()
        cols_ = np.repeat(np.arange(k), j_)
        s = sparse.csr_matrix((tot.ravel(), (rows_, cols_)), shape=(n_dom * j_, k))
        out = s @ rep.patterns[k_pat]
    else:
        rw = rep.full if rows is None else rep.full[rows]
        rows_ = (dom[:, None] * j_ + np.arange(j_)).ravel()
        cols_ = np.repeat(np.arange(r_), j_)
        s = sparse.csr_matrix((values.ravel(), (rows_, cols_)), shape=(n_dom * j_, r_))
        out = s @ rw
    return np.asarray(out).reshape(n_dom, j_, -1)


_BLAS = None
_BLAS_DEPTH = 0


@contextmanager
def one_blas_thread():
    """A context that runs BLAS/LAPACK on one thread.

    Used around the skinny products and small eigen-problems of replicate
    designs: they gain nothing from threads, and a multi-threaded OpenBLAS on
    a machine whose cores are busy spends far longer waiting than computing
    (measured: 2 s instead of 0.05 s for the W2 replicate totals).  Nested
    uses cost nothing: only the outermost one sets and restores the limit
    (each set-and-restore queries every loaded BLAS, about 0.4 ms).
    """
    global _BLAS, _BLAS_DEPTH
    if _BLAS_DEPTH:
        _BLAS_DEPTH += 1
        try:
            yield
        finally:
            _BLAS_DEPTH -= 1
        return
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        _BLAS_DEPTH = 1
        try:
            yield
        finally:
            _BLAS_DEPTH = 0


def domain_products(T: np.ndarray, dom: np.ndarray, n_dom: int, A: np.ndarray) -> np.ndarray:
    """``out[d] = T[dom == d].T @ A[dom == d]`` for every domain: (n_dom, J, R).

    Replicate totals of unit-level totals ``T`` (K x J) with the units'
    replicate multipliers ``A`` (K x R).  Units are sorted by domain once;
    each domain is then one dense matrix product (BLAS) over its contiguous
    block, so the work is ``2 K J R`` flops in all, whatever the number of
    domains (a sparse product does the same flops one element at a time, and
    a product with a domain-expanded ``T`` does ``n_dom`` times more).
    """
    K, J = T.shape
    out = np.zeros((n_dom, J, A.shape[1]))
    if K == 0:
        return out
    order = np.argsort(dom, kind="stable")
    if not np.array_equal(order, np.arange(K)):
        T, A, dom = T[order], A[order], dom[order]
    bounds = np.searchsorted(dom, np.arange(n_dom + 1))
    with one_blas_thread():
        for d in np.flatnonzero(np.diff(bounds)):  # one BLAS product per non-empty domain block
            b = slice(bounds[d], bounds[d + 1])
            np.matmul(T[b].T, A[b], out=out[d])
    return out


def domain_df(psu: np.ndarray, stratum: np.ndarray, n_psu: int, n_strata: int, dom: np.ndarray, n_dom: int) -> np.ndarray:
    """Design degrees of freedom of each domain, as R's ``degf`` of a subset.

    (distinct PSUs holding domain rows) - (distinct strata holding them).
    """
    key = psu.astype(np.int64) * n_dom + dom
    if not (key.shape[0] and (key[1:] > key[:-1]).all()):  # increasing keys (one unit per row, in order) are distinct
        key = compact_codes(key, n_psu * n_dom)[0]
    psu_present = np.bincount(key % n_dom, minlength=n_dom)
    str_present = np.bincount(
        compact_codes(stratum.astype(np.int64) * n_dom + dom, n_strata * n_dom)[0] % n_dom, minlength=n_dom
    )
    return (psu_present - str_present).astype(float)
