"""Exception and warning classes of :mod:`analysis.weighting`.

Every error is a :class:`ValueError` subclass so callers that catch
``ValueError`` keep working; the message names the parameter (margin,
cell, class), what was expected and what was found.
"""

from __future__ import annotations

from ..validation import SurveyError, SurveyWarning

__all__ = [
    "WeightingError",
    "ControlTotalsError",
    "CalibrationError",
    "ConvergenceError",
    "NonresponseError",
    "WeightingWarning",
]


class WeightingError(SurveyError):
    """Base class of all weighting errors (a :class:`ValueError` via
    :class:`analysis.validation.SurveyError`)."""


class ControlTotalsError(WeightingError):
    """A control table is malformed or inconsistent with the sample.

    Raised for negative or missing counts, duplicated cells, a control cell
    with no sample units, a sample cell with no control, or margins whose
    grand totals disagree.
    """


class CalibrationError(WeightingError):
    """Calibration cannot produce valid weights (infeasible bounds, a weight
    that becomes zero or negative, a singular system)."""


class ConvergenceError(CalibrationError):
    """An iterative weighting step did not reach its tolerance within the
    iteration limit.  Attributes ``worst`` (a label) and ``gap`` (the
    remaining relative discrepancy) describe the worst control."""

    def __init__(self, message: str, *, worst: str | None = None, gap: float | None = None,
                 iterations: int | None = None):
        super().__init__(message)
        self.worst = worst
        self.gap = gap
        self.iterations = iterations


class NonresponseError(WeightingError):
    """A nonresponse-adjustment class cannot be adjusted (no respondents,
    an unknown collapse target, ...)."""


class WeightingWarning(SurveyWarning):
    """Non-fatal weighting problems (R-compatible raking that stopped before
    convergence, a trimming cap that re-calibration pushed weights over)."""
