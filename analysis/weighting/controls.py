"""Control tables: parsing, validation and encoding of the sample.

A *control table* is a tidy :class:`pandas.DataFrame` with one or more
margin columns and one count column (``count``, or R's ``Freq``), one row
per population cell -- the way a statistics office publishes census tables::

    district  urban  count
    1         0      52310
    1         1      81022
    ...

A table with only a count column is the population size (R's intercept).
Margins are always categorical: every distinct value (or combination of
values) is a cell, whatever its dtype, so an integer-coded margin can never
be mistaken for a numeric total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ControlTotalsError

__all__ = ["Margin", "parse_control_table", "parse_margins", "encode_margin",
           "check_grand_totals", "check_sample_cells", "COUNT_COLUMNS"]

#: Column names recognised as the count column of a control table.
COUNT_COLUMNS = ("count", "Freq")

_MAX_SHOW = 5


@dataclass(frozen=True, eq=False)
class Margin:
    """A parsed control table.

    Attributes
    ----------
    name : str
        Label used in messages and reports (``"stype"``,
        ``"district x urban"``, ``"(population size)"``).
    columns : tuple of str
        Margin columns (empty for a population-size table).
    levels : tuple of numpy.ndarray
        Distinct values of each margin column, in table order.
    cells : numpy.ndarray
        ``(L, len(columns))`` integer codes of each table row into ``levels``.
    counts : numpy.ndarray
        ``(L,)`` float64 population counts.
    """

    name: str
    columns: tuple
    levels: tuple
    cells: np.ndarray
    counts: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.counts.shape[0])

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def cell_label(self, k: int) -> str:
        """Human-readable label of table row ``k`` (``"stype=E"``)."""
        if not self.columns:
            return "(all)"
        parts = [f"{c}={_show(self.levels[j][self.cells[k, j]])}" for j, c in enumerate(self.columns)]
        return ", ".join(parts)


def _show(v) -> str:
    """A cell value as people read it: ``1`` or ``'urban'`` (numpy scalars as plain numbers, not ``np.int64(1)``)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return repr(v)


def _count_column(table: pd.DataFrame, count: str | None, name: str) -> str:
    if count is not None:
        if count not in table.columns:
            raise ControlTotalsError(
                f"control table {name}: expected a count column {count!r}, got columns "
                f"{list(table.columns)}")
        return count
    found = [c for c in COUNT_COLUMNS if c in table.columns]
    if len(found) != 1:
        raise ControlTotalsError(
            f"control table {name}: expected exactly one count column named one of "
            f"{list(COUNT_COLUMNS)}, got columns {list(table.columns)}")
    return found[0]


def parse_control_table(table: pd.DataFrame | pd.Series, *, name: str | None = None,
                        count: str | None = None) -> Margin:
    """Parse and validate one control table.

    Parameters
    ----------
    table : pandas.DataFrame or pandas.Series
        Margin column(s) plus a count column (``count`` or ``Freq``).  A
        Series is read as counts indexed by the margin level(s); its index
        must be named.
    name : str, optional
        Label for messages; defaults to the margin columns joined by ``" x "``.
    count : str, optional
        Name of the count column if it is neither ``count`` nor ``Freq``.

    Raises
    ------
    ControlTotalsError
        Missing/negative/non-numeric counts, missing margin values,
        duplicated cells.
    """
    if isinstance(table, Margin):
        return table
    if isinstance(table, pd.Series):
        if any(n is None for n in table.index.names):
            raise ControlTotalsError(
                "control table given as a Series: expected a named index (the margin "
                f"column), got index names {list(table.index.names)}")
        table = table.rename("count").reset_index()
        count = "count"
    if not isinstance(table, pd.DataFrame):
        raise ControlTotalsError(
            f"control table: expected a pandas DataFrame with margin column(s) and a count "
            f"column, got {type(table).__name__}")
    ccol = _count_column(table, count, name or "?")
    columns = tuple(str(c) for c in table.columns if c != ccol)
    if name is None:
        name = " x ".join(columns) if columns else "(population size)"
    raw = table[ccol]
    try:
        counts = pd.to_numeric(raw, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ControlTotalsError(
            f"control table {name}: column {ccol!r} must hold numeric counts ({exc})") from None
    if not columns:
        if counts.shape[0] != 1:
            raise ControlTotalsError(
                f"control table {name}: a table with only a count column gives the population "
                f"size and must have exactly 1 row, got {counts.shape[0]}")
    levels = []
    cells = np.zeros((counts.shape[0], len(columns)), dtype=np.int64)
    for j, c in enumerate(columns):
        col = table[c]
        if col.isna().any():
            k = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise ControlTotalsError(
                f"control table {name}: margin column {c!r} has a missing value (table row {k})")
        lev = pd.unique(col.to_numpy())
        levels.append(np.asarray(lev, dtype=object) if col.dtype == object else np.asarray(lev))
        cells[:, j] = pd.Index(lev).get_indexer(col.to_numpy())
    m = Margin(name=name, columns=columns, levels=tuple(levels), cells=cells, counts=counts)
    bad = np.flatnonzero(~np.isfinite(counts))
    if bad.size:
        raise ControlTotalsError(
            f"control table {name}: count of cell {m.cell_label(int(bad[0]))} is missing or "
            f"not finite ({counts[bad[0]]!r}); expected a non-negative number")
    neg = np.flatnonzero(counts < 0)
    if neg.size:
        raise ControlTotalsError(
            f"control table {name}: count of cell {m.cell_label(int(neg[0]))} is negative "
            f"({counts[neg[0]]:g}); expected a non-negative number")
    if columns:
        key = _combine(cells, tuple(len(lv) for lv in levels))
        uniq, cnt = np.unique(key, return_counts=True)
        if (cnt > 1).any():
            k = int(np.flatnonzero(key == uniq[cnt > 1][0])[0])
            raise ControlTotalsError(
                f"control table {name}: cell {m.cell_label(k)} appears {int(cnt.max())} times; "
                "expected one row per cell")
    return m


def parse_margins(margins, *, count: str | None = None) -> list[Margin]:
    """Parse a table or a sequence of tables (see :func:`parse_control_table`)."""
    if margins is None:
        return []
    if isinstance(margins, (pd.DataFrame, pd.Series, Margin)):
        margins = [margins]
    out = [parse_control_table(t, count=count) for t in margins]
    names = [m.name for m in out]
    for i, nm in enumerate(names):
        if nm in names[:i]:
            out[i] = Margin(name=f"{nm} (#{i + 1})", columns=out[i].columns, levels=out[i].levels,
                            cells=out[i].cells, counts=out[i].counts)
    return out


def _combine(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Mixed-radix combination of the columns of an integer code matrix."""
    key = np.zeros(codes.shape[0], dtype=np.int64)
    for j, s in enumerate(sizes):
        key *= s
        key += codes[:, j]
    return key


def _map_column(series: pd.Series, levels: np.ndarray) -> np.ndarray:
    """int32 codes of ``series`` values into ``levels``; -1 unknown, -2 missing."""
    lev_index = pd.Index(levels)
    if isinstance(series.dtype, pd.CategoricalDtype):
        pos = lev_index.get_indexer(series.cat.categories)
        codes = series.cat.codes.to_numpy()
        pos = np.append(pos, -2).astype(np.int32)  # code -1 (missing) -> index -1 -> -2
        return pos[codes]
    values = series.to_numpy()
    if values.dtype.kind in "iu" and lev_index.dtype.kind in "iu" and values.size:
        vmin, vmax = int(values.min()), int(values.max())
        lo = min(0, vmin, int(lev_index.min()))
        hi = max(vmax, int(lev_index.max()))
        if hi - lo < 10_000_000:
            lut = np.full(hi - lo + 1, -1, dtype=np.int32)
            lut[lev_index.to_numpy().astype(np.int64) - lo] = np.arange(len(lev_index))
            return lut[values - lo] if lo else lut[values]
    codes = lev_index.get_indexer(values).astype(np.int32, copy=False)
    miss = pd.isna(values)
    if miss.any():
        codes[miss] = -2
    return codes


def _raise_missing(margin: Margin, col: str, codes: np.ndarray):
    k = int(np.flatnonzero(codes == -2)[0])
    raise ControlTotalsError(
        f"margin {margin.name}: column {col!r} has {int((codes == -2).sum())} missing "
        f"value(s) in the sample (first at row {k}); margins must be complete")


def encode_margin(data: pd.DataFrame, margin: Margin) -> np.ndarray:
    """Cell code (row of the control table) of every sample row (int32).

    Raises
    ------
    ControlTotalsError
        A margin column is absent or has missing values, or a sample row
        falls in a cell the control table does not list ("sample cell with
        no control").
    """
    n = len(data)
    if not margin.columns:
        return np.zeros(n, dtype=np.int32)
    missing = [c for c in margin.columns if c not in data.columns]
    if missing:
        raise ControlTotalsError(
            f"margin {margin.name}: column(s) {missing} not found in the design's data")
    sizes = tuple(len(lv) for lv in margin.levels)
    key = None
    for j, c in enumerate(margin.columns):
        cj = _map_column(data[c], margin.levels[j])
        if cj.size and cj.min() < 0:
            if (cj == -2).any():
                _raise_missing(margin, c, cj)
            _raise_uncontrolled(data, margin, cj)
        if len(margin.columns) == 1 and np.array_equal(margin.cells[:, 0],
                                                       np.arange(margin.n_cells)):
            return cj
        if key is None:
            key = cj.astype(np.int64)
        else:
            key *= sizes[j]
            key += cj
    total = int(np.prod(sizes, dtype=np.float64))
    table_key = _combine(margin.cells, sizes)
    if total <= max(4 * n, 1 << 16):
        lut = np.full(total, -1, dtype=np.int32)
        lut[table_key] = np.arange(margin.n_cells)
        codes = lut[key]
    else:
        order = np.argsort(table_key)
        pos = np.searchsorted(table_key[order], key)
        pos = np.minimum(pos, len(order) - 1)
        codes = np.where(table_key[order][pos] == key, order[pos], -1).astype(np.int32)
    if codes.size and codes.min() < 0:
        _raise_uncontrolled(data, margin, codes)
    return codes


def _raise_uncontrolled(data: pd.DataFrame, margin: Margin, codes: np.ndarray):
    rows = np.flatnonzero(codes < 0)
    sub = data.iloc[rows][list(margin.columns)]
    cnt = sub.value_counts(sort=True, dropna=False)
    shown = "; ".join(
        ", ".join(f"{c}={_show(v)}" for c, v in zip(margin.columns, (idx if isinstance(idx, tuple) else (idx,))))
        + f" ({k} unit(s))" for idx, k in list(cnt.items())[:_MAX_SHOW])
    more = "" if len(cnt) <= _MAX_SHOW else f" and {len(cnt) - _MAX_SHOW} more"
    raise ControlTotalsError(
        f"margin {margin.name}: {rows.size} sample unit(s) fall in cell(s) with no control "
        f"total: {shown}{more}")


def check_sample_cells(margin: Margin, codes: np.ndarray | None, weights: np.ndarray | None, *,
                       partial: bool = False, nunits: np.ndarray | None = None,
                       wsum: np.ndarray | None = None) -> np.ndarray:
    """Check every control cell against the sample.

    Returns the boolean mask of cells that take part in the adjustment
    (cells with zero control and no sample units are dropped; with
    ``partial=True`` also positive-control cells with no sample units).
    ``nunits`` and ``wsum`` (units and weight per cell) may be given
    instead of ``codes`` and ``weights``.

    Raises
    ------
    ControlTotalsError
        A positive control cell with no sample units (or zero total weight),
        or sample units in a cell whose control is 0.
    """
    L = margin.n_cells
    if nunits is None:
        nunits = np.bincount(codes, minlength=L)
    if wsum is None:
        wsum = np.bincount(codes, weights=weights, minlength=L)
    pos = margin.counts > 0
    empty = pos & (nunits == 0)
    if empty.any() and not partial:
        ks = np.flatnonzero(empty)
        shown = "; ".join(f"{margin.cell_label(int(k))} (control {margin.counts[k]:g})"
                          for k in ks[:_MAX_SHOW])
        raise ControlTotalsError(
            f"margin {margin.name}: {ks.size} control cell(s) have no sample units: {shown}"
            + (f" and {ks.size - _MAX_SHOW} more" if ks.size > _MAX_SHOW else "")
            + "; collapse cells or pass partial=True where allowed")
    zerow = pos & (nunits > 0) & (wsum <= 0)
    if zerow.any():
        k = int(np.flatnonzero(zerow)[0])
        raise ControlTotalsError(
            f"margin {margin.name}: cell {margin.cell_label(k)} has {int(nunits[k])} sample "
            f"unit(s) but total weight {wsum[k]:g}; expected a positive weighted total to "
            f"scale to the control {margin.counts[k]:g}")
    nocontrol = (~pos) & (nunits > 0) & (wsum != 0)
    if nocontrol.any():
        k = int(np.flatnonzero(nocontrol)[0])
        raise ControlTotalsError(
            f"margin {margin.name}: cell {margin.cell_label(k)} has {int(nunits[k])} sample "
            f"unit(s) (weighted total {wsum[k]:g}) but a control count of 0")
    return (nunits > 0) & pos


def check_grand_totals(margins: Sequence[Margin], *, rtol: float = 1e-6) -> list[Margin]:
    """All margins must have the same grand total (within ``rtol``, relative).

    Returns the margins with the later ones rescaled to exactly the first
    margin's total (differences within ``rtol`` are rounding in published
    tables; without rescaling, raking could not meet all margins).

    Raises
    ------
    ControlTotalsError
        Naming the first disagreeing pair of margins and their totals.
    """
    margins = list(margins)
    if len(margins) < 2:
        return margins
    ref = margins[0]
    for m in margins[1:]:
        if abs(m.total - ref.total) > rtol * max(abs(ref.total), 1.0):
            raise ControlTotalsError(
                f"control totals disagree across margins: margin {ref.name} sums to "
                f"{ref.total:.10g} but margin {m.name} sums to {m.total:.10g} (relative "
                f"difference {abs(m.total - ref.total) / max(abs(ref.total), 1.0):.3g} > "
                f"tolerance {rtol:g})")
    out = [ref]
    for m in margins[1:]:
        if m.total != ref.total and m.total > 0:
            m = Margin(name=m.name, columns=m.columns, levels=m.levels, cells=m.cells,
                       counts=m.counts * (ref.total / m.total))
        out.append(m)
    return out
