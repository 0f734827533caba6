"""Covariance matrices of estimates, for models, tests and contrasts.

The estimators' kernel gives variances (one per estimate); models, tests
of association and contrasts need the full covariance matrix of several
estimates.  This module computes it with the design's own conventions:

* Taylor designs (:class:`~analysis.design.SurveyDesign`): the covariance
  of the totals of linearised (influence) values, R's ``svyrecvar``:
  calibration residuals first where the design is calibrated, then per
  stage ``Σ_g scale_g Σ_k (z_gk - z̄_g)(z_gk - z̄_g)'`` over the units of
  each stratum (PSUs) or PSU (second-stage units), with the same finite
  population corrections and lonely-PSU rules as the variances
  (Wolter 2007, ch. 1; Lumley 2010, sec. 2.2).
* Replicate designs: ``scale Σ_r rscales_r (θ_r - θ̄)(θ_r - θ̄)'``, R's
  ``svrVar`` (centred at the full-sample estimate when ``mse=True``).

It is the one place in the models/tests code that reads the designs'
internal state (stages, calibration steps, replicate structure, PSU and
stratum codes), so a change there is mended here only.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from . import kernel
from .validation import EstimationError

__all__ = ["is_replicate", "is_calibrated", "subset_keeps_rows", "total_vcov", "replicate_vcov", "replicate_weights", "domain_degf", "vcov_of_ratios",
           "indicator_vcov"]


def is_replicate(design) -> bool:
    """Whether the design estimates variances by replicate weights."""
    return hasattr(design, "_rep")


def is_calibrated(design) -> bool:
    """Whether a Taylor design carries calibration steps (its variance uses their residuals)."""
    return bool(getattr(design, "_calibration", ()))


def subset_keeps_rows(design) -> bool:
    """Whether R's subset of this Taylor design keeps every row (weight 0 outside the domain).

    R's ``[.survey.design2`` does so for calibrated and PPS-without-replacement
    designs (``is.calibrated(x) || is.pps(x)``) and drops the rows otherwise;
    row counts and weight means of R's subset design follow.
    """
    return not is_replicate(design) and (is_calibrated(design) or getattr(design, "_pps_method", None) is not None)


# ------------------------------------------------------------------ Taylor
def _stage_cov(stage: kernel.Stage, Z, rows=None) -> np.ndarray:
    """Covariance contribution of one stage from row-level values ``Z`` (n x m, dense or sparse).

    ``rows``: the rows of the (sub)design whose strata count for ``lonely_psu="average"`` (None: all).
    """
    n_units = stage.group.shape[0]
    n_groups = stage.n_units.shape[0]
    m = Z.shape[1]
    ind = sparse.csr_matrix((np.ones(stage.unit.shape[0]), (stage.unit, np.arange(stage.unit.shape[0]))),
                            shape=(n_units, stage.unit.shape[0]))
    T = ind @ Z  # unit totals (U x m)
    scale_u = stage.scale[stage.group]
    if stage.unit_scale is not None:  # PPS units (R's svyrecvar with probabilities as fpc)
        scale_u = scale_u * stage.unit_scale
    gind = sparse.csr_matrix((np.ones(n_units), (stage.group, np.arange(n_units))), shape=(n_groups, n_units))
    S = np.asarray((gind @ T).todense() if sparse.issparse(T) else gind @ T)  # group totals (G x m)
    cnt = np.bincount(stage.group, minlength=n_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(stage.centre[:, None], S / stage.n_units[:, None], 0.0)
    mean = np.nan_to_num(mean)
    if sparse.issparse(T) and n_units * m > 2e7 and stage.unit_scale is None:
        # Large and sparse (many domains): Σ T T' - Σ_g (2 S m' - n_g m m'), without densifying T.
        TT = np.asarray((T.T @ sparse.diags(scale_u) @ T).todense())
        w = stage.scale[:, None]
        out = TT - (S * w).T @ mean - (mean * w).T @ S + (mean * (w * stage.n_units[:, None])).T @ mean
    else:
        Td = T.toarray() if sparse.issparse(T) else np.asarray(T)
        dev = Td - mean[stage.group]
        out = (dev * scale_u[:, None]).T @ dev
        absent = (stage.n_units - cnt) * stage.scale  # units of the group holding no rows count as zeros
        if (absent != 0).any():
            out += (mean * absent[:, None]).T @ mean
    if stage.averaged is not None and stage.averaged.any():
        present = np.zeros(n_groups, dtype=bool)  # the groups of the (sub)design's rows
        present[stage.group[stage.unit if rows is None else stage.unit[rows]]] = True
        out = out * float(kernel.averaged_factor(stage.averaged, present))
    return out * stage.factor


def total_vcov(design, Z, rows=None) -> np.ndarray:
    """Covariance matrix of the totals of the columns of ``Z`` (n x m) under a Taylor design.

    ``Z`` holds full-length linearised values (already weighted; zero for
    rows outside a domain), as R's ``svyrecvar(Z, ...)``.  ``rows`` are the
    rows of the design R would pass to ``svyrecvar`` (those of its subset
    design; None: all rows): under ``lonely_psu="average"`` the variance is
    multiplied by the strata among them over those of them with more than
    one PSU, as R's ``onestage``.
    """
    Z = Z if sparse.issparse(Z) else np.asarray(Z, dtype=float)
    steps = getattr(design, "_calibration", ())
    if steps:
        Z = Z.toarray() if sparse.issparse(Z) else Z.copy()
        for step in steps:  # R: calibration (g-)residuals before the stage sums
            Z = step.residualize(Z)
    pps = getattr(design, "_pps", None)
    if pps is not None:  # PPS without replacement: the quadratic form of the PSU totals (one stage)
        P = pps.prob.shape[0]
        S = sparse.csr_matrix((np.ones(design.n), (design._psu_code, np.arange(design.n))), shape=(P, design.n))
        T = S @ Z
        out = pps.covariance(T.toarray() if sparse.issparse(T) else T)
    else:
        out = 0.0
        for st in design._stages:
            out = out + _stage_cov(st, Z, rows)
        out = np.asarray(out)
    return (out + out.T) / 2


def domain_degf(design, rows: np.ndarray, positive_only: bool = True) -> float:
    """R's ``degf`` of the design restricted to ``rows``: PSUs - strata among them.

    ``positive_only`` keeps rows with non-zero weight only (R's ``degf``);
    ``False`` counts every row (R's ``svychisq``, which counts the clusters
    of its design object).
    """
    if is_replicate(design):
        return replicate_degf(design, rows)
    if positive_only:
        rows = rows[design.weights[rows] != 0]
    return float(np.unique(design._psu_code[rows]).shape[0] - np.unique(design._strata_code[rows]).shape[0])


# --------------------------------------------------------------- replicate
def replicate_weights(design, rows: np.ndarray | None = None) -> np.ndarray:
    """The (r x R) replicate weights of ``rows`` (all rows if None)."""
    rep = design._rep
    if rep.full is not None:
        return rep.full if rows is None else rep.full[rows]
    pr = rep.pattern_of_row if rows is None else rep.pattern_of_row[rows]
    w = rep.weights if rows is None else rep.weights[rows]
    return w[:, None] * rep.patterns[pr]


def replicate_degf(design, rows: np.ndarray) -> float:
    """R's ``degf`` of a replicate design subset to ``rows``: rank of its replicate weights - 1."""
    from scipy.linalg import qr

    rep = design._rep
    if rep.patterns is not None:  # rows share multiplier patterns: the rank is that of the patterns used
        used = rows[np.asarray(design.weights)[rows] != 0]
        m = rep.patterns[np.unique(rep.pattern_of_row[used])]
    else:
        m = replicate_weights(design, rows)
    if m.shape[0] == 0:
        return -1.0
    r = qr(m, mode="r", pivoting=True)[0]
    d = np.abs(np.diag(r))
    rank = int((d > 1e-5 * d.max()).sum()) if d.size and d.max() > 0 else 0
    return float(rank - 1)


def replicate_vcov(design, theta: np.ndarray, est: np.ndarray) -> np.ndarray:
    """``scale Σ_r rscales_r (θ_r - c)(θ_r - c)'`` for replicate estimates ``theta`` (m x R), R's ``svrVar``."""
    rs = np.asarray(design.rscales, dtype=float)
    centre = np.asarray(est, float) if design.mse else theta[:, rs > 0].mean(axis=1)
    dev = theta - centre[:, None]
    return design.scale * (dev * rs) @ dev.T


# ------------------------------------------------- ratios of domain totals
def vcov_of_ratios(design, Y: np.ndarray, X: np.ndarray | None, dom: np.ndarray, n_dom: int):
    """Estimates and covariance of ratios of domain totals ``Σ_d w y_j / Σ_d w x_j``.

    ``Y`` and ``X`` are (n, J) with zeros where a value is missing (``X``
    None: totals).  ``dom`` gives each row's domain (-1: none).  Returns
    ``(est (D, J), vcov (D*J, D*J))`` with entries ordered variable-major
    (all domains of variable 1, then of variable 2, ...), the row order of
    :meth:`analysis.results.Estimate.to_frame`.
    """
    n, J = Y.shape
    rows = np.flatnonzero(dom >= 0)
    d = dom[rows]
    w = design.weights[rows]
    Yr = Y[rows]
    yhat = kernel.group_sum(d, Yr * w[:, None], n_dom)
    if X is None:
        est, xhat = yhat, None
    else:
        Xr = X[rows]
        xhat = kernel.group_sum(d, Xr * w[:, None], n_dom)
        with np.errstate(invalid="ignore", divide="ignore"):
            est = yhat / xhat
    if is_replicate(design):
        rw = replicate_weights(design, rows)  # (r, R)
        ind = sparse.csr_matrix((np.ones(rows.shape[0]), (d, np.arange(rows.shape[0]))), shape=(n_dom, rows.shape[0]))
        ty = np.stack([ind @ (Yr[:, j:j + 1] * rw) for j in range(J)], axis=1)  # (D, J, R)
        if X is None:
            theta = ty
        else:
            tx = np.stack([ind @ (Xr[:, j:j + 1] * rw) for j in range(J)], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                theta = ty / tx
        th = theta.transpose(1, 0, 2).reshape(J * n_dom, -1)
        return est, replicate_vcov(design, th, est.T.reshape(-1))
    # Taylor: linearised values (y - R x)/X of each (variable, domain) as sparse columns.
    if X is None:
        z = Yr * w[:, None]
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = w[:, None] * (Yr - est[d] * Xr) / xhat[d]
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    col = np.arange(J)[None, :] * n_dom + d[:, None]
    Z = sparse.csr_matrix((z.ravel(), (np.repeat(rows, J), col.ravel())), shape=(n, J * n_dom))
    return est, total_vcov(design, Z)


def indicator_vcov(design, code: np.ndarray, K: int, means: bool, design_rows=None):
    """Totals (or shares) of the indicators ``1[code == k]``, ``k < K``, with their covariance.

    ``code`` (n,) is -1 for rows outside (a domain, or missing values).
    With ``means=True`` the estimates are the shares ``t_k / Σ t`` (R's
    ``svymean`` of the indicator columns over the coded rows).  The
    indicator matrix is never formed densely: Taylor designs take the
    covariance of the sparse ``[w 1[code = k], w]`` columns and map it by
    the linearisation ``(1[code = k] - p_k) w / Σ w`` (exact, since it is
    linear); replicate designs sum weights per (replicate pattern, cell).
    ``design_rows``: the rows of R's subset design, for ``lonely_psu="average"``
    (see :func:`total_vcov`).
    """
    n = design.n
    rows = np.flatnonzero(code >= 0)
    c = code[rows].astype(np.int64)
    w = np.asarray(design.weights, float)[rows]
    t = np.bincount(c, weights=w, minlength=K)
    W = t.sum()
    if is_replicate(design):
        rep = design._rep
        if rep.patterns is not None:
            P = rep.patterns.shape[0]
            tot = np.bincount(rep.pattern_of_row[rows] * K + c, weights=rep.weights[rows], minlength=P * K)
            theta = tot.reshape(P, K).T @ rep.patterns  # (K, R)
        else:
            S = sparse.csr_matrix((np.ones(rows.shape[0]), (c, rows)), shape=(K, n))
            theta = np.asarray(S @ rep.full)
        if means:
            with np.errstate(invalid="ignore", divide="ignore"):
                theta = theta / theta.sum(axis=0, keepdims=True)
            est = t / W
        else:
            est = t
        return est, replicate_vcov(design, theta, est)
    r2 = np.concatenate([rows, rows])
    c2 = np.concatenate([c, np.full(rows.shape[0], K)])
    Z = sparse.csr_matrix((np.concatenate([w, w]), (r2, c2)), shape=(n, K + 1))
    C = total_vcov(design, Z, design_rows)
    if not means:
        return t, C[:K, :K]
    p = t / W
    M = np.vstack([np.eye(K) / W, -p[None, :] / W])  # (K+1, K): z_k = (s_k - p_k a) / W
    V = M.T @ C @ M
    return p, (V + V.T) / 2


def check_square(v: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(v)):
        raise EstimationError(f"{what}: expected a finite covariance matrix, got non-finite entries")
