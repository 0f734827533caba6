"""pandas front end of :func:`fay_herriot`: an area frame in, a table per area out.

The frame holds one row per area of the population (sampled or not) with
its covariates; sampled areas also have a direct estimate and its variance.
Areas whose direct estimate is missing get the synthetic estimate
``x' beta_hat`` with its MSE (:meth:`FayHerriotResult.predict`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..validation import EstimationError, as_column_list, check_columns, numeric_column
from .fay_herriot import FayHerriotResult, fay_herriot

__all__ = ["fay_herriot_frame", "AreaEstimates", "design_matrix"]


@dataclass
class AreaEstimates:
    """Result of :func:`fay_herriot_frame`.

    Attributes
    ----------
    fit : the model fitted on the sampled areas.
    table : one row per row of the input frame (same index): ``area`` (if
        given), ``direct``, ``direct_se``, ``estimate``, ``mse``, ``rmse``,
        ``cv``, ``gamma`` (0 for non-sampled areas), ``method``
        (``"eblup"`` or ``"synthetic"``).
    """

    fit: FayHerriotResult
    table: pd.DataFrame


def design_matrix(data: pd.DataFrame, covariates: Sequence[str] = (), categorical: Sequence[str] = (),
                  intercept: bool = True) -> tuple[np.ndarray, list[str]]:
    """Build ``X`` as R's ``model.matrix``: intercept, numeric columns, then treatment dummies.

    A categorical column with levels ``l1 < l2 < ...`` (sorted, as R's
    ``factor``) contributes a dummy for every level but the first (all
    levels if there is no intercept and it is the first factor).
    """
    cols, names = [], []
    if intercept:
        cols.append(np.ones(len(data)))
        names.append("(Intercept)")
    for c in covariates:
        cols.append(numeric_column(data, c, "covariates"))
        names.append(c)
    first_full = not intercept
    for c in categorical:
        s = data[c]
        if s.isna().any():
            raise EstimationError(f"categorical: expected a level in every row of column {c!r}, "
                                  f"got {int(s.isna().sum())} missing")
        levels = sorted(s.unique())
        keep = levels if first_full else levels[1:]
        first_full = False
        for lev in keep:
            cols.append((s == lev).to_numpy(dtype=float))
            names.append(f"{c}={lev}")
    if not cols:
        raise EstimationError("covariates: expected at least one column or intercept=True, got none")
    return np.column_stack(cols), names


def fay_herriot_frame(data: pd.DataFrame, y: str, variance: str, covariates: Sequence[str] | str = (),
                      *, categorical: Sequence[str] | str = (), area: str | None = None,
                      intercept: bool = True, method: str = "REML", **options) -> AreaEstimates:
    """Fit a Fay-Herriot model from a frame of areas and estimate every area.

    Parameters
    ----------
    data : DataFrame, one row per area (sampled or not).
    y : column of direct estimates; missing (NaN) for areas without a sample.
    variance : column of their sampling variances (needed where ``y`` is present).
    covariates : numeric covariate column(s), known for every area.
    categorical : column(s) entered as treatment dummies (R's ``factor``).
    area : optional column of area identifiers copied to the table.
    intercept : add an intercept (as an R formula does).
    method, **options : passed to :func:`fay_herriot` (``maxiter``,
        ``precision``, ``transform``, ``n_eff`` -- a column name or one value
        per row here --,
        ``backtransform``, ``mse_method``, ``B``, ``seed``).

    Returns
    -------
    AreaEstimates
    """
    if not isinstance(data, pd.DataFrame):
        raise EstimationError(f"data: expected a pandas DataFrame, got {type(data).__name__}")
    covariates = as_column_list(covariates, "covariates")
    categorical = as_column_list(categorical, "categorical")
    cols = [y, variance, *covariates, *categorical] + ([area] if area else [])
    n_eff_col = options.get("n_eff")
    if isinstance(n_eff_col, str):
        cols.append(n_eff_col)
    check_columns(data, cols, "data")
    X, names = design_matrix(data, covariates, categorical, intercept)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise EstimationError(f"covariates: expected values for every area, got missing values in "
                              f"{bad.size} row(s) (e.g. row {data.index[bad[0]]!r})")
    yv = numeric_column(data, y, "y")
    vv = numeric_column(data, variance, "variance")
    sampled = ~np.isnan(yv)
    if isinstance(n_eff_col, str):
        options["n_eff"] = numeric_column(data, n_eff_col, "n_eff")[sampled]
    elif n_eff_col is not None and np.shape(n_eff_col) == (len(data),):
        options["n_eff"] = np.asarray(n_eff_col, dtype=float)[sampled]
    fit = fay_herriot(yv[sampled], vv[sampled], X[sampled], method, covariates=names, **options)
    est = np.empty(len(data))
    mse = np.empty(len(data))
    gamma = np.zeros(len(data))
    est[sampled], mse[sampled], gamma[sampled] = fit.eblup, fit.mse, fit.gamma
    if (~sampled).any():
        pred = fit.predict(X[~sampled])
        est[~sampled], mse[~sampled] = pred.estimate, pred.mse
    table = pd.DataFrame(index=data.index)
    if area:
        table["area"] = data[area].to_numpy()
    table["direct"] = np.where(sampled, yv, np.nan)
    table["direct_se"] = np.where(sampled, np.sqrt(np.where(sampled, vv, 0.0)), np.nan)
    table["estimate"] = est
    table["mse"] = mse
    table["rmse"] = np.sqrt(mse)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["cv"] = np.where(est != 0, np.sqrt(mse) / np.abs(est), np.nan)
    table["gamma"] = gamma
    table["method"] = np.where(sampled, "eblup", "synthetic")
    return AreaEstimates(fit, table)
