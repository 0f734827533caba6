"""Stage 4, estimate: every indicator x every domain, with reliability flags.

Household indicators use the weighted household file, person indicators the
person file (which carries its household's design columns and weight).  For
each indicator and domain: estimate, SE, CI (``[reporting].ci_method``,
default ``beta`` = Korn-Graubard), df, deff, CV, unweighted n, n_eff,
weighted n, and the NCHS suppression/review flags (:mod:`pipeline.reliability`).
Writes ``build/<survey>/estimates.csv``, ``estimates.parquet`` and
``estimates.xlsx``.  All statistics come from :mod:`analysis`.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import config, io
from .errors import Log, PipelineError, parse_args, run
from .expr import ExpressionError, evaluate, evaluate_bool
from .reliability import flags

COLUMNS = ["indicator", "label_vi", "label_en", "unit", "kind", "domain", "domain_value", "domain_value_label",
           "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "n", "n_eff", "weighted_n",
           "suppress", "flags", "ci_method", "universe", "numerator"]


def make_design(df: pd.DataFrame, spec: dict):
    """The design the weight stage wrote (design.json): Taylor, or replicate weights."""
    from analysis import ReplicateDesign, SurveyDesign
    if spec.get("replicates"):
        r = spec["replicates"]
        return ReplicateDesign(df, weights=spec["weights"], replicate_weights=r["columns"], type=r["type"],
                               scale=r["scale"], rscales=r["rscales"], mse=r["mse"])
    return SurveyDesign(df, weights=spec["weights"], strata=spec["strata"], psu=spec["psu"], fpc=spec["fpc"],
                        lonely_psu=spec["lonely_psu"])


def calibration_steps(data: dict, cfg: dict, survey, spec: dict) -> dict:
    """The weight stage's calibration steps, per unit, for a Taylor variance with calibration residuals.

    Re-runs the weight stage's raking/calibration and trimming
    (:func:`pipeline.weight.calibrate_weights`) from the saved nonresponse-adjusted
    weights and checks that it gives the saved final weights (to 1e-12, relative).
    Household estimates then use the steps as they are (R: ``svyrecvar`` with the
    design's ``postStrata``); person estimates, whose rows carry their household's
    weight, have their linearised values summed to the household before the
    residuals are taken (:class:`analysis.weighting.steps.NestedStep`).
    Replicate designs carry the calibration in their replicate weights: no steps.
    """
    hh = data.get("household")
    wcfg = cfg.get("weighting") or {}
    if spec.get("replicates") or hh is None or "w_nonresponse" not in hh.columns or not wcfg.get("controls"):
        return {}
    from analysis import SurveyDesign
    from analysis.weighting.steps import NestedStep
    from .weight import _keys, calibrate_weights, person_counts, read_controls
    person = data.get("person")
    pk, hk = (cfg["files"]["person"]["parent_key"], cfg["files"]["household"]["key"]) if person is not None else ([], [])
    controls = read_controls(cfg, survey, {"household": hh, "person": person})
    totals, aux = person_counts(hh, person, [(p, t) for p, u, t in controls if u == "person"], hk, pk)
    base = SurveyDesign(pd.concat([hh, aux], axis=1), weights="w_nonresponse", strata=spec["strata"], psu=spec["psu"],
                        fpc=spec["fpc"], lonely_psu=spec["lonely_psu"])
    design = calibrate_weights(base, controls, totals, cfg)
    w, saved = np.asarray(design.weights, float), hh[spec["weights"]].to_numpy(float)
    if not np.all(np.abs(w - saved) <= 1e-12 * np.abs(saved).max()):
        raise PipelineError(cfg["_path"], "weighting", "re-running the calibration does not give the weight stage's "
                            f"weights (largest difference {np.abs(w - saved).max():.3g}); re-run the weight stage")
    steps = {"household": tuple(design._calibration)}
    if person is not None and steps["household"]:
        unit = pd.Index(_keys(hh, hk)).get_indexer(_keys(person, pk))
        steps["person"] = (NestedStep(steps["household"], unit, len(hh)),)
    return steps


def value_label(codebook: dict, col: str, v) -> str:
    for table in codebook.values():
        labels = table.get(col, {}).get("values", {})
        key = str(int(v)) if isinstance(v, (int, float, np.number)) and float(v).is_integer() else str(v)
        if key in labels:
            return labels[key]
    return ""


def _fmt(v) -> str:
    return str(int(v)) if isinstance(v, (int, float, np.number)) and float(v).is_integer() else str(v)


def _expr(fn, expression, data, path, key):
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
        y = _expr(evaluate, ind["numerator"], df, cfg["_path"], f"indicators[{i}].numerator")
        if ind["kind"] == "proportion" and not pd.api.types.is_bool_dtype(y):
            y = y != 0
        cols[f"y_{ind['id']}"] = y.astype("Float64").astype("float64")
        universes[ind["id"]] = (_expr(evaluate_bool, ind["universe"], df, cfg["_path"], f"indicators[{i}].universe")
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
    design = make_design(data, spec)
    for step in steps:
        design = design.with_weights(design.weights, calibration=step)
    level = cfg["reporting"]["level"]
    rows = []
    for j, dom in enumerate(cfg["domains"]):
        if not set(dom["by"]) <= set(data.columns):
            continue  # e.g. a domain by sex has no meaning for household indicators
        inside = (_expr(evaluate_bool, dom["where"], data, cfg["_path"], f"domains[{j}].where").fillna(False).to_numpy(bool)
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
                    t = t[t["level"].astype(float) == 1]
            except SurveyError as e:
                raise PipelineError(cfg["_path"], f"domains[{j}]", f"domain {dom['id']!r}, indicator "
                                    f"{members[0]['id']!r}: {str(e).splitlines()[0]}") from None
            by_var = {f"y_{ind['id']}": ind for ind in members}
            for _, row in t.iterrows():
                ind = by_var[row["variable"]]
                values = [row[c] for c in dom["by"]]
                rows.append({
                    "indicator": ind["id"], "label_vi": ind["label"]["vi"], "label_en": ind["label"]["en"],
                    "unit": unit, "kind": ind["kind"], "domain": dom["id"],
                    "domain_value": " x ".join(_fmt(v) for v in values) if values else "all",
                    "domain_value_label": " x ".join(value_label(codebook, c, v) for c, v in zip(dom["by"], values))
                    if values else dom["label"]["en"],
                    **{k: row[k] for k in ["estimate", "se", "ci_low", "ci_high", "df", "deff", "cv",
                                           "n", "n_eff", "weighted_n"]},
                    "ci_method": cfg["reporting"]["ci_method"] if ind["kind"] == "proportion" else "t",
                    "universe": ind.get("universe", ""), "numerator": ind["numerator"],
                    **{c: row[c] for m in ci_methods for c in (f"ci_low_{m}", f"ci_high_{m}")}})
    return rows


def main(argv=None) -> None:
    args, log = parse_args("estimate", argv), Log("estimate")
    cfg = config.load(args.survey)
    src = args.build / "weight"
    data = {"household": io.read_parquet(src / "household.parquet"), "person": io.read_parquet(src / "person.parquet")}
    codebook = io.read_json(args.build / "ingest" / "codebook.json")
    spec = io.read_json(src / "design.json")
    log(f"read {src}: " + ", ".join(f"{k} {len(v)} records" for k, v in data.items()))
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = calibration_steps(data, cfg, args.survey, spec)
        for unit, df in data.items():
            rows += estimate_unit(df, cfg, unit, codebook, spec, steps=steps.get(unit, ()))
    log.warnings(caught)
    order = {ind["id"]: k for k, ind in enumerate(cfg["indicators"])}
    dorder = {d["id"]: k for k, d in enumerate(cfg["domains"])}
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("suppress", "flags")])
    table = table.assign(_i=table["indicator"].map(order), _d=table["domain"].map(dorder))
    table = table.sort_values(["_i", "_d"], kind="stable").drop(columns=["_i", "_d"]).reset_index(drop=True)
    table = flags(table, cfg["reporting"], table["kind"])[COLUMNS]
    table["n"] = table["n"].astype("int64")
    published = table.copy()
    cols = ["estimate", "se", "ci_low", "ci_high", "cv"]
    published[cols] = published[cols].astype("float64").where(~published["suppress"])
    published = published.drop(columns=["universe", "numerator"])
    rules = pd.DataFrame({"rule": list(cfg["reporting"]), "value": [str(v) for v in cfg["reporting"].values()]})
    definitions = pd.DataFrame([{"indicator": d["id"], "unit": d["unit"], "kind": d["kind"], "label_vi": d["label"]["vi"],
                                 "label_en": d["label"]["en"], "universe": d.get("universe", ""),
                                 "numerator": d["numerator"]} for d in cfg["indicators"]])
    with io.Outputs(args.build) as out:
        out.csv(table, "estimates.csv")
        out.parquet(table, "estimates.parquet")
        out.xlsx({"estimates": published, "indicators": definitions, "reporting rules": rules}, "estimates.xlsx")
    log(f"{len(table)} estimates ({int(table['suppress'].sum())} suppressed); "
        f"wrote {args.build}/estimates.csv, .parquet, .xlsx")
    log.done()


if __name__ == "__main__":
    run(main)
