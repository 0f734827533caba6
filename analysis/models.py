"""Design-based generalised linear models, as R's ``svyglm`` and ``regTermTest``.

Point estimates solve the weighted score equations
``Σ_i w_i x_i (y_i - μ_i) μ'_i / V(μ_i) = 0`` (pseudo-maximum likelihood;
Binder 1983), by iteratively reweighted least squares to full convergence.
Their covariance is the sandwich ``A⁻¹ B A⁻¹`` with ``A`` the weighted
information and ``B`` the design covariance of the total of the score
contributions, from the design's own variance kernel:

* Taylor designs: ``B`` is R's ``svyrecvar`` of the influence values
  ``U_i A⁻¹`` (stratified PSU totals, finite population corrections,
  lonely-PSU rules, two-stage terms), with calibration residuals when the
  design is calibrated (R ``svy.varcoef``);
* replicate designs: the model is refitted with each replicate's weights
  (from the full-sample estimate) and the replicate coefficients enter
  R's ``svrVar`` (R ``svyglm.svyrep.design``).

Residual degrees of freedom are R's ``df.residual``: design df (of the
rows used) minus the number of coefficients plus one; t statistics,
p-values and intervals use them (Korn & Graubard 1999, sec. 5.2).
Categorical terms use treatment coding with the first level as reference;
coefficients come in R's order with R's names (see :mod:`analysis.formula`).
Families: ``gaussian`` (identity link), ``binomial``/``quasibinomial``
(logit), ``poisson``/``quasipoisson`` (log).  The design-based point
estimates and variances of a family and its quasi-family are identical,
as in R.

References
----------
Binder, D. A. (1983). On the variances of asymptotically normal estimators
from complex surveys. *International Statistical Review* 51, 279-292.
Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*. Wiley.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 5.
Lumley, T. and Scott, A. J. (2014). Tests for regression models fitted to
survey data. *Aust. N. Z. J. Stat.* 56, 1-14.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special

from .validation import (EstimationError, ModelConvergenceWarning, SeparationWarning, check_choice, check_level,
                         domain_rows)

__all__ = ["FAMILIES", "ModelResult", "WaldTest", "ModelMethods", "glm"]

FAMILIES = ("gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson")


# ---------------------------------------------------------------- families
@dataclass(frozen=True)
class _Family:
    name: str
    link: str
    linkinv: Callable
    mu_eta: Callable
    variance: Callable
    start: Callable

    @property
    def ratio_name(self) -> str | None:
        return {"logit": "odds ratio", "log": "rate ratio"}.get(self.link)


def _family(name: str) -> _Family:
    check_choice(name, FAMILIES, "family")
    if name == "gaussian":
        return _Family(name, "identity", lambda e: e, np.ones_like, np.ones_like, lambda y, w: y)
    eps = np.finfo(float).eps
    if name in ("binomial", "quasibinomial"):
        def mu_eta(e):
            p = special.expit(e)
            return np.maximum(p * (1 - p), eps)

        def linkinv(e):  # R's C_logit_linkinv: eps and 1 - eps beyond |eta| > 30
            mu = special.expit(e)
            far = np.abs(e) > 30
            if far.any():
                mu[far] = np.where(e[far] > 0, 1 - eps, eps)
            return mu
        return _Family(name, "logit", linkinv, mu_eta, lambda m: m * (1 - m),
                       lambda y, w: (w * y + 0.5) / (w + 1))

    def exp_(e):
        return np.maximum(np.exp(e), eps)
    return _Family(name, "log", exp_, exp_, lambda m: m, lambda y, w: y + 0.1)


def _mu_eta_at(fam: _Family, mu):
    """``dμ/dη`` from ``μ`` (no second pass over η): ``μ(1-μ)`` for logit, ``μ`` for log."""
    if fam.link == "logit":
        return np.maximum(mu * (1 - mu), np.finfo(float).eps)
    if fam.link == "log":
        return mu
    return np.ones_like(mu)


def _linkfun(fam: _Family, mu):
    return {"identity": lambda m: m, "logit": special.logit, "log": np.log}[fam.link](mu)


# -------------------------------------------------------------- the fit
def _deviance(fam: _Family, y, mu, W):
    """Column sums of the deviance residuals (R's ``family$dev.resids``)."""
    yc = y[:, None]
    if fam.link == "identity":
        r = (yc - mu) ** 2
    elif fam.link == "logit":
        if np.all((y == 0) | (y == 1)):  # 0/1 response: -2 log of the fitted probability of the outcome
            return -2 * np.einsum("ij,ij->j", W, np.log(np.where(yc == 1, mu, 1 - mu)))
        r = 2 * (special.xlogy(yc, yc / mu) + special.xlogy(1 - yc, (1 - yc) / (1 - mu)))
    else:
        r = 2 * (special.xlogy(yc, yc / mu) - (yc - mu))
    return np.einsum("ij,ij->j", W, r)


def _irls(X, y, W, fam: _Family, B0=None, maxit: int = 25, epsilon: float = 1e-8):
    """IRLS (Fisher scoring) as R's ``glm.fit``, for each column of weights ``W`` (n x R) at once.

    Starts from R's ``mustart`` (or from ``B0``) and stops a column when the
    deviance changes by less than ``epsilon`` relative
    (``|dev - dev_old| / (|dev| + 0.1)``), R's rule; so the coefficients,
    and the working weights of the last iteration used by the sandwich,
    are R's.  Returns ``(B (p, R), working weights (n, 1) of the last
    iteration (None for several columns), converged (R,), iterations, last
    step (p, R))``.
    """
    n, p = X.shape
    R = W.shape[1]
    if B0 is None:
        mustart = np.column_stack([fam.start(y, W[:, r]) for r in range(R)])
        eta = _linkfun(fam, mustart)
        B = np.zeros((p, R))
    else:
        B = np.repeat(np.asarray(B0, float)[:, None], R, axis=1)
        eta = X @ B
    mu = fam.linkinv(eta)
    dev_old = _deviance(fam, y, mu, W)
    wlast = np.zeros((n, 1)) if R == 1 else None
    step = np.zeros((p, R))
    active = np.ones(R, dtype=bool)
    conv = np.zeros(R, dtype=bool)
    buf = np.empty_like(X)
    it = 0
    for it in range(1, maxit + 1):
        idx = np.flatnonzero(active)
        sel = slice(None) if idx.shape[0] == R else idx  # views while every column is active
        e, m, Wa = eta[:, sel], mu[:, sel], W[:, sel]
        d = _mu_eta_at(fam, m)
        wz = Wa * (d * d / fam.variance(m))
        wzz = wz * e
        wzz += wz * (y[:, None] - m) / d  # wz * z with z = eta + (y - mu) / (dmu/deta)
        A = _weighted_crossprods(X, wz, buf)
        b = (X.T @ wzz).T
        del wzz
        try:
            Bn = np.linalg.solve(A, b[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            raise EstimationError("formula: the weighted information matrix is singular during the fit") from None
        en = X @ Bn
        mn = fam.linkinv(en)
        dev = _deviance(fam, y, mn, Wa)
        step[:, sel] = Bn - B[:, sel]
        B[:, sel], eta[:, sel], mu[:, sel] = Bn, en, mn
        if R == 1:
            wlast[:, sel] = wz  # the working weights the sandwich uses (the full-sample fit only)
        done = np.abs(dev - dev_old[idx]) / (np.abs(dev) + 0.1) < epsilon
        dev_old[idx] = dev
        conv[idx[done]] = True
        active[idx[done]] = False
        if not active.any():
            break
    return B, wlast, conv, it, step


def _weighted_crossprods(X, W, buf) -> np.ndarray:
    """``X' diag(W[:, k]) X`` for every column ``k`` of ``W``: (K, p, p).

    Few columns: one BLAS product each.  Many (replicate refits): the
    products of column pairs of ``X`` (upper triangle), a block of rows at a
    time, times ``W`` in one matrix product per block.
    """
    n, p = X.shape
    K = W.shape[1]
    A = np.empty((K, p, p))
    if K <= 4:
        for k in range(K):
            np.multiply(X, W[:, k:k + 1], out=buf)
            A[k] = X.T @ buf
        return A
    iu, ju = np.triu_indices(p)
    acc = np.zeros((iu.shape[0], K))
    step = max(1, int(4e6 // iu.shape[0]))  # bounded memory: ~32 MB of pair products per block
    for s in range(0, n, step):
        Xb = X[s:s + step]
        acc += (Xb[:, iu] * Xb[:, ju]).T @ W[s:s + step]
    A[:, iu, ju] = acc.T
    A[:, ju, iu] = acc.T
    return A


def _aliased(X, w) -> np.ndarray:
    """Columns in the span of the columns before them (rows with w > 0), as R's pivoting QR.

    Screened on the scaled cross-product matrix (a sequential Cholesky that
    skips dependent columns: cheap for tall matrices); a column flagged there
    (Schur complement below 1e-12 of its norm squared) is confirmed by a QR
    of the weighted matrix (remaining norm below 1e-9 of the original).
    """
    pos = w > 0
    Xw = X[pos] * np.sqrt(w[pos])[:, None]
    G = Xw.T @ Xw
    p = G.shape[0]
    d = np.sqrt(np.diag(G))
    al = d == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        Gs = G / np.outer(np.where(al, 1.0, d), np.where(al, 1.0, d))
    L = np.zeros((p, p))
    for j in range(p):  # p columns, not rows
        if al[j]:
            continue
        keep = np.flatnonzero(~al[:j])
        v = Gs[j, j] - L[j, keep] @ L[j, keep]
        if v <= 1e-12:
            al[j] = True
            continue
        L[j, j] = np.sqrt(v)
        L[j + 1:, j] = (Gs[j + 1:, j] - L[j + 1:, keep] @ L[j, keep]) / L[j, j]
    if not al.any() or (d == 0).all():
        return al
    Q = Xw if Xw.shape[0] >= p else np.vstack([Xw, np.zeros((p - Xw.shape[0], p))])
    r = np.abs(np.diag(np.linalg.qr(Q, mode="r")))
    return (d == 0) | (r <= 1e-9 * np.where(d > 0, d, 1.0))


# ------------------------------------------------------------- results
def _html(title: str, frame: pd.DataFrame, note: str) -> str:
    from .display import html_table

    return html_table(title, frame, note)


@dataclass(frozen=True, eq=False)
class WaldTest:
    """A Wald test of some coefficients being zero, as R's ``regTermTest`` (method ``"Wald"``).

    ``statistic`` is the F statistic ``β' V⁻¹ β / df_num`` referred to an F
    distribution on ``(df_num, df_denom)`` with ``df_denom`` the model's
    residual df; ``chisq`` is ``β' V⁻¹ β``.
    """

    terms: tuple
    statistic: float
    df_num: int
    df_denom: float
    pvalue: float
    chisq: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"terms": [" + ".join(self.terms)], "statistic": [self.statistic],
                             "df_num": [self.df_num], "df_denom": [self.df_denom], "pvalue": [self.pvalue],
                             "method": ["Wald F (regTermTest)"]})

    def __repr__(self) -> str:
        return (f"<Wald test of {', '.join(self.terms)}: F = {self.statistic:.6g} on {self.df_num} and "
                f"{self.df_denom:g} df, p = {self.pvalue:.4g}>")

    def _repr_html_(self) -> str:
        return _html("Wald test (regTermTest)", self.to_frame(),
                     "F statistic on (df_num, df_denom) with the model's residual design df")


@dataclass(frozen=True, eq=False)
class ModelResult:
    """A fitted design-based GLM (R's ``svyglm``).

    Attributes
    ----------
    params, bse : pandas.Series
        Coefficients and standard errors in R's order, with R's names.
    df_resid : float
        R's ``df.residual``: design df of the rows used - coefficients + 1.
    family, formula : str
    n : int
        Rows used in the fit (domain rows with values).
    """

    formula: str
    family: str
    params: pd.Series
    _cov: np.ndarray = field(repr=False)
    df_resid: float
    n: int
    terms: tuple
    assign: np.ndarray = field(repr=False)
    converged: bool
    iterations: int
    method: str
    _frame: object = field(repr=False, default=None)
    _fam: object = field(repr=False, default=None)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._cov)), index=self.params.index, name="se")

    def cov_params(self) -> pd.DataFrame:
        """The design-based covariance matrix of the coefficients (R's ``vcov``)."""
        idx = self.params.index
        return pd.DataFrame(self._cov.copy(), index=idx, columns=idx)

    vcov = cov_params

    @property
    def tvalues(self) -> pd.Series:
        return pd.Series(self.params.to_numpy() / self.bse.to_numpy(), index=self.params.index, name="t")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of t on ``df_resid`` (NaN where ``df_resid <= 0``, as R)."""
        t = self.tvalues.to_numpy()
        df = self.df_resid
        p = 2 * special.stdtr(df, -np.abs(t)) if df > 0 else np.full_like(t, np.nan)
        return pd.Series(p, index=self.params.index, name="p")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals with t on ``df_resid`` (R's ``confint.svyglm``)."""
        level = check_level(level)
        df = self.df_resid
        c = special.stdtrit(df, 1 - (1 - level) / 2) if df > 0 else np.nan
        b, s = self.params.to_numpy(), self.bse.to_numpy()
        return pd.DataFrame({"ci_low": b - c * s, "ci_high": b + c * s}, index=self.params.index)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: term, estimate, se, t, p, ci_low, ci_high (and for
        logit/log links ``exp_estimate``, ``exp_ci_low``, ``exp_ci_high``: odds or rate
        ratios).  Columns are documented in :mod:`analysis.display`."""
        ci = self.conf_int(level)
        out = pd.DataFrame({"term": self.params.index, "estimate": self.params.to_numpy(),
                            "se": self.bse.to_numpy(), "t": self.tvalues.to_numpy(),
                            "p": self.pvalues.to_numpy(), "ci_low": ci["ci_low"].to_numpy(),
                            "ci_high": ci["ci_high"].to_numpy()})
        if self._fam is not None and self._fam.ratio_name:
            out["exp_estimate"] = np.exp(out["estimate"])
            out["exp_ci_low"] = np.exp(out["ci_low"])
            out["exp_ci_high"] = np.exp(out["ci_high"])
        out["df"] = self.df_resid
        return out

    summary = to_frame

    def wald_test(self, terms: str | Sequence[str], null=None) -> WaldTest:
        """Wald F test that all coefficients of ``terms`` are zero, as R's ``regTermTest``.

        ``terms`` are term labels as R writes them (``"stype"``,
        ``"stype:api99"``; ``C(stype)`` also works); ``null`` gives
        hypothesised values (default 0) for the tested coefficients.
        """
        from .formula import clean_name

        if isinstance(terms, str):
            terms = [terms]
        terms = list(terms)
        if not terms:
            raise EstimationError("terms: expected at least one term label, got none")

        def canon(t):
            return ":".join(sorted(clean_name(p) for p in _split_term(t)))

        have = {canon(t): i + 1 for i, t in enumerate(self.terms)}
        idx = []
        for t in terms:
            k = have.get(canon(t))
            if k is None:
                raise EstimationError(f"terms: expected term labels of the model {list(self.terms)}, got {t!r}")
            idx += list(np.flatnonzero(self.assign == k))
        idx = np.asarray(idx)
        beta = self.params.to_numpy()[idx]
        if null is not None:
            beta = beta - np.broadcast_to(np.asarray(null, float), beta.shape)
        V = self._cov[np.ix_(idx, idx)]
        chisq = float(beta @ np.linalg.solve(V, beta))
        k = int(idx.shape[0])
        df = self.df_resid
        F = chisq / k
        p = float(special.fdtrc(k, df, F)) if df > 0 else float("nan")
        return WaldTest(tuple(terms), F, k, df, p, chisq)

    def predict(self, new_data: pd.DataFrame, type: str = "response", level: float = 0.95) -> pd.DataFrame:
        """Predictions for ``new_data`` with SEs, as R's ``predict.svyglm``.

        ``type="link"`` gives ``η = x'β`` with SE ``sqrt(x' V x)``;
        ``type="response"`` gives ``μ = g⁻¹(η)`` with the delta-method SE
        ``|dμ/dη| sqrt(x' V x)``.  The interval is ``g⁻¹`` of the t interval
        for ``η`` on ``df_resid`` (so it stays inside the response's range).
        """
        check_choice(type, ("link", "response"), "type")
        level = check_level(level)
        if not isinstance(new_data, pd.DataFrame):
            raise EstimationError(f"new_data: expected a pandas DataFrame, got {new_data.__class__.__name__}")
        X = self._frame.matrix(_as_factors(new_data, self._frame))
        eta = X @ self.params.to_numpy()
        se_eta = np.sqrt(np.einsum("ij,jk,ik->i", X, self._cov, X))
        c = special.stdtrit(self.df_resid, 1 - (1 - level) / 2) if self.df_resid > 0 else np.nan
        lo, hi = eta - c * se_eta, eta + c * se_eta
        if type == "link":
            fit, se = eta, se_eta
        else:
            fam = self._fam
            fit = fam.linkinv(eta)
            se = np.abs(fam.mu_eta(eta)) * se_eta if fam.link != "identity" else se_eta
            lo, hi = fam.linkinv(lo), fam.linkinv(hi)
        return pd.DataFrame({"fit": fit, "se": se, "ci_low": lo, "ci_high": hi}, index=new_data.index)

    def __repr__(self) -> str:
        head = self.to_frame().to_string(index=False)
        return (f"<ModelResult {self.family} {self.formula!r}: {self.n} rows, df_resid={self.df_resid:g}, "
                f"{self.method}>\n{head}")

    def _repr_html_(self) -> str:
        note = (f"{self.family} model, {self.n} rows; {self.method}; 95% t intervals on df_resid = "
                f"{self.df_resid:g}")
        return _html(f"Survey GLM: {self.formula}", self.to_frame(), note)


def _split_term(t: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in t:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == ":" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def _as_factors(new_data: pd.DataFrame, frame) -> pd.DataFrame:
    """String/bool columns of new data as categoricals with the model's levels."""
    out = new_data.copy(deep=False)
    for name, levels in frame.factors.items():
        if name in out.columns and not pd.api.types.is_numeric_dtype(out[name].dtype):
            unknown = sorted(set(out[name].dropna().unique()) - set(levels), key=str)
            if unknown:
                raise EstimationError(f"new_data: expected the model's columns and known levels of {name!r} "
                                      f"{levels[:8]}, got {unknown[:8]}")
            out[name] = pd.Categorical(out[name], categories=levels)
    return out


# ------------------------------------------------------------------ fit
def glm(design, formula: str, family: str = "gaussian", where=None, na_rm: bool = True,
        maxit: int = 25) -> ModelResult:
    """Fit a design-based GLM; see :meth:`ModelMethods.glm`."""
    from . import covariance as cov
    from .formula import model_frame

    fam = _family(family)
    n = design.n
    rows = domain_rows(where, design.data.index)  # a Series is aligned by index
    frame, used = model_frame(formula, design.data, rows, na_rm=na_rm)
    y, X = frame.y, frame.X
    w = np.asarray(design.weights, float)[used]
    if not np.isfinite(y).all():
        raise EstimationError(f"formula: expected a finite response, got non-finite values of {frame.response!r}")
    if fam.link == "logit":
        bad = (y < 0) | (y > 1)
        if bad.any():
            vals = np.unique(y[bad])[:6].tolist()
            raise EstimationError(
                f"family: expected a 0/1 (or proportion) response with family={family!r}, got values {vals} "
                f"in {frame.response!r}"
            )
    elif fam.link == "log" and (y < 0).any():
        raise EstimationError(
            f"family: expected a non-negative response with family={family!r}, got {float(y[y < 0][0])!r} "
            f"in {frame.response!r}"
        )
    if not (w > 0).any():
        raise EstimationError("where: expected rows with positive weight in the domain, got none")
    al = _aliased(X, w)
    if al.any():
        raise EstimationError(
            f"formula: expected a full-rank model matrix, got aliased (linearly dependent) column(s) "
            f"{[frame.names[j] for j in np.flatnonzero(al)]}; drop or merge those terms"
        )
    # R rescales the weights to mean 1 over the rows of its (subset) design before
    # glm drops incomplete rows; the scale enters R's stopping rule and the binomial
    # start, so it is kept.  A subset of a calibrated or PPS design keeps every row,
    # those outside the domain with weight 0: the mean is the domain's weight total over n.
    replicate = cov.is_replicate(design)
    all_w = np.asarray(design.weights, float)
    if where is None:
        scale = all_w.mean()
    elif replicate or not cov.subset_keeps_rows(design):
        scale = all_w[rows].mean()
    else:
        scale = all_w[rows].sum() / n
    wn = w / scale
    B, wlast, conv, it, last = _irls(X, y, wn[:, None], fam, maxit=maxit)
    beta = B[:, 0]
    eta = X @ beta
    mu = fam.linkinv(eta)
    pos = w > 0
    if fam.link == "logit":
        eps = 10 * np.finfo(float).eps
        edge = pos & ((mu < eps) | (mu > 1 - eps))
        if edge.any():
            # the fit runs off along the separating direction: name the terms that move along it
            sd = X[pos].std(axis=0)
            move = np.abs(last[:, 0]) * np.where(sd > 0, sd, 1.0)
            move[[i for i, nm in enumerate(frame.names) if nm == "(Intercept)"]] = 0.0
            big = [frame.names[j] for j in np.argsort(-move) if move[j] > 0.05 * move.max()][:8] if move.max() > 0 else []
            warnings.warn(
                f"formula: perfect or quasi-perfect separation: fitted probabilities numerically 0 or 1 for "
                f"{int(edge.sum())} row(s); the coefficients of {big or 'some terms'} are not finite estimates",
                SeparationWarning, stacklevel=3)
    else:
        edge = np.zeros(1, dtype=bool)
    if not conv[0] and not edge.any():
        warnings.warn(f"formula: the fit did not converge in {maxit} iterations", ModelConvergenceWarning,
                      stacklevel=3)
    wz = wlast[:, 0]  # R: the working weights of the last iteration (summary()$cov.unscaled, estfun)
    Ainv = np.linalg.inv(X.T @ (X * wz[:, None]))
    p = X.shape[1]
    if replicate:
        rw = cov.replicate_weights(design, used)
        tot = rw.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            Wr = rw / np.where(tot > 0, tot, np.nan)
        Br, _, convr, _, _ = _irls(X, y, Wr, fam, B0=beta, maxit=maxit)
        if not convr.all():
            warnings.warn(f"formula: {int((~convr).sum())} replicate fit(s) did not converge", ModelConvergenceWarning,
                          stacklevel=3)
        V = cov.replicate_vcov(design, Br, beta)
        df = cov.replicate_degf(design, rows) if where is not None else float(design.degf)
        method = f"replicate weights ({design.type}, {design.n_replicates} refits)"
    else:
        resid = (y - mu) / fam.mu_eta(eta)  # R's working residuals
        infl = np.zeros((n, p))
        infl[used] = (X * (resid * wz)[:, None]) @ Ainv
        # lonely_psu="average" counts the strata of R's subset design: the rows used, or all rows of a
        # calibrated or PPS design (whose subsets keep every row)
        V = cov.total_vcov(design, infl, None if cov.subset_keeps_rows(design) else used)
        df = cov.domain_degf(design, used)
        method = "Taylor linearisation (sandwich)" + (", calibrated" if cov.is_calibrated(design) else "")
    df_resid = df + 1 - p
    return ModelResult(formula=formula, family=family, params=pd.Series(beta, index=frame.names, name="estimate"),
                       _cov=(V + V.T) / 2, df_resid=float(df_resid), n=int(used.shape[0]), terms=tuple(frame.terms),
                       assign=frame.assign, converged=bool(conv[0]), iterations=int(it), method=method,
                       _frame=frame, _fam=fam)


class ModelMethods:
    """``glm`` for the design classes (mixed into SurveyDesign and ReplicateDesign)."""

    def glm(self, formula: str, family: str = "gaussian", where=None, na_rm: bool = True) -> ModelResult:
        """Design-based generalised linear model, as R's ``svyglm``.

        Parameters
        ----------
        formula : str
            R/patsy formula, e.g. ``"api00 ~ ell + meals + C(stype)"``.
            String, boolean and categorical columns are factors (treatment
            coding, first level as reference).
        family : {"gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson"}
            Canonical links: identity, logit, log.  A binomial response is
            0/1, boolean, a two-level factor (first level = 0) or a
            proportion.
        where : boolean array, optional
            A domain (R's ``subset``), estimated inside the full design.
        na_rm : bool
            Leave rows with a missing model variable out (R's
            ``na.omit``); ``False`` raises instead.

        Returns
        -------
        ModelResult
            ``params``, ``bse``, ``cov_params()``, ``df_resid``,
            ``conf_int()``, ``tvalues``, ``pvalues``, ``to_frame()``,
            ``wald_test()``, ``predict()``.

        Notes
        -----
        Taylor designs use the sandwich variance with the design's own
        kernel (and calibration residuals); replicate designs refit the
        model with each replicate's weights, as R.  See the module
        docstring for the references.
        """
        return glm(self, formula, family=family, where=where, na_rm=na_rm)
