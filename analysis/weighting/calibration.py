"""Post-stratification, raking, calibration and trimming of design weights.

Each public function takes a design (:class:`~analysis.design.SurveyDesign`
or :class:`~analysis.replicate.ReplicateDesign`) and returns a *new* design;
the input is never modified.  For a Taylor design the new design carries a
variance step (:mod:`analysis.weighting.steps`) so that standard errors use
the calibration residuals as R ``survey`` does; for a replicate design every
replicate weight column is adjusted to the same controls (R's behaviour for
``svrepdesign``).  The ``*_weights`` variants work on a DataFrame and a
weight vector and return ``(weights, report)``.

References
----------
Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey
sampling. *Journal of the American Statistical Association* 87, 376-382.
Deming, W. E. and Stephan, F. F. (1940). On a least squares adjustment of a
sampled frequency table when the expected marginal totals are known.
*Annals of Mathematical Statistics* 11, 427-444.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, ch. 7.
Valliant, R., Dever, J. A. and Kreuter, F. (2018). *Practical Tools for
Designing and Weighting Survey Samples*, 2nd ed. Springer, ch. 14.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .controls import (Margin, check_grand_totals, check_sample_cells, encode_margin,
                       parse_margins)
from .errors import CalibrationError, ConvergenceError, ControlTotalsError, WeightingWarning
from .kernels import CellX, cells_from_key, ipf_cells, linear_calibrate, newton_calibrate
from .report import WeightingReport
from .steps import GregStep, PostStratStep, RakeStep

__all__ = ["poststratify", "rake", "calibrate", "trim", "poststratify_weights",
           "rake_weights", "calibrate_weights", "trim_weights", "CalibrationSpec"]

ControlTable = "pd.DataFrame"


# ---------------------------------------------------------------------------
# Specification (kept on the report so trim() can re-calibrate)
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CalibrationSpec:
    """The controls and settings of one weighting step (internal)."""

    kind: str                                # "poststratify" | "rake" | "calibrate"
    margins: tuple = ()
    totals: tuple = ()                       # ((name, value), ...)
    method: str = "linear"
    bounds: tuple | None = None
    tol: float = 1e-10
    max_iter: int | None = None
    convergence: str = "relative"
    epsilon: float = 1.0
    partial: bool = False
    total_tol: float = 1e-6


@dataclass
class _Outcome:
    weights: np.ndarray
    repweights: np.ndarray | None
    step: Any
    iterations: int = 0
    converged: bool = True
    method: str = ""
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _is_replicate(design) -> bool:
    return getattr(design, "replicate_weights", None) is not None


def _design_arrays(design):
    data = design.data
    w = np.asarray(design.weights, dtype=np.float64)
    rep = None
    if _is_replicate(design):
        rep = np.asarray(design.replicate_weights, dtype=np.float64)
    return data, w, rep


def _check_weights_in(w: np.ndarray, what: str = "weights") -> None:
    if w.size == 0 or (w.min() >= 0 and np.isfinite(w.max())):
        return
    if not np.all(np.isfinite(w)):
        raise CalibrationError(f"{what}: expected finite weights, got "
                               f"{int((~np.isfinite(w)).sum())} missing or infinite value(s)")
    if (w < 0).any():
        k = int(np.flatnonzero(w < 0)[0])
        raise CalibrationError(f"{what}: expected non-negative weights, got {w[k]:g} at row {k}")


def _check_positive(new: np.ndarray, old: np.ndarray, what: str, hint: str = "") -> None:
    """A weight positive before the step must stay positive and finite."""
    bad = (old > 0) & ~(new > 0)
    bad |= ~np.isfinite(new)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise CalibrationError(
            f"{what}: {int(bad.sum())} weight(s) became zero, negative or non-finite (first at "
            f"row {k}: {old[k]:g} -> {new[k]:g}){hint}")


def _group_matrix(codes: np.ndarray, size: int) -> sp.csr_matrix:
    n = codes.shape[0]
    return sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(size, n))


def _margin_discrepancies(margins, codes_list, w, numeric=(), row_w=None) -> dict[str, float]:
    """Largest relative gap to its control of each margin (and numeric total).

    ``codes_list`` gives each margin's cell of every unit summed by ``w``
    (rows, or cells of a cross-classification); numeric totals use the row
    weights ``row_w`` (default ``w``).
    """
    out: dict[str, float] = {}
    for m, codes in zip(margins, codes_list):
        tot = np.bincount(codes, weights=w, minlength=m.n_cells)
        pos = m.counts > 0
        rel = np.abs(tot[pos] - m.counts[pos]) / m.counts[pos]
        out[m.name] = float(rel.max()) if rel.size else 0.0
    rw = w if row_w is None else row_w
    for name, x, T in numeric:
        out[name] = float(abs(np.dot(rw, x) - T) / max(abs(T), 1e-300))
    return out


def _replace(design, out: _Outcome, report: WeightingReport):
    if _is_replicate(design):
        new = design.with_weights(out.weights, replicate_weights=out.repweights, report=report)
    else:
        new = design.with_weights(out.weights, calibration=out.step, report=report)
    report._bind(np.asarray(new.weights))  # summaries from the design's own (read-only) copy
    return new


def _report(step: str, out: _Outcome, discrepancies: dict, previous, spec, lazy=False,
            **kw) -> WeightingReport:
    return WeightingReport.build(
        step, out.weights, previous=previous, lazy=lazy, method=out.method,
        iterations=out.iterations, converged=out.converged,
        max_discrepancy=max(discrepancies.values(), default=0.0), margins=discrepancies,
        details=dict(out.details), spec=spec, **kw)


# ---------------------------------------------------------------------------
# post-stratification
# ---------------------------------------------------------------------------

def _poststratify_arrays(spec: CalibrationSpec, data, w, rep, *, with_step=True):
    (m,) = spec.margins
    codes = encode_margin(data, m)
    active = check_sample_cells(m, codes, w, partial=spec.partial)
    wsum = np.bincount(codes, weights=w, minlength=m.n_cells)
    ratio = np.ones(m.n_cells)
    ratio[active] = m.counts[active] / wsum[active]
    new = w * ratio[codes]
    _check_positive(new, w, f"poststratify to {m.name}")
    newrep = None
    if rep is not None:
        rsum = np.asarray(_group_matrix(codes, m.n_cells) @ rep)
        lost = active[:, None] & ~(rsum > 0)
        if lost.any():  # R gives NaN replicate weights here; keeping them would miss the control
            k, r = (int(i[0]) for i in np.nonzero(lost))
            raise ControlTotalsError(
                f"poststratify to {m.name}: cell {m.cell_label(k)} (control {m.counts[k]:g}) has "
                f"no weight in replicate {r + 1} ({int(lost.any(axis=0).sum())} replicate(s) "
                f"affected), so that replicate cannot be post-stratified; expected every cell "
                "in every replicate -- collapse the cell with a neighbour")
        rratio = np.ones_like(rsum)
        act = active[:, None] & (rsum > 0)
        np.divide(np.broadcast_to(m.counts[:, None], rsum.shape), rsum, out=rratio, where=act)
        newrep = rep * rratio[codes]
    step = PostStratStep(codes, m.n_cells, w, new) if with_step else None
    partial_cells = [m.cell_label(k) for k in np.flatnonzero((m.counts > 0) & ~active)]
    details = {"cells": int(active.sum())}
    if partial_cells:
        details["ignored_cells"] = partial_cells
    out = _Outcome(new, newrep, step, 0, True, "poststratify", details)
    return out, _margin_discrepancies(spec.margins, [codes], new)


def poststratify(design, population: "pd.DataFrame", *, partial: bool = False,
                 count: str | None = None):
    """Post-stratify a design to population cell counts (R ``postStratify``).

    Within each cell ``g`` of the control table the weights are scaled by
    ``N_g / N_hat_g``.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The design to adjust (not modified).
    population : pandas.DataFrame
        Control table: the post-stratification column(s) and a ``count``
        (or ``Freq``) column.  Several margin columns define crossed cells.
    partial : bool, default False
        Ignore control cells that have no sample units (R ``partial=TRUE``);
        by default they are an error.
    count : str, optional
        Name of the count column when it is not ``count``/``Freq``.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design with the post-stratified weights and a
        :class:`WeightingReport` in ``weighting_report``.  Taylor variances
        use R's post-stratification residuals; replicate designs have every
        replicate post-stratified.

    Raises
    ------
    ControlTotalsError
        Malformed table, sample cell without control, control cell without
        sample units (also in one replicate of a replicate design, where R
        gives NaN replicate weights).
    """
    m = parse_margins(population, count=count)
    if len(m) != 1:
        raise ControlTotalsError(f"poststratify: expected one control table, got {len(m)}; "
                                 "use rake() for several margins")
    spec = CalibrationSpec("poststratify", margins=tuple(m), partial=partial)
    data, w, rep = _design_arrays(design)
    _check_weights_in(w)
    out, disc = _poststratify_arrays(spec, data, w, rep)
    report = _report("poststratify", out, disc, design.weighting_report, spec, lazy=True)
    return _replace(design, out, report)


def poststratify_weights(data: pd.DataFrame, weights, population, *, partial: bool = False,
                         count: str | None = None) -> tuple[np.ndarray, WeightingReport]:
    """Array version of :func:`poststratify`: returns ``(weights, report)``."""
    spec = CalibrationSpec("poststratify", margins=tuple(parse_margins(population, count=count)),
                           partial=partial)
    w = np.asarray(weights, dtype=np.float64)
    _check_weights_in(w)
    out, disc = _poststratify_arrays(spec, data, w, None, with_step=False)
    return out.weights, _report("poststratify", out, disc, None, spec)


# ---------------------------------------------------------------------------
# raking
# ---------------------------------------------------------------------------

def _encode_cells(margins, data, w, what):
    """Cell of every row in the cross-classification of all margins, the
    margin categories of each cell, the cell weights, and each margin's
    active-category mask; checks every margin against the sample."""
    key = None
    total = 1
    for m in margins:  # combine the margins' codes into one cell key, one at a time
        if total * m.n_cells >= 2 ** 62:
            raise ControlTotalsError(
                f"{what}: the cross-classification of the margins has more than 2**62 cells "
                f"(at margin {m.name}); use fewer or coarser margins")
        c = encode_margin(data, m)
        key_dtype = np.int32 if total * m.n_cells < 2 ** 31 else np.int64
        if key is None:
            key = c.astype(key_dtype, copy=False)
        else:
            key = key.astype(key_dtype, copy=False)
            key *= m.n_cells
            key += c
        total *= m.n_cells
        del c
    sizes = [m.n_cells for m in margins]
    cell, cell_codes = cells_from_key(key, sizes)
    del key
    C = len(cell_codes[0])
    cw0 = np.bincount(cell, weights=w, minlength=C)
    active = []
    for m, cc, s_ in zip(margins, cell_codes, sizes):
        wsum = np.bincount(cc, weights=cw0, minlength=s_)
        try:  # cells stand in for units (a cell exists only if it has units)
            act = check_sample_cells(m, cc, None, nunits=np.bincount(cc, minlength=s_), wsum=wsum)
        except ControlTotalsError:  # redo with unit counts for the message
            cn = np.bincount(cell, minlength=C)
            act = check_sample_cells(m, cc, None, nunits=np.bincount(cc, weights=cn, minlength=s_),
                                     wsum=wsum)
        active.append(act)
    return cell, cell_codes, cw0, active


def _cell_discrepancies(margins, cell, cell_codes, w, numeric=()) -> dict[str, float]:
    C = len(cell_codes[0]) if cell_codes else 0
    cw = np.bincount(cell, weights=w, minlength=C)
    return _margin_discrepancies(margins, cell_codes, cw, numeric, row_w=w)


def _rake_arrays(spec: CalibrationSpec, data, w, rep, *, with_step=True):
    margins = check_grand_totals(spec.margins, rtol=spec.total_tol)
    sizes = [m.n_cells for m in margins]
    cell, cell_codes, cw0, _ = _encode_cells(margins, data, w, "rake")
    C = len(cell_codes[0])
    rmode = spec.convergence == "r"
    max_iter = spec.max_iter if spec.max_iter is not None else (10 if rmode else 100)
    eps = spec.epsilon if spec.epsilon >= 1 else spec.epsilon * float(w.sum())
    targets = [m.counts for m in margins]
    res = ipf_cells(cw0, cell_codes, sizes, targets, tol=spec.tol, max_iter=max_iter,
                    convergence=spec.convergence, epsilon=eps, record_last=with_step)
    if not res.converged:
        k = int(np.argmax(res.discrepancy))
        msg = (f"raking did not converge in {res.sweeps} sweeps (max_iter={max_iter}): worst "
               f"margin {margins[k].name} is off its controls by {res.discrepancy[k]:.3g} "
               f"(relative)")
        if rmode:
            warnings.warn(msg + "; convergence='r' stops like R's rake()", WeightingWarning,
                          stacklevel=3)
        else:
            raise ConvergenceError(msg + f" > tol={spec.tol:g}", worst=margins[k].name,
                                   gap=float(res.discrepancy[k]), iterations=res.sweeps)
    factor = np.ones(C)
    np.divide(res.weights[:, 0], cw0, out=factor, where=cw0 > 0)
    if not (np.all(np.isfinite(factor)) and np.all(factor[cw0 > 0] > 0)):
        _check_positive(w * factor[cell], w, "rake")
    new = w * factor[cell]
    newrep = None
    if rep is not None:
        S = _group_matrix(cell, C)
        rcw0 = np.asarray(S @ rep)
        for m, cc, s_ in zip(margins, cell_codes, sizes):
            # a category with a control but no weight in a replicate can never be met
            # there (R: NaN replicate weights); say so instead of leaving it at 0
            lost = (m.counts > 0)[:, None] & ~(np.asarray(_group_matrix(cc, s_) @ rcw0) > 0)
            lost &= (np.bincount(cc, weights=cw0, minlength=s_) > 0)[:, None]
            if lost.any():
                k, r = (int(i[0]) for i in np.nonzero(lost))
                raise ControlTotalsError(
                    f"rake: margin {m.name}: cell {m.cell_label(k)} (control {m.counts[k]:g}) has "
                    f"no weight in replicate {r + 1} ({int(lost.any(axis=0).sum())} replicate(s) "
                    "affected), so that replicate cannot be raked; expected every cell in every "
                    "replicate -- collapse the cell with a neighbour")
        rres = ipf_cells(rcw0, cell_codes, sizes, targets, tol=spec.tol, max_iter=max_iter,
                         convergence="relative",
                         fixed_sweeps=res.sweeps if rmode else None)
        if not rmode and not rres.converged:
            k = int(np.argmax(rres.discrepancy))
            raise ConvergenceError(
                f"raking the replicate weights did not converge in {rres.sweeps} sweeps: worst "
                f"margin {margins[k].name} is off by {rres.discrepancy[k]:.3g} (relative) in some "
                "replicate (a replicate may have no units in a margin category)",
                worst=margins[k].name, gap=float(rres.discrepancy[k]), iterations=rres.sweeps)
        rfac = np.ones_like(rcw0)
        np.divide(rres.weights, rcw0, out=rfac, where=rcw0 > 0)
        newrep = rep * rfac[cell]
    step = None
    if with_step:
        facs = []
        for lw in res.last_sweep:
            f = np.ones(C)
            np.divide(lw, cw0, out=f, where=cw0 > 0)
            facs.append(f)
        step = RakeStep(cell, cell_codes, sizes, w, facs)
    details = {"cells": C, "convergence": spec.convergence,
               "tol" if not rmode else "epsilon": spec.tol if not rmode else eps}
    out = _Outcome(new, newrep, step, res.sweeps, bool(res.converged), "raking (IPF)", details)
    final = res.weights[:, 0]
    disc = {}
    for m, cc in zip(spec.margins, cell_codes):  # against the controls as given
        tot = np.bincount(cc, weights=final, minlength=m.n_cells)
        pos = m.counts > 0
        rel = np.abs(tot[pos] - m.counts[pos]) / m.counts[pos]
        disc[m.name] = float(rel.max()) if rel.size else 0.0
    return out, disc


def _rake_spec(margins, tol, max_iter, convergence, epsilon, total_tol, count):
    if convergence not in ("relative", "r"):
        raise ValueError(f"convergence: expected 'relative' or 'r', got {convergence!r}")
    ms = parse_margins(margins, count=count)
    if not ms:
        raise ControlTotalsError("rake: expected at least one control table, got none")
    if not (tol > 0):
        raise ValueError(f"tol: expected a positive number, got {tol!r}")
    if max_iter is not None and int(max_iter) < 1:
        raise ValueError(f"max_iter: expected a positive integer, got {max_iter!r}")
    return CalibrationSpec("rake", margins=tuple(ms), tol=float(tol), max_iter=max_iter,
                           convergence=convergence, epsilon=float(epsilon), total_tol=total_tol)


def rake(design, margins: Sequence["pd.DataFrame"], *, tol: float = 1e-10,
         max_iter: int | None = None, convergence: str = "relative", epsilon: float = 1.0,
         total_tol: float = 1e-6, count: str | None = None):
    """Rake a design to several margins by iterative proportional fitting
    (R ``rake``; Deming & Stephan 1940).

    Each sweep post-stratifies to every margin in turn.  The rows are
    collapsed to the non-empty cells of the cross-classification of all
    margins, the cells are raked, and the row weights are mapped back, which
    gives the same weights as raking the rows.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    margins : sequence of pandas.DataFrame
        Control tables (margin column(s) + ``count``); a margin may cross
        several columns.  All must have the same grand total (within
        ``total_tol``).
    tol : float, default 1e-10
        Stop when every margin cell is within ``tol`` of its control,
        relatively.
    max_iter : int, optional
        Maximum sweeps: 100 by default, 10 with ``convergence="r"``.
    convergence : {"relative", "r"}
        ``"r"`` reproduces R's default ``rake(control = list(maxit = 10,
        epsilon = 1))``: stop when the weighted cross-table of all margin
        variables changes by less than ``epsilon`` (absolute, or
        ``epsilon * sum(w)`` when ``epsilon < 1``) between sweeps; if that
        does not happen a :class:`WeightingWarning` is issued (R's warning)
        instead of an error.  Use it only to reproduce R, since R's default
        stops before the margins are met.
    epsilon : float, default 1
        Threshold of ``convergence="r"``.
    total_tol : float, default 1e-6
        Relative tolerance for the agreement of the margins' grand totals.
    count : str, optional
        Name of the count column when it is not ``count``/``Freq``.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        New design; Taylor variances use R's raking residuals (backfitting),
        replicate designs have every replicate raked to the same margins.

    Raises
    ------
    ControlTotalsError
        Malformed tables, disagreeing grand totals, empty or uncontrolled
        cells (also a cell with no weight in one replicate of a replicate
        design, where R gives NaN replicate weights).
    ConvergenceError
        Not converged in ``max_iter`` sweeps (``convergence="relative"``);
        the message names the worst margin and its gap.
    """
    spec = _rake_spec(margins, tol, max_iter, convergence, epsilon, total_tol, count)
    data, w, rep = _design_arrays(design)
    _check_weights_in(w)
    out, disc = _rake_arrays(spec, data, w, rep)
    report = _report("rake", out, disc, design.weighting_report, spec, lazy=True)
    return _replace(design, out, report)


def rake_weights(data: pd.DataFrame, weights, margins, *, tol: float = 1e-10,
                 max_iter: int | None = None, convergence: str = "relative",
                 epsilon: float = 1.0, total_tol: float = 1e-6,
                 count: str | None = None) -> tuple[np.ndarray, WeightingReport]:
    """Array version of :func:`rake`: returns ``(weights, report)``."""
    spec = _rake_spec(margins, tol, max_iter, convergence, epsilon, total_tol, count)
    w = np.asarray(weights, dtype=np.float64)
    _check_weights_in(w)
    out, disc = _rake_arrays(spec, data, w, None, with_step=False)
    return out.weights, _report("rake", out, disc, None, spec)


# ---------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------

def _calibration_matrix(spec: CalibrationSpec, data, w):
    """Model matrix (a :class:`CellX`), targets and column labels.

    Categorical margins give indicator columns (the first margin all its
    cells, later margins all but their first cell -- the column space of
    R's ``model.matrix(~a + b)``); numeric totals give numeric columns.
    """
    margins = check_grand_totals(spec.margins, rtol=spec.total_tol)
    n = len(data)
    if margins:
        cell, cell_codes, _, active = _encode_cells(margins, data, w, "calibrate")
    else:
        cell, cell_codes, active = np.zeros(n, dtype=np.int32), [], []
    C = len(cell_codes[0]) if cell_codes else 1
    Ecols: list[np.ndarray] = []
    T: list[float] = []
    labels: list[str] = []
    first = True
    for m, cc, act in zip(margins, cell_codes, active):
        if not m.columns and len(margins) > 1:
            continue  # the population size is implied by the other margins
        ks = np.flatnonzero(act)
        if not first:
            ks = ks[1:]
        first = False
        for k in ks:
            Ecols.append((cc == k).astype(np.float64))
            T.append(float(m.counts[k]))
            labels.append(f"{m.name}: {m.cell_label(int(k))}")
    numeric = []
    for name, value in spec.totals:
        if name not in data.columns:
            raise ControlTotalsError(f"totals: variable {name!r} not found in the design's data")
        col = data[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ControlTotalsError(
                f"totals: variable {name!r} must be numeric (got dtype {col.dtype}); give "
                "categorical controls as margins tables instead")
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.all(np.isfinite(x)):
            raise ControlTotalsError(
                f"totals: variable {name!r} has {int((~np.isfinite(x)).sum())} missing or "
                "infinite value(s) in the sample")
        if not np.isfinite(value):
            raise ControlTotalsError(f"totals: control for {name!r} is not finite ({value!r})")
        T.append(float(value))
        labels.append(name)
        numeric.append((name, x, float(value)))
    if not T:
        raise ControlTotalsError("calibrate: expected at least one margin table or numeric total")
    E = np.column_stack(Ecols) if Ecols else np.zeros((C, 0))
    Z = np.column_stack([x for _, x, _ in numeric]) if numeric else None
    X = CellX(cell, E, Z)
    return X, np.asarray(T), labels, (cell, cell_codes), numeric


#: largest relative gap ``|T - X'w g| / (1 + |T|)`` accepted from closed-form
#: (unbounded linear) calibration, R's default ``epsilon``.
_LINEAR_TOL = 1e-7


def _check_bounds_feasible(X, w, T, labels, L, U, what="calibrate", bounds=None):
    """Every control must lie within [L, U] times its base weighted total
    for a non-negative calibration variable (``L`` is 0 for raking without
    a positive lower bound: its factors are positive)."""
    nonneg = X.nonneg_columns()
    base = X.tdot(w)
    for j in np.flatnonzero(nonneg):
        lo = L * base[j] if base[j] > 0 else 0.0
        hi = U * base[j] if base[j] > 0 else 0.0
        if T[j] < lo - 1e-12 * abs(lo) or T[j] > hi + 1e-12 * abs(hi):
            why = (f"bounds ({bounds[0]:g}, {bounds[1]:g})" if bounds is not None
                   else "a positive raking factor")
            raise CalibrationError(
                f"{what}: calibration cannot meet its bounds: control {labels[j]} = {T[j]:.10g} lies "
                f"outside [{lo:.10g}, {hi:.10g}], the input weighted total {base[j]:.10g} of a "
                f"non-negative variable times {why}; widen the bounds, collapse cells or check "
                "the control")


def _raking_rescale(X, w, T, spec) -> float:
    """R ``grake``'s rescaling for unbounded raking: when every control is
    more than 20 times its input weighted total (e.g. weights that sum to
    the sample size), Newton starts from the weights times the mean ratio.
    Only with a categorical margin, whose cells span the constant, so that
    the raking solution ``exp(x' lambda)`` is unchanged; R also rescales
    under bounds, which it then reads relative to the rescaled weights (with
    a warning): here bounds stay relative to the input weights."""
    if spec.method != "raking" or spec.bounds is not None or not spec.margins:
        return 1.0
    base = X.tdot(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = T / base
    scales = scales[base != 0]
    if scales.size and np.all(np.isfinite(scales)) and scales.min() > 20:
        return float(scales.mean())
    return 1.0


def _solve_g(X, w, T, labels, spec, what):
    method = spec.method
    L, U = spec.bounds if spec.bounds is not None else (-np.inf, np.inf)
    if method == "linear" and spec.bounds is None:
        g = linear_calibrate(X, w, T)
        achieved = X.tdot(w * g)
        misfit = T - achieved
        rel = np.abs(misfit) / (1.0 + np.abs(T))
        if not np.all(rel < _LINEAR_TOL):
            # nearly collinear variables: the pseudo-inverse cut a genuine direction;
            # R solves the system exactly (solve()), and so do we when it is not singular
            try:
                with np.errstate(all="ignore"):
                    g2 = linear_calibrate(X, w, T, exact=True)
                    a2 = X.tdot(w * g2)
                rel2 = np.abs(T - a2) / (1.0 + np.abs(T))
                if np.all(np.isfinite(rel2)) and rel2.max() < rel.max():
                    g, achieved, misfit, rel = g2, a2, T - a2, rel2
            except np.linalg.LinAlgError:
                pass
        if not np.all(rel < _LINEAR_TOL):
            # the pseudo-inverse gives the least-squares compromise when the
            # controls contradict each other (collinear variables with
            # inconsistent totals, a variable that is zero in the sample but
            # not in the population); R's solve() stops there, so must we
            k = int(np.nanargmax(np.where(np.isfinite(rel), rel, np.inf)))
            raise CalibrationError(
                f"{what}: linear calibration cannot meet its controls: control {labels[k]} = "
                f"{T[k]:.10g} but the calibrated total is {achieved[k]:.10g} (relative gap "
                f"{rel[k]:.3g} > {_LINEAR_TOL:g}); the calibration variables are collinear with "
                "inconsistent controls, or a variable is zero in the sample (or in this "
                "replicate) but its control is not -- drop or collapse the control")
        return g, 0, rel
    if method == "raking" and not (L > 0):
        L = 0.0  # raking factors exp(u) are positive whatever the lower bound
    if np.isfinite(U) or L > -np.inf:
        _check_bounds_feasible(X, w, T, labels, L, U, what, spec.bounds)
    L, U = spec.bounds if spec.bounds is not None else (-np.inf, np.inf)
    scale = _raking_rescale(X, w, T, spec)
    res = newton_calibrate(X, w * scale, T, method, (L, U), tol=spec.tol,
                           max_iter=spec.max_iter if spec.max_iter is not None else 50)
    if scale != 1.0:
        res.g = res.g * scale
    if not res.converged and not np.all(np.isfinite(res.rel_misfit)):
        # the iterations overflowed: no control is nearer than another
        raise ConvergenceError(
            f"{what}: calibration ({method}"
            + (f", bounds ({L:g}, {U:g})" if spec.bounds is not None else "")
            + f") diverged: the calibration factors became non-finite after {res.iterations} "
            "iterations, so the controls cannot be met; the bounds are probably infeasible "
            "(widen them) or the controls contradict each other",
            worst=None, gap=float("inf"), iterations=res.iterations)
    if not res.converged:
        k = int(np.nanargmax(np.where(np.isfinite(res.rel_misfit), res.rel_misfit, np.inf)))
        raise ConvergenceError(
            f"{what}: calibration ({method}"
            + (f", bounds ({L:g}, {U:g})" if spec.bounds is not None else "")
            + f") did not converge in {res.iterations} iterations: worst control {labels[k]} "
            f"has gap {res.misfit[k]:.6g} (relative {res.rel_misfit[k]:.3g} > tol={spec.tol:g}); "
            + ("the bounds may be infeasible" if spec.bounds is not None else
               "the controls may contradict each other; raise max_iter or check them"),
            worst=labels[k], gap=float(res.rel_misfit[k]),
            iterations=res.iterations)
    return res.g, res.iterations, res.rel_misfit


def _calibrate_arrays(spec: CalibrationSpec, data, w, rep, *, with_step=True):
    X, T, labels, (cell, cell_codes), numeric = _calibration_matrix(spec, data, w)
    g, iters, _ = _solve_g(X, w, T, labels, spec, "calibrate")
    new = g * w
    hint = ("; linear (GREG) calibration can give negative weights: use bounds or "
            "method='raking'/'logit'") if spec.method == "linear" else ""
    _check_positive(new, w, "calibrate", hint)
    newrep = None
    if rep is not None:
        newrep = np.empty_like(rep)
        for r in range(rep.shape[1]):
            wr = rep[:, r]
            gr, _, _ = _solve_g(X, wr, T, labels, spec, f"calibrate (replicate {r + 1})")
            newrep[:, r] = wr * gr
            bad = (wr > 0) & ~(newrep[:, r] >= 0)
            if bad.any():
                raise CalibrationError(
                    f"calibrate (replicate {r + 1}): {int(bad.sum())} replicate weight(s) became "
                    f"negative or non-finite{hint}")
    step = GregStep(X, w, g) if with_step else None
    method = spec.method if spec.bounds is None else f"{spec.method}{tuple(spec.bounds)}"
    out = _Outcome(new, newrep, step, iters, True, method,
                   {"controls": labels, "g_min": float(g[w > 0].min(initial=np.inf)),
                    "g_max": float(g[w > 0].max(initial=-np.inf))})
    return out, _cell_discrepancies(spec.margins, cell, cell_codes, new, numeric)


def _calibrate_spec(margins, totals, method, bounds, tol, max_iter, total_tol, count):
    if method not in ("linear", "raking", "logit"):
        raise ValueError(f"method: expected 'linear', 'raking' or 'logit', got {method!r}")
    if bounds is not None:
        try:
            L, U = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"bounds: expected a pair (lower, upper) or None, got {bounds!r}") from None
        if not (L < 1 < U) and not (L <= 1 <= U and method != "logit"):
            raise ValueError(f"bounds: expected lower <= 1 <= upper (strict for logit), got ({L}, {U})")
        bounds = (L, U)
    if method == "logit" and (bounds is None or not all(np.isfinite(bounds))):
        raise ValueError(f"bounds: method='logit' needs finite bounds (lower, upper), got {bounds!r}")
    ms = parse_margins(margins, count=count)
    tot: tuple = ()
    if totals is not None:
        if isinstance(totals, pd.Series):
            totals = totals.to_dict()
        if not isinstance(totals, Mapping):
            raise ValueError(f"totals: expected a mapping {{variable: population total}}, got "
                             f"{type(totals).__name__}")
        tot = tuple((str(k), float(v)) for k, v in totals.items())
    return CalibrationSpec("calibrate", margins=tuple(ms), totals=tot, method=method,
                           bounds=bounds, tol=float(tol), max_iter=max_iter, total_tol=total_tol)


def calibrate(design, margins: Sequence["pd.DataFrame"] | None = None,
              totals: Mapping[str, float] | None = None, *, method: str = "linear",
              bounds: tuple[float, float] | None = None, tol: float = 1e-10,
              max_iter: int = 50, total_tol: float = 1e-6, count: str | None = None):
    """Calibrate a design to control totals (R ``calibrate``; Deville &
    Sarndal 1992).

    The calibrated weights are ``g_i w_i`` with ``g_i = F(x_i' lambda)``
    chosen so that ``sum_i g_i w_i x_i`` equals the controls, where ``x_i``
    holds indicators of the margin cells and the numeric variables.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    margins : sequence of pandas.DataFrame, optional
        Categorical controls as tidy tables (margin column(s) + ``count``).
        A table with only a ``count`` column is the population size (R's
        intercept).
    totals : mapping, optional
        Population totals of numeric variables, e.g. ``{"api99": 3914069.0}``.
        ``calibrate(d, margins=[pop_stype], totals={"api99": T})`` equals
        R's ``calibrate(design, ~stype + api99, colSums(model.matrix(~stype
        + api99, pop)))``.
    method : {"linear", "raking", "logit"}
        Distance function: GREG (closed form when ``bounds`` is None),
        exponential (raking ratio), or Deville-Sarndal logit (needs
        ``bounds``).  Unbounded raking with a margin starts, as R's
        ``grake``, from the weights times the mean control/total ratio when
        every control exceeds 20 times its weighted total (same solution).
    bounds : (float, float), optional
        Bounds ``(L, U)`` on the ratio ``g = w_new / w``.
    tol : float, default 1e-10
        Newton iterations stop when ``max |misfit| / (1 + |T|) < tol`` (R
        uses 1e-7).
    max_iter : int, default 50
        Newton iteration limit.
    total_tol : float, default 1e-6
        Relative tolerance for the agreement of the margins' grand totals.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        New design.  Taylor variances use the residuals of the weighted
        regression on the calibration variables (R's ``greg_calibration``);
        replicate designs have every replicate calibrated to the same
        controls.

    Raises
    ------
    ControlTotalsError
        Malformed or inconsistent controls, empty cells, non-numeric totals.
    CalibrationError
        Bounds that cannot be met (also a negative control of a
        non-negative variable with ``method="raking"``), controls that
        linear calibration cannot meet (collinear variables with
        contradictory controls, or a variable that is zero in the sample --
        or in one replicate -- with a non-zero control: R stops with a
        singular system), or weights that become zero/negative.
    ConvergenceError
        Newton iterations not converged (names the worst control and gap).
    """
    spec = _calibrate_spec(margins, totals, method, bounds, tol, max_iter, total_tol, count)
    data, w, rep = _design_arrays(design)
    _check_weights_in(w)
    out, disc = _calibrate_arrays(spec, data, w, rep)
    report = _report("calibrate", out, disc, design.weighting_report, spec, lazy=True)
    return _replace(design, out, report)


def calibrate_weights(data: pd.DataFrame, weights, margins=None, totals=None, *,
                      method: str = "linear", bounds=None, tol: float = 1e-10,
                      max_iter: int = 50, total_tol: float = 1e-6,
                      count: str | None = None) -> tuple[np.ndarray, WeightingReport]:
    """Array version of :func:`calibrate`: returns ``(weights, report)``."""
    spec = _calibrate_spec(margins, totals, method, bounds, tol, max_iter, total_tol, count)
    w = np.asarray(weights, dtype=np.float64)
    _check_weights_in(w)
    out, disc = _calibrate_arrays(spec, data, w, None, with_step=False)
    return out.weights, _report("calibrate", out, disc, None, spec)


_APPLY = {"poststratify": _poststratify_arrays, "rake": _rake_arrays,
          "calibrate": _calibrate_arrays}


def _apply_spec(spec, data, w, rep, with_step=True):
    return _APPLY[spec.kind](spec, data, w, rep, with_step=with_step)


# ---------------------------------------------------------------------------
# trimming
# ---------------------------------------------------------------------------

def _cap_redistribute(w: np.ndarray, lo: float, hi: float, max_loops: int = 100):
    """Cap weights to [lo, hi] and spread the excess (or deficit)
    proportionally over the uncapped weights, keeping the total."""
    w = w.copy()
    fixed = np.zeros(w.shape[0], dtype=bool)
    live = w > 0
    total = w.sum()
    if total > hi * live.sum() * (1 + 1e-12) or total < lo * live.sum() * (1 - 1e-12):
        raise CalibrationError(
            f"trim: the bounds [{lo:g}, {hi:g}] cannot hold: {int(live.sum())} positive weights "
            f"must keep their total {total:g}, i.e. a mean of {total / max(live.sum(), 1):g}; "
            "loosen the bounds")
    for _ in range(max_loops):
        over = live & ~fixed & ((w > hi) | (w < lo))
        if not over.any():
            break
        fixed |= over
        w[over] = np.clip(w[over], lo, hi)
        free = live & ~fixed
        fsum = w[free].sum()
        if fsum <= 0:
            raise CalibrationError(
                f"trim: every weight hit the bounds [{lo:g}, {hi:g}]; the total {total:g} "
                "cannot be kept -- loosen the bounds")
        w[free] *= 1.0 + (total - w[live].sum()) / fsum
    return w, fixed


def _trim_bounds(w, upper, lower, relative_to):
    pos = w[w > 0]
    if relative_to == "median":
        ref = float(np.median(pos))
    elif relative_to == "mean":
        ref = float(pos.mean())
    elif relative_to in ("absolute", None):
        ref = 1.0
    elif relative_to == "quantile":
        ref = None
    else:
        raise ValueError(f"relative_to: expected 'median', 'mean', 'absolute' or 'quantile', "
                         f"got {relative_to!r}")

    def conv(b, default):
        if b is None:
            return default
        if ref is None:
            if not 0 < b < 1 + 1e-15:
                raise ValueError(f"trim: with relative_to='quantile' a bound must be a "
                                 f"probability in (0, 1], got {b!r}")
            return float(np.quantile(pos, b))
        if not b > 0:
            raise ValueError(f"trim: expected a positive bound, got {b!r}")
        return float(b) * ref

    hi = conv(upper, np.inf)
    lo = conv(lower, 0.0)
    if not lo < hi:
        raise ValueError(f"trim: lower bound {lo:g} must be below the upper bound {hi:g}")
    return lo, hi


def _trim_core(design_like_spec, data, w, rep, upper, lower, relative_to, recalibrate,
               max_rounds, with_step, cap_tol=1e-6):
    lo, hi = _trim_bounds(w, upper, lower, relative_to)
    spec = design_like_spec if recalibrate else None
    cur, currep = w, rep
    ever = np.zeros(w.shape[0], dtype=bool)
    out = None
    rounds = 0
    disc: dict = {}
    for rounds in range(1, max_rounds + 1):
        capped, fixed = _cap_redistribute(cur, lo, hi)
        ever |= fixed
        if currep is not None:
            ratio = np.ones_like(cur)
            np.divide(capped, cur, out=ratio, where=cur > 0)
            currep = currep * ratio[:, None]
        if spec is None:
            out = _Outcome(capped, currep, None, 0, True, "")
            disc = {}
            break
        out, disc = _apply_spec(spec, data, capped, currep, with_step=with_step)
        cur, currep = out.weights, out.repweights
        live = cur > 0
        if (cur[live] <= hi * (1 + cap_tol)).all() and (cur[live] >= lo * (1 - cap_tol)).all():
            break
    else:
        bounded = _bounded_recalibration(spec, data, _cap_redistribute(w, lo, hi)[0], rep, w,
                                         lo, hi, with_step)
        if bounded is not None:
            out, disc = bounded
            ever = (w > hi * (1 + 1e-12)) | ((w < lo * (1 - 1e-12)) & (w > 0))
            ever |= (out.weights >= hi * (1 - 1e-9)) | ((out.weights <= lo * (1 + 1e-9)) & (w > 0))
        else:
            warnings.warn(
                f"trim: after {max_rounds} rounds of trimming and re-calibration some weights are "
                f"still outside [{lo:.10g}, {hi:.10g}] by more than cap_tol={cap_tol:g} (range "
                f"{out.weights[out.weights > 0].min():.10g} .. {out.weights.max():.10g}), and "
                "bounded (truncated linear) calibration within the bounds failed: the bounds "
                "and the controls are probably incompatible; the controls hold, the cap does "
                "not", WeightingWarning, stacklevel=3)
    if not out.method.startswith("bounded"):
        out.method = (f"cap [{lo:.6g}, {hi:.6g}]"
                      + (f", re-calibrated ({spec.kind})" if spec is not None else ""))
    out.iterations = rounds
    out.details = {"lower": lo, "upper": hi, "relative_to": relative_to, "rounds": rounds,
                   "recalibrated": spec is not None}
    _check_positive(out.weights, w, "trim")
    return out, disc, int(ever.sum())


def _bounded_recalibration(spec, data, capped, rep, w_in, lo, hi, with_step):
    """Fallback of :func:`trim`: calibrate the capped weights to the controls
    with per-unit bounds ``lo <= w g <= hi`` (truncated linear distance,
    Deville & Sarndal 1992, case 6).  Returns ``(outcome, discrepancies)``
    or None if it does not converge."""
    cspec = CalibrationSpec("calibrate", margins=spec.margins, totals=spec.totals,
                            method="linear", tol=1e-10, max_iter=100, total_tol=spec.total_tol)
    X, T, labels, (cell, cell_codes), numeric = _calibration_matrix(cspec, data, capped)
    live = capped > 0
    safe = np.where(live, capped, 1.0)
    L = np.where(live, lo / safe, 0.0)
    U = np.where(live, hi / safe, np.inf)
    res = newton_calibrate(X, capped, T, "linear", (L, U), tol=1e-10, max_iter=100)
    if not res.converged:
        return None
    new = capped * res.g
    newrep = None
    if rep is not None:  # replicates: trimmed by the same factors, then GREG to the controls
        ratio = np.ones_like(w_in)
        np.divide(capped, w_in, out=ratio, where=w_in > 0)
        newrep = np.empty_like(rep)
        for r in range(rep.shape[1]):
            wr = rep[:, r] * ratio
            gr, _, _ = _solve_g(X, wr, T, labels, cspec, f"trim (replicate {r + 1})")
            newrep[:, r] = wr * gr
    step = GregStep(X, capped, res.g) if with_step else None
    out = _Outcome(new, newrep, step, res.iterations, True,
                   f"bounded (truncated linear) calibration within [{lo:.6g}, {hi:.6g}]")
    return out, _cell_discrepancies(spec.margins, cell, cell_codes, new, numeric)


def trim(design, upper: float | None = None, *, lower: float | None = None,
         relative_to: str = "median", recalibrate: bool = True, max_rounds: int = 20,
         cap_tol: float = 1e-6):
    """Trim extreme weights, redistribute the excess, and re-calibrate.

    Weights above the cap (or below the floor) are set to it and the
    excess is spread proportionally over the other weights so that the
    total is kept; then the design is re-calibrated to the controls of its
    last post-stratification, raking or calibration (taken from
    ``design.weighting_report``).  Trimming and re-calibration alternate
    until the weights respect the bounds (at most ``max_rounds`` rounds).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    upper : float, optional
        Upper bound, read according to ``relative_to``.
    lower : float, optional
        Lower bound, read the same way.
    relative_to : {"median", "mean", "absolute", "quantile"}
        The bound is a multiple of the median (default) or mean weight, an
        absolute weight, or a quantile probability of the weights (computed
        once, on the input weights).
    recalibrate : bool, default True
        Re-calibrate to the design's last controls after trimming.
    max_rounds : int, default 20
        Trim/re-calibrate rounds.  If the bounds still do not hold, the
        capped weights are calibrated to the controls with per-unit bounds
        (truncated linear calibration, which meets both when it converges);
        if that fails too a :class:`WeightingWarning` is issued and the
        re-calibrated weights are returned (the controls always hold).
    cap_tol : float, default 1e-6
        Relative slack allowed on the bounds after re-calibration.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        New design; ``weighting_report.n_trimmed`` counts the capped weights.
        Replicate weights are trimmed by the same factors and re-calibrated
        column by column.

    References
    ----------
    Valliant, R., Dever, J. A. and Kreuter, F. (2018), sec. 14.4; Potter, F.
    (1990). A study of procedures to identify and trim extreme sampling
    weights. *Proc. Survey Research Methods Section, ASA*.
    """
    if upper is None and lower is None:
        raise ValueError("trim: expected an upper and/or lower bound, got neither")
    data, w, rep = _design_arrays(design)
    _check_weights_in(w)
    prev = design.weighting_report
    spec = _last_spec(prev)
    out, disc, n_trimmed = _trim_core(spec, data, w, rep, upper, lower, relative_to,
                                      recalibrate, max_rounds, with_step=True, cap_tol=cap_tol)
    report = _report("trim", out, disc, prev, spec, n_trimmed=n_trimmed, lazy=True)
    return _replace(design, out, report)


def trim_weights(data: pd.DataFrame | None, weights, upper: float | None = None, *,
                 lower: float | None = None, relative_to: str = "median",
                 controls: WeightingReport | None = None, max_rounds: int = 20,
                 cap_tol: float = 1e-6) -> tuple[np.ndarray, WeightingReport]:
    """Array version of :func:`trim`: returns ``(weights, report)``.

    ``controls`` is the report of an earlier ``*_weights`` call whose
    controls are re-imposed (``data`` is then required); without it the
    weights are only capped and redistributed.
    """
    if upper is None and lower is None:
        raise ValueError("trim: expected an upper and/or lower bound, got neither")
    w = np.asarray(weights, dtype=np.float64)
    _check_weights_in(w)
    spec = _last_spec(controls)
    out, disc, n_trimmed = _trim_core(spec, data, w, None, upper, lower, relative_to,
                                      spec is not None, max_rounds, with_step=False,
                                      cap_tol=cap_tol)
    return out.weights, _report("trim", out, disc, controls, spec, n_trimmed=n_trimmed)


def _last_spec(report: WeightingReport | None):
    while report is not None:
        if isinstance(report.spec, CalibrationSpec):
            return report.spec
        report = report.history[-1] if report.history else None
    return None
