"""Unchecked numeric kernels (numpy arrays and integer codes in, arrays out).

Nothing here validates its input; the public functions in
:mod:`analysis.weighting.steps` validate once and call these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["DenseX", "CellX", "cells_from_codes", "cells_from_key", "ipf_cells", "IPFResult", "CALFUNS", "newton_calibrate",
           "NewtonResult", "linear_calibrate", "orthonormal_basis"]


# ---------------------------------------------------------------------------
# Cross-classified cells
# ---------------------------------------------------------------------------

def cells_from_codes(codes: Sequence[np.ndarray], sizes: Sequence[int]):
    """Collapse rows to the non-empty cells of the cross-classification.

    Parameters
    ----------
    codes : sequence of (n,) int arrays
        Code of each row in each margin (0 .. sizes[m]-1).
    sizes : sequence of int
        Number of categories of each margin.

    Returns
    -------
    cell : (n,) intp array
        Cell index of each row (0 .. C-1).
    cell_codes : list of (C,) int arrays
        Category of each cell in each margin.
    """
    key = codes[0].astype(np.int64, copy=True)
    for c, s in zip(codes[1:], sizes[1:]):
        key *= int(s)
        key += c
    return cells_from_key(key, sizes)


def cells_from_key(key: np.ndarray, sizes: Sequence[int]):
    """:func:`cells_from_codes` from the mixed-radix key of the codes
    (``key = ((c0 * s1 + c1) * s2 + c2) ...``)."""
    n = key.shape[0]
    total = 1.0
    for s in sizes:
        total *= max(int(s), 1)
    if total <= max(4 * n, 1 << 20):
        present = np.bincount(key, minlength=int(total)) > 0
        uniq = np.flatnonzero(present)
        lut = np.empty(int(total), dtype=np.int32 if uniq.size < 2 ** 31 else np.intp)
        lut[uniq] = np.arange(uniq.size)
        cell = lut[key]
    else:  # pragma: no cover - very wide cross-classifications
        uniq, cell = np.unique(key, return_inverse=True)
    cell_codes = []
    rem = uniq.astype(np.int64, copy=True)
    for s in reversed(list(sizes)):
        cell_codes.append(rem % int(s))
        rem //= int(s)
    cell_codes.reverse()
    return cell, cell_codes


# ---------------------------------------------------------------------------
# Iterative proportional fitting on cells
# ---------------------------------------------------------------------------

@dataclass
class IPFResult:
    """Output of :func:`ipf_cells`."""

    weights: np.ndarray            # (C, K) raked cell weights
    sweeps: int                    # number of full sweeps over the margins
    converged: bool
    discrepancy: np.ndarray        # (M,) largest relative discrepancy per margin (all columns)
    last_sweep: list = field(default_factory=list)  # per margin: (C,) column-0 weights after it


def _aggregators(cell_codes, sizes, C):
    mats = []
    for codes, s in zip(cell_codes, sizes):
        mats.append(sp.csr_matrix((np.ones(C), (codes, np.arange(C))), shape=(int(s), C)))
    return mats


def _margin_totals(cw, codes, size, mat):
    if cw.shape[1] == 1:
        return np.bincount(codes, weights=cw[:, 0], minlength=size)[:, None]
    return np.asarray(mat @ cw)


def ipf_cells(cell_weights: np.ndarray, cell_codes: Sequence[np.ndarray], sizes: Sequence[int],
              targets: Sequence[np.ndarray], *, tol: float = 1e-10, max_iter: int = 100,
              convergence: str = "relative", epsilon: float = 1.0,
              fixed_sweeps: int | None = None, record_last: bool = False) -> IPFResult:
    """Rake cell weights to margin targets by iterative proportional fitting.

    Parameters
    ----------
    cell_weights : (C,) or (C, K) float array
        Starting weighted counts of the cells (one column per weight vector).
    cell_codes, sizes : see :func:`cells_from_codes`.
    targets : sequence of (sizes[m],) float arrays
        Control counts of each margin category.
    tol : float
        ``convergence="relative"``: stop when every margin category is within
        ``tol`` of its control, relatively (``|T_hat - T| / T``).
    max_iter : int
        Maximum number of sweeps.
    convergence : {"relative", "r"}
        ``"r"`` reproduces R ``rake()``: stop when the largest absolute change
        of the cross-classified table (column 0) between sweeps is below
        ``epsilon``.
    fixed_sweeps : int, optional
        Do exactly this many sweeps (replicate columns of an R-mode rake).
    record_last : bool
        Keep column 0's cell weights after each margin of the last sweep
        (R's ``attr(, "weights")``, used by the raking variance).
    """
    cw = np.array(cell_weights, dtype=np.float64, copy=True)
    if cw.ndim == 1:
        cw = cw[:, None]
    C = cw.shape[0]
    M = len(cell_codes)
    targets = [np.asarray(t, dtype=np.float64) for t in targets]
    mats = _aggregators(cell_codes, sizes, C) if cw.shape[1] > 1 else [None] * M
    limit = fixed_sweeps if fixed_sweeps is not None else max_iter
    sweeps = 0
    converged = False
    last: list = []
    disc = np.zeros(M)

    def discrepancy(cw):
        d = np.zeros(M)
        for m in range(M):
            tot = _margin_totals(cw, cell_codes[m], sizes[m], mats[m])
            t = targets[m][:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(t > 0, np.abs(tot - t) / np.where(t > 0, t, 1.0), 0.0)
            d[m] = rel.max() if rel.size else 0.0
        return d

    while sweeps < limit:
        prev = cw[:, 0].copy() if convergence == "r" else None
        if record_last:
            last = []
        for m in range(M):
            tot = _margin_totals(cw, cell_codes[m], sizes[m], mats[m])
            t = targets[m][:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(tot > 0, t / tot, 1.0)
            cw *= ratio[cell_codes[m]]
            if record_last:
                last.append(cw[:, 0].copy())
        sweeps += 1
        if fixed_sweeps is not None:
            continue
        if convergence == "r":
            if np.max(np.abs(cw[:, 0] - prev), initial=0.0) < epsilon:
                converged = True
                break
        else:
            disc = discrepancy(cw)
            if disc.max(initial=0.0) < tol:
                converged = True
                break
    disc = discrepancy(cw)
    if fixed_sweeps is not None:
        converged = bool(disc.max(initial=0.0) < tol)
    return IPFResult(weights=cw, sweeps=sweeps, converged=converged, discrepancy=disc,
                     last_sweep=last)


# ---------------------------------------------------------------------------
# Calibration functions (Deville & Sarndal 1992), as in R survey's grake()
# (the bounded raking derivative is the exact one, see _raking_dF)
# ---------------------------------------------------------------------------

def _linear_F(u, L, U):
    return np.clip(u + 1.0, L, U) - 1.0


def _linear_dF(u, L, U):
    return ((u < U - 1.0) & (u > L - 1.0)).astype(np.float64)


def _raking_F(u, L, U):
    with np.errstate(over="ignore"):
        return np.clip(np.exp(u), L, U) - 1.0


def _raking_dF(u, L, U):
    # the derivative of clip(exp(u), L, U): zero where the factor is clipped.
    # R's cal.raking tests u against the bounds minus 1 (as for the linear
    # function), so its Newton steps use exp(u) for factors already clipped
    # at U (exp(u) >= U but u < U - 1) and stall: with bounds (0.6, 1.6) R
    # needs ~100 iterations where this takes 4, and fails at its maxit = 50.
    # Both solve the same equations, so converged weights are the same.
    with np.errstate(over="ignore"):
        e = np.exp(u)
    return np.where((e < U) & (e > L), e, 0.0)


def _logit_parts(u, L, U):
    A = (U - L) / ((U - 1.0) * (1.0 - L))
    with np.errstate(over="ignore"):
        eAu = np.exp(A * u)
    return A, eAu


def _logit_F(u, L, U):
    A, eAu = _logit_parts(u, L, U)
    with np.errstate(invalid="ignore"):
        return (L * (U - 1.0) + U * (1.0 - L) * eAu) / (U - 1.0 + (1.0 - L) * eAu) - 1.0


def _logit_dF(u, L, U):
    A, eAu = _logit_parts(u, L, U)
    den = U - 1.0 + (1.0 - L) * eAu
    with np.errstate(invalid="ignore", over="ignore"):
        return (U * (1.0 - L) * eAu * A / den
                - (L * (U - 1.0) + U * (1.0 - L) * eAu) * ((1.0 - L) * eAu * A) / den ** 2)


#: name -> (F - 1, dF/du); g = 1 + F(u) with u = x' lambda.
CALFUNS: dict[str, tuple[Callable, Callable]] = {
    "linear": (_linear_F, _linear_dF),
    "raking": (_raking_F, _raking_dF),
    "logit": (_logit_F, _logit_dF),
}


def _ginv(a: np.ndarray) -> np.ndarray:
    """Moore-Penrose inverse with MASS::ginv's tolerance (256 eps)."""
    u, s, vt = np.linalg.svd(a)
    keep = s > 256 * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def _solve_psd(Tmat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``ginv(Tmat) @ rhs`` after equilibrating the diagonal (better
    conditioning when calibration variables differ in scale)."""
    d = np.sqrt(np.abs(np.diag(Tmat)))
    d = np.where(d > 0, d, 1.0)
    return (_ginv(Tmat / d[:, None] / d[None, :]) @ (rhs / d)) / d


@dataclass
class NewtonResult:
    g: np.ndarray          # (n,) calibration factors
    iterations: int
    converged: bool
    misfit: np.ndarray     # (p,) T - X'(g w)
    rel_misfit: np.ndarray  # |misfit| / (1 + |T|)


class DenseX:
    """A dense model matrix behind the small interface the solvers use."""

    def __init__(self, X: np.ndarray):
        self.X = np.asarray(X, dtype=np.float64)
        self.shape = self.X.shape

    def dot(self, lam: np.ndarray) -> np.ndarray:
        return self.X @ lam

    def tdot(self, v: np.ndarray) -> np.ndarray:
        return self.X.T @ v

    def gram(self, v: np.ndarray) -> np.ndarray:
        return (self.X * v[:, None]).T @ self.X

    def nonneg_columns(self) -> np.ndarray:
        return (self.X >= 0).all(axis=0)

    def dense(self) -> np.ndarray:
        return self.X


class CellX:
    """Model matrix ``X = [E[cell], Z]``: indicator columns that depend only
    on the row's cross-classified cell, plus a few numeric columns.

    Products cost O(n) (plus O(n q^2) for the numeric part) instead of
    O(n p^2), and the ``n x p`` matrix is never formed.
    """

    def __init__(self, cell: np.ndarray, E: np.ndarray, Z: np.ndarray | None = None):
        self.cell = cell
        self.E = np.asarray(E, dtype=np.float64)          # (C, pc)
        self.Z = None if Z is None or Z.shape[1] == 0 else np.asarray(Z, dtype=np.float64)
        self.C, self.pc = self.E.shape
        self.q = 0 if self.Z is None else self.Z.shape[1]
        self.n = cell.shape[0]
        self.shape = (self.n, self.pc + self.q)

    def _cellsum(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.cell, weights=v, minlength=self.C)

    def dot(self, lam: np.ndarray) -> np.ndarray:
        u = np.take(self.E @ lam[:self.pc], self.cell)
        if self.Z is not None:
            u += self.Z @ lam[self.pc:]
        return u

    def tdot(self, v: np.ndarray) -> np.ndarray:
        out = np.empty(self.shape[1])
        out[:self.pc] = self.E.T @ self._cellsum(v)
        if self.Z is not None:
            out[self.pc:] = self.Z.T @ v
        return out

    def gram(self, v: np.ndarray) -> np.ndarray:
        pc = self.pc
        G = np.empty((self.shape[1], self.shape[1]))
        vc = self._cellsum(v)
        G[:pc, :pc] = (self.E * vc[:, None]).T @ self.E
        if self.Z is not None:
            vz = np.column_stack([self._cellsum(v * self.Z[:, j]) for j in range(self.q)])
            G[:pc, pc:] = self.E.T @ vz
            G[pc:, :pc] = G[:pc, pc:].T
            G[pc:, pc:] = (self.Z * v[:, None]).T @ self.Z
        return G

    def nonneg_columns(self) -> np.ndarray:
        out = (self.E >= 0).all(axis=0)
        if self.Z is not None:
            out = np.concatenate([out, self.Z.min(axis=0) >= 0])
        return out

    def dense(self) -> np.ndarray:
        X = self.E[self.cell]
        return X if self.Z is None else np.column_stack([X, self.Z])


def _as_model(X):
    return X if isinstance(X, (DenseX, CellX)) else DenseX(X)


def newton_calibrate(X, w: np.ndarray, T: np.ndarray, calfun: str,
                     bounds: tuple = (-np.inf, np.inf), *, tol: float = 1e-10,
                     max_iter: int = 50) -> NewtonResult:
    """Solve ``sum_i w_i g_i x_i = T`` with ``g_i = 1 + F(x_i' lambda)``.

    ``X`` is an ``(n, p)`` array, a :class:`DenseX` or a :class:`CellX`;
    ``bounds`` may hold scalars or per-unit arrays.

    Newton-Raphson iterations with a generalized inverse and step halving,
    following R ``survey:::grake`` (Deville & Sarndal 1992); stops when
    ``max |misfit| / (1 + |T|) < tol``.
    """
    X = _as_model(X)
    F, dF = CALFUNS[calfun]
    L, U = bounds
    L = float(L) if np.ndim(L) == 0 else np.asarray(L, dtype=np.float64)
    U = float(U) if np.ndim(U) == 0 else np.asarray(U, dtype=np.float64)
    p = X.shape[1]
    eta = np.zeros(p)
    sample_total = X.tdot(w)
    xeta = np.zeros(X.shape[0])
    Fx = F(xeta, L, U)
    deriv = dF(xeta, L, U)
    it = 1
    while True:
        Tmat = X.gram(w * deriv)
        misfit = T - sample_total - X.tdot(w * Fx)
        deta = _solve_psd(Tmat, misfit)
        eta = eta + deta
        xeta = X.dot(eta)
        Fx = F(xeta, L, U)
        deriv = dF(xeta, L, U)
        while it < max_iter and not (np.all(np.isfinite(Fx)) and np.all(np.isfinite(deriv))):
            it += 1
            deta = deta / 2
            eta = eta - deta
            xeta = X.dot(eta)
            Fx = F(xeta, L, U)
            deriv = dF(xeta, L, U)
        misfit = T - sample_total - X.tdot(w * Fx)
        rel = np.abs(misfit) / (1.0 + np.abs(T))
        if np.all(rel < tol):
            return NewtonResult(1.0 + Fx, it, True, misfit, rel)
        it += 1
        if it > max_iter or not np.all(np.isfinite(rel)):
            return NewtonResult(1.0 + Fx, it - 1, False, misfit, rel)


def linear_calibrate(X, w: np.ndarray, T: np.ndarray, *, exact: bool = False) -> np.ndarray:
    """GREG factors ``g = 1 + X (X'WX)^- (T - X'w)`` (closed form).

    ``exact=True`` solves ``X'WX lambda = T - X'w`` by LU on the
    equilibrated matrix (R ``regcalibrate``'s ``solve()``) instead of the
    pseudo-inverse, whose 256-eps cut-off drops the small but genuine
    directions of nearly collinear variables; raises
    :class:`numpy.linalg.LinAlgError` on a singular matrix.
    """
    X = _as_model(X)
    if not exact:
        lam = _solve_psd(X.gram(w), T - X.tdot(w))
        return 1.0 + X.dot(lam)
    G = X.gram(w)
    d = np.sqrt(np.abs(np.diag(G)))
    d = np.where(d > 0, d, 1.0)
    lam = np.linalg.solve(G / d[:, None] / d[None, :], (T - X.tdot(w)) / d) / d
    return 1.0 + X.dot(lam)


def orthonormal_basis(A: np.ndarray, rtol: float = 1e-7) -> np.ndarray:
    """Orthonormal basis of the column space of ``A`` (rank-revealing QR),
    like R's ``qr()`` with its default tolerance 1e-7."""
    import scipy.linalg as sla
    if A.shape[1] == 0:
        return A
    Q, R, _ = sla.qr(A, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > rtol * (d[0] if d.size else 0.0)))
    return np.ascontiguousarray(Q[:, :rank])
