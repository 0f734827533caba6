"""The estimators shared by both design classes.

Every estimator is a ratio of two weighted totals (Lumley 2010, ch. 2;
Wolter 2007, sec. 6.2): a total's denominator is 1, a mean's is the weighted
count of rows with a value, a proportion is the mean of an indicator, a
quantile inverts a proportion (Woodruff 1952).  This module turns the public
calls into numeric arrays once, validates them once, and hands them to the
design's variance hook (:meth:`DesignBase._ratio_core`): Taylor linearisation
for :class:`~analysis.design.SurveyDesign`, replicate weights for
:class:`~analysis.replicate.ReplicateDesign`.
"""
from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from scipy import sparse

from . import kernel
from .covariance import subset_keeps_rows
from .intervals import MEAN_METHODS, PROPORTION_METHODS, interval, likelihood_interval, t_quantile
from .results import Estimate
from .state import DesignState
from .validation import (
    DesignError,
    EmptyDomainWarning,
    EstimationError,
    SurveyWarning,
    as_column_list,
    check_choice,
    check_columns,
    check_level,
    check_weights,
    check_where,
    numeric_column,
    ZeroDenominatorWarning,
)

__all__ = ["DesignBase"]


class MissingDomainWarning(SurveyWarning):
    """Rows with a missing ``by`` value were left out of every domain."""


_EPS = float(np.finfo(float).eps)


def _bcast(a, d, j):
    return np.broadcast_to(np.asarray(a, float).reshape(d, -1), (d, j))


class _IntColumns:
    """Numpy integer or boolean columns that stand for their float64 matrix until one is needed.

    Unit totals are summed from the columns (:meth:`DesignBase._unit_totals`);
    every other use asks the design for the matrix (:meth:`DesignBase._matrix`),
    converted once and cached with the design's column matrices.
    """

    __slots__ = ("names", "arrays", "shape")

    def __init__(self, names: tuple, arrays: list):
        self.names = names
        self.arrays = arrays
        self.shape = (arrays[0].shape[0], len(arrays))


class DesignBase:
    """Estimators common to Taylor and replicate designs (not instantiated)."""

    _data: pd.DataFrame
    _w: np.ndarray
    weighting_report = None

    # ------------------------------------------------------------------ hooks
    def _ratio_core(self, Y, X, dom, n_dom, rows, coef=None, extra=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _domain_df_units(self, k_unit, k_dom, n_dom, row_level, rows) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _unit_variance(self, k_unit, k_dom, TY, TX, est, xhat, n_dom, coef, extra=None):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- state
    def _state_key(self) -> tuple:
        """The objects the cached state derives from (compared by identity); data first."""
        return (self._data, self._w)

    def _cache(self, part: str, name: str, factory=dict):
        """A cache of this design's :class:`~analysis.state.DesignState`, valid for its current inputs."""
        return DesignState.of(self).bucket(part, name, factory)

    # ----------------------------------------------------------------- basics
    @property
    def data(self) -> pd.DataFrame:
        """The design's data (a snapshot taken when the design was built)."""
        return self._data

    @data.setter
    def data(self, value) -> None:
        raise DesignError("data: expected the design's data to stay as built (strata, PSUs and weights are derived "
                          "from it), got an assignment; build a new design from the new data instead")

    @property
    def weights(self) -> np.ndarray:
        """The (final) weights, read-only."""
        return self._w

    def with_weights(self, weights, *, calibration=None, replicate_weights=None, report=None):
        """The same design (data, strata, PSUs, fpc, replicate structure) with new weights.

        Every weighting function (:mod:`analysis.weighting`) returns its
        result through this method.  The new design shares nothing mutable
        with this one: its cached totals are computed from the new weights
        on first use (:mod:`analysis.state`).

        Parameters
        ----------
        weights : array_like, shape (n,)
            New full-sample weights, finite and non-negative, in row order.
        calibration : calibration step, optional
            Taylor designs: a calibration step
            (:mod:`analysis.weighting.steps`) whose residuals the variance
            takes from now on, appended to the design's earlier steps (R's
            ``svyrecvar`` with ``postStrata``).  Not for replicate designs,
            whose replicate weights carry the calibration.
        replicate_weights : array_like, shape (n, R), optional
            Replicate designs: the new replicate weights (e.g. each replicate
            re-calibrated, as R's ``calibrate`` on a ``svyrep.design``).  If
            omitted, each row keeps its replicate multipliers
            (replicate weight / full-sample weight).
        report : WeightingReport, optional
            The weighting history to attach (``weighting_report``).

        Returns
        -------
        A new design of the same class.
        """
        w = check_weights(weights, self.n, "weights")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)  # the state is re-validated against the new inputs on first use
        new._w = w
        new.weighting_report = report
        self._reweighted(new, calibration, replicate_weights)
        return new

    def _reweighted(self, new, calibration, replicate_weights) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return self._w.shape[0]

    @property
    def n(self) -> int:
        """Number of rows in the design."""
        return self._w.shape[0]

    # ---------------------------------------------------------------- domains
    def _domains(self, by, where):
        """Domain code per row (-1 = in no domain), number of domains, domain table."""
        by_cols = as_column_list(by, "by")
        check_columns(self.data, by_cols, "by")
        cache = self._cache("data", "domains")
        key = tuple(by_cols)
        if where is None and key in cache:
            return cache[key]
        out = self._domains_uncached(by_cols, where)
        if where is None:
            if len(cache) > 8:
                cache.clear()
            cache[key] = out
        return out

    def _domains_uncached(self, by_cols, where):
        n = self.n
        keep = None if where is None else check_where(where, self.data.index)
        if not by_cols:
            dom = np.zeros(n, dtype=np.int64) if keep is None else np.where(keep, 0, -1)
            return dom, 1, pd.DataFrame(index=range(1))
        codes, uniques, has_missing = zip(*(self._factorized(c, with_missing=True) for c in by_cols))
        missing = np.zeros(n, dtype=bool) if any(has_missing) else None
        for k, m in zip(codes, has_missing):
            if m:
                missing |= k < 0
        if missing is not None and missing.any():
            warnings.warn(
                f"by: {int(missing.sum())} row(s) have a missing value in {by_cols} and are in no domain",
                MissingDomainWarning,
                stacklevel=3,
            )
        else:
            missing = None
        dims = tuple(max(len(u), 1) for u in uniques)
        if missing is None and len(codes) == 1:
            # a column's codes are already compact: its levels are the values that occur
            observed, dom = np.arange(dims[0], dtype=np.int64), codes[0]
        elif missing is None:
            flat = codes[0]  # row-major cell index (np.ravel_multi_index without its checks)
            for k, size in zip(codes[1:], dims[1:]):
                flat = flat * size  # a new array: the codes are shared (read-only)
                flat += k
            observed, dom = kernel.compact_codes(flat, int(np.prod(dims)))
        else:
            flat = np.ravel_multi_index(tuple(np.where(k < 0, 0, k) for k in codes), dims)
            observed, dcode = kernel.compact_codes(flat[~missing].astype(np.int64), int(np.prod(dims)))
            dom = np.full(n, -1, dtype=np.int64)
            dom[~missing] = dcode.reshape(-1)
        if where is not None:
            dom = np.where(keep, dom, -1)
        idx = np.unravel_index(observed, dims)
        frame = pd.DataFrame({c: np.asarray(u)[i] for c, u, i in zip(by_cols, uniques, idx)})
        return dom, observed.shape[0], frame

    def _factorized(self, column: str, with_missing: bool = False):
        """Sorted codes (-1 = missing) and levels of a domain column, cached with the column matrices.

        With ``with_missing``, also whether any code is -1 (known without a
        pass for integer columns, which hold no missing value).
        """
        cache = self._cache("data", "factors")
        if column not in cache:
            s = self.data[column]
            hit = None
            if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and s.dtype != np.uint64 and len(s):
                # small-range integers (district, urban): a counting pass, the same codes and levels
                # as pd.factorize(sort=True) without its hash table and sort
                x = s.to_numpy().astype(np.int64, copy=False)
                lo, hi = int(x.min()), int(x.max())
                if hi - lo <= 4 * x.shape[0] + 4096:
                    levels, k = kernel.compact_codes(x - lo if lo else x, hi - lo + 1)
                    hit = (k, pd.Index(levels + lo if lo else levels, dtype=s.dtype), False)
            if hit is None:
                k, u = pd.factorize(s, sort=True)
                k = k.astype(np.int64, copy=False)
                hit = (k, u, bool(k.shape[0]) and int(k.min()) < 0)
            hit[0].setflags(write=False)  # shared by every later call (and possibly a view of the data)
            cache[column] = hit
        hit = cache[column]
        return hit if with_missing else hit[:2]

    # -------------------------------------------------------------- variables
    def _float_matrix(self, names: list[str], series=None) -> np.ndarray:
        """``data[names]`` as a float64 matrix, cached for the last column set.

        The design holds its own (copy-on-write) view of the data, so the
        columns cannot change under it; repeated calls with other domains
        reuse the conversion.  ``series`` are the columns ``data[names]``
        when the caller already holds them.  For numpy integer and boolean
        columns the conversion also records that the matrix holds no NaN and
        its range of values (cache ``nan_flags``), found while each block is
        in cache instead of by further passes over the matrix.
        """
        key = tuple(names)
        cache = self._cache("data", "columns")
        if key not in cache:
            cache.clear()
            if series is None:
                series = [self.data[c] for c in names]
            dtypes = [s.dtype for s in series]
            integer = all(isinstance(dt, np.dtype) and dt.kind in "iub" for dt in dtypes)
            lo = hi = None
            if integer:
                m, lo, hi = _row_major_float([s.to_numpy() for s in series], value_range=True)
            elif all(isinstance(dt, np.dtype) and dt.kind in "iubf" for dt in dtypes):
                m = _row_major_float([s.to_numpy() for s in series])
            else:  # extension dtypes (nullable integers, ...): pandas converts, pd.NA -> NaN
                m = np.ascontiguousarray(self.data[names].to_numpy(dtype=float, na_value=np.nan))
            m.setflags(write=False)
            cache[key] = m
            if integer:
                # numpy integer and boolean columns hold no NaN: no pass over the matrix to find one
                flags = self._cache("data", "nan_flags")
                flags.clear()
                flags[id(m)] = (m, False, lo, hi)
        return cache[key]

    def _matrix(self, Y) -> np.ndarray:
        """``Y`` as a float64 matrix: the (cached) conversion of :class:`_IntColumns`, an array as it is."""
        return self._float_matrix(list(Y.names)) if isinstance(Y, _IntColumns) else Y

    def _value_range(self, Y: np.ndarray):
        """``(min, max)`` of ``Y`` if recorded when it was converted from integer columns, else None."""
        hit = self._cache("data", "nan_flags").get(id(Y))
        if hit is None or hit[0] is not Y or len(hit) < 4 or hit[2] is None:
            return None
        return hit[2], hit[3]

    def _has_nan(self, Y: np.ndarray) -> bool:
        """Whether ``Y`` holds a NaN (remembered for the cached column matrix)."""
        if isinstance(Y, _IntColumns):
            return False
        flags = self._cache("data", "nan_flags")
        k = id(Y)
        hit = flags.get(k)
        if hit is None or hit[0] is not Y:
            hit = (Y, bool(np.isnan(Y).any()), None, None)
            flags.clear()
            flags[k] = hit
        return hit[1]

    def _numeric(self, variables, parameter="variables"):
        names = as_column_list(variables, parameter)
        if not names:
            raise EstimationError(f"{parameter}: expected at least one column name, got none")
        check_columns(self.data, names, parameter)
        for c in names:
            dt = self.data[c].dtype
            if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
                numeric_column(self.data, c, parameter)  # raises with an example value
        return names, self._float_matrix(names)

    def _moment_columns(self, variables):
        """Columns for means and totals: numeric ones as they are, categorical ones as level indicators.

        As R's ``svymean(~x + factor)``: a categorical (or text) column
        gives one column per level (the proportion, or count, of the level).
        """
        names = as_column_list(variables, "variables")
        if not names:
            raise EstimationError("variables: expected at least one column name, got none")
        check_columns(self.data, names, "variables")
        numeric = [pd.api.types.is_numeric_dtype(self.data[c].dtype) or pd.api.types.is_bool_dtype(self.data[c].dtype)
                   for c in names]
        if all(numeric):
            return names, names, [None] * len(names), self._numeric(names)[1]
        vnames, levels, cols = [], [], []
        for c, is_num in zip(names, numeric):
            if is_num:
                vnames.append(c), levels.append(None), cols.append(self._numeric([c])[1][:, 0])
            else:
                v, lv, Y, _ = self._indicators_uncached([c], max_levels=1000)
                vnames += v
                levels += lv
                cols += list(Y.T)
        return names, vnames, levels, np.column_stack(cols)

    def _indicators(self, variables, max_levels: int):
        """Indicator columns for the levels of each variable (NaN where missing).

        Returns ``(names, levels, Y, complement)``: for a 0/1 or boolean
        variable only the level-1 column is built and ``complement`` maps the
        level-0 entry to it (its proportion is one minus the other's, with
        the same SE), which halves the work for binary indicators.  ``Y`` is
        an :class:`_IntColumns` when every variable is a numpy integer or
        boolean column (:meth:`_matrix` gives its matrix).
        """
        names = as_column_list(variables, "variables")
        if not names:
            raise EstimationError("variables: expected at least one column name, got none")
        check_columns(self.data, names, "variables")
        cache = self._cache("data", "indicators")
        key = (tuple(names), max_levels)
        if key not in cache:
            cache.clear()
            cache[key] = self._indicators_uncached(names, max_levels)
        return cache[key]

    def _indicators_uncached(self, names, max_levels):
        vnames, levels, complement, cols, binary_cols, binary_series = [], [], [], [], [], []
        for c in names:
            s = self.data[c]
            dt = s.dtype
            if (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)) and not isinstance(dt, pd.CategoricalDtype):
                binary_cols.append(c)
                binary_series.append(s)
                vnames += [c, c]
                levels += ([False, True] if pd.api.types.is_bool_dtype(dt) else [0, 1])
                complement += [("bin", c, 0), ("bin", c, 1)]
                continue
            if isinstance(dt, pd.CategoricalDtype):
                lev = list(s.cat.categories)
                codes = s.cat.codes.to_numpy()
            else:
                codes, uniq = pd.factorize(s, sort=True)
                lev = list(uniq)
            if len(lev) > max_levels:
                raise EstimationError(
                    f"variables: expected at most max_levels={max_levels} levels, got {len(lev)} "
                    f"in column {c!r} (e.g. {lev[:5]})"
                )
            na = codes < 0
            for i, lv in enumerate(lev):
                col = (codes == i).astype(float)
                col[na] = np.nan
                cols.append(col)
                vnames.append(c)
                levels.append(lv)
                complement.append(("col", len(cols) - 1, None))
        if binary_cols:
            key = tuple(binary_cols)
            checked = self._cache("data", "binary_checked", set)
            if not cols and all(isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub" for s in binary_series):
                # numpy integer and boolean columns: their float matrix is built only if an estimator
                # needs row-level values (unit totals are summed from the columns, see _unit_totals)
                arrays = [s.to_numpy() for s in binary_series]
                B = _IntColumns(key, arrays)
                # all 0/1 iff no value read as unsigned (a negative one becomes huge) exceeds 1: one
                # reduction per integer column, none for a boolean one
                if key not in checked and all(a.dtype.kind == "b" or not a.size
                                              or a.view(f"u{a.dtype.itemsize}").max() <= 1 for a in arrays):
                    checked.add(key)
            else:
                B = self._float_matrix(binary_cols, binary_series)
            if key not in checked:
                M = self._matrix(B)
                if all(isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" for s in binary_series):
                    # numpy integers (no NaN, exact in float64): all 0/1 iff the matrix's range is inside
                    # [0, 1], recorded during the conversion (else two contiguous reductions)
                    rng = self._value_range(M) or (M.min(), M.max())
                    bad = None if rng[0] >= 0 and rng[1] <= 1 else ~((M == 0) | (M == 1))
                else:
                    bad = ~((M == 0) | (M == 1) | np.isnan(M))
                if bad is None or not bad.any():
                    checked.add(key)
                else:
                    j = int(np.flatnonzero(bad.any(axis=0))[0])
                    vals = np.unique(M[:, j][bad[:, j]])[:8].tolist()
                    raise EstimationError(
                        f"variables: expected a 0/1, boolean or categorical column for a proportion, "
                        f"got column {binary_cols[j]!r} with values {vals}"
                    )
        base = len(cols)
        Y = np.column_stack(cols) if cols else np.empty((self.n, 0))
        if binary_cols:
            Y = np.hstack([Y, B]) if cols else B
        # complement[i] = (column of Y, is_complement)
        comp = []
        for kind, ref, lv in complement:
            if kind == "col":
                comp.append((ref, False))
            else:
                comp.append((base + binary_cols.index(ref), lv == 0))
        return vnames, levels, Y, comp

    # ------------------------------------------------------------------- core
    def _agg_units(self):
        """Codes of the units rows are summed to before the variance: (codes, count), or None.

        Taylor designs sum to the last-stage units, replicate designs to rows
        sharing a multiplier pattern; ``None`` means the variance needs the
        row-level values (a calibrated Taylor design, or replicate weights
        without a shared pattern).
        """
        return None

    def _ratio_estimate(self, kind, Y, Xden, dom_full, n_dom, na_rm, names, coef=None, binary=False, frame=None,
                        transforms=()):
        """Estimates, variances and companions of ratios of totals, all at once.

        ``kind`` is ``"total"`` (denominator 1), ``"mean"`` (denominator: the
        weighted count of rows with a value) or ``"ratio"`` (denominator
        ``Xden``).  Rows are summed once to (unit, domain) totals; every
        further step works on those.
        """
        all_rows = bool(dom_full.min() >= 0)  # one reduction, no temporary (designs hold at least one row)
        units = self._agg_units()
        nested = None
        if units is not None and all_rows and Xden is None and kind != "ratio" and not self._has_nan(Y):
            # one domain holding every row nests in the units trivially
            nested = np.zeros(units[1], dtype=np.int64) if n_dom == 1 else self._nested_domain(*units, dom_full)
        if nested is None:
            Y = self._matrix(Y)  # row-level values needed
        if all_rows:
            rows, dom = None, dom_full
        else:
            rows = np.flatnonzero(dom_full >= 0)
            dom = dom_full[rows]
            Y = Y[rows]
            Xden = None if Xden is None else Xden[rows]
        if rows is None and Xden is None and not self._has_nan(Y):
            miss, anymiss = None, False  # the common case: no missing values, no pass needed
        else:
            miss = np.isnan(Y)
            if Xden is not None:
                miss |= np.isnan(Xden)
            anymiss = bool(miss.any())
        if anymiss and not na_rm:
            j = int(np.flatnonzero(miss.any(axis=0))[0])
            raise EstimationError(
                f"na_rm: expected no missing values with na_rm=False, got {int(miss[:, j].sum())} "
                f"missing in {names[j]!r}; pass na_rm=True to treat them as out of the domain"
            )
        ok = ~miss if anymiss else None
        Yz = np.where(ok, Y, 0.0) if anymiss else Y
        del miss
        if kind == "total":
            X = None
        elif kind == "ratio":
            X = np.where(ok, Xden, 0.0) if anymiss else Xden
        else:
            X = ok.astype(float) if anymiss else None  # None: every row counts 1
        w = self._w if rows is None else self._w[rows]
        r_ = w.shape[0]
        J = Yz.shape[1]
        if units is None:  # row-level keys: each row is its own unit
            ucode, n_units = np.arange(r_, dtype=np.int64), r_
        else:
            ucode, n_units = units
            ucode = ucode if rows is None else ucode[rows]
        if nested is not None:
            # Domains do not cut across units (e.g. districts and EAs): reuse the
            # unit totals of these columns, computed once per design.
            tot = self._unit_totals(Yz, ucode, n_units, binary)
            k_unit = tot["unit"]
            k_dom = nested[k_unit]
            TY, Wk, YY = tot["TY"], tot["W"], tot["YY"]
            C = tot["C"][:, None]
            TX = None if kind == "total" else Wk[:, None]
            WN = Wk[:, None]
            kpos = tot["C"] > 0
        else:
            key_u, kc = kernel.compact_codes(ucode.astype(np.int64) * n_dom + dom, n_units * n_dom)
            K = key_u.shape[0]
            k_unit, k_dom = key_u // n_dom, key_u % n_dom
            M = kernel.group_matrix(kc, K, w)
            TY = np.asarray(M @ Yz)
            Wk = np.bincount(kc, weights=w, minlength=K)
            pos = (w > 0).astype(float)
            kpos = np.bincount(kc, weights=pos, minlength=K) > 0
            if kind == "total":
                TX = None
            elif X is None:
                TX = Wk[:, None]
            else:
                TX = np.asarray(M @ X)
            if anymiss:
                WN = np.asarray(M @ ok.astype(float))
                C = np.asarray(sparse.csr_matrix((pos, (kc, np.arange(r_))), shape=(K, r_)) @ ok.astype(float))
            else:
                WN = Wk[:, None]
                C = np.bincount(kc, weights=pos, minlength=K)[:, None]
            YY = TY if binary else np.asarray(M @ (Yz * Yz))
            if kind == "ratio":
                XY, XX = np.asarray(M @ (Yz * X)), np.asarray(M @ (X * X))
        dsum = kernel.group_summer(k_dom, n_dom)  # (K x m) -> (D x m)
        yhat = dsum(TY)
        wn = np.broadcast_to(dsum(WN), (n_dom, J))
        cnt = np.broadcast_to(dsum(C), (n_dom, J))
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "total":
                xhat, est = None, yhat
            else:
                xhat = np.broadcast_to(dsum(TX), (n_dom, J))
                est = yhat / xhat
            # Element sums of squares about the domain mean (R's svyvar), for the design effects.
            if kind == "ratio":
                syy, sxy, sxx = dsum(YY), dsum(XY), dsum(XX)
                ss = (syy - 2 * est * sxy + est * est * sxx) / (xhat * xhat)
                ss_terms = (syy + 2 * np.abs(est * sxy) + est * est * sxx) / (xhat * xhat)
            else:
                syy = yhat if YY is TY else dsum(YY)  # YY is TY for 0/1 columns
                ss = syy - yhat * yhat / wn
                ss_terms = syy + yhat * yhat / wn
        # A difference of sums that is mathematically zero (a domain whose values are all equal) comes
        # out as rounding noise of either sign, whose size depends on the order of the rows: anything
        # below the rounding error of the summed terms (a few eps per row summed) is exactly 0.
        rows_summed = cnt + 2.0
        with np.errstate(invalid="ignore"):
            ss = np.where(ss <= 4 * _EPS * rows_summed * ss_terms, 0.0, ss)
        extra = {"want": transforms} if transforms else None
        if units is None:
            var = self._row_variance(kind, Yz, X, w, dom, n_dom, rows, est, xhat, coef, extra)
        else:
            var = self._unit_variance(k_unit, k_dom, TY, TX, est, xhat, n_dom, coef, extra)
        if coef is not None:
            return var
        # The same for the variance: the linearised totals (TY - est TX)/xhat are differences of sums, so
        # a variance that is mathematically zero (one PSU holding the whole domain, equal values) is
        # noise of the size of their rounding error; below (factor x (error of the totals)^2) it is 0.
        with np.errstate(invalid="ignore", divide="ignore"):
            ay = yhat if binary else dsum(np.abs(TY))  # 0/1 columns: the unit totals are >= 0
            if kind == "total":
                mag = ay
            else:
                ax = xhat if kind == "mean" else dsum(np.abs(TX))  # weighted counts are >= 0
                mag = (ay + np.abs(est) * ax) / np.abs(xhat)
            var = np.where(var <= self._rounding_factor() * (4 * _EPS * rows_summed * mag) ** 2, 0.0, var)
        if nested is not None:  # rows per domain from the rows per unit (no pass over the rows)
            n_rows = _bcast(kernel.group_sum(k_dom, tot["N"], n_dom), n_dom, J)
        else:
            n_rows = _bcast(np.bincount(dom, minlength=n_dom), n_dom, J)
        df = _bcast(self._domain_df_units(k_unit[kpos], k_dom[kpos], n_dom, units is None, rows), n_dom, J)
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = cnt / (cnt - 1) * ss / wn
            if kind == "mean":
                vsrs_rep = s2 / cnt
            else:  # totals, and ratios through the total of their linearised values
                vsrs_rep = s2 * wn * wn / cnt
            vsrs_wor = vsrs_rep * (wn - cnt) / wn
            deff = var / vsrs_wor
            deff_rep = var / vsrs_rep
        empty = cnt == 0
        if xhat is not None:
            zero = (xhat == 0) & ~empty
            if zero.any():  # a ratio with a zero denominator total has neither estimate nor variance
                d_, j_ = np.nonzero(zero)
                where_ = [f"{names[j]!r} in {_label(frame, d) if frame is not None else f'domain {d}'}"
                          for d, j in zip(d_[:5], j_[:5])]
                warnings.warn(
                    f"the denominator total is zero for {int(zero.sum())} estimate(s) ({'; '.join(where_)}"
                    f"{', ...' if zero.sum() > 5 else ''}); their estimates and SEs are NaN",
                    ZeroDenominatorWarning, stacklevel=3)
                est = np.where(zero, np.nan, est)
            var = np.where(xhat == 0, np.nan, var)
        if empty.any():
            warnings.warn(
                f"{int(empty.any(axis=1).sum())} domain(s) hold no rows with a value; their estimates are NaN",
                EmptyDomainWarning,
                stacklevel=3,
            )
            est = np.where(empty, np.nan, est)
            var = np.where(empty, np.nan, var)
        out = dict(est=est, var=var, n=cnt, wn=wn, n_rows=n_rows, df=df, deff=deff, deff_rep=deff_rep)
        if extra is not None and "var_logit" in extra:
            out["var_logit"] = np.where(empty, np.nan, extra["var_logit"]) if empty.any() else extra["var_logit"]
        return out

    def _rounding_factor(self) -> float:
        """A bound of the variance's multiplier of squared unit totals (for the rounding-noise threshold)."""
        return 1.0

    def _unit_totals(self, Y, ucode, n_units, binary):
        """Weighted totals of the columns of ``Y`` per unit, cached per design and column set.

        0/1 integer or boolean columns (:class:`_IntColumns`) of units stored
        as runs of consecutive rows are summed from the columns themselves
        (:func:`kernel.run_sums`): the same sums, in the same order, as the
        group-matrix product with their float matrix, which is not built.
        """
        cache = self._cache("weighted", "unit_totals")
        key = (id(Y), bool(binary))
        hit = cache.get(key)
        if hit is not None and hit["Y"] is Y:
            return hit
        runs = self._unit_runs(ucode, n_units)
        if binary and isinstance(Y, _IntColumns) and runs["unit"] is not None:
            TY = np.empty((n_units, Y.shape[1]))
            TY[runs["unit"]] = kernel.run_sums(Y.arrays, self._w, runs["start"])
            YY = TY
        else:
            Yd = self._matrix(Y)
            M = kernel.group_matrix(ucode, n_units, self._w)
            TY = np.asarray(M @ Yd)
            YY = TY if binary else np.asarray(M @ (Yd * Yd))
        hit = dict(Y=Y, unit=np.arange(n_units), TY=TY, YY=YY, **self._unit_counts(ucode, n_units))
        cache.clear()
        cache[key] = hit
        return hit

    def _unit_counts(self, ucode, n_units) -> dict:
        """Weight sum ``W``, rows with a positive weight ``C`` and rows ``N`` per unit, once per design state."""
        cache = self._cache("weighted", "unit_counts")
        if cache.get("ucode") is not ucode:
            w = self._w
            runs = self._unit_runs(ucode, n_units)
            if runs["unit"] is not None:  # the lengths of the units' runs: no pass over the rows
                N = np.empty(n_units)
                N[runs["unit"]] = np.diff(np.append(runs["start"], ucode.shape[0]))
            else:
                N = np.bincount(ucode, minlength=n_units).astype(float)
            pos = w > 0
            C = N.copy() if pos.all() else np.bincount(ucode, weights=pos.astype(float), minlength=n_units)
            cache.clear()
            cache.update(ucode=ucode, W=np.bincount(ucode, weights=w, minlength=n_units), C=C, N=N)
        return {k: cache[k] for k in ("W", "C", "N")}

    def _unit_runs(self, ucode, n_units) -> dict:
        """Where each unit's rows lie, if every unit is one run of consecutive rows, once per design state.

        Returns a dict with ``same`` (whether each row is in the unit of the
        row before it), ``start`` (first row of each run) and ``unit`` (the
        unit of each run); all three are None unless the rows are stored
        unit by unit (the usual order of a survey file), in any order of the
        units.
        """
        cache = self._cache("weighted", "unit_runs")
        if cache.get("ucode") is not ucode:
            same = ucode[1:] == ucode[:-1]
            start = np.concatenate([[0], np.flatnonzero(~same) + 1])
            unit = ucode[start]
            ok = start.shape[0] == n_units and not (np.bincount(unit, minlength=n_units) > 1).any()
            cache.clear()
            cache.update(ucode=ucode, same=same if ok else None, start=start if ok else None,
                         unit=unit if ok else None)
        return cache

    def _nested_domain(self, ucode, n_units, dom):
        """The domain of each unit if no unit holds rows of two domains, else None.

        When each unit's rows are consecutive (:meth:`_unit_runs`), a domain
        nests in the units iff it changes only where the unit changes: one
        comparison of neighbouring rows.
        """
        runs = self._unit_runs(ucode, n_units)
        if runs["same"] is None:
            return _nested_domain(ucode, n_units, dom)
        if ((dom[1:] != dom[:-1]) & runs["same"]).any():
            return None
        out = np.empty(n_units, dtype=dom.dtype)
        out[runs["unit"]] = dom[runs["start"]]
        return out

    def clear_cache(self, columns: bool = True) -> None:
        """Drop cached domain codes and unit totals, and (``columns=True``) the column matrices.

        Never needed for correctness: the caches are rebuilt whenever the
        design's data, weights or calibration change (:mod:`analysis.state`).
        """
        st = self.__dict__.get("_state")
        if st is None:
            return
        st.weighted.clear()
        st.data.pop("domains", None)
        if columns:
            st.data.clear()

    def _row_variance(self, kind, Yz, X, w, dom, n_dom, rows, est, xhat, coef, extra=None):
        """Variance from row-level values (designs whose variance needs them)."""
        if X is None and kind != "total":
            X = np.ones_like(Yz)
        idx = np.arange(self.n) if rows is None else rows
        return self._ratio_core(Yz, X, dom, n_dom, idx, coef=coef) if coef is not None else \
            self._ratio_core(Yz, X, dom, n_dom, idx, extra=extra)[1]

    def _package(self, statistic, stats, names, levels, frame, n_dom, ci_kind, ci_method, level, deff, n_eff=None, spec=None,
                 w_fit=None):
        J = len(names)
        t = lambda a: np.asarray(a, float).T.reshape(-1)  # noqa: E731  (J, D) order: variable-major
        se = np.sqrt(stats["var"])
        d = stats["deff_rep"] if deff == "replace" else stats["deff"]
        if n_eff is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                n_eff = stats["n"] / stats["deff_rep"]
        dom_frame = _tile_frame(frame, J, n_dom)
        ci_fn = None
        if "var_logit" in stats:  # replicate designs: the logit interval from the replicate variance of logit(p)
            p_, se_l, df_, n_ = t(stats["est"]), np.sqrt(t(stats["var_logit"])), t(stats["df"]), t(stats["n_rows"])
            se_ = t(se)

            def ci_fn(lv, method, p_=p_, se_l=se_l, df_=df_, n_=n_, se_=se_):
                if method != "logit":
                    return interval(ci_kind, method, p_, se_, df_, n_, lv)
                c = t_quantile(1 - (1 - lv) / 2, df_)
                with np.errstate(divide="ignore", invalid="ignore"):
                    lg = np.log(p_ / (1 - p_))
                    lo, hi = 1 / (1 + np.exp(-(lg - c * se_l))), 1 / (1 + np.exp(-(lg + c * se_l)))
                return np.where(p_ == 0, 0.0, lo), np.where(p_ == 1, 1.0, hi)
        elif w_fit is not None:  # Taylor proportions: R's likelihood interval counts the rows its glm fits
            p_, se_, df_, n_, nf_, wf_ = (t(stats["est"]), t(se), t(stats["df"]), t(stats["n_rows"]), t(stats["n"]),
                                          t(w_fit))

            def ci_fn(lv, method, p_=p_, se_=se_, df_=df_, n_=n_, nf_=nf_, wf_=wf_):
                if method == "likelihood":
                    return likelihood_interval(p_, se_, df_, nf_, wf_, lv)
                return interval(ci_kind, method, p_, se_, df_, n_, lv)
        return Estimate(
            statistic=statistic,
            variable=np.repeat(np.asarray(names, dtype=object), n_dom),
            level=np.repeat(np.asarray(levels, dtype=object), n_dom),
            domain=dom_frame,
            estimate=t(stats["est"]),
            se=t(se),
            df=t(stats["df"]),
            deff=t(d),
            n=t(stats["n"]),
            n_eff=t(n_eff),
            weighted_n=t(stats["wn"]),
            n_rows=t(stats["n_rows"]),
            ci_method=ci_method,
            ci_kind=ci_kind,
            conf_level=level,
            _ci_fn=ci_fn,
            _spec=None if spec is None else {**spec, "design": self},  # the design, for Estimate.vcov()
        )

    @staticmethod
    def _check_deff(deff):
        if deff not in (True, False, "replace"):
            raise EstimationError(f"deff: expected True, False or 'replace', got {deff!r}")
        return deff

    # ------------------------------------------------------------- estimators
    def mean(self, variables, by=None, where=None, na_rm: bool = False, ci_method: str = "t",
             level: float = 0.95, deff=True) -> Estimate:
        """Weighted mean of each variable, overall or in each domain.

        Parameters
        ----------
        variables : str or list of str
            Numeric (or boolean) columns.  Categorical columns give the mean
            of each level's indicator, as R's ``svymean(~factor)``.
        by : str or list of str, optional
            Domain columns, cross-classified (R's ``svyby``).  Domains are
            estimated inside the full design: rows outside a domain count as
            zeros in every PSU total, never dropped.
        where : boolean array, optional
            A subpopulation; the design is kept whole (R's ``subset``).
        na_rm : bool
            ``True`` treats a row whose value is missing as out of the
            domain for that variable (R's ``na.rm=TRUE``); ``False`` raises
            if a value is missing.
        ci_method : {"t", "normal"}
            ``"t"`` uses the domain's design degrees of freedom (R's
            ``degf`` of the domain subset); ``"normal"`` reproduces R's
            ``confint()`` default for ``svymean`` (``df = Inf``).
        level : float
            Confidence level of the stored interval.
        deff : True or "replace"
            Design effect against SRS without replacement (R ``deff=TRUE``)
            or with replacement (``deff="replace"``).

        Returns
        -------
        Estimate
        """
        return self._moment("mean", variables, by, where, na_rm, ci_method, level, deff)

    def total(self, variables, by=None, where=None, na_rm: bool = False, ci_method: str = "t",
              level: float = 0.95, deff=True) -> Estimate:
        """Weighted total of each variable (Horvitz-Thompson), overall or by domain.

        Parameters are as for :meth:`mean`; categorical columns give the
        estimated count of each level, as R's ``svytotal(~factor)``.
        """
        return self._moment("total", variables, by, where, na_rm, ci_method, level, deff)

    def _moment(self, kind, variables, by, where, na_rm, ci_method, level, deff) -> Estimate:
        check_choice(ci_method, MEAN_METHODS, "ci_method")
        check_level(level)
        self._check_deff(deff)
        names, vnames, levels, Y = self._moment_columns(variables)
        dom, D, frame = self._domains(by, where)
        st = self._ratio_estimate(kind, Y, None, dom, D, na_rm, vnames, frame=frame)
        spec = dict(kind=kind, Y=("moment", tuple(names)), by=by, where=where, na_rm=na_rm)
        return self._package(kind, st, vnames, levels, frame, D, "mean", ci_method, level, deff, spec=spec)

    def proportion(self, variables, by=None, where=None, na_rm: bool = False, ci_method: str = "logit",
                   level: float = 0.95, deff=True, max_levels: int = 100) -> Estimate:
        """Proportion of each level of 0/1, boolean or categorical variables.

        The estimate and SE are those of the mean of the level's indicator;
        the interval is one of :data:`analysis.intervals.PROPORTION_METHODS`
        (``logit`` as R's ``svyciprop`` default, ``beta`` for Korn-Graubard
        as in the NCHS presentation standards, ``wilson``, ``mean``,
        ``xlogit``, ``asin``), on the domain's design degrees of freedom as
        R does inside ``svyby``.  ``n_eff`` is ``p(1-p)/SE^2``.

        Parameters are as for :meth:`mean`; ``max_levels`` guards against a
        column with more levels than a proportion should have.
        """
        check_choice(ci_method, PROPORTION_METHODS, "ci_method")
        check_level(level)
        self._check_deff(deff)
        vnames, levels, Y, comp = self._indicators(variables, max_levels)
        dom, D, frame = self._domains(by, where)
        st = self._ratio_estimate("mean", Y, None, dom, D, na_rm, vnames, binary=True, frame=frame,
                                  transforms=("logit",))
        st = _expand_complements(st, comp)
        with np.errstate(invalid="ignore", divide="ignore"):
            n_eff = np.where(st["var"] > 0, st["est"] * (1 - st["est"]) / st["var"], st["n"])
        spec = dict(kind="mean", Y=("levels", tuple(as_column_list(variables, "variables"))), by=by, where=where,
                    na_rm=na_rm, max_levels=max_levels)
        w_fit = None
        if getattr(self, "_stages", None) is not None and not subset_keeps_rows(self):
            # R's svyciprop(method="likelihood") fits svyglm on the domain's subset design: weights scaled by
            # their mean over the domain's rows of positive weight, the rows without a value then dropped by
            # glm.  The scaled weight total of the fitted rows is Σ_ok w x (positive-weight domain rows) / Σ_domain w.
            keep = (dom >= 0) & (self._w > 0)
            w_dom = np.bincount(dom[keep], weights=self._w[keep], minlength=D)
            n_pos = np.bincount(dom[keep], minlength=D)
            with np.errstate(invalid="ignore", divide="ignore"):
                w_fit = st["wn"] * (n_pos / w_dom)[:, None]
        return self._package("proportion", st, vnames, levels, frame, D, "proportion", ci_method, level, deff,
                             n_eff=n_eff, spec=spec, w_fit=w_fit)

    def ratio(self, numerator, denominator, by=None, where=None, na_rm: bool = False, ci_method: str = "t",
              level: float = 0.95, deff=True) -> Estimate:
        """Ratio of two totals ``Y/X`` (R's ``svyratio``), overall or by domain.

        ``numerator`` and ``denominator`` are column names or equal-length
        lists (paired), or one of them a single name used with every entry
        of the other.  Linearised values ``(y - R x)/X`` (Wolter 2007, 6.2).
        """
        check_choice(ci_method, MEAN_METHODS, "ci_method")
        check_level(level)
        self._check_deff(deff)
        num, Y = self._numeric(numerator, "numerator")
        den, X = self._numeric(denominator, "denominator")
        if len(num) != len(den):
            if len(den) == 1:
                den, X = den * len(num), np.repeat(X, len(num), axis=1)
            elif len(num) == 1:
                num, Y = num * len(den), np.repeat(Y, len(den), axis=1)
            else:
                raise EstimationError(
                    f"denominator: expected one column or as many as numerator ({len(num)}), got {len(den)}"
                )
        names = [f"{a}/{b}" for a, b in zip(num, den)]
        dom, D, frame = self._domains(by, where)
        st = self._ratio_estimate("ratio", Y, X, dom, D, na_rm, names, frame=frame)
        spec = dict(kind="ratio", Y=("numeric", tuple(num)), X=tuple(den), by=by, where=where, na_rm=na_rm)
        return self._package("ratio", st, names, [None] * len(names), frame, D, "mean", ci_method, level, deff, spec=spec)

    def quantile(self, variables, probs: Sequence[float] = (0.5,), by=None, where=None, na_rm: bool = False,
                 ci_method: str = "t", level: float = 0.95) -> Estimate:
        """Quantiles with Woodruff intervals, as R's ``svyquantile`` (survey >= 4.1 defaults).

        The estimate follows ``qrule="math"``: the smallest ``x`` whose
        weighted ECDF reaches ``p`` (zero weights dropped).  One deliberate
        difference from R 4.1: where the smallest value alone carries more
        than ``p`` of the weight, R's ``qs()`` finds no cumulative weight
        below ``p`` and returns the second-smallest value (e.g. the median of
        ``Bush`` in R's ``election_pps`` with ``probs=~p``: R 764, here 145,
        whose weight is 50.4% of the total); here it is the smallest, as the
        rule defines.  The interval is
        Woodruff's (``interval.type="mean"``): a ``ci_method`` interval for
        the proportion below the estimate, mapped back through the same
        rule; a limit is NaN where that interval leaves [0, 1].  The SE is
        the interval's width over ``2 t``, as R reports it.

        References
        ----------
        Woodruff, R. S. (1952). Confidence intervals for medians and other
        position measures. *JASA* 47, 635-646.
        """
        check_choice(ci_method, MEAN_METHODS, "ci_method")
        level = check_level(level)
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        if probs.ndim != 1 or not ((probs >= 0) & (probs <= 1)).all():
            raise EstimationError(f"probs: expected probabilities in [0, 1], got {probs.tolist()}")
        names, Xv = self._numeric(variables)
        dom_full, D, frame = self._domains(by, where)
        rows = np.flatnonzero(dom_full >= 0)
        nan = np.isnan(Xv[rows])
        if nan.any() and not na_rm:
            j = int(np.flatnonzero(nan.any(axis=0))[0])
            raise EstimationError(
                f"na_rm: expected no missing values with na_rm=False, got {int(nan[:, j].sum())} missing in "
                f"{names[j]!r}; pass na_rm=True to treat them as out of the domain"
            )
        P = probs.shape[0]
        w_all = self._w
        qs_cols, ind_cols, setups = [], [], []
        for j in range(len(names)):  # a handful of variables; domains and probabilities are vectorised
            x = Xv[:, j]
            use = (dom_full >= 0) & ~np.isnan(x) & (w_all > 0)
            setup = _qsetup(x[use], w_all[use], dom_full[use], D)
            setups.append(setup)
            q = _qrule(setup, np.repeat(np.arange(D), P), np.tile(probs, D)).reshape(D, P)
            qs_cols.append(q)
            qrow = np.full((self.n, P), np.nan)
            inrow = dom_full >= 0
            qrow[inrow] = q[dom_full[inrow]]
            ind = (x[:, None] <= qrow).astype(float)
            ind[np.isnan(x)] = np.nan
            ind_cols.append(ind)
        IND = np.concatenate(ind_cols, axis=1)  # columns: variable-major, then probability
        vnames = [nm for nm in names for _ in range(P)]
        st = self._ratio_estimate("mean", IND, None, dom_full, D, na_rm, vnames)
        qhat = np.concatenate(qs_cols, axis=1)
        ptil, pse, df = st["est"], np.sqrt(st["var"]), st["df"]
        if nan.any():
            # As R's svyquantile(na.rm=TRUE), which drops the rows without a value before
            # taking degf(): PSUs with no valid value leave the df.
            df = df.copy()
            for j in range(len(names)):
                sel = rows[~nan[:, j] & (w_all[rows] > 0)]
                dfj = self._domain_df_units(np.arange(sel.shape[0]), dom_full[sel], D, True, sel)
                df[:, j * P:(j + 1) * P] = np.asarray(dfj, float)[:, None]

        def ci_fn(lv, method):
            c = t_quantile(1 - (1 - lv) / 2, np.inf if method == "normal" else df)
            lo_p, hi_p = ptil - c * pse, ptil + c * pse
            lo = np.full_like(lo_p, np.nan)
            hi = np.full_like(hi_p, np.nan)
            for j, setup in enumerate(setups):
                sl = slice(j * P, (j + 1) * P)
                dq = np.repeat(np.arange(D), P)
                l_, h_ = lo_p[:, sl].reshape(-1), hi_p[:, sl].reshape(-1)
                ql = _qrule(setup, dq, np.clip(np.nan_to_num(l_, nan=0.0), 0, 1))
                qh = _qrule(setup, dq, np.clip(np.nan_to_num(h_, nan=1.0), 0, 1))
                lo[:, sl] = np.where((l_ < 0) | np.isnan(l_), np.nan, ql).reshape(D, P)
                hi[:, sl] = np.where((h_ > 1) | np.isnan(h_), np.nan, qh).reshape(D, P)
            return lo, hi, c

        lo, hi, c = ci_fn(level, ci_method)
        se = (hi - lo) / (2 * c)

        def ci_t(lv, method):
            lo_, hi_, _ = ci_fn(lv, method)
            return lo_.T.reshape(-1), hi_.T.reshape(-1)

        J = len(vnames)
        t = lambda a: np.asarray(a, float).T.reshape(-1)  # noqa: E731
        nan_arr = np.full((D, J), np.nan)
        return Estimate(
            statistic="quantile",
            variable=np.repeat(np.asarray(vnames, dtype=object), D),
            level=np.repeat(np.tile(probs, len(names)).astype(object), D),
            domain=_tile_frame(frame, J, D),
            estimate=t(qhat), se=t(se), df=t(df), deff=t(nan_arr), n=t(st["n"]), n_eff=t(nan_arr),
            weighted_n=t(st["wn"]), n_rows=t(st["n_rows"]), ci_method=ci_method, ci_kind="quantile",
            conf_level=level, _ci_fn=ci_t,
        )

    # --------------------------------------------------------------- contrast
    def contrast(self, result: Estimate, a, b) -> Estimate:
        """Difference of two domain estimates of one result, with its SE.

        ``a`` and ``b`` pick one domain each, as a dict ``{"district": "A"}``
        or a string ``"district == 'A'"`` (``and`` joins several columns).
        The variance accounts for the covariance of the two domain
        estimates within the design.  Returns one row per (variable, level).
        """
        if not isinstance(result, Estimate) or result._spec is None:
            raise EstimationError("result: expected a mean, total, proportion or ratio Estimate from this design")
        spec = result._spec
        dom_full, D, frame = self._domains(spec["by"], spec["where"])
        ia, ib = _pick_domain(frame, a, "a"), _pick_domain(frame, b, "b")
        coef = np.zeros(D)
        coef[ia] += 1.0
        coef[ib] -= 1.0
        kind = spec["kind"]
        if spec["Y"][0] == "levels":
            vnames, levels, Y, comp = self._indicators(list(spec["Y"][1]), spec.get("max_levels", 1000))
            Y = self._matrix(Y)
            Y = np.column_stack([1.0 - Y[:, j] if c else Y[:, j] for j, c in comp])
        elif spec["Y"][0] == "moment":
            _, vnames, levels, Y = self._moment_columns(list(spec["Y"][1]))
        else:
            vnames, Y = self._numeric(list(spec["Y"][1]))
            levels = [None] * len(vnames)
        Xd = None
        if kind == "ratio":
            _, Xd = self._numeric(list(spec["X"]), "denominator")
            vnames = [f"{p}/{q}" for p, q in zip(vnames, spec["X"])]
        st = self._ratio_estimate(kind, Y, Xd, dom_full, D, spec["na_rm"], vnames, frame=frame)
        diff = st["est"][ia] - st["est"][ib]
        var = self._ratio_estimate(kind, Y, Xd, dom_full, D, spec["na_rm"], vnames, coef=coef)
        J = len(vnames)
        df = np.minimum(st["df"][ia], st["df"][ib])
        nan = np.full(J, np.nan)
        label = f"{_label(frame, ia)} - {_label(frame, ib)}"
        return Estimate(
            statistic=f"{result.statistic} difference", variable=np.asarray(vnames, dtype=object),
            level=np.asarray(levels, dtype=object), domain=pd.DataFrame({"contrast": [label] * J}),
            estimate=diff, se=np.sqrt(var), df=df, deff=nan, n=st["n"][ia] + st["n"][ib], n_eff=nan,
            weighted_n=st["wn"][ia] + st["wn"][ib], n_rows=st["n_rows"][ia] + st["n_rows"][ib],
            ci_method="t", ci_kind="mean",
        )


def _row_major_float(cols: list[np.ndarray], block: int = 4096, value_range: bool = False):
    """Columns (numpy, numeric) as one C-ordered float64 (n x k) matrix, in one pass.

    Converts and transposes a block of rows at a time (the block stays in
    cache), instead of pandas' column-ordered copy of the frame followed by
    a second, transposing copy.  With ``value_range`` (integer or boolean
    columns), returns ``(matrix, min, max)``, the range taken on each block
    while it is in cache.
    """
    n = cols[0].shape[0] if cols else 0
    out = np.empty((n, len(cols)))
    lo = hi = None
    if n and cols:
        tmp = np.empty((len(cols), min(block, n)), dtype=np.result_type(*cols))
        for s0 in range(0, n, block):
            t = tmp[:, : min(block, n - s0)]
            for j, c in enumerate(cols):
                t[j] = c[s0:s0 + block]
            if value_range:
                a, b = t.min(), t.max()
                lo = a if lo is None or a < lo else lo
                hi = b if hi is None or b > hi else hi
            out[s0:s0 + block] = t.T
    if value_range:
        return out, (None if lo is None else float(lo)), (None if hi is None else float(hi))
    return out


def _nested_domain(ucode: np.ndarray, n_units: int, dom: np.ndarray):
    """The domain of each unit if no unit holds rows of two domains, else None."""
    dom_u = np.full(n_units, -1, dtype=np.int64)
    dom_u[ucode] = dom
    return dom_u if np.array_equal(dom_u[ucode], dom) else None


def _tile_frame(frame: pd.DataFrame, times: int, n_dom: int) -> pd.DataFrame:
    if not len(frame.columns):
        return pd.DataFrame(index=range(times * n_dom))
    return pd.DataFrame({c: np.tile(frame[c].to_numpy(), times) for c in frame.columns})


def _expand_complements(st: dict, comp) -> dict:
    """Map the computed indicator columns to every requested level (1 - p for level 0 of a 0/1 variable)."""
    idx = [j for j, _ in comp]
    flip = np.array([c for _, c in comp])
    out = {k: v[:, idx] for k, v in st.items()}
    if flip.any():
        out["est"] = np.where(flip[None, :], 1.0 - out["est"], out["est"])
    return out


def _label(frame, i):
    return ", ".join(f"{c}={frame[c].iloc[i]}" for c in frame.columns) or "all"


_COND = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*==\s*(?:'([^']*)'|\"([^\"]*)\"|([-+]?\d+(?:\.\d*)?))\s*$")


def _pick_domain(frame: pd.DataFrame, sel, parameter: str) -> int:
    if isinstance(sel, str):
        cond = {}
        for part in re.split(r"\s+and\s+", sel):
            m = _COND.match(part)
            if not m:
                raise EstimationError(f"{parameter}: expected \"column == value\" terms joined by 'and', got {sel!r}")
            col, s1, s2, num = m.groups()
            cond[col] = s1 if s1 is not None else s2 if s2 is not None else float(num)
        sel = cond
    if not isinstance(sel, dict) or not sel:
        raise EstimationError(f"{parameter}: expected a dict of domain column -> value, got {sel!r}")
    mask = np.ones(len(frame), dtype=bool)
    for col, val in sel.items():
        if col not in frame.columns:
            raise EstimationError(f"{parameter}: expected one of the domain columns {list(frame.columns)}, got {col!r}")
        colv = frame[col].to_numpy()
        if isinstance(val, float) and pd.api.types.is_numeric_dtype(frame[col].dtype):
            mask &= colv == val
        else:
            mask &= frame[col].astype(str).to_numpy() == str(val)
    hits = np.flatnonzero(mask)
    if hits.shape[0] != 1:
        raise EstimationError(f"{parameter}: expected a selection matching exactly one domain, got {hits.shape[0]} for {sel!r}")
    return int(hits[0])


# ------------------------------------------------------------------ quantiles
def _qsetup(x, w, dom, n_dom):
    """Rows sorted by (domain, x) with cumulative weights accumulated per domain.

    Cumulative sums are taken in extended precision and rounded, as R's
    ``cumsum`` and ``sum`` do, so that exact ties (``p * sum(w)`` equal to a
    cumulative weight) are resolved as R resolves them.
    """
    order = np.lexsort((x, dom))
    xs, ws, ds = x[order], w[order], dom[order]
    counts = np.bincount(ds, minlength=n_dom)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cs = np.cumsum(ws.astype(np.longdouble))
    base = np.concatenate([[np.longdouble(0)], cs])[start]
    cw = (cs - base[ds]).astype(float)
    total = np.where(counts > 0, (np.concatenate([[np.longdouble(0)], cs])[start + counts] - base), 0).astype(float)
    return xs, cw, start, counts, total


def _qrule(setup, dq, p):
    """R's ``qrule_math`` for each (domain, probability) query, vectorised by bisection."""
    xs, cw, start, counts, total = setup
    dq = np.asarray(dq, dtype=np.int64)
    p = np.asarray(p, dtype=float)
    target = p * total[dq]
    lo = start[dq].copy()
    hi = (start + counts)[dq].copy()
    # count of cumulative weights <= target within the domain's segment
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        midc = np.where(active, mid, 0)
        le = cw[midc] <= target
        lo = np.where(active & le, mid + 1, lo)
        hi = np.where(active & ~le, mid, hi)
    none = lo == start[dq]  # no cumulative weight <= target (p = 0): the smallest x
    pos = lo - 1
    empty = counts[dq] == 0
    first = start[dq]
    last = (start + counts)[dq] - 1
    pos = np.maximum(pos, first)
    posc = np.clip(pos, 0, max(cw.shape[0] - 1, 0))
    if cw.shape[0] == 0:
        return np.full(dq.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = (p - cw[posc] / total[dq]) == 0
    pick = np.where(exact | none, posc, np.minimum(posc + 1, last))
    out = xs[np.clip(pick, 0, xs.shape[0] - 1)]
    return np.where(empty, np.nan, out)
