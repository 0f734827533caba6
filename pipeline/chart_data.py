"""The tables the figures draw, built from the stage outputs and the config (never from constants).

Every chart of :mod:`pipeline.plots` draws one of these tables; tests check
the tables and the drawn SVG ids.  Labels come from ``survey.toml`` in the
report language (:func:`pipeline.text.label_text`), category names from the
codebook's value labels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .formats import REVIEW_CODES, code_series, code_text, flag_text, is_number, value_label
from .text import FILE_NAMES, RULE_NAMES, label_text, t, table


def overall_domain(cfg: dict) -> dict | None:
    """The domain of the whole population (no ``by``, no ``where``): its rows are the headline estimates."""
    return next((d for d in cfg["domains"] if not d["by"] and "where" not in d), None)


def chart_domains(cfg: dict) -> list[dict]:
    """Domains drawn in the by-area charts: ``chart = true``, or by default every domain with one ``by`` variable."""
    return [d for d in cfg["domains"] if d.get("chart", len(d["by"]) == 1) and len(d["by"]) == 1]


def indicator_labels(cfg: dict, lang: str) -> dict[str, str]:
    return {ind["id"]: label_text(ind["label"], lang, ind["id"]) for ind in cfg["indicators"]}


def unit_label(cfg: dict, unit: str, lang: str) -> str:
    """What one record of *unit* is: ``[files.<unit>] label``, else the built-in word (Households, Persons)."""
    return label_text(cfg["files"].get(unit, {}).get("label"), lang) or t(lang, unit)


def group_label(cfg: dict, ind: dict, lang: str) -> str:
    """The heading of an indicator's group: its ``universe_label``, else its unit's label."""
    return label_text(ind.get("universe_label"), lang) or unit_label(cfg, ind["unit"], lang)


LABEL_FIELDS = ("domain", "domain_value", "domain_value_label")  # what domain_label reads of a row


def domain_label(row, cfg: dict, lang: str) -> str:
    """How a row's domain value is named: the overall domain's label, the value label, or ``column = code``."""
    if row["domain_value"] == "all":
        dom = next((d for d in cfg["domains"] if d["id"] == row["domain"]), None)
        return label_text(dom["label"], lang, row["domain"]) if dom else str(row["domain"])
    lab = row["domain_value_label"]
    return str(lab) if isinstance(lab, str) and lab.strip() else f"{row['domain']} = {row['domain_value']}"


def key_indicators(est: pd.DataFrame, cfg: dict) -> list[str]:
    keys = cfg["report"]["key_indicators"]
    if keys:
        return list(keys)
    return list(dict.fromkeys(est.loc[est["kind"].eq("proportion"), "indicator"]))


def headline_data(est: pd.DataFrame, cfg: dict, lang: str) -> pd.DataFrame:
    """Overall estimates of the key proportion indicators, grouped by unit and universe, with their targets."""
    keys = key_indicators(est, cfg)
    dom = overall_domain(cfg)
    prov = est[est["domain"].eq(dom["id"] if dom else est["domain"].iloc[0]) & est["domain_value"].eq("all")]
    rows = prov[prov["indicator"].isin(keys) & prov["kind"].eq("proportion")].copy()
    inds = {ind["id"]: ind for ind in cfg["indicators"]}
    groups = [group_label(cfg, inds[i], lang) for i in rows["indicator"]]
    order = {g: k for k, g in enumerate(dict.fromkeys(group_label(cfg, inds[i], lang) for i in keys if i in inds))}
    rows["group"] = groups
    rows["label"] = rows["indicator"].map(indicator_labels(cfg, lang))
    rows["_g"] = rows["group"].map(order)
    rows["_o"] = rows["indicator"].map({k: i for i, k in enumerate(keys)})
    rows = rows.sort_values(["_g", "_o"], kind="stable").drop(columns=["_g", "_o"])
    targets = {}
    for tg in cfg["report"]["targets"]:
        targets.setdefault(tg["indicator"], []).append(tg)
    rows["targets"] = [targets.get(i, []) for i in rows["indicator"]]
    rows["drawn"] = ~rows["suppress"]
    return rows.reset_index(drop=True)


def area_data(est: pd.DataFrame, cfg: dict, indicator: str, domains: list[dict], lang: str) -> dict:
    """One indicator's by-area chart: the overall row and, per domain, its rows sorted by estimate (highest first)."""
    e = est[est["indicator"] == indicator]
    dom = overall_domain(cfg)
    prov = e[e["domain"].eq(dom["id"]) & e["domain_value"].eq("all")] if dom else e.iloc[:0]
    out = {"indicator": indicator, "label": indicator_labels(cfg, lang).get(indicator, indicator),
           "overall": prov.head(1).reset_index(drop=True),
           "overall_label": label_text(dom["label"], lang) if dom else "", "panels": []}
    for d in domains:
        rows = e[e["domain"] == d["id"]].copy()
        rows["drawn"] = ~rows["suppress"]
        rows["_k"] = rows["estimate"].where(rows["drawn"], -np.inf)  # suppressed rows at the bottom
        rows = rows.sort_values("_k", ascending=False, kind="stable").drop(columns="_k").reset_index(drop=True)
        rows["label"] = [domain_label(dict(zip(LABEL_FIELDS, r)), cfg, lang)
                         for r in zip(*(rows[c] for c in LABEL_FIELDS))]  # not iterrows: a Series per row
        out["panels"].append({"domain": d["id"], "title": label_text(d["label"], lang, d["id"]), "rows": rows})
    return out


def reliability_notes(rows: pd.DataFrame, lang: str) -> list[str]:
    notes = []
    sup = rows[rows["suppress"]]
    if len(sup):
        rules = sorted({f for x in sup["flags"] for f in str(x).split(";") if f and not f.startswith(REVIEW_CODES)})
        notes.append(t(lang, "note_suppressed", rules=flag_text(";".join(rules), lang) or "—"))
    flg = rows[~rows["suppress"] & rows["flags"].ne("")]
    if len(flg):
        rules = sorted({f for x in flg["flags"] for f in str(x).split(";") if f})
        notes.append(t(lang, "note_flagged", rules=flag_text(";".join(rules), lang)))
    return notes


def weights_data(hh: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("w_base", "w_nonresponse", "w_delivered", "weight") if c in hh.columns]
    return hh[cols].rename(columns={"weight": "w_final"}).astype(float)


def control_data(units: dict, controls: list, codebook: dict) -> pd.DataFrame:
    """Per control cell: the control total and the weighted totals at each weighting step.

    *units* maps ``household``/``person`` to the weighted records of that unit."""
    rows = []
    for name, unit, table in controls:
        margins = [m for m in table.columns if m != "count"]
        hh = units.get(unit)
        if hh is None or not set(margins) <= set(hh.columns):
            continue
        codes = {}  # per margin: each record's position in the list of distinct codes, and that list
        for m in margins:
            pos, values = pd.factorize(hh[m], use_na_sentinel=False)
            codes[m] = pos, [_code(v) for v in values]
        weights = {w: hh[w].to_numpy(float) for w in ("w_base", "w_nonresponse", "w_delivered", "weight") if w in hh.columns}
        for _, c in table.iterrows():
            inside = np.ones(len(hh), bool)
            for m in margins:
                pos, values = codes[m]
                inside &= np.isin(pos, [k for k, v in enumerate(values) if v == _code(c[m])])
            cell = " – ".join(category_label(codebook, m, c[m]) for m in margins)
            row = {"table": name, "unit": unit, "cell": cell, "control": float(c["count"]),
                   "n": int(inside.sum())}
            for w, v in weights.items():
                row["w_final" if w == "weight" else w] = float(np.nansum(v[inside]))
            rows.append(row)
    return pd.DataFrame(rows)


def _code(v) -> str:
    """A code as a comparable string: 1, 1.0 and "1" are the same code."""
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def category_label(codebook: dict, col: str, v) -> str:
    """A category as readers know it: its value label, else ``column=code`` (text codes as they are)."""
    lab = value_label(codebook, col, v)
    if lab:
        return lab
    key = code_text(v)
    return key if not is_number(v) else f"{col}={key}"


def rules_data(validation: pd.DataFrame, lang: str) -> pd.DataFrame:
    d = validation.copy()
    d["label"] = [f"{table(FILE_NAMES, lang).get(f, f)}: {table(RULE_NAMES, lang).get(r, r)}" for f, r in zip(d["file"], d["rule"])]
    return d.reset_index(drop=True)


def quarantine_data(quarantines: dict, lang: str) -> pd.DataFrame:
    rows = []
    for file, q in quarantines.items():
        if not len(q):
            continue
        g = q.groupby(["_rule", "_reason"], dropna=False, sort=False).size().reset_index(name="records")
        for _, r in g.iterrows():
            name = table(RULE_NAMES, lang).get(r["_rule"]) or f"{r['_rule']}: {r['_reason']}"
            rows.append({"file": file, "rule": r["_rule"], "reason": r["_reason"], "records": int(r["records"]),
                         "label": f"{table(FILE_NAMES, lang).get(file, file)}: {name}"})
    d = pd.DataFrame(rows, columns=["file", "rule", "reason", "records", "label"])
    return d.sort_values(["file", "records"], ascending=[True, False], kind="stable").reset_index(drop=True)


def response_data(hh: pd.DataFrame, strata: str | None, eligible, respondent, codebook: dict,
                  label_by=()) -> pd.DataFrame:
    """Eligible and responding households per stratum (unweighted), from the clean household file."""
    d = pd.DataFrame({"stratum": code_series(hh[strata]) if strata else "all",
                      "eligible": np.asarray(eligible, bool), "respondent": np.asarray(respondent, bool) & np.asarray(eligible, bool)})
    for c in label_by:
        d[c] = hh[c].to_numpy()
    g = d.groupby("stratum", sort=True).agg(eligible=("eligible", "sum"), respondents=("respondent", "sum")).reset_index()
    labels = []
    for s in g["stratum"]:
        parts = []
        sub = d[d["stratum"] == s]
        for c in label_by:
            vals = sub[c].dropna().unique()
            if len(vals) == 1:
                parts.append(category_label(codebook, c, vals[0]))
        labels.append(f"{s} · " + " – ".join(parts) if parts else str(s))
    g["label"] = labels
    g["rate"] = g["respondents"] / g["eligible"].where(g["eligible"] > 0)
    return g


# --- models and comparisons (the estimate stage's models.csv, comparisons.csv) -----------------
def variable_label(codebook: dict, cfg: dict, col: str, lang: str) -> str:
    """What a column is, for readers: a derived column's label, else the codebook's, else the name."""
    for d in cfg["clean"]["derive"]:
        if d["name"] == col and d.get("label"):
            return label_text(d["label"], lang)
    for tbl in codebook.values():
        if tbl.get(col, {}).get("label"):
            return tbl[col]["label"]
    return col


def term_label(codebook: dict, cfg: dict, variable: str, level: str, lang: str) -> str:
    """A model coefficient as readers know it: ``District: Ba Đồn``; a numeric term by its variable's label."""
    name = variable_label(codebook, cfg, variable, lang)
    return f"{name}: {category_label(codebook, variable, level)}" if level else name


def model_data(models: pd.DataFrame, cfg: dict, codebook: dict, lang: str) -> list[tuple[dict, pd.DataFrame]]:
    """Per ``[[models]]`` entry with rows: the model's config and its coefficients but the intercept, labelled."""
    out = []
    for m in cfg["models"]:
        rows = models[(models["model"] == m["id"]) & (models["term"] != "(Intercept)")].copy()
        if not len(rows):
            continue
        rows["label"] = [term_label(codebook, cfg, v, "" if pd.isna(lv) else code_text(lv), lang)
                         for v, lv in zip(rows["variable"], rows["level"])]
        out.append((m, rows.reset_index(drop=True)))
    return out


def comparison_rows(comparisons: pd.DataFrame, cfg: dict, codebook: dict, lang: str) -> pd.DataFrame:
    """comparisons.csv with the indicator's label and the compared values' labels."""
    labels = indicator_labels(cfg, lang)
    c = comparisons.copy()
    c["label"] = [labels.get(i, i) for i in c["indicator"]]
    c["a_label"] = [category_label(codebook, by, a) for by, a in zip(c["by"], c["a"])]
    c["b_label"] = [category_label(codebook, by, b) for by, b in zip(c["by"], c["b"])]
    return c


# --- small areas (sae.csv, sae_fit.json) -----------------------------------------------------------
def sae_data(sae: dict, cfg: dict, indicator: str, z: float = 1.959963984540054) -> pd.DataFrame:
    """One indicator's areas for the commune chart: districts as blocks (in frame order), the areas of each
    ranked by EBLUP (highest first), with the interval ``eblup ± z·rmse`` (clipped to [0, 1]: every
    ``[sae]`` indicator is a proportion) and ``synthetic`` for areas without a sample."""
    t = sae["table"]
    d = t[t["indicator"] == indicator].copy()
    d["district"] = d["district"].fillna("")
    d["area_label"] = d["area_label"].fillna(d["area"])
    d["ci_low"] = np.clip(d["eblup"] - z * d["rmse"], 0.0, 1.0)
    d["ci_high"] = np.clip(d["eblup"] + z * d["rmse"], 0.0, 1.0)
    d["synthetic"] = d["method"].eq("synthetic") | ~np.isfinite(d["direct"].to_numpy(float))
    d["_block"] = d["district"].map({k: i for i, k in enumerate(dict.fromkeys(d["district"]))})
    d = d.sort_values(["_block", "eblup"], ascending=[True, False], kind="stable").drop(columns="_block")
    return d.reset_index(drop=True)


def sae_residuals(sae: dict, indicator: str) -> pd.DataFrame:
    """The sampled areas of one indicator with their standardised model residuals (sae.csv's ``residual``:
    ``(y - x'β) / sqrt(σ²_u + ψ)`` on the model scale, as the estimate stage's fit gives them)."""
    t = sae["table"]
    d = t[(t["indicator"] == indicator) & t["residual"].notna()].copy()
    return d.reset_index(drop=True)
