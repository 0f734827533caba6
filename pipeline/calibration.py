"""Calibration to control totals, as the weight stage runs it and the estimate stage re-runs it.

Control tables (``[[weighting.controls]]``) are read and checked against the
sample (:func:`read_controls`); person tables enter the household weight as
per-household member counts (integrated weighting, :func:`person_counts`).
:func:`calibrate_weights` rakes or calibrates, then trims;
:func:`calibration_steps` re-runs it from the saved weights before
calibration so that Taylor variances use calibration residuals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import io
from .config import suggest
from .errors import PipelineError
from .formats import code_text as fmt
from .units import HOUSEHOLD, PERSON, cell_labels, own_weight, person_link, record_keys


def read_controls(cfg, survey, tables: dict[str, pd.DataFrame]) -> list[tuple]:
    out = []
    for i, c in enumerate(cfg["weighting"]["controls"]):
        path = survey / c["path"]
        data = tables.get(c["unit"])
        if data is None:
            raise PipelineError(cfg["_path"], f"weighting.controls[{i}].unit", f"no {c['unit']} file")
        t = io.read_table(path)
        if "count" not in t.columns:
            raise PipelineError(path, "count", "control table needs a 'count' column")
        if not pd.api.types.is_numeric_dtype(t["count"]) or t["count"].isna().any():
            bad = t["count"][pd.to_numeric(t["count"], errors="coerce").isna()]
            raise PipelineError(path, "count", f"non-numeric or missing count {str(bad.iloc[0]) if len(bad) else ''!r}")
        margins = [m for m in t.columns if m != "count"]
        for m in margins:
            if m not in data.columns:
                raise PipelineError(path, m, f"margin column not found in the {c['unit']} data" + suggest(m, data.columns))
        cells = set(map(tuple, t[margins].map(fmt).to_numpy()))
        sample = data[margins].dropna().drop_duplicates().map(fmt).drop_duplicates()  # unclassified records take no part
        for row in sample.itertuples(index=False):
            if tuple(row) not in cells:
                shown = ", ".join(f"{m}={v}" for m, v in zip(margins, row))
                raise PipelineError(path, shown, f"no control total for this cell, which holds sample {c['unit']} records")
        out.append((path, c["unit"], t[margins + ["count"]]))
    return out


def person_counts(households, persons, tables, hk, pk) -> tuple[dict, pd.DataFrame]:
    """Per-household counts of members in each cell of the person control tables.

    Integrated weighting (Lemaître & Dufour 1987): calibrating the household
    weight so that these counts add up to the census person totals gives one
    weight per household that also reproduces the person controls.
    """
    totals, cols = {}, {}
    if not tables:
        return totals, pd.DataFrame(index=households.index)
    hkeys = record_keys(households, hk)
    for i, (path, t) in enumerate(tables):
        margins = [m for m in t.columns if m != "count"]
        cell = cell_labels(persons, margins)
        counts = pd.DataFrame({"k": record_keys(persons, pk).to_numpy(), "c": cell.to_numpy()}).value_counts().unstack(fill_value=0)
        for j, key in enumerate(cell_labels(t, margins)):
            name = f"_n{i}_{j}"
            col = counts[key] if key in counts.columns else pd.Series(0, index=counts.index)
            cols[name] = hkeys.map(col).fillna(0).astype(float).to_numpy()
            totals[name] = float(t["count"].iloc[j])
    return totals, pd.DataFrame(cols, index=households.index)


def calibrate_weights(design, controls, person_totals, cfg, reports=None):
    """Raking to the household controls (or integrated calibration with the person counts), then trimming.

    The returned design carries the calibration steps, so its Taylor variance uses calibration
    residuals; the estimate stage re-runs this from the nonresponse-adjusted weights.
    """
    from analysis.weighting import calibrate, rake, trim
    wcfg = cfg["weighting"]
    tol, max_iter = wcfg.get("rake", {}).get("tol", 1e-10), wcfg.get("rake", {}).get("max_iter", 100)
    hh_controls = [t for _, unit, t in controls if unit == "household"]
    reports = {} if reports is None else reports
    if person_totals:  # integrated weighting: household controls and person counts together
        design = calibrate(design, margins=hh_controls or None, totals=person_totals, method="raking",
                           tol=tol, max_iter=max_iter)
        reports["calibrate"] = design.weighting_report
    elif hh_controls:
        design = rake(design, hh_controls, tol=tol, max_iter=max_iter)
        reports["rake"] = design.weighting_report
    if wcfg.get("trim"):
        t = wcfg["trim"]
        design = trim(design, upper=t.get("upper"), lower=t.get("lower"), relative_to=t["relative_to"])
        reports["trim"] = design.weighting_report
    return design


def calibration_steps(data: dict, cfg: dict, survey, spec: dict) -> dict:
    """The weight stage's calibration steps, per unit, for a Taylor variance with calibration residuals.

    Re-runs the weight stage's raking/calibration and trimming
    (:func:`calibrate_weights`) from the saved weights before calibration
    (``design.json``: ``before_calibration``) and checks that it gives the saved final weights (to 1e-12, relative).
    Household estimates then use the steps as they are (R: ``svyrecvar`` with the
    design's ``postStrata``); person estimates, whose rows carry their household's
    weight, have their linearised values summed to the household before the
    residuals are taken (:class:`analysis.weighting.steps.NestedStep`).
    Replicate designs carry the calibration in their replicate weights: no steps.
    """
    hh = data.get(HOUSEHOLD)
    wcfg = cfg.get("weighting") or {}
    before = spec.get("before_calibration")
    if spec.get("replicates") or hh is None or before not in hh.columns or not wcfg.get("controls"):
        return {}
    from analysis import SurveyDesign
    from analysis.weighting.steps import NestedStep
    person = data.get(PERSON)
    pk, hk = person_link(cfg) if person is not None else ([], [])
    controls = read_controls(cfg, survey, {HOUSEHOLD: hh, PERSON: person})
    totals, aux = person_counts(hh, person, [(p, t) for p, u, t in controls if u == PERSON], hk, pk)
    base = SurveyDesign(pd.concat([hh, aux], axis=1), weights=before, strata=spec["strata"],
                        psu=spec["psu"], fpc=spec["fpc"], lonely_psu=spec["lonely_psu"])
    design = calibrate_weights(base, controls, totals, cfg)
    w, saved = np.asarray(design.weights, float), hh[spec["weights"]].to_numpy(float)
    if not np.all(np.abs(w - saved) <= 1e-12 * np.abs(saved).max()):
        raise PipelineError(cfg["_path"], "weighting", "re-running the calibration does not give the weight stage's "
                            f"weights (largest difference {np.abs(w - saved).max():.3g}); re-run the weight stage")
    steps = {HOUSEHOLD: tuple(design._calibration)}
    if person is not None and steps[HOUSEHOLD] and not own_weight(cfg, PERSON):
        unit = pd.Index(record_keys(hh, hk)).get_indexer(record_keys(person, pk))
        steps[PERSON] = (NestedStep(steps[HOUSEHOLD], unit, len(hh)),)
    return steps
