"""Replicate-weight multipliers from plain design vectors (R's ``jk1weights``, ``jknweights``,
``brrweights``, ``bootweights``, ``subbootweights``; successive-difference weights).

Each builder takes the stratum and PSU of every row (and the first-stage
population size where it matters) and returns a :class:`ReplicateWeights`:
one row of multipliers per PSU, the PSU of every row, and the variance
``scale`` and ``rscales`` R attaches.  The replicate weights of row ``i`` are
``w_i * multipliers[psu[i]]``.  Nothing here knows about design objects, so
:class:`~analysis.design.SurveyDesign` and :class:`~analysis.replicate.ReplicateDesign`
both use it without importing each other.

PSUs are numbered in order of first appearance, as R's ``unique(psu)``;
a PSU is a (stratum, PSU) pair, so PSU codes may repeat across strata.

References
----------
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 3-5.
Rao, J. N. K. and Wu, C. F. J. (1988). Resampling inference with complex
survey data. *JASA* 83, 231-241.
Fay, R. E. and Train, G. F. (1995). Aspects of survey and model-based
postcensal estimation of income and poverty characteristics for states and
counties. *Proc. Section on Government Statistics, ASA*, 154-159.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 2.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .hadamard import hadamard
from .validation import DesignError, check_replicate_count

__all__ = [
    "ReplicateWeights",
    "jk1_weights",
    "jkn_weights",
    "brr_weights",
    "boot_weights",
    "subboot_weights",
    "successive_difference_weights",
]


class ReplicateWeights(NamedTuple):
    """Replicate multipliers per PSU and the variance constants R attaches to them."""

    multipliers: np.ndarray  # (P, R): multiplier of PSU p in replicate r
    psu: np.ndarray  # (n,): PSU (row of ``multipliers``) of every data row
    scale: float
    rscales: np.ndarray  # (R,)
    type: str


class _PSUs(NamedTuple):
    row_psu: np.ndarray  # (n,) PSU of each row, numbered in order of first appearance
    stratum: np.ndarray  # (P,) stratum code of each PSU (codes in order of first appearance)
    stratum_labels: np.ndarray  # (H,) labels of the stratum codes
    n_h: np.ndarray  # (H,) PSUs per stratum
    first_row: np.ndarray  # (P,) first row of each PSU


def _psus(strata, psu) -> _PSUs:
    psu = np.asarray(psu)
    n = psu.shape[0]
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
    if strata.shape != (n,):
        raise DesignError(f"strata: expected one value per row ({n}), got shape {strata.shape}")
    s_code, s_lab = pd.factorize(pd.Series(strata), sort=False)
    p_code, _ = pd.factorize(pd.Series(psu), sort=False)
    if (s_code < 0).any() or (p_code < 0).any():
        raise DesignError("strata, psu: expected no missing values, got some")
    pair = s_code.astype(np.int64) * (int(p_code.max()) + 1) + p_code
    _, first_row, row_psu = np.unique(pair, return_index=True, return_inverse=True)
    order = np.argsort(first_row, kind="stable")  # renumber PSUs by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    row_psu = rank[row_psu.reshape(-1)]
    first_row = first_row[order]
    stratum = s_code[first_row].astype(np.int64)
    n_h = np.bincount(stratum, minlength=len(s_lab)).astype(float)
    return _PSUs(row_psu, stratum, np.asarray(s_lab), n_h, first_row)


def _popsize(fpc, psus: _PSUs, what: str) -> np.ndarray | None:
    """First-stage population size per stratum from a per-row vector (counts, or fractions <= 1)."""
    if fpc is None:
        return None
    f = np.asarray(fpc, dtype=float)
    if f.ndim == 0:
        f = np.full(psus.row_psu.shape[0], float(f))
    if f.shape != psus.row_psu.shape or not np.isfinite(f).all() or (f <= 0).any():
        raise DesignError(f"fpc: expected one positive population size (or fraction) per row, got {f.shape}")
    per_psu = f[psus.first_row]
    H = psus.n_h.shape[0]
    lo = np.full(H, np.inf)
    hi = np.full(H, -np.inf)
    np.minimum.at(lo, psus.stratum, per_psu)
    np.maximum.at(hi, psus.stratum, per_psu)
    if (hi > lo).any():
        h = int(np.flatnonzero(hi > lo)[0])
        raise DesignError(f"fpc: expected one value per stratum for {what}, got {lo[h]:g} and {hi[h]:g} in stratum "
                          f"{psus.stratum_labels[h]!r}")
    N = psus.n_h / lo if (lo <= 1).all() else lo
    if (N < psus.n_h).any():
        h = int(np.flatnonzero(N < psus.n_h)[0])
        raise DesignError(f"fpc: expected population size >= sample size, got {N[h]:g} < {psus.n_h[h]:g} PSUs "
                          f"in stratum {psus.stratum_labels[h]!r}")
    return N


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ---------------------------------------------------------------- jackknife
def jk1_weights(psu, fpc=None) -> ReplicateWeights:
    """Delete-one-PSU jackknife of an unstratified design (R's ``jk1weights``).

    Replicate ``k`` drops PSU ``k`` and multiplies the others by
    ``n/(n-1)``; ``scale = (1 - f)(n - 1)/n`` with ``f = n/N`` the first-stage
    sampling fraction (``f = 0`` without ``fpc``).
    """
    p = _psus(None, psu)
    P = p.first_row.shape[0]
    if P < 2:
        raise DesignError(f"psu: expected at least 2 PSUs for a jackknife, got {P}")
    N = _popsize(fpc, p, "JK1")
    f = 0.0 if N is None or np.isinf(N[0]) else P / N[0]
    A = np.full((P, P), P / (P - 1))
    np.fill_diagonal(A, 0.0)
    return ReplicateWeights(A, p.row_psu, (1 - f) * (P - 1) / P, np.ones(P), "JK1")


def jkn_weights(strata, psu, fpc=None, lonely_psu: str = "fail") -> ReplicateWeights:
    """Stratified delete-one-PSU jackknife (R's ``jknweights``).

    One replicate per PSU of each stratum with two or more PSUs, with
    ``rscales = (1 - f_h)(n_h - 1)/n_h``; strata sampled exhaustively
    (``f_h = 1``) give no replicates.  A stratum with one PSU follows
    ``lonely_psu`` as R does: ``adjust`` adds a replicate that drops it and
    scales the rest by ``H/(H-1)`` (rscale ``(H-1)/H``); ``average``
    multiplies ``scale`` by (PSUs)/(replicates); ``remove``/``certainty``
    give it no replicate; ``fail`` raises.  Replicates are in R's order:
    strata in order of first appearance, PSUs in order of first appearance
    within each (so the replicate-weight columns are R's, column for column).
    """
    p = _psus(strata, psu)
    P, H = p.first_row.shape[0], p.n_h.shape[0]
    N = _popsize(fpc, p, "JKn")
    f1 = np.ones(H) if N is None else np.where(np.isinf(N), 1.0, 1.0 - p.n_h / N)
    lonely = (p.n_h == 1) & (f1 > 0)
    if lonely.any() and lonely_psu == "fail":
        raise DesignError(f"lonely_psu: expected at least two PSUs in every stratum with lonely_psu='fail', got one "
                          f"PSU in stratum(s) {p.stratum_labels[lonely][:10].tolist()}")
    keep = (p.n_h > 1) & (f1 > 0)
    # R's column order: strata in order of first appearance, each stratum's PSUs in order of first
    # appearance (a lonely stratum's "adjust" replicate in its stratum's place)
    reps = np.flatnonzero(keep[p.stratum])
    reps = reps[np.argsort(p.stratum[reps], kind="stable")]
    nh = p.n_h[p.stratum]
    A = np.where(p.stratum[:, None] == p.stratum[reps][None, :], (nh / np.maximum(nh - 1, 1))[:, None], 1.0)
    A[reps, np.arange(reps.shape[0])] = 0.0
    rscales = (f1 * (p.n_h - 1) / p.n_h)[p.stratum[reps]]
    scale = 1.0
    if lonely.any() and lonely_psu == "adjust":
        lone = np.flatnonzero(lonely)
        extra = np.where(p.stratum[:, None] == lone[None, :], 0.0, H / (H - 1))
        col_stratum = np.concatenate([p.stratum[reps], lone])
        order = np.argsort(col_stratum, kind="stable")
        A = np.hstack([A, extra])[:, order]
        rscales = np.concatenate([rscales, np.full(lone.shape[0], (H - 1) / H)])[order]
    elif lonely.any() and lonely_psu == "average":
        scale = P / reps.shape[0]
    if A.shape[1] == 0:
        raise DesignError("fpc: expected at least one stratum not sampled exhaustively, got the whole population")
    return ReplicateWeights(A, p.row_psu, float(scale), rscales, "JKn")


# ---------------------------------------------------------------------- BRR
def brr_weights(strata, psu, fay_rho: float = 0.0) -> ReplicateWeights:
    """Balanced repeated replication and Fay's method (R's ``brrweights``).

    Every stratum must hold two PSUs.  Strata are numbered in sorted order
    of their labels (as text, as R's ``as.character``) and PSUs within a
    stratum by first appearance; stratum ``h`` takes row ``h + 1`` of
    R's Hadamard matrix (:func:`analysis.hadamard.hadamard`): where it is 1
    the stratum's first PSU gets ``2 - rho`` and the second ``rho``, where
    0 the reverse.  ``scale = 1/(R (1 - rho)^2)``.  The weights are those of
    R's ``as.svrepdesign(type="BRR" | "Fay")``.
    """
    p = _psus(strata, psu)
    if not (p.n_h == 2).all():
        bad = p.stratum_labels[p.n_h != 2][:5].tolist()
        raise DesignError(f"type: expected exactly 2 PSUs in every stratum for BRR/Fay, got strata {bad} "
                          f"with {sorted(set(p.n_h[p.n_h != 2].astype(int).tolist()))} PSU(s)")
    rho = float(fay_rho)
    if not 0 <= rho < 1:
        raise DesignError(f"fay_rho: expected a number in [0, 1), got {fay_rho!r}")
    H = p.n_h.shape[0]
    labels = np.array([str(s) for s in p.stratum_labels])
    s_rank = np.empty(H, dtype=np.int64)
    s_rank[np.argsort(labels, kind="stable")] = np.arange(H)  # stratum h (0-based) in sorted label order
    Hm = hadamard(H)
    P = p.first_row.shape[0]
    order = np.lexsort((p.first_row, s_rank[p.stratum]))
    second = np.zeros(P, dtype=bool)
    second[order[1::2]] = True  # the second PSU of each stratum (by first appearance)
    sign = Hm[1 + s_rank[p.stratum]]  # (P, R) 0/1
    up = np.where(second[:, None], sign == 0, sign == 1)
    A = np.where(up, 2.0 - rho, rho)
    R = Hm.shape[1]
    return ReplicateWeights(A, p.row_psu, 1.0 / (R * (1 - rho) ** 2), np.ones(R), "Fay" if rho else "BRR")


# ---------------------------------------------------------------- bootstrap
def boot_weights(strata, psu, replicates: int = 50, fpc=None, seed=None) -> ReplicateWeights:
    """Rao-Wu rescaled bootstrap with R's finite population correction (R's ``bootweights``).

    In each stratum, ``n_h`` PSUs are drawn per replicate; the multiplier
    of a PSU is the number of times it is drawn.  Without an fpc the draw
    is with replacement (Rao & Wu 1988).  With a population size ``N_h`` it
    is without replacement from a pseudo-population of ``N_h`` units made by
    repeating the stratum's PSUs (in a random order, shared by all
    replicates) cyclically, as R's ``bootstratum`` does: a multivariate
    hypergeometric draw.  ``scale = n̄/((n̄ - 1)(R - 1))`` with ``n̄`` the
    harmonic mean of PSUs per stratum.
    """
    R = check_replicate_count(replicates)
    p = _psus(strata, psu)
    N = _popsize(fpc, p, "bootstrap")
    rng = _rng(seed)
    P = p.first_row.shape[0]
    A = np.zeros((P, R))
    for h in range(p.n_h.shape[0]):  # a loop over strata only; PSUs and replicates are drawn at once
        idx = np.flatnonzero(p.stratum == h)
        k = idx.shape[0]
        if N is None or np.isinf(N[h]):
            A[idx] = rng.multinomial(k, np.full(k, 1.0 / k), size=R).T
        else:
            perm = rng.permutation(k)
            Nh = int(N[h])  # R: rep(psus, length = N) truncates a fractional size
            copies = np.full(k, Nh // k, dtype=np.int64)
            copies[perm[: Nh % k]] += 1  # the first N mod n PSUs of the shuffled order get one more copy
            if Nh < 10 ** 8:
                A[idx] = rng.multivariate_hypergeometric(copies, k, size=R).T
            else:  # a fraction below 1e-6: the draw without replacement is a draw with replacement
                A[idx] = rng.multinomial(k, copies / copies.sum(), size=R).T
    nbar = 1.0 / np.mean(1.0 / p.n_h)
    with np.errstate(divide="ignore"):
        scale = nbar / ((nbar - 1) * (R - 1))
    if not np.isfinite(scale):
        raise DesignError("psu: expected more than one PSU per stratum on (harmonic) average for the bootstrap, "
                          "got one in every stratum")
    return ReplicateWeights(A, p.row_psu, float(scale), np.ones(R), "bootstrap")


def subboot_weights(strata, psu, replicates: int = 50, seed=None) -> ReplicateWeights:
    """Rao-Wu bootstrap drawing ``n_h - 1`` PSUs with replacement (R's ``subbootweights``).

    The multiplier is ``count * n_h/(n_h - 1)``; ``scale = 1/(R - 1)``.
    """
    R = check_replicate_count(replicates)
    p = _psus(strata, psu)
    if (p.n_h < 2).any():
        bad = p.stratum_labels[p.n_h < 2][:5].tolist()
        raise DesignError(f"strata: expected at least 2 PSUs in every stratum for the subbootstrap, got one in {bad}")
    rng = _rng(seed)
    A = np.zeros((p.first_row.shape[0], R))
    for h in range(p.n_h.shape[0]):
        idx = np.flatnonzero(p.stratum == h)
        k = idx.shape[0]
        A[idx] = rng.multinomial(k - 1, np.full(k, 1.0 / k), size=R).T * (k / (k - 1))
    return ReplicateWeights(A, p.row_psu, 1.0 / (R - 1), np.ones(R), "subbootstrap")


# ------------------------------------------------------ successive difference
def successive_difference_weights(order, replicates: int | None = None) -> ReplicateWeights:
    """Successive-difference replication (Fay & Train 1995), as the ACS uses it.

    Units (PSUs, or rows) are taken in the sort order ``order`` (the order
    of the systematic sample).  Unit ``i`` (0-based) is assigned rows
    ``a = i mod (R - 1) + 1`` and ``b = (i + 1) mod (R - 1) + 1`` of a Hadamard
    matrix of order ``R`` (R's :func:`~analysis.hadamard.hadamard`, ±1), and
    its multiplier in replicate ``r`` is ``1 + 2^{-3/2} (h_{a r} - h_{b r})``,
    i.e. 1, 1 ± 1/√2.  The variance is ``4/R Σ_r (θ_r - θ)²`` (R's
    ``svrepdesign(type="successive-difference")``, scale ``4/R``, centred at
    the full-sample estimate).

    Parameters
    ----------
    order : array_like, shape (n,)
        Position of each row's unit in the systematic (sort) order; rows
        with the same value belong to one unit.
    replicates : int, optional
        Number of replicates: the order of a Hadamard matrix; the default
        is the smallest R's ``hadamard`` gives above the number of units + 1
        (at most 80, the ACS's number, when there are more units).
    """
    p = _psus(None, order)
    u_codes, inv = np.unique(np.asarray(order)[p.first_row], return_inverse=True)
    pos = inv.reshape(-1)  # sort position of each unit
    U = u_codes.shape[0]
    if replicates is None:
        Hm = hadamard(min(U + 1, 79))
    else:
        R_ = check_replicate_count(replicates)
        Hm = hadamard(R_ - 1)
        if Hm.shape[0] != R_:
            raise DesignError(f"replicates: expected the order of a Hadamard matrix R's hadamard() builds, got {R_} "
                              f"(nearest: {Hm.shape[0]})")
    R = Hm.shape[0]
    S = np.where(Hm > 0, 1.0, -1.0)
    a = pos % (R - 1) + 1
    b = (pos + 1) % (R - 1) + 1
    A = 1.0 + 2 ** -1.5 * (S[a] - S[b])
    return ReplicateWeights(A, p.row_psu, 4.0 / R, np.ones(R), "successive-difference")
