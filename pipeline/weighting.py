"""The weighting chain, in memory: from clean unit tables to weighted respondents (weight stage, coverage study).

Two ways in, chosen by the config:

* **computed** (``[frame]`` + ``[weighting]``): households are linked to the
  frame, base weights ``1 / (pi_EA x pi_household_within_EA)``, nonresponse
  adjustment within classes, optional replicate weights, raking or integrated
  calibration to the control tables, trimming;
* **delivered** (``[design] weights``): the survey's final weights are checked
  (missing, negative, zero) and passed through, with any delivered replicate
  weights (``[design] replicate_weights``, as R's ``svrepdesign``), and are
  calibrated further when ``[[weighting.controls]]`` are given.

Persons carry their household's design columns and weight unless their file
names a weight of its own (``[files.person] weight``).  All weighting is done
by :mod:`analysis.weighting`.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .calibration import check_calibrated, check_controls, calibrate_weights, person_counts, read_controls
from .config import suggest
from .designs import (WEIGHT, check_design_columns, check_weights, design_spec, replicate_columns,
                      variance_columns, json_ready)
from .errors import PipelineError
from .frame import base_probability, link_frame
from .response import response_status
from .units import HOUSEHOLD, PERSON, design_unit, inherit, members, own_weight, person_link

DELIVERED = "w_delivered"  # the delivered weight, kept beside the final one when it is calibrated further


def weigh(tables: dict, cfg: dict, survey, log, frame: pd.DataFrame | None = None, frame_path=None) -> dict:
    """Clean unit tables (``{"household": df, "person": df}``) -> weighted respondents.

    Returns a dict: ``tables`` (each unit's responding records with ``weight``, design
    columns and any replicate columns ``rw_001``...), ``design`` (of the design unit),
    ``reports`` (each weighting step's diagnostics), ``spec`` (what ``design.json``
    holds), ``counts`` (records, eligible, respondents of the design unit) and, for
    computed weights, ``linked`` (all households with their frame columns) and the
    ``respondent``/``eligible`` masks over them.
    """
    if cfg["design"].get("weights"):
        out = _delivered(tables, cfg, survey)
    else:
        out = _computed(tables[HOUSEHOLD], tables.get(PERSON), frame, cfg, survey, frame_path)
    log.warnings(out.pop("caught"))
    unit, data = design_unit(cfg), out["data"]
    spec = out["spec"]
    design = out["design"]
    data[WEIGHT] = np.asarray(design.weights, float)
    if hasattr(design, "replicate_weights"):
        rep = np.asarray(design.replicate_weights, float)
        names = [f"rw_{k + 1:03d}" for k in range(rep.shape[1])]
        data = pd.concat([data.drop(columns=out.get("delivered_replicates", [])),
                          pd.DataFrame(rep, columns=names, index=data.index)], axis=1)
        spec["replicates"] = {"type": design.type, "columns": names, "scale": json_ready(design.scale),
                              "rscales": json_ready(np.asarray(design.rscales, float).tolist()), "mse": design.mse,
                              "fay_rho": json_ready(design.fay_rho)}
    data = data.drop(columns=[c for c in data.columns if c.startswith("_n") and c in out.get("aux", ())])
    result = {unit: data}
    person = tables.get(PERSON)
    if unit == HOUSEHOLD and person is not None:
        pk, hk = person_link(cfg)
        own = own_weight(cfg, PERSON)
        before = len(person)
        result[PERSON] = inherit(person, data, pk, hk, keep_own=(WEIGHT,) if own else ())
        if len(result[PERSON]) < before:
            log(f"{before - len(result[PERSON])} person records of non-responding or ineligible households left out")
        if own:
            p = result[PERSON]
            check_weights(p, [own], cfg["files"][PERSON]["key"], survey / cfg["files"][PERSON]["path"])
            p[WEIGHT] = p[own].astype(float)
            spec["own_weights"] = {PERSON: own}
    out["tables"] = result
    return out


def _delivered(tables: dict, cfg: dict, survey) -> dict:
    """The survey's own final weights, checked, optionally with replicate weights and further calibration."""
    from analysis import ReplicateDesign, SurveyDesign, SurveyError
    from analysis.weighting import WeightingError
    unit = design_unit(cfg)
    fcfg, dcfg, wcfg = cfg["files"][unit], cfg["design"], cfg.get("weighting") or {}
    path, df = survey / fcfg["path"], tables[unit]
    check_design_columns(df, cfg, f"{unit} file")
    resp, elig = response_status(df, cfg)
    data = df[resp & elig].reset_index(drop=True)
    check_weights(data, [dcfg["weights"]], fcfg["key"], path)
    reps = replicate_columns(data, cfg, f"{unit} file") if dcfg.get("replicate_weights") else []
    if reps:
        check_weights(data, reps, fcfg["key"], path, allow_zero=True)
    data = variance_columns(data, cfg)
    spec = design_spec(cfg)
    spec["delivered"] = {"weights": dcfg["weights"], "unit": unit, **({"replicate_weights": reps} if reps else {})}
    data[DELIVERED] = data[dcfg["weights"]].astype(float)
    reports, controls, totals = {}, [], {}
    if wcfg.get("controls"):
        persons = tables.get(PERSON) if unit == HOUSEHOLD else None
        pk, hk = person_link(cfg) if persons is not None else ([], [])
        persons_in = members(persons, data, pk, hk) if persons is not None else None
        controls = read_controls(cfg, survey, {unit: data, PERSON: persons_in})
        totals, aux = person_counts(data, persons_in, [(p, t) for p, u, t in controls if u == PERSON], hk, pk)
        data = pd.concat([data, aux], axis=1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if reps:
                design = ReplicateDesign(data, weights=DELIVERED, replicate_weights=reps, type=dcfg["replicate_type"],
                                         scale=dcfg.get("scale"), rscales=dcfg.get("rscales"), mse=dcfg["mse"],
                                         combined_weights=dcfg["combined_weights"], fay_rho=dcfg.get("fay_rho"))
            else:
                design = SurveyDesign(data, weights=DELIVERED, strata=spec["strata"], psu=spec["psu"], fpc=spec["fpc"],
                                      lonely_psu=spec["lonely_psu"])
            if controls:
                check_controls(controls, data, DELIVERED, cfg)
                design = calibrate_weights(design, controls, totals, cfg, reports)
                spec["before_calibration"] = DELIVERED
                check_calibrated(data[DELIVERED].to_numpy(float), np.asarray(design.weights, float), data, controls,
                                 cfg, computed=False, unit=unit)
    except (WeightingError, SurveyError) as e:
        raise PipelineError(cfg["_path"], "weighting" if controls else "design", _attribute(str(e), controls)) from None
    aux = [c for c in data.columns if c.startswith("_n")] if controls else []
    if not controls:
        data = data.drop(columns=[DELIVERED])
        reports["delivered"] = _weight_summary(np.asarray(design.weights, float))
    return {"data": data, "design": design, "reports": reports, "spec": spec, "caught": caught, "aux": aux,
            "delivered_replicates": reps, "counts": {"records": len(df), "eligible": int(elig.sum()),
                                                      "respondents": int((resp & elig).sum())}}


def _weight_summary(w: np.ndarray) -> dict:
    """Diagnostics of delivered weights, in the keys of the weighting reports."""
    return {"method": "delivered", "n": int(len(w)), "sum_weights": float(w.sum()), "min_weight": float(w.min()),
            "median_weight": float(np.median(w)), "max_weight": float(w.max()),
            "ratio_max_min": float(w.max() / w.min()), "kish_deff": float(len(w) * (w ** 2).sum() / w.sum() ** 2)}


def _computed(hh: pd.DataFrame, person, frame: pd.DataFrame, cfg: dict, survey, frame_path) -> dict:
    """Base weights -> nonresponse adjustment -> (replicates) -> raking/calibration -> trimming."""
    from analysis import SurveyDesign, SurveyError
    from analysis.weighting import WeightingError, adjust_nonresponse, base_weights

    wcfg, fcfg = cfg["weighting"], cfg["frame"]
    hh = link_frame(hh, frame, fcfg, frame_path)
    check_design_columns(hh, cfg, "household data or frame")
    resp, elig = response_status(hh, cfg)
    pk, hk = person_link(cfg) if person is not None else ([], [])
    responding = hh[resp & elig]
    persons_in = members(person, responding, pk, hk) if person is not None else None
    controls = read_controls(cfg, survey, {HOUSEHOLD: responding, PERSON: persons_in})
    person_totals, aux = person_counts(responding, persons_in, [(p, t) for p, u, t in controls if u == PERSON], hk, pk)
    hh = pd.concat([hh, aux.reindex(hh.index, fill_value=0.0)], axis=1)
    spec = design_spec(cfg)
    reports = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hh["w_base"] = base_weights(None, [base_probability(hh, fcfg, frame_path)])
            hh["w_nonresponse"], reports["nonresponse"] = adjust_nonresponse(
                hh, "w_base", resp, wcfg["nonresponse_classes"] or None, eligible=elig)
            data = variance_columns(hh[resp & elig].reset_index(drop=True), cfg)
            design = SurveyDesign(data, weights="w_nonresponse", strata=spec["strata"], psu=spec["psu"],
                                  fpc=spec["fpc"], lonely_psu=spec["lonely_psu"])
            if wcfg.get("replicates"):  # replicates first, so that raking and trimming re-calibrate each one
                r = wcfg["replicates"]
                design = design.to_replicate(type=r["method"], replicates=r["n"], fay_rho=r["fay_rho"], seed=r["seed"])
            check_controls(controls, data, "w_nonresponse", cfg)
            design = calibrate_weights(design, controls, person_totals, cfg, reports)
            check_calibrated(data["w_nonresponse"].to_numpy(float), np.asarray(design.weights, float), data, controls,
                             cfg, computed=True)
    except (WeightingError, SurveyError) as e:
        raise PipelineError(cfg["_path"], "weighting", _attribute(str(e), controls)) from None
    spec["before_calibration"] = "w_nonresponse"
    return {"data": data, "design": design, "reports": reports, "spec": spec, "caught": caught, "aux": list(aux.columns),
            "linked": hh, "respondent": resp, "eligible": elig,
            "counts": {"records": len(hh), "eligible": int(elig.sum()), "respondents": int((resp & elig).sum())}}


def _attribute(msg: str, controls) -> str:
    """Prefix an analysis error with the control file it concerns, if it names one's margins."""
    for path, _, t in controls:
        name = " x ".join(c for c in t.columns if c != "count")
        if re.search(rf"\b{re.escape(name)}\b", msg):
            return f"{path}: {msg}"
    return msg
