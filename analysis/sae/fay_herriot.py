"""The Fay-Herriot area-level model: EBLUP and its MSE, as R ``sae`` 1.3.

Model (Fay and Herriot 1979): for areas ``d = 1..m``,

    y_d = theta_d + e_d,   theta_d = x_d' beta + u_d,
    u_d ~ N(0, sigma2_u),  e_d ~ N(0, psi_d) with psi_d known.

``y_d`` is the direct (design-based) estimate, ``psi_d`` its sampling
variance.  The EBLUP is ``gamma_d y_d + (1 - gamma_d) x_d' beta_hat`` with the
shrinkage factor ``gamma_d = sigma2_u / (sigma2_u + psi_d)``.

Conventions (all those of R ``sae::eblupFH`` / ``sae::mseFH``, version 1.3):

* ``sigma2_u`` by Fisher scoring for REML or ML, or by the Fay-Herriot
  moment equation (``method="FH"``), started at the median of ``psi``,
  stopped when ``|A_{k+1} - A_k| / A_k <= precision`` (default 1e-4) or
  after ``maxiter`` (default 100) steps; a negative limit is truncated to
  0.  ``sigma2_u = 0`` is then *kept* as R does: every EBLUP is the
  synthetic ``x_d' beta_hat``, the MSE is evaluated at 0, and the fit
  reports it (``sigma2_u_zero``, a :class:`SmallAreaWarning`).
* ``beta_hat`` is the GLS estimate at ``sigma2_u``, its standard errors
  ``sqrt(diag(Q))`` with ``Q = (X' V^-1 X)^-1``; z tests on the normal.
* MSE = g1 + g2 + 2 g3 - b (1 - gamma_d)^2, as ``mseFH``: Prasad and Rao
  (1990) for REML (``b = 0``, ``var(A) = 2 / sum V^-2``); Datta and Lahiri
  (2000) for ML (``b = -tr(Q X'V^-2 X) / sum V^-2``, the ML bias); Datta,
  Rao and Smith (2005) for FH (``var(A) = 2m / (sum V^-1)^2``,
  ``b = 2 (m sum V^-2 - (sum V^-1)^2) / (sum V^-1)^3``).
* the log-likelihood, AIC and BIC are R's (the normal log-likelihood at the
  estimates, ``p + 1`` parameters), also for REML.

``method="AMRL"`` (not in R ``sae``; R ``emdi``'s ``fh(method = "amrl")``)
is Li and Lahiri's (2010) adjusted residual likelihood: ``sigma2_u``
maximises ``A L_RE(A)`` instead of ``L_RE(A)``, so it is never 0, and it
is REML's estimate plus a positive bias of order ``1/m`` that matters only
where REML's is small.  Why it exists: when ``sigma2_u`` is small against
the sampling variances (many areas with ``gamma`` below 0.3), REML's
estimate is very variable (coefficient of variation 0.6-0.7 with the demo's
117 sampled communes) and often 0 or near it; the EBLUPs are then pulled
onto ``x' beta`` and the Prasad-Rao MSE, evaluated at the small estimate,
is too small for exactly those samples -- intervals ``EBLUP +- 1.96 rmse``
covered the commune truth 79-85 % of the time in the quarter of the demo's
simulated samples with the smallest ``sigma2_u`` estimates, against 91-96 %
in the others (:mod:`pipeline.validate`).  The adjustment removes the
zero estimates and lifts the small ones (Li and Lahiri 2010; Yoshimori and
Lahiri 2014 give a variant with a smaller bias).  Its MSE is emdi's
``li_lahiri``: the Prasad-Rao terms minus the bias term
``(1 - gamma_d)^2 b`` with ``b = 2 / (A sum V^-2)`` (the adjusted
estimator's bias, ``d log A / dA`` over the REML information, taken as
``sum V^-2 / 2`` as emdi does), floored at
``g1 + g2``, the MSE of the BLUP with known ``sigma2_u``, which the EBLUP's
MSE cannot be below (Kackar and Harville 1984) and which the bias term can
cross when ``A`` is small; for areas without a sample it is
``sigma2_u + x' Q x`` (the same floor; emdi gives none there).

Where R's iteration would break down (an iterate below ``-min(psi)``, so
that ``V`` is not positive definite), the estimate is set to 0 and reported
as a zero estimate; R returns no usable number there.

References
----------
Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small places:
an application of James-Stein procedures to census data. *JASA* 74, 269-277.
Prasad, N. G. N. and Rao, J. N. K. (1990). The estimation of the mean
squared error of small-area estimators. *JASA* 85, 163-171.
Datta, G. S. and Lahiri, P. (2000). A unified measure of uncertainty of
estimated best linear unbiased predictors in small area estimation
problems. *Statistica Sinica* 10, 613-627.
Datta, G. S., Rao, J. N. K. and Smith, D. D. (2005). On measuring the
variability of small area estimators under a basic area level model.
*Biometrika* 92, 183-196.
Kackar, R. N. and Harville, D. A. (1984). Approximations for standard
errors of estimators of fixed and random effects in mixed linear models.
*JASA* 79, 853-862.
Li, H. and Lahiri, P. (2010). An adjusted maximum likelihood method for
solving small area estimation problems. *Journal of Multivariate Analysis*
101, 882-892.
Molina, I. and Marhuenda, Y. (2015). sae: an R package for small area
estimation. *The R Journal* 7(1), 81-98.
Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd ed.
Wiley, chapter 6.
Yoshimori, M. and Lahiri, P. (2014). A new adjusted maximum likelihood
method for the Fay-Herriot small area model. *Journal of Multivariate
Analysis* 124, 281-294.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from ..validation import EstimationError, SmallAreaWarning, check_choice
from . import _core
from .transform import BACKTRANSFORMS, arcsin_backtransform, arcsin_transform

__all__ = ["fay_herriot", "FayHerriotResult", "SyntheticPrediction", "METHODS"]

METHODS = _core.METHODS
TRANSFORMS = (None, "arcsin")
ARCSIN_MSE = ("bootstrap", "delta")


class SyntheticPrediction(NamedTuple):
    """Synthetic estimates ``x' beta_hat`` for areas without a sample, with their MSE."""

    estimate: np.ndarray
    mse: np.ndarray

    @property
    def rmse(self) -> np.ndarray:
        return np.sqrt(self.mse)


@dataclass
class FayHerriotResult:
    """A fitted Fay-Herriot model.

    Attributes
    ----------
    method : "REML", "ML", "FH" or "AMRL".
    sigma2_u : estimated variance of the area effects (after truncation at 0).
    sigma2_u_raw : the last iterate before truncation (negative when truncated).
    sigma2_u_zero : True when ``sigma2_u`` is 0 (every EBLUP is synthetic).
    beta, beta_se, beta_cov : GLS coefficients, standard errors, covariance ``Q``.
    covariates : names of the columns of ``X``.
    direct, variance : the direct estimates ``y`` and their variances ``psi``.
    eblup, mse : EBLUP and its estimated MSE (on the proportion scale when
        ``transform="arcsin"``).
    gamma : shrinkage factors ``sigma2_u / (sigma2_u + psi)`` (model scale).
    synthetic : ``X beta_hat`` (back-transformed like the EBLUPs with
        ``transform="arcsin"``).
    g1, g2, g3, bias_term : the MSE components (model scale); the MSE is
        ``g1 + g2 + 2 g3 - bias_term``.
    iterations, converged, last_change : the iteration's record.
    loglike, aic, bic : R ``sae``'s goodness-of-fit measures.
    transform : None or "arcsin"; ``model`` is then the fit on the
        transformed scale, and ``direct``/``eblup``/``mse`` are proportions.
    """

    method: str
    sigma2_u: float
    sigma2_u_raw: float
    sigma2_u_zero: bool
    beta: np.ndarray
    beta_se: np.ndarray
    beta_cov: np.ndarray
    covariates: list[str]
    direct: np.ndarray
    variance: np.ndarray
    eblup: np.ndarray
    mse: np.ndarray
    gamma: np.ndarray
    synthetic: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray
    bias_term: np.ndarray
    iterations: int
    converged: bool
    last_change: float
    maxiter: int
    precision: float
    loglike: float
    aic: float
    bic: float
    transform: str | None = None
    backtransform: str | None = None
    mse_method: str = "analytic"
    model: "FayHerriotResult | None" = field(default=None, repr=False)
    bias_term_constant: float = 0.0   # b of the sigma2_u estimator (0 for REML; AMRL's 2 / (A sum V^-2))
    _bootstrap: dict | None = field(default=None, repr=False)

    @property
    def n_areas(self) -> int:
        return int(self.direct.shape[0])

    @property
    def rmse(self) -> np.ndarray:
        """Root MSE of the EBLUP."""
        return np.sqrt(self.mse)

    @property
    def cv(self) -> np.ndarray:
        """Coefficient of variation ``rmse / |eblup|`` (NaN where the EBLUP is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.eblup != 0, self.rmse / np.abs(self.eblup), np.nan)

    @property
    def standardized_residuals(self) -> np.ndarray:
        """``(y - x' beta) / sqrt(sigma2_u + psi)`` on the model scale (approx. N(0, 1) under the model)."""
        fit = self.model or self
        return (fit.direct - fit.synthetic) / np.sqrt(fit.sigma2_u + fit.variance)

    def coefficients(self) -> pd.DataFrame:
        """Table of ``beta``, standard error, z value and two-sided normal p value (R's ``estcoef``)."""
        z = self.beta / self.beta_se
        return pd.DataFrame({"beta": self.beta, "std_error": self.beta_se, "z": z,
                             "p_value": 2 * special.ndtr(-np.abs(z))}, index=self.covariates)

    def to_frame(self) -> pd.DataFrame:
        """One row per area: direct, variance, eblup, mse, rmse, cv, gamma, synthetic."""
        return pd.DataFrame({"direct": self.direct, "variance": self.variance, "eblup": self.eblup,
                             "mse": self.mse, "rmse": self.rmse, "cv": self.cv,
                             "gamma": self.gamma, "synthetic": self.synthetic})

    def predict(self, X_new: ArrayLike) -> SyntheticPrediction:
        """Synthetic estimate ``x' beta_hat`` and its MSE for areas without a sample.

        For a non-sampled area ``theta = x' beta + u`` and the predictor is
        ``x' beta_hat``, so ``MSE = sigma2_u + x' Q x`` to second order
        (Rao and Molina 2015, ch. 6), less the bias of ``sigma2_u_hat``
        for ML and FH (the limit of ``mseFH``'s formula as ``psi -> inf``).
        With ``transform="arcsin"`` the estimate is back-transformed as the
        EBLUPs are (conditional variance ``sigma2_u``), and the MSE is the
        parametric bootstrap's (same ``seed`` and ``B`` as the fit) or the
        delta method's.

        Parameters
        ----------
        X_new : array (n_new, p) with the same columns as the fit's ``X``.
        """
        fit = self.model or self
        p = fit.beta.shape[0]
        Xn = np.asarray(X_new, dtype=float)
        if Xn.ndim == 1:
            Xn = Xn.reshape(1, -1) if Xn.shape[0] == p else Xn.reshape(-1, 1)
        if Xn.ndim != 2 or Xn.shape[1] != p:
            raise EstimationError(
                f"X_new: expected an array with {p} columns ({', '.join(fit.covariates)}), "
                f"got shape {np.shape(X_new)}")
        if not np.isfinite(Xn).all():
            raise EstimationError("X_new: expected finite numbers, got NaN or infinite values")
        est = Xn @ fit.beta
        h = np.einsum("ni,ij,nj->n", Xn, fit.beta_cov, Xn)
        mse = fit.sigma2_u + h - float(fit.bias_term_constant)
        if fit.method == "AMRL":  # the floor of the in-sample MSE, as psi -> inf: no bias correction
            mse = np.maximum(mse, fit.sigma2_u + h)
        if self.transform is None:
            return SyntheticPrediction(est, mse)
        point = arcsin_backtransform(est, fit.sigma2_u, self.backtransform)
        if self.mse_method == "delta":
            return SyntheticPrediction(point, np.sin(2 * np.clip(est, 0, np.pi / 2)) ** 2 * mse)
        b = self._bootstrap
        boot = _arcsin_bootstrap(fit, b["X"], Xn, self.backtransform, b["B"], b["seed"])
        return SyntheticPrediction(point, boot["mse_new"])

    def diagnostics(self) -> dict:
        """Model diagnostics for a report (all on the model scale).

        * ``r2_fh``: ``1 - sigma2_u / sigma2_u0``, the share of the area-effect
          variance explained by the covariates, ``sigma2_u0`` from the
          intercept-only model fitted the same way (Lahiri and Suntornchost
          2015; R ``emdi``'s "FH R2"); NaN when ``sigma2_u0`` is 0;
        * ``std_resid_*``: mean, standard deviation, skewness, excess
          kurtosis of the standardised residuals
          ``(y - x' beta) / sqrt(sigma2_u + psi)`` -- about 0, 1, 0, 0 under
          the model -- and the share beyond 2 in absolute value (about 5 %);
        * ``gamma_mean``: mean shrinkage factor (weight of the direct estimate).

        Lahiri, P. and Suntornchost, J. (2015). Variable selection for
        linear mixed models with applications in small area estimation.
        *Sankhya B* 77, 312-320.
        """
        fit = self.model or self
        r = fit.standardized_residuals
        c = r - r.mean()
        sd = float(np.sqrt(np.mean(c**2)))
        null = _core.fit_variance(np.ones((fit.n_areas, 1)), fit.direct[:, None], fit.variance[:, None],
                                  fit.method, fit.maxiter, fit.precision)
        s0 = float(null.sigma2_u[0])
        return {
            "method": fit.method, "transform": self.transform, "n_areas": fit.n_areas,
            "n_coefficients": int(fit.beta.shape[0]), "sigma2_u": fit.sigma2_u,
            "sigma2_u_zero": fit.sigma2_u_zero, "iterations": fit.iterations,
            "loglike": fit.loglike, "aic": fit.aic, "bic": fit.bic,
            "r2_fh": (max(0.0, 1.0 - fit.sigma2_u / s0) if s0 > 0 and null.converged[0] else float("nan")),
            "std_resid_mean": float(r.mean()), "std_resid_sd": float(np.std(r, ddof=1)),
            "std_resid_skewness": float(np.mean(c**3) / sd**3) if sd > 0 else float("nan"),
            "std_resid_excess_kurtosis": float(np.mean(c**4) / sd**4 - 3) if sd > 0 else float("nan"),
            "std_resid_share_beyond_2": float(np.mean(np.abs(r) > 2)),
            "gamma_mean": float(np.mean(fit.gamma)),
        }


def _as_float_array(value, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EstimationError(f"{name}: expected numbers, got {type(value).__name__} "
                              f"that cannot be converted to float") from None
    if ndim == 2 and arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != ndim:
        raise EstimationError(f"{name}: expected a {ndim}-dimensional array, got shape {arr.shape}")
    return arr


def _check_inputs(y, variance, X, method, names, positive=True):
    check_choice(method, METHODS, "method")
    y = _as_float_array(y, "y", 1)
    psi = _as_float_array(variance, "variance", 1)
    X = _as_float_array(X, "X", 2)
    m, p = X.shape
    if psi.shape[0] != y.shape[0] or m != y.shape[0]:
        raise EstimationError(
            f"y, variance, X: expected one value per area in each (the same length), "
            f"got y of length {y.shape[0]}, variance of length {psi.shape[0]}, X with {m} rows")
    for name, arr in (("y", y), ("variance", psi), ("X", X)):
        bad = ~np.isfinite(arr)
        if bad.any():
            where = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
            raise EstimationError(
                f"{name}: expected finite numbers, got NaN or infinite values in "
                f"{where.size} area(s) (positions {', '.join(map(str, where[:8]))})")
    bad = psi <= 0 if positive else psi < 0
    if bad.any():
        where = np.flatnonzero(bad)
        raise EstimationError(
            f"variance: expected positive sampling variances, got {where.size} value(s) "
            f"{'<= 0' if positive else '< 0'} (e.g. {float(psi[where[0]])!r} at position {where[0]}); "
            f"smooth them with gvf_proportion")
    if m <= p:
        raise EstimationError(
            f"X: expected more areas than model parameters ({p} coefficients + sigma2_u), "
            f"got {m} area(s)")
    rank = np.linalg.matrix_rank(X)
    if rank < p:
        raise EstimationError(
            f"X: expected linearly independent columns (full column rank {p}), got rank {rank}"
            f" (a constant column twice, a dummy for every category with an intercept, "
            f"or a covariate constant over the areas?)")
    if names is None:
        names = [f"x{j}" for j in range(p)]
    names = list(names)
    if len(names) != p:
        raise EstimationError(f"covariates: expected {p} names (one per column of X), got {len(names)}")
    return y, psi, X, names


def _mse(method, A, psi, X, Q, h):
    """``mseFH``'s g1, g2, g3 and bias term, vectorised over areas."""
    m = X.shape[0]
    w = 1.0 / (A + psi)
    Bd = psi * w
    g1 = psi * (1 - Bd)
    g2 = Bd**2 * h
    sum_w2 = np.sum(w**2)
    if method == "FH":
        sum_w = np.sum(w)
        var_a = 2.0 * m / sum_w**2
        b = 2.0 * (m * sum_w2 - sum_w**2) / sum_w**3
    else:
        var_a = 2.0 / sum_w2
        b = 0.0
        if method == "ML":
            M = (X * (w**2)[:, None]).T @ X
            b = -np.trace(Q @ M) / sum_w2
        elif method == "AMRL" and A > 0:  # bias (d log A / dA) / I_RE(A) of the adjusted estimator
            b = 2.0 / (A * sum_w2)
    g3 = Bd**2 * var_a * w
    bias = b * Bd**2
    return g1, g2, g3, bias, b


def _fit_model(y, psi, X, method, maxiter, precision, names) -> FayHerriotResult:
    m, p = X.shape
    vf = _core.fit_variance(X, y[:, None], psi[:, None], method, maxiter, precision)
    if not vf.converged[0]:
        raise EstimationError(
            f"maxiter: the {method} iteration for sigma2_u did not converge in {maxiter} "
            f"iterations (last relative change {vf.last_change[0]:.3g} > precision {precision}); "
            f"raise maxiter or try method='FH'")
    A = float(vf.sigma2_u[0])
    w = 1.0 / (A + psi)
    Q, beta, resid, h = _core.gls(X, y[:, None], w[:, None])
    Q, beta, resid, h = Q[0], beta[:, 0], resid[:, 0], h[:, 0]
    gamma = A * w
    synthetic = y - resid
    eblup = synthetic + gamma * resid
    g1, g2, g3, bias, b = _mse(method, A, psi, X, Q, h)
    mse = g1 + g2 + 2 * g3 - bias
    if method == "AMRL":  # the bias term can exceed the rest when A is small: never below the BLUP's MSE
        mse = np.maximum(mse, g1 + g2)
    loglike = -0.5 * float(np.sum(np.log(2 * np.pi * (A + psi)) + resid**2 * w))
    res = FayHerriotResult(
        method=method, sigma2_u=A, sigma2_u_raw=float(vf.raw[0]), sigma2_u_zero=(A == 0.0),
        beta=beta, beta_se=np.sqrt(np.diag(Q)), beta_cov=Q, covariates=names,
        direct=y, variance=psi, eblup=eblup, mse=mse, gamma=gamma,
        synthetic=synthetic, g1=g1, g2=g2, g3=g3, bias_term=bias,
        iterations=int(vf.iterations[0]), converged=True, last_change=float(vf.last_change[0]),
        maxiter=maxiter, precision=precision, loglike=loglike,
        aic=-2 * loglike + 2 * (p + 1), bic=-2 * loglike + (p + 1) * math.log(m))
    res.bias_term_constant = float(b)
    return res


def _arcsin_bootstrap(fit: FayHerriotResult, X, X_new, backtransform, B, seed):
    """Parametric bootstrap MSE on the proportion scale (Gonzalez-Manteiga et al. 2008).

    ``B`` samples ``z* = X beta_hat + u* + e*`` are drawn from the fitted
    model on the arcsine scale and refitted all at once (the batched
    iteration); the MSE is the mean of ``(p_hat* - p*)^2`` with
    ``p* = h(X beta_hat + u*)``.  Non-converged refits are dropped.
    """
    rng = np.random.default_rng(seed)
    m = X.shape[0]
    n_new = 0 if X_new is None else X_new.shape[0]
    A, psi = fit.sigma2_u, fit.variance
    sd_u = math.sqrt(A)
    u = rng.standard_normal((m + n_new, B)) * sd_u
    e = rng.standard_normal((m, B)) * np.sqrt(psi)[:, None]
    theta = (X @ fit.beta)[:, None] + u[:m]
    z = theta + e
    psi_b = np.broadcast_to(psi[:, None], (m, B))
    vf = _core.fit_variance(X, z, psi_b, fit.method, fit.maxiter, fit.precision)
    ok = vf.converged
    A_b = vf.sigma2_u[ok]
    w = 1.0 / (A_b[None, :] + psi[:, None])
    _, beta_b, resid_b, _ = _core.gls(X, z[:, ok], w)
    gamma_b = A_b[None, :] * w
    zhat = z[:, ok] - resid_b + gamma_b * resid_b
    p_hat = arcsin_backtransform(zhat, gamma_b * psi[:, None], backtransform)
    p_true = arcsin_backtransform(theta[:, ok], 0.0, "naive")
    out = {"mse": np.mean((p_hat - p_true) ** 2, axis=1), "used": int(ok.sum())}
    if n_new:
        th_new = (X_new @ fit.beta)[:, None] + u[m:, ok]
        p_new = arcsin_backtransform(X_new @ beta_b, np.broadcast_to(A_b, (n_new, A_b.size)),
                                     backtransform)
        out["mse_new"] = np.mean((p_new - arcsin_backtransform(th_new, 0.0, "naive")) ** 2, axis=1)
    return out


def fay_herriot(y: ArrayLike, variance: ArrayLike, X: ArrayLike, method: str = "REML", *,
                covariates: Sequence[str] | None = None,
                maxiter: int = 100, precision: float = 1e-4, transform: str | None = None,
                n_eff: ArrayLike | None = None, backtransform: str = "bias_corrected", mse_method: str = "bootstrap",
                B: int = 200, seed: int = 0) -> FayHerriotResult:
    """Fit the Fay-Herriot area-level model and return EBLUPs with their MSE.

    Parameters
    ----------
    y : array (m,)
        Direct estimates of the ``m`` sampled areas (proportions when
        ``transform="arcsin"``).
    variance : array (m,)
        Their sampling variances ``psi_d`` (> 0), taken as known; for
        proportions from small samples smooth them first
        (:func:`gvf_proportion`).
    X : array (m, p)
        Area-level covariates, *including* the intercept column if wanted
        (:func:`fay_herriot_frame` adds it).  Full column rank, ``m > p``.
    method : {"REML", "ML", "FH", "AMRL"}
        Estimator of ``sigma2_u``; the MSE follows (Prasad-Rao for REML and
        FH, Datta-Lahiri for ML), exactly as R ``sae::mseFH``; ``"AMRL"``
        is Li and Lahiri's (2010) adjusted REML, strictly positive, with
        their MSE as R ``emdi`` (see the module docstring): use it when
        ``sigma2_u`` is small against the sampling variances, where REML's
        estimate is often 0 and the intervals too short.
    covariates : names of the columns of ``X`` (default ``x0, x1, ...``).
    maxiter, precision : R's ``MAXITER`` and ``PRECISION`` (100, 1e-4).
    transform : None or "arcsin"
        Model ``arcsin(sqrt(y))`` with variance ``1 / (4 n_eff)`` and
        back-transform (see :mod:`analysis.sae.transform`).
    n_eff : array (m,), optional
        Effective sample sizes for ``transform="arcsin"``; default
        ``y (1 - y) / variance`` (needs ``0 < y < 1``).
    backtransform : {"bias_corrected", "naive"}
        With ``transform="arcsin"``.
    mse_method : {"bootstrap", "delta"}
        MSE on the proportion scale with ``transform="arcsin"``: parametric
        bootstrap with ``B`` samples from ``numpy.random.default_rng(seed)``
        (as R ``emdi``), or the delta method ``sin(2 z)^2 mse_z``
        (first-order, too small where ``sigma2_u`` is large).
    B, seed : bootstrap size and seed.

    Returns
    -------
    FayHerriotResult

    Raises
    ------
    EstimationError
        Lengths differ, values not finite, variances <= 0, ``X`` not of full
        column rank, ``m <= p``, or no convergence in ``maxiter`` steps.

    Warns
    -----
    SmallAreaWarning
        When ``sigma2_u`` is estimated as 0 (all EBLUPs synthetic).

    Examples
    --------
    R ``sae``'s milk example (Molina and Marhuenda 2015)::

        fit = fay_herriot(milk.yi, milk.SD**2, X)   # X: intercept + 3 MajorArea dummies
        fit.sigma2_u   # 0.01855
    """
    check_choice(transform, TRANSFORMS, "transform")
    if not (isinstance(maxiter, (int, np.integer)) and maxiter >= 1):
        raise EstimationError(f"maxiter: expected an integer >= 1, got {maxiter!r}")
    if not (isinstance(precision, (int, float)) and precision > 0):
        raise EstimationError(f"precision: expected a number > 0, got {precision!r}")
    # with the arcsine transformation and given n_eff the variances are not used
    positive = transform is None or n_eff is None
    y, psi, X, names = _check_inputs(y, variance, X, method, covariates, positive)
    if transform is None:
        res = _fit_model(y, psi, X, method, int(maxiter), float(precision), names)
    else:
        res = _fit_arcsin(y, psi, X, method, int(maxiter), float(precision), names, n_eff,
                          backtransform, mse_method, B, seed)
    if res.sigma2_u_zero:
        warnings.warn(
            f"sigma2_u: the {method} estimate is 0 (last iterate {res.sigma2_u_raw:.4g} truncated "
            f"at 0, as R sae does); every EBLUP is the synthetic estimate x'beta",
            SmallAreaWarning, stacklevel=2)
    return res


def _fit_arcsin(y, psi, X, method, maxiter, precision, names, n_eff, backtransform,
                mse_method, B, seed):
    check_choice(backtransform, BACKTRANSFORMS, "backtransform")
    check_choice(mse_method, ARCSIN_MSE, "mse_method")
    if ((y < 0) | (y > 1)).any():
        raise EstimationError(f"y: expected proportions in [0, 1] with transform='arcsin', "
                              f"got values from {y.min()!r} to {y.max()!r}")
    if n_eff is None:
        edge = (y <= 0) | (y >= 1)
        if edge.any():
            raise EstimationError(
                f"n_eff: expected effective sample sizes for the {int(edge.sum())} area(s) with a "
                f"proportion of 0 or 1 (e.g. GVFResult.n_eff), got none")
        n_eff = y * (1 - y) / psi
    n_eff = _as_float_array(n_eff, "n_eff", 1)
    if n_eff.shape != y.shape or not (np.isfinite(n_eff) & (n_eff > 0)).all():
        raise EstimationError(f"n_eff: expected {y.shape[0]} positive finite numbers, "
                              f"got shape {n_eff.shape} with min {np.nanmin(n_eff)!r}")
    if not (isinstance(B, (int, np.integer)) and B >= 2):
        raise EstimationError(f"B: expected an integer >= 2, got {B!r}")
    z, psi_z = arcsin_transform(y, n_eff)
    model = _fit_model(z, psi_z, X, method, maxiter, precision, names)
    zhat = model.eblup
    point = arcsin_backtransform(zhat, model.g1, backtransform)
    boot = None
    if mse_method == "delta":
        mse = np.sin(2 * np.clip(zhat, 0, np.pi / 2)) ** 2 * model.mse
    else:
        boot = {"X": X, "B": int(B), "seed": seed}
        mse = _arcsin_bootstrap(model, X, None, backtransform, int(B), seed)["mse"]
    synthetic = arcsin_backtransform(model.synthetic, model.sigma2_u, backtransform)
    res = FayHerriotResult(**{**model.__dict__, "direct": y, "variance": psi, "eblup": point,
                              "mse": mse, "synthetic": synthetic, "transform": "arcsin", "backtransform": backtransform,
                              "mse_method": mse_method, "model": model, "_bootstrap": boot})
    return res
