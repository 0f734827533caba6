"""The :class:`WeightingReport` diagnostics object."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["WeightingReport", "weight_summary"]

_SUMMARY = ("n", "sum_weights", "min_weight", "median_weight", "max_weight", "ratio_max_min",
            "kish_deff", "n_eff")


def weight_summary(weights: np.ndarray) -> dict[str, float]:
    """Distribution summaries of a weight vector.

    Kish's design effect due to unequal weighting is
    ``1 + CV^2 = n * sum(w^2) / sum(w)^2`` (Kish 1965, sec. 11.7) and the
    effective sample size is ``n_eff = sum(w)^2 / sum(w^2)``.  Rows with
    zero weight are excluded (they are out of the sample).
    """
    w = np.asarray(weights, dtype=np.float64)
    nz = int(np.count_nonzero(w))
    if nz != w.size:
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
        Details, e.g. ``"raking (IPF)"``, ``"linear"``, ``"logit(0.5, 2.0)"``.
    iterations : int
        Newton iterations, raking sweeps or trim rounds (0 for closed forms).
    converged : bool
        Whether the tolerance was reached.
    max_discrepancy : float
        Largest remaining relative discrepancy ``|T_hat - T| / T`` over all
        control cells and numeric totals (0 when there are no controls).
    n_trimmed : int
        Number of weights capped by :func:`trim` (0 for other steps).
    margins : dict
        Per control (margin name or numeric variable): the largest relative
        discrepancy of its cells.
    details : dict
        Step-specific extras (cap, collapsed classes, controls, ...).
    history : tuple of WeightingReport
        Reports of the earlier weighting steps of the same design, oldest first.
    spec : object or None
        The controls used (lets :func:`trim` re-calibrate to them).
    kish_deff : float
        Kish's design effect due to weighting, ``1 + CV^2`` of the weights.
    n_eff : float
        Effective sample size ``(sum w)^2 / sum w^2``.
    min_weight, median_weight, max_weight, ratio_max_min : float
        Weight distribution (rows with zero weight excluded).
    n, sum_weights : int, float
        Number of rows with non-zero weight and the sum of the weights.

    The weight summaries are computed on first access (they are properties).

    References
    ----------
    Kish, L. (1965). *Survey Sampling*. Wiley.
    """

    step: str
    method: str = ""
    iterations: int = 0
    converged: bool = True
    max_discrepancy: float = 0.0
    n_trimmed: int = 0
    margins: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    history: tuple = ()
    spec: Any = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- weight summaries (lazy) ----------------------------------------------
    def _summary(self) -> dict:
        c = self._cache
        if "summary" not in c:
            w = c.pop("weights", None)
            c["summary"] = weight_summary(w if w is not None else np.zeros(0))
        return c["summary"]

    def _bind(self, weights: np.ndarray) -> None:
        """Point the lazy summaries at ``weights`` (must never be mutated)."""
        if "summary" not in self._cache:
            self._cache["weights"] = weights

    def _materialize(self) -> "WeightingReport":
        self._summary()
        return self

    n = property(lambda self: self._summary()["n"], doc="rows with non-zero weight")
    sum_weights = property(lambda self: self._summary()["sum_weights"], doc="sum of weights")
    min_weight = property(lambda self: self._summary()["min_weight"], doc="smallest weight")
    median_weight = property(lambda self: self._summary()["median_weight"], doc="median weight")
    max_weight = property(lambda self: self._summary()["max_weight"], doc="largest weight")
    ratio_max_min = property(lambda self: self._summary()["ratio_max_min"], doc="max / min")
    kish_deff = property(lambda self: self._summary()["kish_deff"], doc="Kish's 1 + CV^2")
    n_eff = property(lambda self: self._summary()["n_eff"], doc="Kish's effective sample size")

    @property
    def steps(self) -> tuple[str, ...]:
        """Names of all weighting steps so far, oldest first."""
        return tuple(r.step for r in self.history) + (self.step,)

    @classmethod
    def build(cls, step: str, weights: np.ndarray, *, previous: "WeightingReport | None" = None,
              lazy: bool = False, **kw: Any) -> "WeightingReport":
        """Make a report for final ``weights``; with ``lazy=True`` the weight
        summaries are computed on first access (``weights`` must then never
        be modified)."""
        hist: tuple = ()
        if previous is not None:
            hist = tuple(previous.history) + (previous._materialize(),)
        rep = cls(step=step, history=hist, **kw)
        rep._bind(weights)
        if not lazy:
            rep._summary()
        return rep

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON friendly); ``history`` nested, ``spec`` dropped."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("history", "spec", "_cache")}
        out.update(self._summary())
        out["margins"] = dict(self.margins)
        out["details"] = dict(self.details)
        out["history"] = [r.to_dict() for r in self.history]
        out["steps"] = list(self.steps)
        return out

    def __repr__(self) -> str:
        return (f"WeightingReport({self.step} {self.method}: iterations={self.iterations}, "
                f"converged={self.converged}, max_discrepancy={self.max_discrepancy:.3g}, "
                f"kish_deff={self.kish_deff:.4f}, n_eff={self.n_eff:.1f}, weights min/median/max "
                f"{self.min_weight:.4g}/{self.median_weight:.4g}/{self.max_weight:.4g} "
                f"(ratio {self.ratio_max_min:.3g}), n_trimmed={self.n_trimmed})")

    __str__ = __repr__
