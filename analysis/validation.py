"""Input validation for the public API: one place, one message style.

Every error names the parameter, what was expected and what was got, in the
style of scikit-learn's and svy's messages.  Kernels underneath the public
functions validate nothing; the public functions call these helpers once.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "SurveyError",
    "DesignError",
    "EstimationError",
    "LonelyPSUError",
    "SurveyWarning",
    "LonelyPSUWarning",
    "EmptyDomainWarning",
    "SmallAreaWarning",
    "SeparationWarning",
    "ModelConvergenceWarning",
    "check_columns",
    "as_column_list",
    "check_choice",
    "numeric_column",
    "check_level",
]


class SurveyError(ValueError):
    """Base class of the library's errors (a ``ValueError``)."""


class DesignError(SurveyError):
    """The design cannot be built from the data given."""


class LonelyPSUError(DesignError):
    """A stratum holds a single PSU and ``lonely_psu="fail"``."""


class EstimationError(SurveyError):
    """An estimator was called with arguments it cannot use."""


class SurveyWarning(UserWarning):
    """Base class of the library's warnings."""


class LonelyPSUWarning(SurveyWarning):
    """A single-PSU stratum was handled by a ``lonely_psu`` rule."""


class EmptyDomainWarning(SurveyWarning):
    """A requested domain holds no sample rows; its estimate is NaN."""


class SmallAreaWarning(SurveyWarning):
    """A small-area model fit needs attention (e.g. sigma2_u estimated as 0)."""


class SeparationWarning(SurveyWarning):
    """A binomial model's fitted probabilities are numerically 0 or 1 (perfect or quasi-separation)."""


class ModelConvergenceWarning(SurveyWarning):
    """A model fit (or a replicate refit) did not converge in the allowed iterations."""


def _fmt(values: Iterable, limit: int = 8) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:limit])
    if len(vals) > limit:
        shown += f", ... ({len(vals)} in all)"
    return shown


def as_column_list(value, parameter: str) -> list[str]:
    """Normalise ``None``, a column name or a sequence of names to a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise EstimationError(
        f"{parameter}: expected a column name or a list of column names, got {value!r}"
    )


def check_columns(data: pd.DataFrame, columns: Sequence[str], parameter: str) -> None:
    """Raise if any of ``columns`` is not in ``data``."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DesignError(
            f"{parameter}: expected column(s) of the data, got unknown column(s) "
            f"{_fmt(missing)}; available: {_fmt(data.columns, 12)}"
        )


def check_choice(value: str, choices: Iterable[str], parameter: str) -> str:
    """Raise a ``ValueError`` listing the valid names unless ``value`` is one."""
    choices = list(choices)
    if value not in choices:
        raise SurveyError(
            f"{parameter}: expected one of {_fmt(choices, 20)}, got {value!r}"
        )
    return value


def numeric_column(data: pd.DataFrame, column: str, parameter: str) -> np.ndarray:
    """Return ``data[column]`` as float64 (missing values as NaN) or raise."""
    s = data[column]
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(s.dtype):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        example = bad.iloc[0] if len(bad) else s.iloc[0] if len(s) else None
        raise EstimationError(
            f"{parameter}: expected a numeric column, got column {column!r} of dtype "
            f"{s.dtype} (e.g. value {example!r})"
        )
    return s.to_numpy(dtype="float64", na_value=np.nan)


def check_level(level: float) -> float:
    """Check a confidence level in (0, 1)."""
    if not (isinstance(level, (int, float, np.floating)) and 0 < float(level) < 1):
        raise SurveyError(f"level: expected a number in (0, 1), got {level!r}")
    return float(level)
