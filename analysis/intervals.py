"""Confidence-interval methods, as small name -> function registries.

Two registries:

* :data:`MEAN_METHODS` for means, totals, ratios (and proportions, where they
  also apply): ``"t"`` (Student t on the design degrees of freedom, the
  default, as Stata ``svy`` and R's ``svyciprop(method="mean")``) and
  ``"normal"`` (R's ``confint()`` default for ``svymean``/``svytotal``,
  i.e. ``df = Inf``).
* :data:`PROPORTION_METHODS` for proportions: ``"logit"`` (R's default in
  ``svyciprop``), ``"xlogit"`` (the same interval by the delta method),
  ``"beta"`` (Korn & Graubard 1998), ``"wilson"``, ``"mean"`` (Wald with t),
  ``"asin"``, ``"likelihood"`` (R's profile-likelihood interval).

Every function takes arrays ``(estimate, se, df, n, level)`` and returns
``(low, high)`` arrays, vectorised over all estimates at once.

References
----------
Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for proportions
with small expected number of positive counts estimated from survey data.
*Survey Methodology* 24, 193-201.
Parker, J. D. et al. (2017). National Center for Health Statistics data
presentation standards for proportions. *Vital Health Stat* 2(175).
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import special  # not scipy.stats: its import costs a second per pipeline stage

from .validation import check_choice, check_level

__all__ = ["MEAN_METHODS", "PROPORTION_METHODS", "interval", "t_quantile", "effective_n", "likelihood_interval"]

IntervalFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], tuple]


def t_quantile(q: float, df) -> np.ndarray:
    """Student t quantile, normal where ``df`` is infinite, NaN where ``df < 1``."""
    df = np.asarray(df, dtype=float)
    # one quantile per distinct df (a report has a few df values for thousands of estimates)
    uniq, inv = np.unique(df, return_inverse=True)
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(uniq), special.ndtri(q), special.stdtrit(np.where(uniq >= 1, uniq, np.nan), q))
    return out[inv.reshape(df.shape)]


def _crit(df, level):
    return t_quantile(1 - (1 - level) / 2, df)


def _t(est, se, df, n, level):
    c = _crit(df, level)
    return est - c * se, est + c * se


def _normal(est, se, df, n, level):
    return _t(est, se, np.full_like(np.asarray(est, float), np.inf), n, level)


def _logit(p, se, df, n, level):
    # R's svyciprop(method="logit") is a Wald interval for the intercept of a
    # quasibinomial svyglm, which equals this delta-method interval exactly.
    c = _crit(df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = c * se / (p * (1 - p))
        lg = special.logit(p)
        return special.expit(lg - half), special.expit(lg + half)


def effective_n(p, se, df, n, level):
    """Korn-Graubard effective sample size, adjusted for the design df.

    ``n_eff = p(1-p)/V * (t_{n-1}/t_df)^2`` with the ``(1-level)/2`` t
    quantiles, as R's ``svyciprop(method="beta")``.  Where the variance is 0
    (``p`` of 0 or 1) the unweighted ``n`` is used, the NCHS convention (R
    gives NaN there).  ``n`` is the domain's row count.  R takes
    ``nrow(design)``, which is the same for the subsets of uncalibrated
    designs, but is the whole sample for a domain of a calibrated or
    non-Brewer PPS design (R's subset keeps those rows with zero weight
    there): its beta limits for such domains differ from these (by up to
    35% in the lower limit of a small domain, survey 4.1-1).  The domain's
    count is Korn and Graubard's intent.
    """
    alpha = 1 - level
    p = np.asarray(p, float)
    v = np.asarray(se, float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = np.where(v > 0, p * (1 - p) / v, np.asarray(n, float))
        adj = (t_quantile(alpha / 2, np.asarray(n, float) - 1) / t_quantile(alpha / 2, df)) ** 2
    return neff * adj


def _beta(p, se, df, n, level):
    alpha = 1 - level
    neff = effective_n(p, se, df, n, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = special.betaincinv(neff * p, neff * (1 - p) + 1, alpha / 2)
        hi = special.betaincinv(neff * p + 1, neff * (1 - p), 1 - alpha / 2)
    lo = np.where(p == 0, 0.0, lo)
    hi = np.where(p == 1, 1.0, hi)
    return lo, hi


def _wilson(p, se, df, n, level):
    # Wilson score interval on the (unadjusted) effective sample size
    # p(1-p)/V with the t critical value on the design df (Kott & Carr 1997).
    c = _crit(df, level)
    v = np.asarray(se, float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(v > 0, p * (1 - p) / v, np.asarray(n, float))
        c2 = c * c
        centre = (p + c2 / (2 * m)) / (1 + c2 / m)
        half = c / (1 + c2 / m) * np.sqrt(p * (1 - p) / m + c2 / (4 * m * m))
    return centre - half, centre + half


def _asin(p, se, df, n, level):
    # R: svycontrast(asin(sqrt(p))) then sin()^2 of the Wald interval.
    c = _crit(df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arcsin(np.sqrt(p))
        half = c * se / (2 * np.sqrt(p * (1 - p)))
    return np.sin(a - half) ** 2, np.sin(a + half) ** 2


def _likelihood(p, se, df, n, level):
    """Profile-likelihood interval of R's ``svyciprop(method="likelihood")``, solved exactly.

    R profiles the intercept of ``svyglm(y ~ 1, family=quasibinomial)``
    (weights scaled to mean 1, dispersion ``n/(n-1)``) and accepts ``μ``
    where ``2 (n-1) KL(p̂ || μ) <= t²_{df} λ``, with ``λ = n V / (p̂(1-p̂))``
    the ratio of the design-based to the model-based variance of the
    intercept.  R interpolates a grid with a spline; solving the equation
    directly agrees with R to about 1e-5 (Rao & Scott 1984; Lumley 2010,
    sec. 2.3.1).
    """
    return likelihood_interval(p, se, df, n, n, level)


def likelihood_interval(p, se, df, n_fit, w_fit, level: float = 0.95):
    """R's ``svyciprop(method="likelihood")`` with the fit's row count and weight total given apart.

    R's ``svyglm`` scales the weights by their mean over the rows of the
    (domain) design that have a positive weight, and its ``glm`` drops the
    rows without a value (and with zero weight).  The interval accepts ``μ`` where
    ``2 (n_fit - 1) KL(p̂ || μ) <= t²_{df} λ`` with
    ``λ = w_fit V / (p̂(1-p̂))``: ``n_fit`` is the number of rows the fit
    uses (its dispersion ``w_fit/(n_fit - 1)``) and ``w_fit`` the total of
    their scaled weights.  Both equal the domain's row count when no value
    is missing (:func:`_likelihood`).

    Parameters
    ----------
    p, se, df : array_like
        Proportions, their SEs and the design degrees of freedom.
    n_fit : array_like
        Rows with a value and a positive weight.
    w_fit : array_like
        ``Σ w`` over those rows divided by the mean weight of the domain's
        rows of positive weight (rows without a value included), R's
        scaled weights.  Checked against R with missing values, and with
        zero weights; with both in one domain R's dispersion is the
        weighted variance of residuals of fewer rows than its design, and
        the intervals differ.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    (low, high) : tuple of ndarray
    """
    p = np.asarray(p, float)
    n = np.asarray(n_fit, float)
    c = _crit(df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        rhs = c * c * np.asarray(w_fit, float) * np.asarray(se, float) ** 2 / (p * (1 - p)) / (2 * (n - 1))

        low = _lower_root(p, rhs)
        high = 1 - _lower_root(1 - p, rhs)  # the upper limit of p is the lower one of 1 - p
    ok = (p > 0) & (p < 1) & np.isfinite(rhs)
    return np.where(ok, low, np.where(p == 0, 0.0, np.nan)), np.where(ok, high, np.where(p == 1, 1.0, np.nan))


def _lower_root(q, rhs):
    """Root ``m < q`` of ``KL(q || m) = rhs``, by bisection in parallel over all entries."""
    def kl(m):
        return special.xlogy(q, q / m) + special.xlogy(1 - q, (1 - q) / (1 - m))

    lo, hi = np.zeros_like(q), q.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(80):
            mid = (lo + hi) / 2
            above = kl(mid) > rhs
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return (lo + hi) / 2


MEAN_METHODS: dict[str, IntervalFn] = {"t": _t, "normal": _normal}

PROPORTION_METHODS: dict[str, IntervalFn] = {
    "logit": _logit,
    "xlogit": _logit,
    "beta": _beta,
    "wilson": _wilson,
    "mean": _t,
    "asin": _asin,
    "likelihood": _likelihood,
    "normal": _normal,
}


def interval(kind: str, method: str, est, se, df, n, level: float = 0.95):
    """Compute intervals with a registered method.

    Parameters
    ----------
    kind : {"mean", "proportion"}
        Which registry to use.
    method : str
        A name in that registry; anything else raises a ``ValueError`` that
        lists the valid names.
    est, se, df, n : array_like
        Estimates, standard errors, degrees of freedom and unweighted row
        counts (used by ``beta``), broadcast together.
    level : float
        Confidence level in (0, 1).
    """
    level = check_level(level)
    registry = PROPORTION_METHODS if kind == "proportion" else MEAN_METHODS
    fn = registry[check_choice(method, registry, "ci_method")]
    est = np.asarray(est, float)
    return fn(est, np.asarray(se, float), np.asarray(df, float), np.asarray(n, float), level)
