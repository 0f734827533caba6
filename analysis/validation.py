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
    "check_weights",
    "check_where",
    "domain_rows",
    "check_positive",
    "check_replicate_count",
    "check_rscales",
    "ZeroDenominatorWarning",
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


class ZeroDenominatorWarning(SurveyWarning):
    """A ratio's estimated denominator total is zero in a domain; its estimate is NaN."""


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


def check_weights(weights, n: int, parameter: str = "weights") -> np.ndarray:
    """``weights`` as a new read-only float array of length ``n``, finite and non-negative, or raise."""
    try:
        w = np.array(weights, dtype=float)
    except (TypeError, ValueError):
        raise DesignError(f"{parameter}: expected {n} numeric weights, got {type(weights).__name__}") from None
    if w.shape != (n,):
        raise DesignError(f"{parameter}: expected {n} weights (one per row), got shape {w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(f"{parameter}: expected finite non-negative weights, got {float(w[i])!r} at row {i} "
                          f"({int(bad.sum())} such value(s))")
    w.setflags(write=False)
    return w


def check_where(where, index: pd.Index) -> np.ndarray:
    """A boolean row mask from ``where``, aligned to the data's ``index``.

    A pandas Series is aligned by its index (R's ``subset`` evaluates the
    condition on the design's own rows): the same labels in another order
    are reordered, other labels are refused.  Arrays are taken in row order.
    """
    n = len(index)
    if isinstance(where, pd.Series):
        if not where.index.equals(index):
            if where.index.is_unique and index.is_unique and len(where) == n and where.index.isin(index).all():
                where = where.reindex(index)
            else:
                extra = where.index.difference(index)[:5].tolist() if where.index.is_unique else []
                raise EstimationError(
                    f"where: expected a boolean Series with the index of the design's data ({n} rows), got an "
                    f"index of {len(where)} entries that differs" + (f" (e.g. labels {extra} not in the data)" if extra else "")
                    + "; pass where.to_numpy() to use it by position")
        if where.isna().any():
            raise EstimationError(f"where: expected no missing values, got {int(where.isna().sum())}")
        where = where.to_numpy()
    keep = np.asarray(where)
    if keep.shape != (n,) or not (keep.dtype == bool or pd.api.types.is_bool_dtype(keep.dtype)):
        raise EstimationError(
            f"where: expected a boolean mask of length {n}, got "
            f"{'dtype ' + str(keep.dtype) if keep.shape == (n,) else 'shape ' + str(keep.shape)}"
        )
    return keep.astype(bool)


def domain_rows(where, index: pd.Index) -> np.ndarray:
    """Positions of the rows of the domain ``where`` (all rows for None); an empty domain is an error."""
    if where is None:
        return np.arange(len(index))
    rows = np.flatnonzero(check_where(where, index))
    if rows.shape[0] == 0:
        raise EstimationError("where: expected a domain with at least one row, got an empty domain")
    return rows


def check_positive(value, parameter: str) -> float:
    """A finite number > 0, or raise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"{parameter}: expected a number > 0, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise DesignError(f"{parameter}: expected a finite number > 0, got {value!r}")
    return v


def check_replicate_count(replicates, parameter: str = "replicates") -> int:
    """An integer number of replicates >= 2 (one replicate has no variance), or raise."""
    if isinstance(replicates, (bool, np.bool_)) or not isinstance(replicates, (int, np.integer)) or replicates < 2:
        raise DesignError(f"{parameter}: expected an integer >= 2, got {replicates!r}")
    return int(replicates)


def check_rscales(rscales, n_replicates: int) -> np.ndarray:
    """Per-replicate variance factors: a scalar or one finite non-negative value per replicate, or raise."""
    r = np.asarray(rscales, dtype=float)
    if r.ndim == 0:
        r = np.full(n_replicates, float(r))
    if r.shape != (n_replicates,):
        raise DesignError(f"rscales: expected one value per replicate ({n_replicates}), got shape {r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise DesignError(f"rscales: expected finite non-negative values, got {r[~np.isfinite(r) | (r < 0)][:3].tolist()}")
    return r
