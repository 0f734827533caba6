"""How results show themselves: the columns of every ``to_frame()`` and the notebook table.

Columns of ``to_frame()``, by result
------------------------------------
:class:`~analysis.results.Estimate` (means, totals, proportions, ratios, quantiles, contrasts)
    ``variable``, ``level``, the domain columns, ``estimate``, ``se``,
    ``ci_low``, ``ci_high`` (at the requested level, with the estimate's
    ``ci_method``), ``df`` (design degrees of freedom of the interval),
    ``deff`` (design effect), ``cv`` (se/|estimate|), ``n`` (unweighted
    rows), ``n_eff`` (effective sample size), ``weighted_n``.
:class:`~analysis.models.ModelResult` (``design.glm``)
    ``term`` (R's coefficient name), ``estimate``, ``se``, ``t``
    (estimate/se), ``p`` (two-sided, t on ``df``), ``ci_low``, ``ci_high``
    (Wald t interval), and for logit and log links ``exp_estimate``,
    ``exp_ci_low``, ``exp_ci_high`` (odds ratios or rate ratios and their
    interval); ``df`` (the model's residual df, R's ``df.residual``).
:class:`~analysis.models.WaldTest` (``model.wald_test``)
    ``terms``, ``statistic`` (F), ``df_num``, ``df_denom``, ``pvalue``, ``method``.
:class:`~analysis.association.ChisqTest` (``design.chisq``)
    ``statistic`` (F for ``"F"``, ``"Wald"``, ``"adjWald"``; Pearson's X²
    for ``"Chisq"``), ``df_num``, ``df_denom`` (NaN for ``"Chisq"``),
    ``df`` (the chi-square df for ``"Chisq"``), ``pvalue``, ``method``.
:class:`~analysis.association.TTest` (``design.ttest``)
    ``estimate`` (difference of the group means, second minus first
    group), ``se``, ``statistic`` (t), ``df``, ``pvalue``, ``ci_low``,
    ``ci_high``, ``method``.
"""
from __future__ import annotations

import html

import pandas as pd

__all__ = ["html_table"]


def html_table(title: str, frame: pd.DataFrame, note: str, max_rows: int = 60) -> str:
    """A small self-contained HTML table for notebooks (``_repr_html_``)."""
    body = frame.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.6g}", border=0)
    more = f"<p>... {len(frame)} rows in all</p>" if len(frame) > max_rows else ""
    return (f"<div><strong>{html.escape(title)}</strong>{body}{more}"
            f"<p style='font-size:smaller'>{html.escape(note)}</p></div>")
