"""Tests of association and weighted tables: R's ``svychisq``, ``svyttest``, ``svytable``.

``chisq`` tests the independence of two categorical variables in a
two-way table estimated from the design (Rao & Scott 1981, 1984; Thomas &
Rao 1987), as R's ``svychisq`` computes it:

* ``"F"`` (default): Pearson's X² of the weighted table (scaled to the
  sample size) divided by the trace of the design-effect matrix
  ``Δ = (C'D⁻¹C)⁻¹ C'D⁻¹ V D⁻¹ C`` (with ``C`` the interaction contrasts
  orthogonal to the main effects, ``D`` the cell proportions, ``V`` their
  design covariance), referred to F on ``(d0, d0 ν)`` with
  ``d0 = tr(Δ)² / tr(Δ²)`` and ``ν`` the design df (second-order
  Rao-Scott);
* ``"Chisq"``: X² / mean eigenvalue of ``Δ`` referred to χ² on
  ``(r-1)(c-1)`` df (first-order Rao-Scott); ``statistic`` is X² as R
  reports it;
* ``"Wald"``: the Wald statistic of the ``(r-1)(c-1)`` interaction
  differences ``N_ij - N_i. N_.j / N`` over its df, F on
  ``((r-1)(c-1), ν)``;
* ``"adjWald"``: the same times ``(ν - k + 1)/(k ν)``, F on ``(k, ν - k + 1)``
  (Korn & Graubard 1990).

``ttest`` compares the means of a variable in two groups through the
gaussian ``svyglm`` of the variable on the group indicator (R
``svyttest``): the difference, its t on the model's residual df and the
interval.  ``table`` gives weighted counts (R ``svytable``).

References
----------
Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for multiway
contingency tables with cell proportions estimated from survey data.
*Annals of Statistics* 12, 46-60.
Korn, E. L. and Graubard, B. I. (1990). Simultaneous testing of regression
coefficients with complex survey data. *The American Statistician* 44, 270-276.
Lumley, T. (2010). *Complex Surveys*, sec. 6.1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from .validation import EstimationError, as_column_list, check_choice, check_columns, domain_rows

__all__ = ["ChisqTest", "TTest", "AssociationMethods", "CHISQ_STATISTICS", "chisq", "ttest", "table"]

CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald")


def _domain_rows(design, where) -> np.ndarray:
    return domain_rows(where, design.data.index)  # a Series is aligned by index


def _codes(design, column: str, rows: np.ndarray):
    """Level codes (-1 = missing) of ``column`` on ``rows`` and its levels present there (sorted)."""
    s = design.data[column].iloc[rows]
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.cat.remove_unused_categories()
        return s.cat.codes.to_numpy().astype(np.int64), list(s.cat.categories)
    codes, levels = pd.factorize(s, sort=True)
    return codes.astype(np.int64), list(levels)


# ------------------------------------------------------------------ table
def table(design, variables, where=None):
    """Weighted counts of the levels of one or more variables (R's ``svytable``).

    One variable gives a Series; two give a DataFrame with the first
    variable's levels as rows and the second's as columns; more give a
    Series with a MultiIndex.  Rows with a missing value in any variable
    are left out, as R's ``xtabs``.
    """
    names = as_column_list(variables, "variables")
    if not names:
        raise EstimationError("variables: expected at least one column name, got none")
    check_columns(design.data, names, "variables")
    rows = _domain_rows(design, where)
    codes, levels = zip(*(_codes(design, c, rows) for c in names))
    ok = np.all([k >= 0 for k in codes], axis=0)
    dims = tuple(len(lv) for lv in levels)
    flat = np.ravel_multi_index(tuple(k[ok] for k in codes), dims) if ok.any() else np.empty(0, np.int64)
    counts = np.bincount(flat, weights=np.asarray(design.weights, float)[rows][ok], minlength=int(np.prod(dims)))
    counts = counts.reshape(dims)
    if len(names) == 1:
        return pd.Series(counts, index=pd.Index(levels[0], name=names[0]), name="weighted_count")
    if len(names) == 2:
        return pd.DataFrame(counts, index=pd.Index(levels[0], name=names[0]),
                            columns=pd.Index(levels[1], name=names[1]))
    idx = pd.MultiIndex.from_product(levels, names=names)
    return pd.Series(counts.reshape(-1), index=idx, name="weighted_count")


# ------------------------------------------------------------------ chisq
@dataclass(frozen=True, eq=False)
class ChisqTest:
    """A design-based test of association in a two-way table (R ``svychisq``)."""

    variables: tuple
    statistic: float
    df_num: float
    df_denom: float
    df: float
    pvalue: float
    method: str
    kind: str
    table: pd.DataFrame = field(repr=False)
    pearson: float = float("nan")
    design_effects: np.ndarray = field(repr=False, default=None)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"variables": [" x ".join(self.variables)], "statistic": [self.statistic],
                             "df_num": [self.df_num], "df_denom": [self.df_denom], "df": [self.df],
                             "pvalue": [self.pvalue], "method": [self.method]})

    def __repr__(self) -> str:
        if self.kind == "Chisq":
            what = f"X-squared = {self.statistic:.6g}, df = {self.df:g}"
        else:
            what = f"F = {self.statistic:.6g}, ndf = {self.df_num:.6g}, ddf = {self.df_denom:.6g}"
        return f"<{self.method}: {' x '.join(self.variables)}: {what}, p = {self.pvalue:.4g}>"

    def _repr_html_(self) -> str:
        from .display import html_table

        return html_table(f"Test of association: {' x '.join(self.variables)}", self.to_frame(), self.method)


def chisq(design, a: str, b: str, statistic: str = "F", where=None, na_rm: bool = True) -> ChisqTest:
    """See :meth:`AssociationMethods.chisq`."""
    from . import covariance as cov

    check_choice(statistic, CHISQ_STATISTICS, "statistic")
    for par, col in (("a", a), ("b", b)):
        if not isinstance(col, str):
            raise EstimationError(f"{par}: expected a column name, got {col!r}")
        check_columns(design.data, [col], par)
    rows = _domain_rows(design, where)
    ka, la = _codes(design, a, rows)
    kb, lb = _codes(design, b, rows)
    nr, nc = len(la), len(lb)
    for par, col, lv in (("a", a, la), ("b", b, lb)):
        if len(lv) < 2:
            raise EstimationError(f"{par}: expected at least 2 levels of {col!r} in the rows used, got {lv}")
    complete = (ka >= 0) & (kb >= 0)
    if not complete.all() and not na_rm:
        raise EstimationError(
            f"na_rm: expected no missing values with na_rm=False, got {int((~complete).sum())} row(s) missing "
            f"in {a!r} or {b!r}; pass na_rm=True to leave them out"
        )
    n = design.n
    # R counts the rows (N, which scales Pearson's X2) and PSUs (nu) of its subset design; a subset of a
    # calibrated or PPS design keeps every row (with weight 0 outside the domain), so all rows count there.
    replicate = cov.is_replicate(design)
    counted = np.arange(n) if (where is not None and cov.subset_keeps_rows(design)) else rows
    N = counted.shape[0]
    K = nr * nc
    cell = np.where(complete, ka + nr * kb, -1)  # the first variable varies fastest, as R's interaction()
    if replicate:
        nu = cov.replicate_degf(design, rows) if where is not None else float(design.degf)
    else:
        nu = cov.domain_degf(design, counted, positive_only=False)
    w = np.asarray(design.weights, float)[rows]
    counts = np.bincount(cell[complete], weights=w[complete], minlength=K)
    tab = pd.DataFrame(counts.reshape(nc, nr).T, index=pd.Index(la, name=a), columns=pd.Index(lb, name=b))
    # Pearson's X2 of the table scaled to N rows (R: chisq.test(svytable(..., Ntotal = N)))
    O = counts.reshape(nc, nr).T * (N / counts.sum())
    E = np.outer(O.sum(axis=1), O.sum(axis=0)) / N
    with np.errstate(invalid="ignore", divide="ignore"):
        X2 = float(((O - E) ** 2 / E).sum())
    code = np.full(n, -1, dtype=np.int64)  # cell of each design row (-1: outside the domain or missing)
    code[rows] = cell
    grid_r = np.tile(np.arange(nr), nc)
    grid_c = np.repeat(np.arange(nc), nr)
    if statistic in ("Wald", "adjWald"):
        # totals of the cells, row and column margins and the count (R: svytotal(~mm + mr + mc + one)):
        # all are sums of cell totals, so their covariance is A V_cells A'
        tc, Vc = cov.indicator_vcov(design, code, K, means=False, design_rows=counted)
        A = np.vstack([np.eye(K), (grid_r[None, :] == np.arange(nr)[:, None]).astype(float),
                       (grid_c[None, :] == np.arange(nc)[:, None]).astype(float), np.ones((1, K))])
        t_all, V = A @ tc, A @ Vc @ A.T
        t = t_all
        rt, ct, Nh = t[K:K + nr], t[K + nr:K + nr + nc], t[-1]
        J = np.zeros((K, K + nr + nc + 1))
        J[:, :K] = np.eye(K)
        J[np.arange(K), K + grid_r] = -ct[grid_c] / Nh
        J[np.arange(K), K + nr + grid_c] = -rt[grid_r] / Nh
        J[:, -1] = rt[grid_r] * ct[grid_c] / Nh ** 2
        d = t[:K] - rt[grid_r] * ct[grid_c] / Nh
        VV = J @ V @ J.T
        use = np.flatnonzero((grid_r > 0) & (grid_c > 0))
        wald = float(d[use] @ np.linalg.solve(VV[np.ix_(use, use)], d[use]))
        k = (nr - 1) * (nc - 1)
        if statistic == "Wald":
            F, ddf = wald / k, nu
        else:
            ddf = nu - k + 1
            F = wald * ddf / (k * nu)
        p = float(special.fdtrc(k, ddf, F)) if ddf > 0 else float("nan")
        return ChisqTest((a, b), F, float(k), float(ddf), float("nan"), p,
                         "Design-based Wald test of association" + (" (adjusted)" if statistic == "adjWald" else ""),
                         statistic, tab, X2)
    p_hat, V = cov.indicator_vcov(design, code, K, means=True, design_rows=counted)
    # interaction contrasts orthogonal to the main effects (R: qr.resid(qr(X1), X12[, interactions]))
    X1 = np.column_stack([np.ones(K)] + [(grid_r == i).astype(float) for i in range(1, nr)]
                         + [(grid_c == j).astype(float) for j in range(1, nc)])
    X12 = np.column_stack([((grid_r == i) & (grid_c == j)).astype(float) for j in range(1, nc) for i in range(1, nr)])
    C = X12 - X1 @ np.linalg.lstsq(X1, X12, rcond=None)[0]
    with np.errstate(divide="ignore"):
        idg = np.where(p_hat == 0, 0.0, 1.0 / p_hat)
    denom = (C * (idg / N)[:, None]).T @ C
    numr = (C * idg[:, None]).T @ V @ (C * idg[:, None])
    Delta = np.linalg.solve(denom, numr)
    tr = float(np.trace(Delta))
    d0 = tr ** 2 / float(np.trace(Delta @ Delta))
    kdf = Delta.shape[1]
    if statistic == "F":
        F = X2 / tr
        p = float(special.fdtrc(d0, d0 * nu, F)) if nu > 0 else float("nan")
        return ChisqTest((a, b), F, d0, d0 * nu, float("nan"), p, "Pearson's X^2: Rao & Scott adjustment (F)",
                         statistic, tab, X2, np.linalg.eigvals(Delta).real)
    p = float(special.chdtrc(kdf, X2 / (tr / kdf)))
    return ChisqTest((a, b), X2, float("nan"), float("nan"), float(kdf), p,
                     "Pearson's X^2: Rao & Scott adjustment (chi-square)", statistic, tab, X2,
                     np.linalg.eigvals(Delta).real)


# ------------------------------------------------------------------ ttest
@dataclass(frozen=True, eq=False)
class TTest:
    """A design-based two-sample t test (R ``svyttest``): the difference of two group means."""

    variable: str
    group: str
    levels: tuple
    estimate: float
    se: float
    statistic: float
    df: float
    pvalue: float
    ci_low: float
    ci_high: float
    conf_level: float = 0.95

    @property
    def conf_int(self) -> tuple:
        return (self.ci_low, self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"variable": [self.variable], "group": [self.group],
                             "contrast": [f"{self.levels[1]} - {self.levels[0]}"], "estimate": [self.estimate],
                             "se": [self.se], "statistic": [self.statistic], "df": [self.df],
                             "pvalue": [self.pvalue], "ci_low": [self.ci_low], "ci_high": [self.ci_high],
                             "method": ["Design-based t-test"]})

    def __repr__(self) -> str:
        return (f"<Design-based t-test of {self.variable} by {self.group} ({self.levels[1]} - {self.levels[0]}): "
                f"difference = {self.estimate:.6g}, t = {self.statistic:.6g}, df = {self.df:g}, "
                f"p = {self.pvalue:.4g}, 95% CI [{self.ci_low:.6g}, {self.ci_high:.6g}]>")

    def _repr_html_(self) -> str:
        from .display import html_table

        return html_table(f"t test: {self.variable} by {self.group}", self.to_frame(),
                          "Design-based t-test (svyglm); 95% t interval on the model's residual df")


def ttest(design, variable: str, group: str, where=None, na_rm: bool = True) -> TTest:
    """See :meth:`AssociationMethods.ttest`."""
    from .models import glm

    for par, col in (("variable", variable), ("group", group)):
        if not isinstance(col, str):
            raise EstimationError(f"{par}: expected a column name, got {col!r}")
        check_columns(design.data, [col], par)
    rows = _domain_rows(design, where)
    sub = design.data[[variable, group]].iloc[rows].dropna()
    levels = sorted(pd.unique(sub[group]).tolist())
    if len(levels) != 2:
        raise EstimationError(f"group: expected exactly 2 groups in {group!r}, got {len(levels)} ({levels[:6]})")
    m = glm(design, f'Q("{variable}") ~ C(Q("{group}"))', family="gaussian", where=where, na_rm=na_rm)
    est = float(m.params.iloc[1])
    se = float(m.bse.iloc[1])
    ci = m.conf_int().iloc[1]
    return TTest(variable, group, tuple(levels), est, se, est / se, m.df_resid, float(m.pvalues.iloc[1]),
                 float(ci["ci_low"]), float(ci["ci_high"]))


class AssociationMethods:
    """``chisq``, ``ttest`` and ``table`` for the design classes."""

    def chisq(self, a: str, b: str, statistic: str = "F", where=None, na_rm: bool = True) -> ChisqTest:
        """Test of association of two categorical variables, as R's ``svychisq``.

        Parameters
        ----------
        a, b : str
            The row and column variables (any type; levels sorted).
        statistic : {"F", "Chisq", "Wald", "adjWald"}
            Second-order Rao-Scott F (default), first-order Rao-Scott
            chi-square, Wald F, adjusted Wald F; see :mod:`analysis.association`.
        where : boolean array, optional
            A domain, inside the full design.
        na_rm : bool
            Leave rows with a missing value out (default, as R).

        Returns
        -------
        ChisqTest
            ``statistic``, ``df_num``, ``df_denom`` (F forms), ``df``
            (``"Chisq"``), ``pvalue``, ``table`` (weighted counts).
        """
        return chisq(self, a, b, statistic=statistic, where=where, na_rm=na_rm)

    def ttest(self, variable: str, group: str, where=None) -> TTest:
        """Design-based t test of the difference of ``variable``'s mean between the two ``group`` levels.

        As R's ``svyttest(variable ~ group)``: the coefficient of the group
        indicator in a gaussian ``svyglm`` (second level minus the first,
        levels sorted), t on the model's residual df.
        """
        return ttest(self, variable, group, where=where)

    def table(self, variables, where=None):
        """Weighted counts (R's ``svytable``); two variables give a wide DataFrame."""
        return table(self, variables, where=where)
