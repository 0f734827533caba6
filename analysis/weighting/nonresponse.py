"""Base weights, weighting-class nonresponse adjustment and response-propensity
classes.

These work on DataFrames and arrays, because a pipeline builds them before a
design object exists.

References
----------
Valliant, R., Dever, J. A. and Kreuter, F. (2018). *Practical Tools for
Designing and Weighting Survey Samples*, 2nd ed. Springer, ch. 13.
Kish, L. (1965). *Survey Sampling*. Wiley.
Little, R. J. A. (1986). Survey nonresponse adjustments for estimates of
means. *International Statistical Review* 54, 139-157.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import NonresponseError, WeightingError
from .report import WeightingReport

__all__ = ["base_weights", "adjust_nonresponse", "propensity_classes"]


def _column_or_array(df: pd.DataFrame | None, value, name: str, n: int | None) -> np.ndarray:
    if isinstance(value, str):
        if df is None or value not in df.columns:
            raise WeightingError(f"{name}: column {value!r} not found in the data")
        arr = df[value].to_numpy()
    else:
        arr = np.asarray(value)
    if arr.ndim != 1:
        raise WeightingError(f"{name}: expected a column name or a 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise WeightingError(f"{name}: expected {n} values (one per row), got {arr.shape[0]}")
    return arr


def base_weights(df: pd.DataFrame | None, stage_probs: Sequence[str | np.ndarray] | str) -> np.ndarray:
    """Base (design) weights from stage-wise selection probabilities.

    ``w_i = 1 / prod_s pi_{s,i}``, e.g. PSU probability times household
    probability within the PSU.

    Parameters
    ----------
    df : pandas.DataFrame or None
        The sample; may be None when all probabilities are arrays.
    stage_probs : str or sequence of (str or array)
        Column names (or arrays) of the inclusion probability at each stage,
        each conditional on the earlier stages.

    Returns
    -------
    numpy.ndarray
        float64 base weights, one per row.

    Raises
    ------
    WeightingError
        A probability is missing or outside (0, 1] (the message names the
        stage, the row and the value).
    """
    if isinstance(stage_probs, (str, np.ndarray, pd.Series)):
        stage_probs = [stage_probs]
    if len(stage_probs) == 0:
        raise WeightingError("stage_probs: expected at least one stage probability, got none")
    n = len(df) if df is not None else None
    prod = None
    for s, p in enumerate(stage_probs):
        label = p if isinstance(p, str) else f"stage {s + 1}"
        arr = _column_or_array(df, p, "stage_probs", n)
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise WeightingError(f"stage_probs: {label!r} must be numeric, got dtype {arr.dtype}") from None
        n = arr.shape[0]
        bad = ~(np.isfinite(arr) & (arr > 0) & (arr <= 1))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise WeightingError(
                f"stage_probs: selection probability {label!r} must be in (0, 1] for every "
                f"sampled unit; {int(bad.sum())} value(s) are not (first at row {k}: {arr[k]!r})")
        prod = arr if prod is None else prod * arr
    return 1.0 / prod


def _indicator(arr: np.ndarray, name: str) -> np.ndarray:
    """A True/False or 0/1 indicator as a boolean array; anything else
    (codes 1/2, "yes"/"no", missing values) is an error, never truthiness."""
    miss = pd.isna(arr)
    if miss.any():
        raise NonresponseError(f"{name}: {int(miss.sum())} missing value(s); expected True/False "
                               "(or 1/0) for every unit")
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError):
        num = None
    if num is None or not np.all((num == 0) | (num == 1)):
        vals = pd.unique(pd.Series(arr, dtype=object))
        raise NonresponseError(
            f"{name}: expected True/False or 1/0 for every unit, got values "
            f"{[v.item() if isinstance(v, np.generic) else v for v in vals[:6]]}"
            + (" ..." if len(vals) > 6 else "") + "; recode it, e.g. df[col] == 1")
    return num == 1


def _class_labels(df: pd.DataFrame, classes: Sequence[str] | str | None, n: int):
    if classes is None or (not isinstance(classes, str) and len(classes) == 0):
        return np.zeros(n, dtype=np.intp), [("(all)",)], ()
    cols = [classes] if isinstance(classes, str) else list(classes)
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise NonresponseError(f"classes: column(s) {miss} not found in the data")
    sub = df[cols]
    if sub.isna().any().any():
        c = next(c for c in cols if sub[c].isna().any())
        raise NonresponseError(f"classes: column {c!r} has {int(sub[c].isna().sum())} missing "
                               "value(s); every unit needs a weighting class")
    codes, uniq = pd.MultiIndex.from_frame(sub).factorize(sort=True)
    labels = [tuple(u) if isinstance(u, tuple) else (u,) for u in uniq]
    return codes.astype(np.intp), labels, tuple(cols)


def _fmt_label(label: tuple, cols: tuple) -> str:
    if not cols:
        return "(all)"
    return ", ".join(f"{c}={v!r}" for c, v in zip(cols, label))


def adjust_nonresponse(df: pd.DataFrame, weights: str | np.ndarray, respondent: str | np.ndarray,
                       classes: Sequence[str] | str | None = None, *,
                       eligible: str | np.ndarray | None = None,
                       collapse: Mapping[Hashable, Hashable] | None = None,
                       ) -> tuple[np.ndarray, WeightingReport]:
    """Weighting-class nonresponse adjustment.

    Within each class ``c``, respondents' weights are multiplied by
    ``sum_{eligible in c} w / sum_{respondents in c} w``; eligible
    nonrespondents get weight 0; units that are not eligible keep their
    weights (Valliant, Dever & Kreuter 2018, sec. 13.5).

    Parameters
    ----------
    df : pandas.DataFrame
        The sample (respondents and nonrespondents).
    weights : str or array
        Column name or array of the input (base) weights.
    respondent : str or array
        Column name or boolean/0-1 array: True for respondents.
    classes : str or list of str, optional
        Weighting-class column(s); their cross-classification defines the
        classes.  None gives one class.
    eligible : str or array, optional
        Boolean eligibility indicator (default: all units eligible).
    collapse : mapping, optional
        Collapse rule ``{class: neighbour}`` merging a class into a named
        neighbour before the adjustment (chains are followed).  Class labels
        are the value for one class column, or a tuple of values for several.

    Returns
    -------
    weights : numpy.ndarray
        Adjusted weights.
    report : WeightingReport
        ``details["classes"]`` lists each (collapsed) class with its
        eligible and respondent counts and its adjustment factor.

    Raises
    ------
    NonresponseError
        A class has no respondents (and no collapse rule for it), a collapse
        target is unknown, or the inputs are malformed (``respondent`` or
        ``eligible`` with missing values or values other than True/False
        and 1/0, such as response codes 1/2 or "yes"/"no").
    """
    n = len(df)
    w = _column_or_array(df, weights, "weights", n).astype(np.float64)
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise NonresponseError("weights: expected finite non-negative weights")
    resp = _indicator(_column_or_array(df, respondent, "respondent", n), "respondent")
    elig = (np.ones(n, dtype=bool) if eligible is None
            else _indicator(_column_or_array(df, eligible, "eligible", n), "eligible"))
    resp = resp & elig
    codes, labels, cols = _class_labels(df, classes, n)
    K = len(labels)
    # collapse map on label indices
    target = np.arange(K)
    collapsed: dict[str, str] = {}
    if collapse:
        index = {lab: i for i, lab in enumerate(labels)}

        def find(key):
            k = key if isinstance(key, tuple) else (key,)
            if k not in index:
                raise NonresponseError(
                    f"collapse: class {key!r} is not a weighting class; classes are "
                    f"{[lab if len(lab) > 1 else lab[0] for lab in labels][:10]}")
            return index[k]

        for src, dst in collapse.items():
            target[find(src)] = find(dst)
        for i in range(K):  # follow chains
            seen = {i}
            j = target[i]
            while target[j] != j:
                if target[j] in seen:
                    raise NonresponseError(f"collapse: the rule has a cycle through class "
                                           f"{_fmt_label(labels[j], cols)}")
                seen.add(j)
                j = target[j]
            target[i] = j
            if j != i:
                collapsed[_fmt_label(labels[i], cols)] = _fmt_label(labels[j], cols)
    g = target[codes]
    e_w = np.bincount(g, weights=w * elig, minlength=K)
    r_w = np.bincount(g, weights=w * resp, minlength=K)
    e_n = np.bincount(g, weights=elig.astype(float), minlength=K)
    r_n = np.bincount(g, weights=resp.astype(float), minlength=K)
    roots = np.unique(target)
    bad = [k for k in roots if e_n[k] > 0 and r_w[k] <= 0]
    if bad:
        k = bad[0]
        members = [_fmt_label(labels[i], cols) for i in range(K) if target[i] == k]
        raise NonresponseError(
            f"adjust_nonresponse: weighting class {_fmt_label(labels[k], cols)}"
            + (f" (collapsed with {members})" if len(members) > 1 else "")
            + f" has {int(e_n[k])} eligible unit(s) but no respondents with positive weight; "
            "give a collapse rule {class: neighbour} or coarsen the classes"
            + (f" ({len(bad)} such classes)" if len(bad) > 1 else ""))
    factor = np.ones(K)
    np.divide(e_w, r_w, out=factor, where=r_w > 0)
    new = np.where(resp, w * factor[g], np.where(elig, 0.0, w))
    table = {_fmt_label(labels[k], cols): {"eligible": int(e_n[k]), "respondents": int(r_n[k]),
                                           "factor": float(factor[k])}
             for k in roots if e_n[k] > 0}
    report = WeightingReport.build(
        "nonresponse", new, method="weighting classes", details={
            "classes": table, "collapsed": collapsed,
            "response_rate_weighted": float(r_w.sum() / e_w.sum()) if e_w.sum() > 0 else float("nan")})
    return new, report


def propensity_classes(df: pd.DataFrame, respondent: str | np.ndarray,
                       covariates: Sequence[str] | str, *, n_classes: int = 5,
                       weights: str | np.ndarray | None = None,
                       return_propensity: bool = False):
    """Response-propensity classes from a logistic regression.

    Fits ``P(respond | x)`` by a binomial GLM with logit link
    (statsmodels), optionally weighted by ``weights``, and groups the
    units into ``n_classes`` classes at the quantiles of the estimated
    propensity (Little 1986; Valliant, Dever & Kreuter 2018, sec. 13.5.2).
    Categorical covariates enter as dummy variables.

    Parameters
    ----------
    df : pandas.DataFrame
    respondent : str or array
        Response indicator (True/1 for respondents).
    covariates : str or list of str
        Predictor columns (no missing values).
    n_classes : int, default 5
        Number of quantile classes (fewer if propensities tie).
    weights : str or array, optional
        Weights for the fit (e.g. base weights).
    return_propensity : bool
        Also return the fitted propensities.

    Returns
    -------
    classes : pandas.Series
        Integer class 0 .. k-1 per row (0 = lowest propensity), named
        ``"propensity_class"``; pass it as a column to
        :func:`adjust_nonresponse`.
    propensity : pandas.Series, only if ``return_propensity``
    """
    import statsmodels.api as sm

    n = len(df)
    y = _indicator(_column_or_array(df, respondent, "respondent", n), "respondent").astype(float)
    cols = [covariates] if isinstance(covariates, str) else list(covariates)
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise NonresponseError(f"covariates: column(s) {miss} not found in the data")
    Xdf = df[cols]
    if Xdf.isna().any().any():
        c = next(c for c in cols if Xdf[c].isna().any())
        raise NonresponseError(f"covariates: column {c!r} has missing values")
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise NonresponseError(f"n_classes: expected a positive integer, got {n_classes!r}")
    X = pd.get_dummies(Xdf, drop_first=True, dtype=float)
    X = sm.add_constant(X.astype(float), has_constant="add")
    kw = {}
    if weights is not None:
        kw["var_weights"] = _column_or_array(df, weights, "weights", n).astype(float)
    model = sm.GLM(y, X, family=sm.families.Binomial(), **kw)
    fit = model.fit()
    p = np.asarray(fit.predict(X), dtype=float)
    if not np.all(np.isfinite(p)):
        raise NonresponseError(
            f"propensity_classes: the response model gave {int((~np.isfinite(p)).sum())} missing "
            "or infinite propensities; expected finite fitted values (check the covariates "
            "and weights)")
    cls = pd.qcut(p, q=n_classes, labels=False, duplicates="drop")
    classes = pd.Series(np.asarray(cls, dtype=np.int64), index=df.index, name="propensity_class")
    if return_propensity:
        return classes, pd.Series(p, index=df.index, name="propensity")
    return classes
