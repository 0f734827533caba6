"""Replicate-weight designs (R's ``svrepdesign`` and ``as.svrepdesign``)."""
from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from . import kernel
from .association import AssociationMethods
from .estimators import DesignBase
from .models import ModelMethods
from .results import Estimate
from .validation import (
    DesignError,
    EstimationError,
    check_level,
    as_column_list,
    check_choice,
    check_columns,
    check_positive,
    check_replicate_count,
    check_rscales,
)

from .hadamard import hadamard  # noqa: F401  (re-exported: R's Hadamard matrices)

__all__ = ["ReplicateDesign", "to_replicate", "hadamard", "REPLICATE_TYPES", "ReplicateStructure", "replicate_df"]

REPLICATE_TYPES = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap", "successive-difference", "ACS", "SDR",
                   "JK2", "other")
_SDR_TYPES = ("successive-difference", "ACS", "SDR")


@dataclass(frozen=True)
class ReplicateStructure:
    """Replicate weights, compressed where rows share a multiplier pattern.

    ``full`` is the (n x R) matrix of replicate weights, or ``None`` when
    the weights factor as ``weights[i] * patterns[pattern_of_row[i], r]``
    (as for replicates built from PSUs), which is far smaller and lets the
    replicate totals be computed as group sums and a small matrix product.
    """

    weights: np.ndarray
    full: Optional[np.ndarray]
    patterns: Optional[np.ndarray]
    pattern_of_row: Optional[np.ndarray]

    @property
    def n_replicates(self) -> int:
        return (self.full if self.full is not None else self.patterns).shape[1]

    def matrix(self) -> np.ndarray:
        """The full (n x R) replicate-weight matrix."""
        if self.full is not None:
            return self.full
        return self.weights[:, None] * self.patterns[self.pattern_of_row]

    @classmethod
    def from_full(cls, weights: np.ndarray, rw: np.ndarray) -> "ReplicateStructure":
        """Detect a shared multiplier pattern per group of rows, else keep the full matrix.

        Rows are grouped by one number per row, ``(rw_i · probe)/w_i`` for a
        fixed random probe, kept to about 9 significant digits (replicate
        files are often stored rounded); the compressed form is used only if
        it reproduces every replicate weight to 1e-10 relative, checked a
        block of rows at a time (:func:`_reproduces`).
        """
        n, R = rw.shape
        probe = np.random.default_rng(0).standard_normal(R)  # fixed probe: deterministic grouping
        pos = weights > 0
        with kernel.one_blas_thread():  # a matrix-vector product: threads gain nothing and keep spinning after it
            key = rw @ probe
        with np.errstate(divide="ignore", invalid="ignore"):
            key = np.where(pos, key / weights, 0.0)
        mant, expo = np.frexp(key)
        key = np.ldexp(np.round(mant * 2.0 ** 30), expo)  # ~9 significant digits
        uniq, first, codes = np.unique(key, return_index=True, return_inverse=True)
        codes = codes.reshape(-1)
        if uniq.shape[0] > n // 2:
            return cls(weights, rw, None, None)
        # Work along the matrix's memory order: replicate columns read from a DataFrame's float block
        # arrive column-major (rw.T is C-ordered), where gathering or comparing whole rows strides
        # across the full matrix for every element.
        colmajor = rw.flags.f_contiguous and not rw.flags.c_contiguous
        with np.errstate(divide="ignore", invalid="ignore"):
            rows_first = np.ascontiguousarray(rw.T[:, first].T) if colmajor else rw[first]
            pats = np.where(pos[first][:, None], rows_first / weights[first][:, None], 0.0)
        if not _reproduces(weights, rw, pats, codes, colmajor):
            return cls(weights, rw, None, None)
        return cls(weights, None, pats, codes)


def _reproduces(weights, rw, pats, codes, colmajor: bool, elements: int = 1 << 16) -> bool:
    """Whether ``|w_i pats[codes_i] - rw_i| <= 1e-10 |rw_i| + 1e-300`` for every entry.

    Checked a tile at a time in preallocated buffers small enough to stay
    in cache (no (n x R) temporaries, no allocation per tile), in the memory
    order of ``rw``: blocks of whole rows, or (``colmajor``) tiles of 16
    replicate columns by a few thousand rows, each column's stretch
    contiguous.
    """
    n, R = rw.shape
    if colmajor:
        src, table = rw.T, np.ascontiguousarray(pats.T)  # (R, n) and (R, P), both C-ordered
        rstep = min(R, 16)
        block = max(1, elements // rstep)
        shape = (rstep, min(block, n))
    else:
        src, table = rw, pats
        rstep = R
        block = max(1, elements // max(R, 1))
        shape = (min(block, n), R)
    fit, tol, ok = np.empty(shape), np.empty(shape), np.empty(shape, dtype=bool)
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        cb, wb = codes[b0:b1], weights[b0:b1]
        for r0 in range(0, R, rstep):
            r1 = min(R, r0 + rstep)
            if colmajor:
                f, t, o, r = fit[: r1 - r0, : b1 - b0], tol[: r1 - r0, : b1 - b0], ok[: r1 - r0, : b1 - b0], \
                    src[r0:r1, b0:b1]
                np.take(table[r0:r1], cb, axis=1, out=f)
                f *= wb
            else:
                f, t, o, r = fit[: b1 - b0], tol[: b1 - b0], ok[: b1 - b0], src[b0:b1]
                np.take(table, cb, axis=0, out=f)
                f *= wb[:, None]
            np.subtract(f, r, out=f)
            np.abs(f, out=f)
            np.abs(r, out=t)
            t *= 1e-10
            t += 1e-300
            np.less_equal(f, t, out=o)
            if not o.all():
                return False
    return True


def _distinct_rows(m: np.ndarray) -> np.ndarray:
    """The distinct rows of ``m`` (exactly), found by hashing each row to one number first."""
    if m.shape[0] <= 1:
        return m
    probe = np.random.default_rng(0).standard_normal(m.shape[1])  # fixed probe: deterministic
    with kernel.one_blas_thread():
        key = m @ probe
    _, first, codes = np.unique(key, return_index=True, return_inverse=True)
    reps = m[first]
    if np.array_equal(reps[codes.reshape(-1)], m):
        return reps
    return np.unique(m, axis=0)  # a hash collision (never seen): sort the rows instead


def replicate_df(rep: ReplicateStructure, weights: np.ndarray, tol: float = 1e-5) -> float:
    """Design df of replicate weights: their rank minus one, as R's ``degf`` (QR, ``tol=1e-5``).

    The rank of the (n x R) replicate weights of the rows with a positive
    weight equals the rank of their distinct multiplier rows (a row's
    weight only scales it; a repeated row adds no rank), so the pivoted QR
    runs on those: one row per PSU pattern instead of one per household.
    """
    pos = weights > 0
    if rep.full is None:
        m = rep.patterns[np.unique(rep.pattern_of_row[pos])]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            m = _distinct_rows(rep.full[pos] / weights[pos][:, None])
    return float(matrix_rank(m, tol) - 1)


def _gram_rank(m: np.ndarray, tol: float) -> int:
    """Rank from the smaller cross-product of ``m`` (its eigenvalues are the squared singular values).

    The rank ``k`` is first certified cheaply, without the eigenvalues of
    the cross-product ``G`` (n x n).  Full rank: if the Cholesky factor ``L``
    of ``G`` exists and ``||G||_F ||L^-1||_F^2 < tol^-2``, then
    ``λ_max/λ_min < tol^-2`` (``λ_max <= ||G||_F``, ``1/λ_min <= ||L^-1||_F^2``),
    so every singular value exceeds ``tol`` times the largest.  Otherwise a
    pivoted Cholesky factorisation ``P'GP = L L' + [0 0; 0 S]`` stopped at
    step ``k``, once every remaining pivot (diagonal of ``S``) is at most
    ``tol^2 max(diag G) / n``, certifies rank ``k`` when
    ``||G||_F ||L11^-1||_F^2 < tol^-2``: then ``λ_k(G) >= λ_min(L11 L11') >
    tol^2 λ_max`` (interlacing) and ``λ_(k+1)(G) <= λ_max(S) <= trace(S) <=
    tol^2 max(diag G) <= tol^2 λ_max`` (Weyl).  This is the typical case of
    replicate weights whose rows are dependent by construction (bootstrap
    counts sum to the stratum's PSU count: a domain holding two strata has
    rank one less than its PSUs).  Only when neither certificate holds are
    the eigenvalues computed.
    """
    g = m @ m.T if m.shape[0] < m.shape[1] else m.T @ m
    k = g.shape[0]
    c, info = lapack.dpotrf(g, lower=1)
    if info == 0:
        inv, info2 = lapack.dtrtri(c, lower=1)
        # dpotrf zeroes the upper triangle (clean=1) and dtrtri leaves it as it is: ``inv`` is lower triangular
        if info2 == 0 and np.linalg.norm(g) * float(np.einsum("ij,ij->", inv, inv)) < tol ** -2:
            return k
    top_low = float(g.diagonal().max()) if k else 0.0  # a lower bound of λ_max
    if top_low > 0:
        c, _, r, info = lapack.dpstrf(g, tol=tol * tol * top_low / k, lower=1)
        if info >= 0 and 0 < r < k:
            inv, info2 = lapack.dtrtri(np.tril(c[:r, :r]), lower=1)
            if info2 == 0 and np.linalg.norm(g) * float(np.einsum("ij,ij->", inv, inv)) < tol ** -2:
                return int(r)
    ev = np.linalg.eigvalsh(g)
    top = ev.max() if ev.size else 0.0
    return int((ev > tol * tol * top).sum()) if top > 0 else 0


def matrix_rank(m: np.ndarray, tol: float = 1e-5) -> int:
    """Rank of ``m``: singular values above ``tol`` times the largest, as R's ``qr(m, tol)$rank``.

    The singular values come from the smaller cross-product of ``m`` (no
    factorisation of the tall matrix).  For a matrix with many more rows
    than columns, the rank of its first ``2 R`` rows is computed first: a
    lower bound that, when it equals the number of columns, is the rank
    (adding rows cannot lower it).
    """
    n_rows, n_cols = m.shape
    if n_rows == 0 or n_cols == 0:
        return 0
    with kernel.one_blas_thread():
        if n_rows > 2 * n_cols and _gram_rank(m[: 2 * n_cols], tol) == n_cols:
            return n_cols
        return _gram_rank(m, tol)


def domain_ranks(mult: np.ndarray, dom: np.ndarray, n_dom: int, distinct: bool = True, tol: float = 1e-5) -> np.ndarray:
    """Rank of the rows of ``mult`` in each domain (:func:`matrix_rank` of the domain's distinct rows).

    Rows with a non-finite multiplier (zero weights) carry no replicate weight and are dropped.
    """
    ok = np.isfinite(mult).all(axis=1)
    order = np.argsort(dom, kind="stable")
    order = order[ok[order]]
    bounds = np.searchsorted(dom[order], np.arange(n_dom + 1))
    out = np.zeros(n_dom)
    with kernel.one_blas_thread():
        for d in range(n_dom):  # one small factorisation per domain; cached by the caller
            m = mult[order[bounds[d]:bounds[d + 1]]]
            out[d] = matrix_rank(_distinct_rows(m) if distinct else m, tol)
    return out


def _scale_defaults(type_, R, scale, rscales, fay_rho):
    if type_ == "Fay" and fay_rho is None:
        raise DesignError("fay_rho: expected the Fay coefficient rho in [0, 1) for type='Fay', got None")
    if fay_rho is not None and not (0 <= float(fay_rho) < 1):
        raise DesignError(f"fay_rho: expected a number in [0, 1), got {fay_rho!r}")
    if type_ in _SDR_TYPES:
        if scale is not None or rscales is not None:
            raise DesignError(f"scale: expected no scale or rscales for type={type_!r} (R fixes them: 4/R, 1), "
                              f"got scale={scale!r}")
        scale = 4.0 / R
    elif scale is not None:
        scale = check_positive(scale, "scale")
    elif type_ == "BRR":
        scale = 1.0 / R
    elif type_ == "Fay":
        scale = 1.0 / (R * (1 - fay_rho) ** 2)
    elif type_ in ("bootstrap", "subbootstrap"):
        scale = 1.0 / (R - 1)
    elif type_ == "JK1":
        scale = (R - 1) / R
    if type_ == "JKn" and rscales is None:
        raise DesignError("rscales: expected the per-replicate (n_h - 1)/n_h factors for type='JKn', got None")
    if scale is None:
        scale = 1.0
    rscales = np.ones(R) if rscales is None else check_rscales(rscales, R)
    return float(scale), rscales


class ReplicateDesign(ModelMethods, AssociationMethods, DesignBase):
    """A design analysed with replicate weights (R's ``svrepdesign``).

    Parameters
    ----------
    data : DataFrame
    weights : str
        Full-sample weight column.
    replicate_weights : list of str, or (n, R) array
        Replicate-weight columns (or matrix).
    type : {"JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap", "successive-difference", "ACS", "SDR", "JK2", "other"}
        Replication method; sets the default ``scale`` as R's
        ``svrepdesign`` does: BRR ``1/R``; Fay ``1/(R (1-rho)^2)``;
        bootstrap and subbootstrap ``1/(R-1)``; JK1 ``(R-1)/R``; JKn needs
        ``rscales``; successive difference (``"ACS"``, ``"SDR"`` are
        aliases) ``4/R`` and no other scale; JK2 and other ``1``.
    scale, rscales : float, array_like, optional
        The variance is ``scale * Σ_r rscales_r (θ_r - θ̄)²``.
    mse : bool
        Centre at the full-sample estimate instead of the replicate mean.
    combined_weights : bool
        Whether replicate columns already include the sampling weights
        (default) or are multipliers of them.
    fay_rho : float, optional
        Fay's rho for ``type="Fay"``.

    Notes
    -----
    Degrees of freedom are R's: rank of the replicate weights minus one
    (QR with tolerance 1e-5), for the whole design and its domains alike.
    After calibration the rank is taken again from the calibrated
    replicate weights, as R's ``postStratify``, ``rake`` and linear
    ``calibrate`` do; R's raking, logit and bounded ``calibrate`` keep the
    design's previous ``degf`` (survey 4.1-1), so its whole-design df can
    differ there (its domains' df agree).
    Domains are estimated by zeroing out-of-domain rows in every replicate.
    Design effects compare with simple random sampling of the rows of
    positive weight, as for Taylor designs; R's replicate designs count
    every row, zero weights included.

    References
    ----------
    Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 3-5.
    Rust, K. F. and Rao, J. N. K. (1996). Variance estimation for complex
    surveys using replication techniques. *SMMR* 5, 283-310.
    """

    def __init__(self, data: pd.DataFrame, weights: str, replicate_weights, type: str = "other",
                 scale: float | None = None, rscales=None, mse: bool = False, combined_weights: bool = True,
                 fay_rho: float | None = None, degf: float | None = None):
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data: expected a pandas DataFrame, got {type(data).__name__}")
        check_choice(type, REPLICATE_TYPES, "type")
        check_columns(data, [weights], "weights")
        w = data[weights]
        if not pd.api.types.is_numeric_dtype(w.dtype):
            raise DesignError(f"weights: expected a numeric column, got column {weights!r} of dtype {w.dtype}")
        w = w.to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(w).any() or (w < 0).any():
            bad = w[np.isnan(w) | (w < 0)][0]
            raise DesignError(f"weights: expected non-negative, non-missing weights, got {float(bad)!r} in {weights!r}")
        if isinstance(replicate_weights, np.ndarray):
            rw = np.asarray(replicate_weights, dtype=float)
        else:
            cols = as_column_list(replicate_weights, "replicate_weights")
            if not cols:
                raise DesignError("replicate_weights: expected at least one column, got none")
            check_columns(data, cols, "replicate_weights")
            rw = data[cols].to_numpy(dtype=float, na_value=np.nan)
        if rw.ndim != 2 or rw.shape[0] != len(data):
            raise DesignError(f"replicate_weights: expected an array of shape ({len(data)}, R), got {rw.shape}")
        if np.isnan(rw).any():
            raise DesignError("replicate_weights: expected no missing values, got some")
        if not combined_weights:
            rw = rw * w[:, None]
        R = check_replicate_count(rw.shape[1], "replicate_weights (number of columns)")
        scale, rscales = _scale_defaults(type, R, scale, rscales, fay_rho)
        self._init(data, w, ReplicateStructure.from_full(w, rw), type, scale, rscales, mse, fay_rho, degf)

    def _init(self, data, w, rep, type_, scale, rscales, mse, fay_rho, degf):
        self._data = data.copy(deep=False)  # copy-on-write snapshot
        w = np.array(w, dtype=float)
        w.setflags(write=False)
        self._w = w
        self._rep = rep
        self.type = type_
        self.scale = scale
        self.rscales = rscales
        self.mse = bool(mse)
        self.fay_rho = fay_rho
        self.weighting_report = None
        self._degf_given = degf

    @classmethod
    def _from_structure(cls, data, weights, rep, type_, scale, rscales, mse=False, fay_rho=None, degf=None):
        self = object.__new__(cls)
        self._init(data, weights, rep, type_, scale, rscales, mse, fay_rho, degf)
        return self

    # ------------------------------------------------------------------ info
    @property
    def replicate_weights(self) -> np.ndarray:
        """Full replicate weights (n x R)."""
        return self._rep.matrix()

    @property
    def n_replicates(self) -> int:
        return self._rep.n_replicates

    @property
    def degf(self) -> float:
        """Rank of the replicate weights minus one, as R's ``degf`` (QR, tol 1e-5)."""
        if self._degf_given is not None:
            return float(self._degf_given)
        cache = self._cache("weighted", "degf")
        if "degf" not in cache:
            cache["degf"] = replicate_df(self._rep, self._w)
        return cache["degf"]

    def __repr__(self) -> str:
        return (f"<ReplicateDesign: {self.n} rows, {self.n_replicates} {self.type} replicates, "
                f"scale={self.scale:.6g}, df={self.degf:g}>")

    def _state_key(self) -> tuple:
        return (self._data, self._w, self._rep)

    def _reweighted(self, new, calibration, replicate_weights) -> None:
        if calibration is not None:
            raise DesignError("calibration: expected None for a replicate design (its replicate weights carry the "
                              "calibration), got a calibration step")
        w = new._w
        if replicate_weights is None:  # keep each row's replicate multipliers
            if self._rep.full is None:
                new._rep = ReplicateStructure(w, None, self._rep.patterns, self._rep.pattern_of_row)
                return
            old = self._w
            bad = (old == 0) & (w > 0)
            if bad.any():
                raise DesignError(f"replicate_weights: expected new replicate weights where a zero weight becomes "
                                  f"positive (no multiplier to keep), got none (first at row {int(np.flatnonzero(bad)[0])})")
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(old > 0, w / old, 0.0)
            rw = self._rep.full * ratio[:, None]
        else:
            rw = np.asarray(replicate_weights, dtype=float)
            if rw.shape != (self.n, self.n_replicates):
                raise DesignError(f"replicate_weights: expected shape {(self.n, self.n_replicates)}, got {rw.shape}")
            if not np.isfinite(rw).all():
                raise DesignError("replicate_weights: expected finite values, got missing or infinite ones")
        new._rep = ReplicateStructure.from_full(w, rw)

    # ------------------------------------------------------------ any statistic
    def with_replicates(self, fn: Callable[[np.ndarray, pd.DataFrame], object], names: Sequence[str] | None = None,
                        level: float = 0.95) -> Estimate:
        """Any statistic of the weights and data, with its replicate SE (R's ``withReplicates``).

        ``fn(weights, data)`` returns a number or a 1-d array of numbers; it
        is called once with the full-sample weights and once with each
        column of replicate weights (R's ``theta(.weights, .data)``).  The
        variance is ``scale Σ_r rscales_r (θ_r - θ̄)²`` (about ``θ`` with
        ``mse=True``), as for every estimator of this design; the interval
        is a t interval on the design's df.

        Parameters
        ----------
        fn : callable
            ``fn(weights: ndarray (n,), data: DataFrame) -> float | array``.
        names : list of str, optional
            Names of the entries of the statistic (default ``theta1, ...``).
        level : float
            Confidence level.

        Returns
        -------
        Estimate
            ``statistic="with_replicates"``; ``n`` and ``weighted_n`` are those of the design.
        """
        level = check_level(level)
        if not callable(fn):
            raise EstimationError(f"fn: expected a function fn(weights, data), got {builtins.type(fn).__name__}")
        theta = np.atleast_1d(np.asarray(fn(self.weights, self.data), dtype=float))
        if theta.ndim != 1:
            raise EstimationError(f"fn: expected a number or a 1-d array, got shape {theta.shape}")
        rw = self.replicate_weights
        # one call per replicate: the statistic is an arbitrary function of the weights
        reps = np.empty((theta.shape[0], rw.shape[1]))
        for r in range(rw.shape[1]):
            v = np.atleast_1d(np.asarray(fn(rw[:, r], self.data), dtype=float))
            if v.shape != theta.shape:
                raise EstimationError(f"fn: expected the same shape {theta.shape} on every replicate, got {v.shape} "
                                      f"on replicate {r}")
            reps[:, r] = v
        var = self._replicate_variance(reps, theta)
        J = theta.shape[0]
        names = [f"theta{j + 1}" for j in range(J)] if names is None else list(names)
        if len(names) != J:
            raise EstimationError(f"names: expected {J} names, got {len(names)}")
        full = lambda v: np.full(J, float(v))  # noqa: E731
        return Estimate(statistic="with_replicates", variable=np.asarray(names, dtype=object),
                        level=np.full(J, None, dtype=object), domain=pd.DataFrame(index=range(J)),
                        estimate=theta, se=np.sqrt(var), df=full(self.degf), deff=full(np.nan), n=full(self.n),
                        n_eff=full(np.nan), weighted_n=full(self.weights.sum()), n_rows=full(self.n),
                        ci_method="t", ci_kind="mean", conf_level=level)

    # ----------------------------------------------------------------- hooks
    def _domain_df_units(self, k_unit, k_dom, n_dom, row_level, rows):
        """Each domain's df as R's ``degf`` of the domain's subset: rank of its replicate weights - 1.

        (R's ``svyby`` on a replicate design subsets it, and the subset's
        ``degf`` is the rank of the replicate weights of the domain rows.)
        A user-given ``degf`` applies to every domain.  Cached per domain
        structure.
        """
        if self._degf_given is not None:
            return np.full(n_dom, float(self._degf_given))
        cache = self._cache("weighted", "domain_df")
        key = hashlib.blake2b(np.ascontiguousarray(k_unit).tobytes() + b"|" + np.ascontiguousarray(k_dom).tobytes()
                              + bytes([row_level, rows is None]), digest_size=16).digest()
        if key not in cache:
            if len(cache) > 16:
                cache.clear()
            if self._rep.patterns is not None and not row_level:
                mult = self._rep.patterns[k_unit]  # one row per (pattern, domain): distinct within a domain
                distinct = False
            else:
                r = k_unit if rows is None else np.asarray(rows)[k_unit]
                if self._rep.full is None:  # rows' multiplier patterns (no n x R matrix)
                    mult = self._rep.patterns[self._rep.pattern_of_row[r]]
                else:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        mult = self._rep.full[r] / self._w[r][:, None]
                distinct = True
            cache[key] = domain_ranks(mult, k_dom, n_dom, distinct) - 1.0
        return cache[key]

    def _rounding_factor(self) -> float:
        # scale Σ_r rscales_r (θ_r - θ̄)², each θ_r a ratio of replicate totals: multipliers up to A
        a = float(np.abs(self._rep.patterns).max()) if self._rep.patterns is not None and self._rep.patterns.size else 1.0
        return 4.0 * self.scale * float(np.abs(self.rscales).sum()) * max(1.0, a) ** 2

    def _agg_units(self):
        if self._rep.patterns is None:
            return None
        return self._rep.pattern_of_row, self._rep.patterns.shape[0]

    def _unit_variance(self, k_unit, k_dom, TY, TX, est, xhat, n_dom, coef, extra=None):
        """Replicate estimates from (pattern x domain) totals: Σ_k T_k A[u_k, r] per domain."""
        order = np.argsort(k_dom, kind="stable")  # units sorted by domain once, for both products
        A = self._rep.patterns[k_unit[order]]  # (K, R)
        k_dom = k_dom[order]

        def rep_totals(T):
            return kernel.domain_products(np.ascontiguousarray(T[order]), k_dom, n_dom, A)

        ry = rep_totals(TY)
        if TX is None:
            theta = ry
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                theta = ry / rep_totals(TX)
        if coef is not None:
            est = np.tensordot(coef, est, axes=(0, 0))[None]
            theta = np.tensordot(coef, theta, axes=(0, 0))[None]
            return self._replicate_variance(theta, est)[0]
        self._transformed_variances(theta, est, extra)
        return self._replicate_variance(theta, est)

    def _ratio_core(self, Y, X, dom, n_dom, rows, coef=None, extra=None):
        w = self._w[rows]
        yhat = kernel.domain_sums(dom, n_dom, Y * w[:, None])
        ry = kernel.replicate_domain_totals(Y, dom, n_dom, self._rep, rows)  # (D, J, R)
        if X is None:
            est, xhat, theta = yhat, None, ry
        else:
            xhat = kernel.domain_sums(dom, n_dom, X * w[:, None])
            rx = kernel.replicate_domain_totals(X, dom, n_dom, self._rep, rows)
            with np.errstate(invalid="ignore", divide="ignore"):
                est = yhat / xhat
                theta = ry / rx
        if coef is not None:
            est = np.tensordot(coef, est, axes=(0, 0))[None]
            theta = np.tensordot(coef, theta, axes=(0, 0))[None]
        var = self._replicate_variance(theta, est)
        if coef is not None:
            return var[0]
        self._transformed_variances(theta, est, extra)
        return est, var, xhat

    def _transformed_variances(self, theta, est, extra) -> None:
        """Replicate variances of transformed estimates requested in ``extra["want"]``.

        ``"logit"``: the variance of ``logit(θ_r)`` about its mean (or about
        ``logit(θ)`` with ``mse``), which is what R's ``svyciprop(method="logit")``
        uses on a replicate design: it refits ``svyglm(y ~ 1, quasibinomial)``
        on every replicate, whose intercept is ``logit`` of the replicate
        proportion.

        A replicate proportion of 0 or 1 (a domain whose cases all drop out
        of a replicate) has an infinite logit: the variance is then infinite
        and the interval (0, 1), with or without ``mse``, where R's refit
        runs the intercept off to about ±30 and gives (≈0, ≈1).  (Without
        ``mse`` the replicate mean of ``±inf`` made it NaN.)
        """
        if not extra or "logit" not in extra.get("want", ()):
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(theta / (1 - theta))
            le = np.log(est / (1 - est))
            var = self._replicate_variance(lt, le)
        off = np.isinf(lt[..., self.rscales > 0]).any(axis=-1) & np.isfinite(le)
        extra["var_logit"] = np.where(off, np.inf, var) if off.any() else var

    def _replicate_variance(self, theta, est):
        """``scale * Σ_r rscales_r (θ_r - θ̄)²`` (R's ``svrVar``), vectorised over estimates.

        A replicate whose statistic is undefined (NaN, e.g. a domain mean in
        a replicate that drops all of the domain's rows) makes the variance
        NaN.  R's ``svrVar`` drops such replicates with a warning and
        computes the variance from the others, which understates it without
        saying by how much; here the SE is reported as not estimable.
        """
        rs = self.rscales
        if self.mse:
            centre = est
        else:
            with np.errstate(invalid="ignore"):
                centre = theta[..., rs > 0].mean(axis=-1)
        dev = theta - centre[..., None]
        return self.scale * np.einsum("...r,r->...", dev * dev, rs)


# ---------------------------------------------------------- as.svrepdesign
def to_replicate(design, type: str = "auto", replicates: int = 50, fay_rho: float = 0.0, seed=None) -> ReplicateDesign:
    """Replicate weights for a Taylor design, as R's ``as.svrepdesign``: ``design.to_replicate(...)``.

    See :meth:`analysis.design.SurveyDesign.to_replicate`; the multipliers
    are built from plain vectors in :mod:`analysis.repweights`.
    """
    if not hasattr(design, "to_replicate") or isinstance(design, ReplicateDesign):
        raise DesignError(f"design: expected a SurveyDesign, got {builtins.type(design).__name__}")
    return design.to_replicate(type=type, replicates=replicates, fay_rho=fay_rho, seed=seed)
