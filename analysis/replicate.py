"""Replicate-weight designs (R's ``svrepdesign`` and ``as.svrepdesign``)."""
from __future__ import annotations

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

__all__ = ["ReplicateDesign", "to_replicate", "hadamard", "REPLICATE_TYPES", "ReplicateStructure"]

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


# ------------------------------------------------------------------ hadamard
def _is_prime(q: int) -> bool:
    if q < 2:
        return False
    i = 2
    while i * i <= q:
        if q % i == 0:
            return False
        i += 1
    return True


def _paley1(q: int) -> np.ndarray:
    """Paley construction I: a Hadamard matrix of order q+1 for a prime q ≡ 3 (mod 4)."""
    res = np.zeros(q, dtype=int)
    res[(np.arange(1, q) ** 2) % q] = 1
    chi = np.where(res == 1, 1, -1)
    chi[0] = 0
    Q = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    S = np.zeros((q + 1, q + 1), dtype=int)
    S[0, 1:] = 1
    S[1:, 0] = -1
    S[1:, 1:] = Q
    return S + np.eye(q + 1, dtype=int)


def hadamard(min_order: int) -> np.ndarray:
    """A ±1 Hadamard matrix of the smallest order >= ``min_order`` this builds.

    Orders are 1, 2, and multiples of 4 from Sylvester's doubling of a Paley
    (type I) matrix.  Any such matrix gives fully balanced BRR replicates
    (Wolter 2007, sec. 3.3); which replicate is which differs from R's
    precomputed ``survey::hadamard``, so BRR variances of totals agree with
    R exactly, those of nonlinear statistics to within replicate-choice noise.
    """
    if min_order <= 1:
        return np.ones((1, 1), dtype=int)
    if min_order == 2:
        return np.array([[1, 1], [1, -1]])
    best = None
    m = 4 * int(np.ceil(min_order / 4))
    while best is None:
        k = m
        doublings = 0
        while k % 2 == 0 and k > 4:
            if _is_prime(k - 1) and (k - 1) % 4 == 3:
                break
            k //= 2
            doublings += 1
        if k == 4 or k == 2 or (_is_prime(k - 1) and (k - 1) % 4 == 3):
            H = _paley1(k - 1) if k > 2 else np.array([[1, 1], [1, -1]])
            for _ in range(doublings):
                H = np.block([[H, H], [H, -H]])
            best = H
        else:
            m += 4
    return best


# ---------------------------------------------------------- as.svrepdesign
def to_replicate(design, type: str = "auto", replicates: int = 50, fay_rho: float = 0.0, seed=None) -> ReplicateDesign:
    """Replicate weights for a Taylor design, as R's ``as.svrepdesign``.

    Parameters
    ----------
    design : SurveyDesign
    type : {"auto", "JK1", "JKn", "BRR", "Fay", "bootstrap"}
        ``auto`` is JK1 for unstratified designs and JKn otherwise (R).
        JK1 drops one PSU at a time (scale ``(1-f)(n-1)/n``); JKn drops one
        PSU within its stratum (``rscales = (1-f_h)(n_h-1)/n_h``); BRR and
        Fay need exactly two PSUs per stratum and use a Hadamard matrix;
        bootstrap is R's ``bootweights`` (Rao & Wu 1988): ``n_h`` PSUs
        drawn with replacement per stratum, scale ``n̄/((n̄-1)(R-1))`` with
        ``n̄`` the harmonic mean of PSUs per stratum.
    replicates : int
        Number of bootstrap replicates.
    fay_rho : float
        Fay's rho (``type="Fay"``).
    seed : int or numpy.random.Generator, optional
        For the bootstrap.
    """
    from .design import SurveyDesign

    if not isinstance(design, SurveyDesign):
        raise DesignError(f"design: expected a SurveyDesign, got {type(design).__name__}")
    check_choice(type, ("auto", "JK1", "JKn", "BRR", "Fay", "bootstrap"), "type")
    if design._calibration:
        raise DesignError("design: expected an uncalibrated design; convert to replicates first, then calibrate "
                          "(each replicate is then re-calibrated)")
    has_strata = design._spec["strata"] is not None  # as R: declared strata, even a single one
    if type == "auto":
        type = "JKn" if has_strata else "JK1"
    st = design._stages[0]
    P, H = design._n_psu, design._n_strata
    psu_stratum = st.group
    n_h = st.n_units
    fpc_given = bool(design._spec["fpc"])
    lonely = n_h == 1
    if type == "JK1":
        if has_strata:
            raise DesignError("type: expected JKn, BRR, Fay or bootstrap for a stratified design, got 'JK1'")
        A = np.full((P, P), P / (P - 1))
        np.fill_diagonal(A, 0.0)
        f = 1.0 - design_fraction(design) if fpc_given else 1.0
        scale, rscales = f * (P - 1) / P, np.ones(P)
    elif type == "JKn":
        if not has_strata:
            raise DesignError("type: expected JK1 or bootstrap for an unstratified design, got 'JKn'")
        f1 = 1.0 - design_fraction(design, per_stratum=True) if fpc_given else np.ones(H)
        keep = (n_h > 1) & (f1 > 0)  # strata sampled exhaustively give no replicates (R drops them)
        reps = np.flatnonzero(keep[psu_stratum])  # one replicate per PSU of a kept stratum
        A = np.ones((P, reps.shape[0]))
        same = psu_stratum[:, None] == psu_stratum[reps][None, :]
        A[same] = (n_h[psu_stratum] / (n_h[psu_stratum] - 1))[:, None].repeat(reps.shape[0], 1)[same]
        A[reps, np.arange(reps.shape[0])] = 0.0
        rscales = (f1 * (n_h - 1) / n_h)[psu_stratum[reps]]
        scale = 1.0
        if lonely.any() and design.lonely_psu == "adjust":
            extra = np.where(lonely[psu_stratum][:, None] & (psu_stratum[:, None] == np.flatnonzero(lonely)[None, :]), 0.0, H / (H - 1))
            A = np.hstack([A, extra])
            rscales = np.concatenate([rscales, np.full(extra.shape[1], (H - 1) / H)])
        elif lonely.any() and design.lonely_psu == "average":
            scale = P / reps.shape[0]
    elif type in ("BRR", "Fay"):
        if not (n_h == 2).all():
            bad = design._strata_labels[n_h != 2][:5].tolist()
            raise DesignError(f"type: expected exactly 2 PSUs in every stratum for {type}, got strata {bad} with other counts")
        rho = fay_rho if type == "Fay" else 0.0
        Hm = hadamard(H + 1)
        R = Hm.shape[1]
        signs = Hm[1:H + 1]  # rows 2..H+1, as R's brrweights
        order = np.lexsort((np.arange(P), psu_stratum))
        first = np.zeros(P, dtype=bool)
        first[order[::2]] = True  # the first PSU (in data order) of each stratum
        s = signs[psu_stratum]  # (P, R)
        up = np.where(first[:, None], s > 0, s < 0)
        A = np.where(up, 2.0 - rho, rho)
        scale, rscales = 1.0 / (R * (1 - rho) ** 2), np.ones(R)
        type = "Fay" if rho else "BRR"
    else:  # bootstrap
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        A = np.zeros((P, replicates))
        for h in range(H):  # strata only; PSUs and replicates are drawn at once
            psus = np.flatnonzero(psu_stratum == h)
            k = psus.shape[0]
            A[psus] = rng.multinomial(k, np.full(k, 1.0 / k), size=replicates).T
        nbar = 1.0 / np.mean(1.0 / n_h)
        scale, rscales = nbar / ((nbar - 1) * (replicates - 1)), np.ones(replicates)
    rep = ReplicateStructure(design.weights, None, A, design._psu_code)
    return ReplicateDesign._from_structure(design.data, design.weights, rep, type, float(scale), np.asarray(rscales, float),
                                           fay_rho=fay_rho if type == "Fay" else None)


def design_fraction(design, per_stratum: bool = False):
    """First-stage sampling fraction n_h/N_h of a design (R: the fpc carried into replicates)."""
    st = design._stages[0]
    n_h = st.n_units
    N = design._popsize1
    if N is None:
        raise DesignError("design: no first-stage fpc")
    frac = n_h / N
    if per_stratum:
        return frac
    if np.unique(frac).shape[0] > 1:
        raise DesignError("fpc: expected one first-stage fpc value for JK1, got several")
    return float(frac[0])
