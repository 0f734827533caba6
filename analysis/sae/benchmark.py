"""Ratio benchmarking of small-area estimates to higher-level direct estimates.

Model-based estimates of the areas (communes) of a group (a district) need
not add up to the group's direct estimate, which is reliable and published.
Ratio benchmarking multiplies every area estimate of group ``g`` by

    f_g = t_g / sum_{d in g} w_d theta_d,   w_d = N_d / sum_{d' in g} N_{d'},

so that the population-weighted mean of the benchmarked estimates equals
the target ``t_g`` (Pfeffermann 2013; Rao and Molina 2015; R ``emdi::fh(benchmark_type = "ratio")``).

MSE effect.  The benchmarked estimator ``theta_b = f_g theta`` differs from
the EBLUP by ``theta_b - theta``; treating ``t_g`` as fixed, its MSE is
approximately ``MSE(theta) + (theta_b - theta)^2``.  This follows Steorts
and Ghosh (2013), who show for benchmarked empirical Bayes estimators under
the Fay-Herriot model that, to second order, the MSE gains a term ``g4``
estimated by the squared benchmarking adjustment; their derivation is for
the difference adjustment, and here its plug-in analogue is used for the ratio adjustment
(an approximation, not an exact second-order result).
So benchmarking never lowers the estimated MSE; the increase is small where
the model already agrees with the group's direct estimate (``f_g`` near 1)
and shows model failure where it does not.  ``mse`` of the result is this
approximation; ``mse_increase`` holds the added term.  The variability of
``t_g`` itself is ignored, as usual (it is of lower order when the group's
sample is large).

References
----------
Pfeffermann, D. (2013). New important developments in small area
estimation. *Statistical Science* 28, 40-68.
Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd ed. Wiley.
Steorts, R. C. and Ghosh, M. (2013). On estimation of mean squared errors of
benchmarked empirical Bayes estimators. *Statistica Sinica* 23, 749-767.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..validation import EstimationError

__all__ = ["ratio_benchmark", "BenchmarkResult"]


@dataclass
class BenchmarkResult:
    """Benchmarked estimates.

    Attributes
    ----------
    estimate : benchmarked estimates ``f_g theta_d``.
    mse : ``mse + (estimate - theta)^2`` (see the module docstring).
    mse_increase : ``(estimate - theta)^2``.
    factor : the ratio ``f_g`` of each area's group.
    groups : DataFrame, one row per group: target, model-based weighted
        mean before benchmarking, factor.
    """

    estimate: np.ndarray
    mse: np.ndarray
    mse_increase: np.ndarray
    factor: np.ndarray
    groups: pd.DataFrame


def ratio_benchmark(estimate: ArrayLike, mse: ArrayLike, group: ArrayLike, weight: ArrayLike,
                    target: Mapping | pd.Series) -> BenchmarkResult:
    """Ratio-benchmark area estimates to group-level targets.

    Parameters
    ----------
    estimate : array (m,) of area estimates (e.g. EBLUPs, synthetic
        estimates of non-sampled areas included).
    mse : array (m,) of their MSEs.
    group : array-like (m,) of group labels (e.g. district of each commune).
    weight : array (m,) of area sizes or shares (>= 0; population or
        households), normalised within each group.
    target : mapping or pandas Series from group label to the group's direct
        estimate (a mean or proportion of the same indicator).

    Returns
    -------
    BenchmarkResult
    """
    est = np.asarray(estimate, dtype=float)
    m = est.shape[0]
    mse = np.asarray(mse, dtype=float)
    w = np.asarray(weight, dtype=float)
    grp = pd.Series(np.asarray(group))
    for name, arr in (("mse", mse), ("weight", w)):
        if arr.shape != (m,):
            raise EstimationError(f"{name}: expected one value per area ({m}, like estimate), "
                                  f"got shape {arr.shape}")
    if len(grp) != m:
        raise EstimationError(f"group: expected one label per area ({m}), got {len(grp)}")
    if not (np.isfinite(est).all() and np.isfinite(mse).all()):
        raise EstimationError("estimate, mse: expected finite numbers, got NaN or infinite values")
    if not np.isfinite(w).all() or (w < 0).any():
        raise EstimationError(f"weight: expected sizes >= 0, got minimum {np.nanmin(w)!r}")
    if grp.isna().any():
        raise EstimationError(f"group: expected a label for every area, got {int(grp.isna().sum())} missing")
    codes, levels = pd.factorize(grp, sort=True)
    tgt = pd.Series(target) if not isinstance(target, pd.Series) else target
    missing = [g for g in levels if g not in tgt.index]
    if missing:
        raise EstimationError(f"target: expected a value for every group, got none for {missing[:8]!r}")
    t = tgt.reindex(levels).to_numpy(dtype=float)
    if not np.isfinite(t).all():
        raise EstimationError("target: expected finite numbers, got NaN or infinite values")
    k = len(levels)
    wsum = np.bincount(codes, weights=w, minlength=k)
    if (wsum <= 0).any():
        bad = [levels[i] for i in np.flatnonzero(wsum <= 0)]
        raise EstimationError(f"weight: expected a positive total in every group, got 0 for {bad[:8]!r}")
    model_mean = np.bincount(codes, weights=w * est, minlength=k) / wsum
    if (model_mean == 0).any():
        bad = [levels[i] for i in np.flatnonzero(model_mean == 0)]
        raise EstimationError(f"estimate: expected a non-zero weighted mean in every group for a "
                              f"ratio adjustment, got 0 for {bad[:8]!r}")
    f = t / model_mean
    factor = f[codes]
    bench = est * factor
    inc = (bench - est) ** 2
    groups = pd.DataFrame({"target": t, "model_mean": model_mean, "factor": f},
                          index=pd.Index(levels, name="group"))
    return BenchmarkResult(bench, mse + inc, inc, factor, groups)
