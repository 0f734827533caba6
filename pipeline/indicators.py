"""Indicators as the config defines them, estimated over every domain (estimate stage, coverage study).

Each indicator of a unit becomes an analysis column ``y_<id>`` (:func:`prepare`);
:func:`estimate_unit` estimates every indicator of the unit over every domain
inside the full design (``where=`` masks, never filtered rows) and returns one
row per indicator x domain value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .designs import unit_design
from .errors import PipelineError
from .expr import ExpressionError, evaluate, evaluate_bool
from .formats import code_text, value_label
from .text import label_languages, label_text


AREA_DOMAIN = "_area"  # the domain id of the small-area direct estimates (not in estimates.csv)


def area_estimates(data: dict, cfg: dict, codebook: dict, spec: dict, steps: dict) -> pd.DataFrame:
    """Direct estimates of the ``[sae]`` indicators by ``sae.by`` (every area with a sample), inside the full design.

    Only the small-area indicators are estimated by area, so a survey with hundreds of areas
    does not multiply the work of every indicator (nor the estimates table).
    """
    sae = cfg["sae"]
    sub = {**cfg, "domains": [{"id": AREA_DOMAIN, "by": [sae["by"]], "label": sae["by"]}],
           "indicators": [ind for ind in cfg["indicators"] if ind["id"] in set(sae["indicators"])]}
    rows = []
    for unit, df in data.items():
        if any(ind["unit"] == unit for ind in sub["indicators"]):
            if sae["by"] not in df.columns:
                raise PipelineError(cfg["_path"], "sae.by", f"column {sae['by']!r} not found in the {unit} data")
            rows += estimate_unit(df, sub, unit, codebook, spec, steps=steps.get(unit, ()))
    return pd.DataFrame(rows)


def label_columns(cfg: dict) -> list[tuple[str, str]]:
    """(column, language) of the indicator labels in the estimates table: ``label_<code>`` per language used
    in the config (in order of first use), or one ``label`` column when every label is a plain string."""
    langs = [k for k in label_languages(ind["label"] for ind in cfg["indicators"]) if k]
    return [(f"label_{k}", k) for k in langs] or [("label", cfg["report"]["language"])]


def expression(fn, expression, data, path, key):
    """``fn(expression, data)`` with an expression error reported against the config key."""
    try:
        return fn(expression, data)
    except ExpressionError as e:
        raise PipelineError(path, key, f"{e.problem} in {expression!r}") from None


def prepare(df: pd.DataFrame, cfg: dict, unit: str):
    """Add one analysis column per indicator of *unit*; return the data, indicators and universes."""
    cols, universes, inds = {}, {}, []
    for i, ind in enumerate(cfg["indicators"]):
        if ind["unit"] != unit:
            continue
        y = expression(evaluate, ind["numerator"], df, cfg["_path"], f"indicators[{i}].numerator")
        if ind["kind"] == "proportion" and not pd.api.types.is_bool_dtype(y):
            y = y != 0
        cols[f"y_{ind['id']}"] = y.astype("Float64").astype("float64")
        universes[ind["id"]] = (expression(evaluate_bool, ind["universe"], df, cfg["_path"], f"indicators[{i}].universe")
                                .fillna(False).to_numpy(bool) if "universe" in ind else np.ones(len(df), bool))
        inds.append((i, ind))
    return pd.concat([df, pd.DataFrame(cols, index=df.index)], axis=1), inds, universes


def estimate_unit(df: pd.DataFrame, cfg: dict, unit: str, codebook: dict, spec: dict, ci_methods=(),
                  steps=()) -> list[dict]:
    """One row per indicator of *unit* x domain value.

    ``steps``: calibration steps of the rows (:func:`calibration_steps`) for the Taylor variance.
    ``ci_methods`` adds ``ci_low_<m>``/``ci_high_<m>`` of other interval methods for the same
    estimates (proportions; means keep their t interval), as the coverage study needs.
    """
    data, inds, universes = prepare(df, cfg, unit)
    if not inds:
        return []
    from analysis import SurveyError
    from analysis.intervals import effective_n
    design = unit_design(data, spec, steps)
    labels = label_columns(cfg)
    lang = cfg["report"]["language"]
    level = cfg["reporting"]["level"]
    rows = []
    for j, dom in enumerate(cfg["domains"]):
        if not set(dom["by"]) <= set(data.columns):
            continue  # e.g. a domain by sex has no meaning for household indicators
        inside = (expression(evaluate_bool, dom["where"], data, cfg["_path"], f"domains[{j}].where").fillna(False).to_numpy(bool)
                  if "where" in dom else np.ones(len(data), bool))
        groups: dict[tuple, list] = {}  # indicators sharing kind and universe are estimated in one call
        for i, ind in inds:
            groups.setdefault((ind["kind"], ind.get("universe", "")), []).append(ind)
        for (kind, _), members in groups.items():
            mask = universes[members[0]["id"]] & inside
            if not mask.any():
                raise PipelineError(cfg["_path"], f"domains[{j}]",
                                    f"domain {dom['id']!r} holds no records for indicator {members[0]['id']!r}")
            ys, by = [f"y_{ind['id']}" for ind in members], dom["by"] or None
            try:
                if kind == "mean":
                    r = design.mean(ys, by=by, where=mask, na_rm=True, level=level)
                else:
                    r = design.proportion(ys, by=by, where=mask, ci_method=cfg["reporting"]["ci_method"],
                                          na_rm=True, level=level)
                t = r.to_frame()
                for m in ci_methods:
                    ci = r.confint(level, m if kind == "proportion" else None)
                    t[f"ci_low_{m}"], t[f"ci_high_{m}"] = ci.low, ci.high
                if kind != "mean":
                    # the suppression rule's n_eff (README, pipeline.reliability): Korn-Graubard with the design-df
                    # adjustment p(1-p)/SE^2 (t_{n-1}/t_df)^2, as the beta interval uses it; the library's
                    # Estimate.n_eff is the unadjusted p(1-p)/SE^2
                    t["n_eff"] = effective_n(r.estimate, r.se, r.df, r.n_rows, level)
                    t = t[t["level"].astype(float) == 1]
            except SurveyError as e:
                raise PipelineError(cfg["_path"], f"domains[{j}]", f"domain {dom['id']!r}, indicator "
                                    f"{members[0]['id']!r}: {str(e).splitlines()[0]}") from None
            by_var = {f"y_{ind['id']}": ind for ind in members}
            for _, row in t.iterrows():
                ind = by_var[row["variable"]]
                values = [row[c] for c in dom["by"]]
                rows.append({
                    "indicator": ind["id"], **{col: label_text(ind["label"], code) for col, code in labels},
                    "unit": unit, "kind": ind["kind"], "domain": dom["id"],
                    "domain_value": " x ".join(code_text(v) for v in values) if values else "all",
                    "domain_value_label": " x ".join(value_label(codebook, c, v) for c, v in zip(dom["by"], values))
                    if values else label_text(dom["label"], lang),
                    **{k: row[k] for k in ["estimate", "se", "ci_low", "ci_high", "df", "deff", "cv",
                                           "n", "n_eff", "weighted_n"]},
                    "ci_method": cfg["reporting"]["ci_method"] if ind["kind"] == "proportion" else "t",
                    "universe": ind.get("universe", ""), "numerator": ind["numerator"],
                    **{c: row[c] for m in ci_methods for c in (f"ci_low_{m}", f"ci_high_{m}")}})
    return rows
