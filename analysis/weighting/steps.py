"""Variance steps: residualisers that the Taylor variance kernel applies.

Each class has ``residualize(z) -> z'`` taking the ``(n, m)`` matrix of
linearised values ``z_i = w_i u_i`` (computed with the design's final
weights) and returning the matrix whose PSU sums enter the variance
formula, exactly as R ``survey:::svyrecvar`` treats ``design$postStrata``:

* :class:`PostStratStep` -- R's ``postStratify`` branch (``psmeans`` with the
  old weights);
* :class:`RakeStep` -- R's ``raking`` branch (10 rounds of backfitting over
  the margins with the weights stored when each margin was last
  post-stratified);
* :class:`GregStep` -- R's ``greg_calibration`` branch
  (``qr.resid(qr, z / w) * w``).

References
----------
Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey
sampling. *JASA* 87, 376-382.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, ch. 7.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .kernels import CellX, orthonormal_basis

__all__ = ["PostStratStep", "RakeStep", "GregStep", "NestedStep"]


def _as2d(z) -> tuple[np.ndarray, bool]:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        return z[:, None], True
    return z, False


def _indicator(codes: np.ndarray, size: int) -> sp.csc_matrix:
    """(size, n) 0/1 matrix with one 1 per column (no sorting needed)."""
    n = codes.shape[0]
    return sp.csc_matrix((np.ones(n), codes, np.arange(n + 1)), shape=(size, n))


def _group_sum(codes: np.ndarray, size: int, x: np.ndarray, S=None) -> np.ndarray:
    """(size, m) sums of the columns of ``x`` within ``codes``."""
    if x.shape[1] == 1:
        return np.bincount(codes, weights=x[:, 0], minlength=size)[:, None]
    if S is None:
        S = _indicator(codes, size)
    return np.asarray(S @ x)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b != 0)
    return out


class PostStratStep:
    """Post-stratification residualiser (R ``postStratify``).

    ``z_i - psw_i * sum_{j in g} oldw_j u_j / sum_{j in g} oldw_j`` with
    ``u_j = z_j / psw_j``.

    Rows with zero weight get residual 0.  R's ``svyrecvar`` sets their
    ``psw`` to 1 (to avoid 0/0), which gives them the residual ``-mean`` of
    their cell and changes the SE when a post-stratified design has
    zero-weight rows (by 4e-4 relative in the audit's example): an R
    artefact, not followed.
    """

    kind = "poststratify"

    def __init__(self, codes: np.ndarray, n_cells: int, oldweights: np.ndarray,
                 weights: np.ndarray):
        self.codes = np.asarray(codes)
        self.n_cells = int(n_cells)
        self.oldweights = np.asarray(oldweights, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self._ratio = _safe_div(self.oldweights, self.weights)
        self._den = np.bincount(self.codes, weights=self.oldweights, minlength=self.n_cells)
        self._S = None

    def residualize(self, z: np.ndarray) -> np.ndarray:
        z, flat = _as2d(z)
        if z.shape[1] > 1 and self._S is None:
            self._S = _indicator(self.codes, self.n_cells)
        num = _group_sum(self.codes, self.n_cells, z * self._ratio[:, None], self._S)
        means = _safe_div(num, self._den[:, None])
        adj = np.take(means, self.codes, axis=0)
        adj *= self.weights[:, None]
        out = np.subtract(z, adj, out=adj)
        return out[:, 0] if flat else out


class RakeStep:
    """Raking residualiser (R ``rake``): 10 rounds of backfitting.

    For each round and each margin ``m``:
    ``z <- z - w_m * ave_g(z / w_m)`` with ``ave_g`` the unweighted mean
    within the margin's categories and ``w_m`` the weights after margin
    ``m`` was post-stratified in the last raking sweep.

    Because ``w_m = w0 * f_m[cell]`` with a factor per cross-classified
    cell, the rounds run on cell-level sums: the data are read twice
    whatever the number of rounds and margins.
    """

    kind = "rake"
    rounds = 10

    def __init__(self, cell: np.ndarray, cell_codes, sizes, base_weights: np.ndarray,
                 cell_factors):
        self.cell = cell
        self.cell_codes = [np.asarray(c) for c in cell_codes]
        self.sizes = [int(s) for s in sizes]
        self.base_weights = np.asarray(base_weights, dtype=np.float64)
        self.cell_factors = [np.asarray(f, dtype=np.float64) for f in cell_factors]
        self._C = self.cell_codes[0].shape[0] if self.cell_codes else 0
        self._prepared = False
        self._S = None

    def _prepare(self):
        """Per-row helpers, built on first use (the step is created by rake()
        but only used when a variance is computed)."""
        if self._prepared:
            return
        C = self._C
        w0 = self.base_weights
        self._inv = _safe_div(np.ones_like(w0), w0)
        n_all = np.bincount(self.cell, minlength=C).astype(np.float64)
        self._n_pos = np.bincount(self.cell, weights=(w0 > 0).astype(np.float64), minlength=C)
        self._counts = [np.bincount(cc, weights=n_all, minlength=s)
                        for cc, s in zip(self.cell_codes, self.sizes)]
        self._prepared = True

    def residualize(self, z: np.ndarray) -> np.ndarray:
        self._prepare()
        z, flat = _as2d(z)
        C = self._C
        if z.shape[1] > 1 and self._S is None:
            self._S = _indicator(self.cell, C)
        S = _group_sum(self.cell, C, z * self._inv[:, None], self._S)  # (C, m): sum of z / w0
        D = np.zeros_like(S)                                        # z_cur = z - w0 * D[cell]
        for _ in range(self.rounds):
            for cc, s, f, cnt in zip(self.cell_codes, self.sizes, self.cell_factors,
                                     self._counts):
                contrib = (S - self._n_pos[:, None] * D) / f[:, None]
                T = _group_sum(cc, s, contrib)
                mean = _safe_div(T, cnt[:, None])
                D += f[:, None] * mean[cc]
        adj = np.take(D, self.cell, axis=0)
        adj *= self.base_weights[:, None]
        out = np.subtract(z, adj, out=adj)
        return out[:, 0] if flat else out


class GregStep:
    """GREG calibration residualiser (R ``calibrate``).

    ``e = resid(z / w~ ~ X sqrt(w)) * w~`` with ``w~ = g sqrt(w)``, i.e. the
    residuals of the weighted least-squares regression of ``u`` on the
    calibration variables with the *input* weights ``w``, times the
    calibrated weights ``g w``.

    ``X`` is a :class:`~analysis.weighting.kernels.CellX` (indicator columns
    by cell plus numeric columns: ``X'Wy`` by cell sums, fitted values by
    lookup, and the ``p x p`` pseudo-inverse of ``X'WX``; the ``n x p``
    matrix is never formed) or a dense array (an orthonormal basis of
    ``X sqrt(w)`` is kept, like R's ``qr``).
    """

    kind = "calibrate"

    def __init__(self, X, base_weights: np.ndarray, g: np.ndarray):
        w = np.asarray(base_weights, dtype=np.float64)
        self.whalf = np.sqrt(w)
        self.w = np.asarray(g, dtype=np.float64) * self.whalf
        self._invw = _safe_div(np.ones_like(self.w), self.w)
        if not isinstance(X, CellX):
            X = np.asarray(X, dtype=np.float64)
            self.Q = orthonormal_basis(X * self.whalf[:, None])
            self.X = None
            return
        G = X.gram(w)
        d = np.sqrt(np.abs(np.diag(G)))
        d = np.where(d > 0, d, 1.0)
        u, sv, vt = np.linalg.svd(G / d[:, None] / d[None, :])
        top = sv[0] if sv.size else 0.0
        if sv.size and (sv > 1e-14 * top).sum() > (sv > 1e-10 * top).sum():
            # nearly collinear columns (singular values of X sqrt(w) between 1e-7 and 1e-5
            # of the largest): R's qr (tol 1e-7) keeps them and the normal equations are too
            # ill-conditioned to project on them, so use an orthonormal basis of the dense
            # matrix, as R does
            self.Q = orthonormal_basis(X.dense() * self.whalf[:, None])
            self.X = None
            return
        self.Q = None
        self.X = X
        self._S = None
        keep = sv > 1e-10 * top
        self.M = ((vt[keep].T / sv[keep]) @ u[:, keep].T) / d[:, None] / d[None, :]

    def residualize(self, z: np.ndarray) -> np.ndarray:
        z, flat = _as2d(z)
        y = z * self._invw[:, None]                      # sqrt(w) u
        if self.Q is not None:
            y -= self.Q @ (self.Q.T @ y)
        else:
            X = self.X
            yh = y * self.whalf[:, None]                 # w u
            if yh.shape[1] > 1 and self._S is None:
                self._S = _indicator(X.cell, X.C)
            Aty = np.empty((X.shape[1], y.shape[1]))
            Aty[:X.pc] = X.E.T @ _group_sum(X.cell, X.C, yh, self._S)
            if X.Z is not None:
                Aty[X.pc:] = X.Z.T @ yh
            del yh
            coef = self.M @ Aty
            fit = np.take(X.E @ coef[:X.pc], X.cell, axis=0)
            if X.Z is not None:
                fit += X.Z @ coef[X.pc:]
            fit *= self.whalf[:, None]
            y -= fit
        y *= self.w[:, None]
        return y[:, 0] if flat else y


class NestedStep:
    """Calibration of larger units applied to rows nested in them (persons in households).

    When the weight of each household was calibrated and its members carry it,
    a person-level estimate's linearised values ``z`` are summed to their
    household, residualised by the household design's steps, and each
    household's residual is put on its first row (0 on its other rows): the
    PSU totals, and so the Taylor variance, are those of the household
    residuals.  Units without rows enter the residualisation with ``z = 0``;
    their residuals have no row to go to and are left out (none exist when
    every calibrated unit has at least one row).
    """

    kind = "nested"

    def __init__(self, steps, unit: np.ndarray, n_units: int):
        self.steps = tuple(steps)
        self.unit = np.asarray(unit, dtype=np.int64)
        self.n_units = int(n_units)
        first = np.full(self.n_units, -1, dtype=np.int64)
        rows = np.arange(self.unit.shape[0])
        first[self.unit[::-1]] = rows[::-1]
        self.has = first >= 0
        self.first = first[self.has]
        self._S = None

    def residualize(self, z: np.ndarray) -> np.ndarray:
        z, flat = _as2d(z)
        if z.shape[1] > 1 and self._S is None:
            self._S = _indicator(self.unit, self.n_units)
        Z = _group_sum(self.unit, self.n_units, z, self._S)
        for step in self.steps:
            Z = step.residualize(Z)
        out = np.zeros_like(z)
        out[self.first] = Z[self.has]
        return out[:, 0] if flat else out
