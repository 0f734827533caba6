"""Replicate-weight designs (R's ``svrepdesign`` and ``as.svrepdesign``)."""
from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from . import kernel
from .estimators import DesignBase
from .validation import (
    DesignError,
    as_column_list,
    check_choice,
    check_columns,
    check_positive,
    check_replicate_count,
    check_rscales,
)

from .hadamard import hadamard  # noqa: F401  (re-exported: R's Hadamard matrices)

__all__ = ["ReplicateDesign", "to_replicate", "hadamard", "REPLICATE_TYPES", "ReplicateStructure", "replicate_df"]

REPLICATE_TYPES = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "other")


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

        Multipliers ``rw / w`` are compared after rounding to 10 significant
        digits (replicate files are often stored rounded); the compressed
        form is used only if it reproduces every replicate weight to 1e-10
        relative.
        """
        n, R = rw.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            mult = np.where(weights[:, None] > 0, rw / weights[:, None], 0.0)
        mult = np.round(mult, 10)
        probe = np.random.default_rng(0).standard_normal(R)  # fixed probe: deterministic grouping
        key = mult @ probe
        uniq, first, codes = np.unique(key, return_index=True, return_inverse=True)
        codes = codes.reshape(-1)
        if uniq.shape[0] <= n // 2:
            pats = mult[first]
            if np.array_equal(pats[codes], mult) and np.allclose(weights[:, None] * pats[codes], rw, rtol=1e-10, atol=0):
                return cls(weights, None, pats, codes)
        return cls(weights, rw, None, None)


def _distinct_rows(m: np.ndarray) -> np.ndarray:
    """The distinct rows of ``m`` (exactly), found by hashing each row to one number first."""
    if m.shape[0] <= 1:
        return m
    probe = np.random.default_rng(0).standard_normal(m.shape[1])  # fixed probe: deterministic
    _, first, codes = np.unique(m @ probe, return_index=True, return_inverse=True)
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
    if m.size == 0:
        return -1.0
    from scipy.linalg import qr

    r = qr(m, mode="r", pivoting=True)[0]
    d = np.abs(np.diag(r))
    rank = int((d > tol * d.max()).sum()) if d.size and d.max() > 0 else 0
    return float(rank - 1)


def _scale_defaults(type_, R, scale, rscales, fay_rho):
    if type_ == "Fay" and fay_rho is None:
        raise DesignError("fay_rho: expected the Fay coefficient rho in [0, 1) for type='Fay', got None")
    if fay_rho is not None and not (0 <= float(fay_rho) < 1):
        raise DesignError(f"fay_rho: expected a number in [0, 1), got {fay_rho!r}")
    if scale is not None:
        scale = check_positive(scale, "scale")
    elif type_ == "BRR":
        scale = 1.0 / R
    elif type_ == "Fay":
        scale = 1.0 / (R * (1 - fay_rho) ** 2)
    elif type_ == "bootstrap":
        scale = 1.0 / (R - 1)
    elif type_ == "JK1":
        scale = (R - 1) / R
    if type_ == "JKn" and rscales is None:
        raise DesignError("rscales: expected the per-replicate (n_h - 1)/n_h factors for type='JKn', got None")
    if scale is None:
        scale = 1.0
    rscales = np.ones(R) if rscales is None else check_rscales(rscales, R)
    return float(scale), rscales


class ReplicateDesign(DesignBase):
    """A design analysed with replicate weights (R's ``svrepdesign``).

    Parameters
    ----------
    data : DataFrame
    weights : str
        Full-sample weight column.
    replicate_weights : list of str, or (n, R) array
        Replicate-weight columns (or matrix).
    type : {"JK1", "JKn", "BRR", "Fay", "bootstrap", "other"}
        Replication method; sets the default ``scale`` as R does: BRR
        ``1/R``; Fay ``1/(R (1-rho)^2)``; bootstrap ``1/(R-1)``; JK1
        ``(R-1)/R``; JKn needs ``rscales``; other ``1``.
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
    Domains are estimated by zeroing out-of-domain rows in every replicate.

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

    # ----------------------------------------------------------------- hooks
    def _domain_df_units(self, k_unit, k_dom, n_dom, row_level, rows):
        return np.full(n_dom, self.degf)

    def _agg_units(self):
        if self._rep.patterns is None:
            return None
        return self._rep.pattern_of_row, self._rep.patterns.shape[0]

    def _unit_variance(self, k_unit, k_dom, TY, TX, est, xhat, n_dom, coef):
        """Replicate estimates from (pattern x domain) totals: Σ_k T_k A[u_k, r] per domain."""
        A = self._rep.patterns[k_unit]  # (K, R)
        K = k_unit.shape[0]

        def rep_totals(T):
            J = T.shape[1]
            rows_ = (k_dom[:, None] * J + np.arange(J)).ravel()
            S = sparse.csr_matrix((T.ravel(), (rows_, np.repeat(np.arange(K), J))), shape=(n_dom * J, K))
            return np.asarray(S @ A).reshape(n_dom, J, -1)

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
        return self._replicate_variance(theta, est)

    def _ratio_core(self, Y, X, dom, n_dom, rows, coef=None):
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
        return est, var, xhat

    def _replicate_variance(self, theta, est):
        """``scale * Σ_r rscales_r (θ_r - θ̄)²`` (R's ``svrVar``), vectorised over estimates."""
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
