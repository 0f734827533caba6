"""The :class:`WeightingReport` diagnostics object."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["WeightingReport", "weight_summary"]


def weight_summary(weights: np.ndarray) -> dict[str, float]:
    """Distribution summaries of a weight vector.

    Kish's design effect due to unequal weighting is
    ``1 + CV^2 = n * sum(w^2) / sum(w)^2`` (Kish 1965, sec. 11.7) and the
    effective sample size is ``n_eff = sum(w)^2 / sum(w^2)``.  Rows with
    zero weight are excluded (they are out of the sample).
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w[w != 0]
    n = int(w.size)
    if n == 0:
        nan = float("nan")
        return dict(n=0, sum_weights=0.0, min_weight=nan, median_weight=nan, max_weight=nan,
                    ratio_max_min=nan, kish_deff=nan, n_eff=0.0)
    s1 = float(w.sum())
    s2 = float(np.dot(w, w))
    wmin = float(w.min())
    wmax = float(w.max())
    return dict(
        n=n,
        sum_weights=s1,
        min_weight=wmin,
        median_weight=float(np.median(w)),
        max_weight=wmax,
        ratio_max_min=(wmax / wmin) if wmin > 0 else float("inf"),
        kish_deff=n * s2 / (s1 * s1),
        n_eff=s1 * s1 / s2,
    )


@dataclass(frozen=True)
class WeightingReport:
    """Diagnostics of one weighting step (immutable).

    Attributes
    ----------
    step : str
        ``"base_weights"``, ``"nonresponse"``, ``"poststratify"``, ``"rake"``,
        ``"calibrate"`` or ``"trim"``.
    method : str
        Details, e.g. ``"raking"``, ``"linear"``, ``"logit(0.5, 2)"``.
    iterations : int
        Newton iterations or raking sweeps (0 for closed-form steps).
    converged : bool
        Whether the tolerance was reached.
    max_discrepancy : float
        Largest remaining relative discrepancy ``|T_hat - T| / |T|`` over all
        control cells and numeric totals (0 when there are no controls).
    kish_deff : float
        Kish's design effect due to weighting, ``1 + CV^2`` of the weights.
    n_eff : float
        Effective sample size ``(sum w)^2 / sum w^2``.
    min_weight, median_weight, max_weight, ratio_max_min : float
        Weight distribution.
    n_trimmed : int
        Number of weights capped by :func:`trim` (0 for other steps).
    n, sum_weights : int, float
        Number of rows with non-zero weight and the sum of the weights.
    margins : dict
        Per control (margin name or numeric variable): the largest relative
        discrepancy of its cells.
    details : dict
        Step-specific extras (cap value, collapsed classes, ...).
    history : tuple of WeightingReport
        Reports of the earlier weighting steps of the same design, oldest first.
    spec : object or None
        The controls used (internal; lets :func:`trim` re-calibrate to them).

    References
    ----------
    Kish, L. (1965). *Survey Sampling*. Wiley.
    """

    step: str
    method: str = ""
    iterations: int = 0
    converged: bool = True
    max_discrepancy: float = 0.0
    kish_deff: float = float("nan")
    n_eff: float = float("nan")
    min_weight: float = float("nan")
    median_weight: float = float("nan")
    max_weight: float = float("nan")
    ratio_max_min: float = float("nan")
    n_trimmed: int = 0
    n: int = 0
    sum_weights: float = float("nan")
    margins: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    history: tuple = ()
    spec: Any = field(default=None, repr=False, compare=False)

    @property
    def steps(self) -> tuple[str, ...]:
        """Names of all weighting steps so far, oldest first."""
        return tuple(r.step for r in self.history) + (self.step,)

    @classmethod
    def build(cls, step: str, weights: np.ndarray, *, previous: "WeightingReport | None" = None,
              **kw: Any) -> "WeightingReport":
        """Make a report from final weights (summaries computed here)."""
        hist: tuple = ()
        if previous is not None:
            hist = tuple(previous.history) + (previous,)
        return cls(step=step, history=hist, **weight_summary(weights), **kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON friendly); ``history`` nested, ``spec`` dropped."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("history", "spec")}
        out["margins"] = dict(self.margins)
        out["details"] = dict(self.details)
        out["history"] = [r.to_dict() for r in self.history]
        out["steps"] = list(self.steps)
        return out

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return (f"WeightingReport({self.step} {self.method}: iterations={self.iterations}, "
                f"max_discrepancy={self.max_discrepancy:.3g}, kish_deff={self.kish_deff:.4f}, "
                f"n_eff={self.n_eff:.1f}, weights [{self.min_weight:.4g}, {self.median_weight:.4g}, "
                f"{self.max_weight:.4g}], n_trimmed={self.n_trimmed})")
