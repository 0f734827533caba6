"""Variance of one-stage PPS samples without replacement, as R's ``svydesign(pps=...)``.

The sampled PSUs have inclusion probabilities ``π_i`` (and, for the exact
estimators, joint probabilities ``π_ij``).  With ``z_i`` the PSU totals of
the weighted linearised values (``y_i/π_i`` for a total), the estimators
are quadratic forms in ``z`` with R's "Δ-check" matrix
``Δ̌_ij = (π_ij - π_i π_j)/π_ij`` (diagonal ``1 - π_i``):

* ``"ht"`` (Horvitz-Thompson, R ``ppsmat(joint)``, ``variance="HT"``):
  ``V = Σ_ij Δ̌_ij z_i z_j``;
* ``"yg"`` (Sen-Yates-Grundy, ``variance="YG"``): ``V_HT - Σ_ij Δ̌_ij z_j²``;
* ``"overton"``: Overton's approximation ``π_ij ≈ ...`` as R's
  ``overton2Dcheck``: ``Δ̌_ij = 1 - (n - (π_i + π_j)/2)/(n - 1)`` within a
  stratum (0 across strata), diagonal ``1 - π_i``; HT form;
* ``"hartley-rao"``: ``Δ̌_ij = 1 - (n - π_i - π_j + p₂)/(n - 1)`` with
  ``p₂`` the population ``Σ π²/n`` of the stratum (``hr_p2``) or, as R's
  ``HR()`` without it, the sample mean of ``π``; HT form;
* ``"brewer"``: Brewer's approximation, R's ``pps="brewer"``:
  ``n/(n-1) Σ_i (1 - π_i)(z_i - z̄)²`` per stratum, the PSUs without domain
  rows counting as zeros.  It is not a quadratic form built here: as R's
  ``svyrecvar`` with the probabilities as fpc, the design's variance stages
  carry a ``1 - π`` multiplier per unit (:class:`analysis.kernel.Stage`,
  ``unit_scale``), for one stage or several (R's multistage Brewer).

References
----------
Brewer, K. R. W. (2002). *Combined Survey Sampling Inference*. Arnold, ch. 9.
Hartley, H. O. and Rao, J. N. K. (1962). Sampling with unequal probabilities
and without replacement. *Ann. Math. Statist.* 33, 350-374.
Overton, W. S. (1985). A sampling plan for streams in the National Stream
Survey. Technical Report 114, Oregon State University.
Lumley, T. (2010). *Complex Surveys*, sec. 2.6 (the Δ-check notation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .validation import DesignError

__all__ = ["PPS_METHODS", "PPSVariance", "pps_variance_matrix"]

PPS_METHODS = ("brewer", "overton", "hartley-rao", "ht", "yg")


@dataclass(frozen=True)
class PPSVariance:
    """What a PPS design's variance needs: the Δ-check matrix (or Brewer's factors) per PSU."""

    method: str
    stratum: np.ndarray  # (P,) stratum code of each PSU
    n_h: np.ndarray  # (H,) PSUs per stratum
    prob: np.ndarray  # (P,) inclusion probability of each PSU
    first_row: np.ndarray  # (P,) first data row of each PSU (R's order of appearance)
    dcheck: sparse.csr_matrix  # (P, P)

    def variance(self, k_unit: np.ndarray, k_dom: np.ndarray, T: np.ndarray, n_dom: int) -> np.ndarray:
        """Variances (n_dom, J) from (PSU, domain) totals ``T`` (K x J) of the weighted linearised values."""
        P = self.prob.shape[0]
        J = T.shape[1]
        Z = np.zeros((P, n_dom, J))
        Z[k_unit, k_dom] = T  # (PSU, domain) keys are distinct
        Z = Z.reshape(P, n_dom * J)
        DZ = np.asarray(self.dcheck @ Z)
        v = (Z * DZ).sum(axis=0)
        if self.method == "yg":
            v = v - np.asarray(self.dcheck.sum(axis=0)).ravel() @ (Z * Z)
        return v.reshape(n_dom, J)

    def covariance(self, T) -> np.ndarray:
        """Covariance matrix (m x m) of the totals of the columns of ``T`` (P x m: PSU totals of the weighted
        linearised values, PSUs in code order), the matrix form of :meth:`variance` (R's ``htvar.matrix``,
        ``ygvar.matrix``)."""
        T = np.asarray(T, float)
        out = T.T @ np.asarray(self.dcheck @ T)
        if self.method == "yg":
            out = out - (T * np.asarray(self.dcheck.sum(axis=0)).ravel()[:, None]).T @ T
        return out



def _block_dense(stratum: np.ndarray, values_fn) -> sparse.csr_matrix:
    """A block-diagonal sparse matrix with one dense block per stratum (PSUs in any order)."""
    order = np.argsort(stratum, kind="stable")
    s = stratum[order]
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    rows, cols, vals = [], [], []
    for b0, b1 in zip(bounds[:-1], bounds[1:]):  # one block per stratum, built with array operations
        idx = order[b0:b1]
        block = values_fn(idx)
        rows.append(np.repeat(idx, idx.shape[0]))
        cols.append(np.tile(idx, idx.shape[0]))
        vals.append(block.ravel())
    P = stratum.shape[0]
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(P, P))


def pps_variance_matrix(method: str, stratum: np.ndarray, prob: np.ndarray, first_row: np.ndarray,
                        joint_probs=None, hr_p2=None, stratum_labels=None) -> PPSVariance:
    """The Δ-check matrix of ``method`` for PSUs with inclusion probabilities ``prob`` (one per PSU)."""
    prob = np.asarray(prob, float)
    P = prob.shape[0]
    H = int(stratum.max()) + 1
    n_h = np.bincount(stratum, minlength=H).astype(float)
    n = n_h[stratum]
    if method == "brewer":
        raise DesignError("pps: Brewer's variance is a design's variance stages (SurveyDesign(pps='brewer')), "
                          "not a quadratic form")
    if method in ("ht", "yg"):
        if joint_probs is None:
            raise DesignError(f"joint_probs: expected the ({P} x {P}) joint inclusion probabilities of the PSUs "
                              f"for pps={method!r}, got None")
        pij = np.asarray(joint_probs, float)
        if pij.shape != (P, P):
            raise DesignError(f"joint_probs: expected a ({P} x {P}) matrix (one row per PSU, in order of first "
                              f"appearance), got shape {pij.shape}")
        if not np.allclose(np.diag(pij), prob, rtol=1e-8, atol=0):
            raise DesignError("joint_probs: expected the inclusion probabilities on the diagonal, got a diagonal "
                              "that differs from probs")
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (pij - np.outer(prob, prob)) / pij
        tol = 1e-4  # R: ppsmat(joint, tolerance = 1e-4)
        d[np.abs(d) < tol] = 0.0
        d[~np.isfinite(d)] = 0.0
        return PPSVariance(method, stratum, n_h, prob, first_row, sparse.csr_matrix(d))
    if method == "overton":
        def block(idx):
            fbar = (prob[idx][:, None] + prob[idx][None, :]) / 2
            nn = n[idx][0]
            with np.errstate(divide="ignore", invalid="ignore"):
                b = 1 - (nn - fbar) / (nn - 1)
            b[fbar == 1] = 0.0
            np.fill_diagonal(b, 1 - prob[idx])
            return b
    elif method == "hartley-rao":
        if hr_p2 is None:  # R's HR(): the stratum's mean inclusion probability
            p2 = (np.bincount(stratum, weights=prob, minlength=H) / n_h)
        else:
            p2 = np.asarray(hr_p2, float)
            if p2.ndim == 0:
                p2 = np.full(H, float(p2))
            if p2.shape != (H,):
                raise DesignError(f"hr_p2: expected one value (population Σπ²/n) per stratum ({H}), got {p2.shape}")

        def block(idx):
            fbar = prob[idx][:, None] + prob[idx][None, :]
            nn = n[idx][0]
            with np.errstate(divide="ignore", invalid="ignore"):
                b = 1 - (nn - fbar + p2[stratum[idx][0]]) / (nn - 1)
            b[fbar == 1] = 0.0
            np.fill_diagonal(b, 1 - prob[idx])
            return b
    else:  # pragma: no cover - checked by the caller
        raise DesignError(f"pps: expected one of {PPS_METHODS}, got {method!r}")
    return PPSVariance(method, stratum, n_h, prob, first_row, _block_dense(stratum, block))
