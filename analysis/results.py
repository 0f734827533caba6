"""Immutable result objects returned by every estimator."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional

import numpy as np
import pandas as pd

from .intervals import interval
from .validation import check_level

__all__ = ["Estimate", "ConfidenceInterval"]


class ConfidenceInterval(NamedTuple):
    """Lower and upper limits, one entry per estimate (like ``scipy.stats``)."""

    low: np.ndarray
    high: np.ndarray


def _frozen(a) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Estimate:
    """Estimates of one call, one entry per (variable, level, domain).

    Attributes
    ----------
    statistic : str
        ``"mean"``, ``"total"``, ``"proportion"``, ``"ratio"`` or ``"quantile"``.
    estimate, se, df, deff, n, n_eff, weighted_n : ndarray
        Point estimates, standard errors, degrees of freedom used for the
        interval, design effects, unweighted row counts, effective sample
        sizes and weighted counts.  ``cv`` is derived.
    ci_method : str
        The interval method used by :meth:`confint` when none is given.
    """

    statistic: str
    variable: np.ndarray
    level: np.ndarray
    domain: pd.DataFrame
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    deff: np.ndarray
    n: np.ndarray
    n_eff: np.ndarray
    weighted_n: np.ndarray
    n_rows: np.ndarray
    ci_method: str
    ci_kind: str = "mean"
    conf_level: float = 0.95
    _ci_fn: Optional[Callable] = field(default=None, repr=False)
    _ci: Optional[ConfidenceInterval] = field(default=None, repr=False)
    _spec: Optional[dict] = field(default=None, repr=False)

    def __post_init__(self):
        for name in ("variable", "level", "estimate", "se", "df", "deff", "n", "n_eff", "weighted_n", "n_rows"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "domain", self.domain.reset_index(drop=True).copy())
        if self._ci is None:
            object.__setattr__(self, "_ci", self._compute_ci(self.conf_level, self.ci_method))

    @property
    def cv(self) -> np.ndarray:
        """Coefficient of variation ``se / |estimate|``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.se / np.abs(self.estimate)

    @property
    def deft(self) -> np.ndarray:
        """Square root of the design effect."""
        return np.sqrt(self.deff)

    def _compute_ci(self, level, method) -> ConfidenceInterval:
        if self._ci_fn is not None:
            lo, hi = self._ci_fn(level, method)
        else:
            lo, hi = interval(self.ci_kind, method, self.estimate, self.se, self.df, self.n_rows, level)
        return ConfidenceInterval(_frozen(lo), _frozen(hi))

    def confint(self, level: float | None = None, method: str | None = None) -> ConfidenceInterval:
        """Confidence limits at ``level`` with ``method`` (defaults: the call's ``level`` and ``ci_method``)."""
        level = self.conf_level if level is None else check_level(level)
        method = method or self.ci_method
        if level == self.conf_level and method == self.ci_method:
            return self._ci
        return self._compute_ci(level, method)

    def __len__(self) -> int:
        return self.estimate.shape[0]

    def to_frame(self, level: float | None = None, method: str | None = None) -> pd.DataFrame:
        """One tidy row per (variable, level, domain), full precision.

        The interval columns are at ``level`` with ``method`` (defaults: the
        call's ``level`` and ``ci_method``, as the table's caption says).
        """
        ci = self.confint(level, method)
        cols = {"variable": self.variable, "level": self.level}
        for col in self.domain.columns:
            cols[col] = self.domain[col].to_numpy()
        cols.update(estimate=self.estimate, se=self.se, ci_low=ci.low, ci_high=ci.high, df=self.df,
                    deff=self.deff, cv=self.cv, n=self.n.astype(np.int64), n_eff=self.n_eff,
                    weighted_n=self.weighted_n)
        return pd.DataFrame(cols)

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of all rows, across variables and domains, in ``to_frame()`` order.

        As R's ``vcov(svymean(...))`` / ``svyby(..., covmat=TRUE)``; see
        :mod:`analysis.contrasts`.
        """
        from .contrasts import estimate_vcov

        return estimate_vcov(self)

    def contrast(self, coefficients) -> "Estimate":
        """Linear combinations of the rows, or a smooth function of them (R's ``svycontrast``).

        ``coefficients`` is a list of weights (one per row), a dict of
        named lists (several contrasts), or a function of the vector of
        estimates (``lambda t: t[2] / t[0]``; a dict of functions for
        several) whose SE comes from the delta method with exact
        (complex-step) derivatives.  Returns an Estimate with t intervals
        on the design df.
        """
        from .contrasts import estimate_contrast

        return estimate_contrast(self, coefficients)

    def _repr_html_(self) -> str:
        from .display import html_table

        return html_table(f"{self.statistic} ({len(self)} rows)", self.to_frame(),
                          f"{self.conf_level:.0%} confidence intervals, method {self.ci_method}; "
                          f"df = design degrees of freedom")

    def __repr__(self) -> str:
        head = self.to_frame().head(20).to_string(index=False)
        more = "" if len(self) <= 20 else f"\n... {len(self)} rows"
        return f"<Estimate {self.statistic}, {len(self)} rows, CI {self.ci_method}>\n{head}{more}"
