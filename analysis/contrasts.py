"""Covariance matrices of estimates and contrasts of them (R's ``vcov``, ``svycontrast``).

``Estimate.vcov()`` gives the covariance of every row of a mean, total,
proportion or ratio estimate, across variables and domains, in
``to_frame()`` row order (R's ``vcov(svymean(...))`` and
``svyby(..., covmat = TRUE)``).  Domains are estimated inside the full
design: each domain's linearised values are zero outside it and the
covariances come from the same PSU totals (Taylor) or replicate
estimates (replicate designs); see :mod:`analysis.covariance`.

``Estimate.contrast(...)`` forms linear combinations ``L θ`` with
covariance ``L V L'``, or a smooth function ``g(θ)`` with the delta-method
covariance ``J V J'``, ``J`` the Jacobian of ``g`` computed by complex-step
differentiation (exact to rounding: Squire & Trapp 1998; Martins et al.
2003), as R's ``svycontrast`` with a quoted expression (which uses
symbolic derivatives).  Intervals are t intervals on the design df.

References
----------
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 6
(the delta method).
Squire, W. and Trapp, G. (1998). Using complex variables to estimate
derivatives of real functions. *SIAM Review* 40, 110-112.
"""
from __future__ import annotations

import warnings
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .validation import EstimationError

__all__ = ["estimate_vcov", "estimate_contrast", "row_labels"]


def row_labels(est) -> list[str]:
    """A readable label per row of an Estimate: ``variable[=level][, domain=value...]``."""
    out = []
    for i in range(len(est)):
        lab = str(est.variable[i])
        if est.level[i] is not None and not (isinstance(est.level[i], float) and np.isnan(est.level[i])):
            lab += f"={est.level[i]}"
        dom = ", ".join(f"{c}={est.domain[c].iloc[i]}" for c in est.domain.columns)
        out.append(lab + (f", {dom}" if dom else ""))
    return out


def _matrix(est) -> np.ndarray:
    spec = est._spec
    if spec is not None and "vcov" in spec:
        return np.asarray(spec["vcov"])
    if spec is None or "design" not in spec or spec.get("kind") not in ("mean", "total", "ratio"):
        raise EstimationError(
            f"vcov: expected a mean, total, proportion or ratio estimate (or a contrast of one), "
            f"got a {est.statistic!r} estimate"
        )
    from .covariance import vcov_of_ratios

    design = spec["design"]
    dom, D, _ = design._domains(spec["by"], spec["where"])
    kind = spec["kind"]
    if spec["Y"][0] == "levels":
        _, _, Y, comp = design._indicators(list(spec["Y"][1]), spec.get("max_levels", 1000))
        Y = design._matrix(Y)
        Y = np.column_stack([1.0 - Y[:, j] if flip else Y[:, j] for j, flip in comp])
    elif spec["Y"][0] == "moment":
        Y = design._moment_columns(list(spec["Y"][1]))[3]
    else:
        Y = design._numeric(list(spec["Y"][1]))[1]
    Y = np.asarray(Y, dtype=float)
    miss = np.isnan(Y)
    Xd = None
    if kind == "ratio":
        Xd = np.asarray(design._numeric(list(spec["X"]), "denominator")[1], dtype=float)
        if Xd.shape[1] != Y.shape[1]:
            Xd = np.repeat(Xd, Y.shape[1], axis=1) if Xd.shape[1] == 1 else Xd
            Y = np.repeat(Y, Xd.shape[1], axis=1) if Y.shape[1] == 1 else Y
            miss = np.isnan(Y)
        miss = miss | np.isnan(Xd)
    ok = ~miss
    Yz = np.where(ok, Y, 0.0)
    if kind == "total":
        X = None
    elif kind == "mean":
        X = ok.astype(float)
    else:
        X = np.where(ok, Xd, 0.0)
    _, V = vcov_of_ratios(design, Yz, X, dom, D)
    if V.shape[0] != len(est):
        raise EstimationError(f"vcov: expected {len(est)} rows, got a {V.shape[0]}x{V.shape[0]} matrix")
    return V


def estimate_vcov(est) -> pd.DataFrame:
    """The covariance matrix of all rows of ``est``, labelled by :func:`row_labels`."""
    V = _matrix(est)
    lab = row_labels(est)
    return pd.DataFrame(V, index=lab, columns=lab)


def _design_df(est) -> float:
    spec = est._spec or {}
    if "df" in spec:
        return float(spec["df"])
    if "design" in spec:
        return float(spec["design"].degf)
    return float(np.nanmin(est.df)) if len(est) else np.nan


def _jacobian(fn: Callable, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value and Jacobian of ``fn`` at ``t`` by complex-step differentiation (central differences as fallback)."""
    g = np.atleast_1d(np.asarray(fn(t.copy()), dtype=float))
    m = t.shape[0]
    h = 1e-30
    try:
        with warnings.catch_warnings():  # a function that drops the imaginary part cannot be complex-stepped
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            tc = np.tile(t.astype(complex), (m, 1)) + 1j * h * np.eye(m)
            vals = [np.asarray(fn(tc[i])) for i in range(m)]
        if not all(np.iscomplexobj(v) for v in vals):
            raise TypeError
        J = np.column_stack([np.atleast_1d(v).imag / h for v in vals])
    except (TypeError, ValueError, np.exceptions.ComplexWarning):
        J = np.empty((g.shape[0], m))
        for i in range(m):  # Richardson-extrapolated central differences
            s = 1e-4 * max(abs(t[i]), 1.0)
            e = np.zeros(m)
            e[i] = 1.0

            def cd(step):
                return (np.atleast_1d(fn(t + step * e)) - np.atleast_1d(fn(t - step * e))) / (2 * step)

            J[:, i] = (4 * cd(s / 2) - cd(s)) / 3
    return g, J


def estimate_contrast(est, coefficients):
    """Linear or smooth functions of the rows of ``est``; see :meth:`Estimate.contrast`."""
    from .results import Estimate

    t = np.asarray(est.estimate, dtype=float)
    m = t.shape[0]
    V = _matrix(est)
    if callable(coefficients) or (isinstance(coefficients, Mapping) and coefficients
                                  and all(callable(v) for v in coefficients.values())):
        fns = coefficients if isinstance(coefficients, Mapping) else {"contrast": coefficients}
        names, vals, jacs = [], [], []
        for name, fn in fns.items():
            try:
                g, J = _jacobian(fn, t)
            except (IndexError, KeyError) as e:
                raise EstimationError(f"coefficients: the function reads a row the estimate does not have "
                                      f"({m} rows): {e}") from None
            names += [name] if g.shape[0] == 1 else [f"{name}[{i}]" for i in range(g.shape[0])]
            vals.append(g)
            jacs.append(J)
        value, L = np.concatenate(vals), np.vstack(jacs)
        kind = "nonlinear contrast"
    else:
        if isinstance(coefficients, Mapping):
            names = [str(k) for k in coefficients]
            rows = list(coefficients.values())
        else:
            arr = np.asarray(coefficients, dtype=float)
            rows = [arr] if arr.ndim == 1 else list(arr)
            names = ["contrast"] if arr.ndim == 1 else [f"contrast{i + 1}" for i in range(len(rows))]
        try:
            L = np.vstack([np.asarray(r, dtype=float).reshape(-1) for r in rows])
        except (TypeError, ValueError):
            raise EstimationError(f"coefficients: expected numbers, a dict of lists of numbers or a function, "
                                  f"got {coefficients!r}") from None
        if L.shape[1] != m:
            raise EstimationError(f"coefficients: expected {m} weights (one per row of the estimate), got {L.shape[1]}")
        value = L @ np.where(L.any(axis=0), t, 0.0)
        kind = "contrast"
    used = L.any(axis=0)
    Vu = V[np.ix_(used, used)]
    Lu = L[:, used]
    Vg = Lu @ Vu @ Lu.T
    k = value.shape[0]
    n = np.full(k, float(np.nansum(est.n[used])))
    nan = np.full(k, np.nan)
    df = np.full(k, _design_df(est))
    return Estimate(
        statistic=kind, variable=np.asarray(names, dtype=object), level=np.full(k, None, dtype=object),
        domain=pd.DataFrame(index=range(k)), estimate=value, se=np.sqrt(np.diag(Vg)), df=df, deff=nan, n=n,
        n_eff=nan, weighted_n=nan, n_rows=n, ci_method="t", ci_kind="mean", conf_level=est.conf_level,
        _spec={"vcov": Vg, "df": df[0] if k else np.nan},
    )
