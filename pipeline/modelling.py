"""Survey models and domain comparisons of the config (``[[models]]``, ``[[comparisons]]``), for the estimate stage.

:func:`fit_models` fits each model of a unit with ``design.glm`` (R's
``svyglm``) on the design the estimates use (Taylor linearisation with the
weight stage's calibration steps, or the delivered replicate weights); the
model's universe is a domain estimated inside the full design (R's
``subset``), never a filter of the rows.  One row per coefficient: estimate,
SE, t and two-sided p on the model's residual df (R's ``df.residual``: design
df minus coefficients plus one), t interval, and for logit/log links the
exponentiated estimate and interval (odds or rate ratios).

:func:`compare` estimates the indicator of a comparison over the values of
its domain in one call inside the full design (``design.proportion/mean(...,
by=...)``, with the covariances between domains, R's ``svyby(...,
covmat = TRUE)``) and each pair's difference ``a - b`` by
``Estimate.contrast`` (R's ``svycontrast``): SE, t interval and two-sided p
on the design df, and the p-values adjusted across the comparison's pairs
(Holm 1979, or Bonferroni; R's ``p.adjust``).

References
----------
Lumley, T. and Scott, A. (2017). Fitting regression models to survey data.
*Statistical Science* 32, 265-278.
Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*, ch. 3-4.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
*Scandinavian Journal of Statistics* 6, 65-70.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import special

from .designs import unit_design
from .errors import PipelineError
from .expr import evaluate_bool
from .formats import code_text
from .indicators import expression, prepare

MODEL_COLUMNS = ["model", "unit", "family", "formula", "term", "variable", "level", "estimate", "se", "t", "p",
                 "ci_low", "ci_high", "ratio", "exp_estimate", "exp_ci_low", "exp_ci_high", "df", "n"]
COMPARISON_COLUMNS = ["comparison", "indicator", "unit", "kind", "domain", "by", "a", "b", "estimate_a",
                      "estimate_b", "difference", "se", "ci_low", "ci_high", "df", "t", "p", "adjust", "p_adjusted"]
RATIO = {"binomial": "odds ratio", "quasibinomial": "odds ratio",  # logit link (R's canonical links)
         "poisson": "rate ratio", "quasipoisson": "rate ratio"}    # log link


def adjust_p(p, method: str) -> np.ndarray:
    """p-values adjusted for multiple comparisons, as R's ``p.adjust`` (``none``, ``holm``, ``bonferroni``).

    Holm: the i-th smallest of m p-values becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    NaN p-values are left out of m and stay NaN, as R.
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if method == "none" or m == 0:
        return p.copy()
    q = p[ok]
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, m * q)
        return out
    if method != "holm":
        raise ValueError(f"adjust: expected none, holm or bonferroni, got {method!r}")
    order = np.argsort(q, kind="stable")
    steps = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    adj = np.empty(m)
    adj[order] = steps
    out[ok] = adj
    return out


def _mask(data: pd.DataFrame, expr: str | None, cfg: dict, key: str) -> np.ndarray:
    if not expr:
        return np.ones(len(data), bool)
    return expression(evaluate_bool, expr, data, cfg["_path"], key).fillna(False).to_numpy(bool)


def _split(term: str, names: tuple) -> tuple[str, str]:
    """(variable, level) of a coefficient name: ``district2`` -> (district, 2); a numeric term has no level."""
    if term == "(Intercept)":
        return "", ""
    for name in sorted(names, key=len, reverse=True):
        if ":" not in name and term.startswith(name):
            return name, term[len(name):]
    return term, ""


def _level_text(level: str) -> str:
    try:
        return code_text(float(level)) if level else level
    except ValueError:
        return level


def fit_models(df: pd.DataFrame, cfg: dict, unit: str, spec: dict, steps=()) -> pd.DataFrame:
    """One row per coefficient of each ``[[models]]`` entry of *unit* (columns :data:`MODEL_COLUMNS`)."""
    from analysis import SurveyError
    from analysis.formula import clean_name

    models = [(i, m) for i, m in enumerate(cfg["models"]) if m["unit"] == unit]
    if not models:
        return pd.DataFrame(columns=MODEL_COLUMNS)
    design = unit_design(df, spec, steps)
    level = cfg["reporting"]["level"]
    frames = []
    for i, m in models:
        where = _mask(df, m.get("universe"), cfg, f"models[{i}].universe")
        try:
            fit = design.glm(m["formula"], family=m["family"], where=where if "universe" in m else None)
        except SurveyError as e:
            raise PipelineError(cfg["_path"], f"models[{i}]",
                                f"model {m['id']!r}: {str(e).splitlines()[0]}") from None
        t = fit.to_frame(level)
        names = tuple(clean_name(x) for x in fit.terms)
        split = [_split(term, names) for term in t["term"]]
        split = [(v, _level_text(lv)) for v, lv in split]
        # factor codes stored as floats (2.0) are named as R names integer codes: urban2
        t["term"] = [f"{v}{lv}" if lv and ":" not in term else term for term, (v, lv) in zip(t["term"], split)]
        ratio = RATIO.get(m["family"], "")
        for c in ("exp_estimate", "exp_ci_low", "exp_ci_high"):
            if c not in t:
                t[c] = np.nan
        t = t.assign(model=m["id"], unit=unit, family=m["family"], formula=m["formula"],
                     variable=[s[0] for s in split], level=[s[1] for s in split], ratio=ratio, n=fit.n)
        frames.append(t[MODEL_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _pairs(k: dict, values: list) -> list[tuple]:
    """The (a, b) domain values of a comparison, matched to the data's values by their code text."""
    if k["pairs"] == "all":
        return list(itertools.combinations(values, 2))
    by_text = {code_text(v): v for v in values}
    out = []
    for j, (a, b) in enumerate(k["pairs"]):
        for v in (a, b):
            if code_text(v) not in by_text:
                raise PipelineError(k["_path"], f"comparisons[{k['_index']}].pairs[{j}]",
                                    f"expected values of {k['_by']!r} {sorted(by_text)[:12]}, got {v!r}")
        out.append((by_text[code_text(a)], by_text[code_text(b)]))
    return out


def compare(df: pd.DataFrame, cfg: dict, unit: str, spec: dict, steps=()) -> pd.DataFrame:
    """One row per pair of each ``[[comparisons]]`` entry whose indicator is of *unit*
    (columns :data:`COMPARISON_COLUMNS`)."""
    from analysis import SurveyError

    inds = {x["id"]: x for x in cfg["indicators"]}
    doms = {x["id"]: x for x in cfg["domains"]}
    todo = [(i, k) for i, k in enumerate(cfg["comparisons"]) if inds[k["indicator"]]["unit"] == unit]
    if not todo:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    data, _, universes = prepare(df, cfg, unit)
    design = unit_design(data, spec, steps)
    rows = []
    for i, k in todo:
        ind, dom = inds[k["indicator"]], doms[k["domain"]]
        by = dom["by"][0]
        if by not in data.columns:
            raise PipelineError(cfg["_path"], f"comparisons[{i}].domain",
                                f"domain {dom['id']!r} is by {by!r}, which the {unit} file does not have")
        mask = universes[ind["id"]] & _mask(data, dom.get("where"), cfg, f"domains[{list(doms).index(dom['id'])}].where")
        y = f"y_{ind['id']}"
        try:
            if ind["kind"] == "mean":
                est = design.mean([y], by=[by], where=mask, na_rm=True)
            else:
                est = design.proportion([y], by=[by], where=mask, na_rm=True)
        except SurveyError as e:
            raise PipelineError(cfg["_path"], f"comparisons[{i}]",
                                f"comparison {k['id']!r}: {str(e).splitlines()[0]}") from None
        t = est.to_frame()
        keep = np.ones(len(t), bool) if ind["kind"] == "mean" else (t["level"].astype(float) == 1).to_numpy()
        values = list(t.loc[keep, by])
        pos = {code_text(v): int(np.flatnonzero(keep)[j]) for j, v in enumerate(values)}
        pairs = _pairs({**k, "_path": cfg["_path"], "_index": i, "_by": by}, values)
        if not pairs:
            continue
        L = {}
        for a, b in pairs:
            w = np.zeros(len(t))
            w[pos[code_text(a)]], w[pos[code_text(b)]] = 1.0, -1.0
            L[f"{code_text(a)} - {code_text(b)}"] = w
        c = est.contrast(L)
        ci = c.confint(cfg["reporting"]["level"])
        with np.errstate(divide="ignore", invalid="ignore"):
            tt = c.estimate / c.se
        p = np.where(c.df > 0, 2 * special.stdtr(c.df, -np.abs(tt)), np.nan)
        padj = adjust_p(p, k["adjust"])
        for j, (a, b) in enumerate(pairs):
            rows.append({"comparison": k["id"], "indicator": ind["id"], "unit": unit, "kind": ind["kind"],
                         "domain": dom["id"], "by": by, "a": code_text(a), "b": code_text(b),
                         "estimate_a": t["estimate"].iloc[pos[code_text(a)]],
                         "estimate_b": t["estimate"].iloc[pos[code_text(b)]],
                         "difference": c.estimate[j], "se": c.se[j], "ci_low": ci.low[j], "ci_high": ci.high[j],
                         "df": c.df[j], "t": tt[j], "p": p[j], "adjust": k["adjust"], "p_adjusted": padj[j]})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def models_and_comparisons(data: dict, cfg: dict, spec: dict, steps: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The models table and the comparisons table of every unit, in config order."""
    mt = [fit_models(df, cfg, u, spec, steps.get(u, ())) for u, df in data.items()]
    ct = [compare(df, cfg, u, spec, steps.get(u, ())) for u, df in data.items()]
    models = pd.concat([x for x in mt if len(x)], ignore_index=True) if any(len(x) for x in mt) \
        else pd.DataFrame(columns=MODEL_COLUMNS)
    comps = pd.concat([x for x in ct if len(x)], ignore_index=True) if any(len(x) for x in ct) \
        else pd.DataFrame(columns=COMPARISON_COLUMNS)
    morder = {m["id"]: j for j, m in enumerate(cfg["models"])}
    corder = {k["id"]: j for j, k in enumerate(cfg["comparisons"])}
    if len(models):
        models = models.assign(_o=models["model"].map(morder)).sort_values("_o", kind="stable") \
            .drop(columns="_o").reset_index(drop=True)
    if len(comps):
        comps = comps.assign(_o=comps["comparison"].map(corder)).sort_values("_o", kind="stable") \
            .drop(columns="_o").reset_index(drop=True)
    return models, comps
