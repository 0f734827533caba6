"""Stage 3, weight: base weights, nonresponse adjustment, raking, trimming.

Links the clean households to the frame, computes base weights from the
frame's selection probabilities (``1 / (pi_EA x pi_household_within_EA)``),
adjusts for nonresponse within the configured classes, rakes the respondents
to the census control tables, trims as configured and (optionally) adds
replicate weights re-calibrated like the full-sample weights.  All weighting
is done by :mod:`analysis.weighting`.  Writes ``build/<survey>/weight/``:
``household.parquet`` and ``person.parquet`` (respondents with design
columns and ``weight``), ``diagnostics.json`` and ``manifest.json``.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from . import config, io
from .errors import Log, PipelineError, parse_args, run
from .expr import ExpressionError, evaluate_bool
from .rules import fmt


def link_frame(hh: pd.DataFrame, frame: pd.DataFrame, fcfg: dict, frame_path) -> pd.DataFrame:
    key = fcfg["key"]
    for col in [key, fcfg["prob"]] + [fcfg[k] for k in ("prob_within", "listed", "sampled") if k in fcfg]:
        if col not in frame.columns:
            raise PipelineError(frame_path, col, "column not found" + _close(col, frame.columns))
    if frame[key].duplicated().any():
        raise PipelineError(frame_path, key, f"duplicate EA {fmt(frame[key][frame[key].duplicated()].iloc[0])}")
    extra = [c for c in frame.columns if c not in hh.columns or c == key]
    out = hh.merge(frame[extra], on=key, how="left", validate="many_to_one")
    unlinked = out[fcfg["prob"]].isna()
    if unlinked.any():
        raise PipelineError(frame_path, key, f"EA {fmt(out.loc[unlinked, key].iloc[0])} of the sample is not in the frame")
    return out


def base_probability(df: pd.DataFrame, fcfg: dict, frame_path) -> np.ndarray:
    """Probability of selection of each household: EA probability x within-EA probability."""
    for col in [fcfg["prob"]] + ([fcfg["prob_within"]] if "prob_within" in fcfg else []):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        bad = ~((v > 0) & (v <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PipelineError(frame_path, col, f"probability {fmt(df[col].iloc[i])!r} of EA {fmt(df[fcfg['key']].iloc[i])} "
                                "is not in (0, 1]")
    p = df[fcfg["prob"]].to_numpy(float)
    if "prob_within" in fcfg:
        p = p * df[fcfg["prob_within"]].to_numpy(float)
    elif "listed" in fcfg:
        sampled = (df[fcfg["sampled"]] if "sampled" in fcfg else df.groupby(fcfg["key"])[fcfg["key"]].transform("size"))
        p = p * sampled.to_numpy(float) / df[fcfg["listed"]].to_numpy(float)
    bad = ~((p > 0) & (p <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PipelineError(frame_path, fcfg.get("listed", fcfg["prob"]), f"selection probability {p[i]:g} of a "
                            f"household in EA {fmt(df[fcfg['key']].iloc[i])} is not in (0, 1]")
    return p


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
                raise PipelineError(path, m, f"margin column not found in the {c['unit']} data" + _close(m, data.columns))
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
    hkeys = _keys(households, hk)
    for i, (path, t) in enumerate(tables):
        margins = [m for m in t.columns if m != "count"]
        cell = _join(persons, margins)
        counts = pd.DataFrame({"k": _keys(persons, pk).to_numpy(), "c": cell.to_numpy()}).value_counts().unstack(fill_value=0)
        for j, key in enumerate(_join(t, margins)):
            name = f"_n{i}_{j}"
            col = counts[key] if key in counts.columns else pd.Series(0, index=counts.index)
            cols[name] = hkeys.map(col).fillna(0).astype(float).to_numpy()
            totals[name] = float(t["count"].iloc[j])
    return totals, pd.DataFrame(cols, index=households.index)


def _join(df, cols) -> pd.Series:
    """Cell labels as text, e.g. '1|15-24'; '' parts for missing values."""
    from .rules import fmt_series
    out = fmt_series(df[cols[0]])
    for c in cols[1:]:
        out = out + "|" + fmt_series(df[c])
    return out


def _keys(df, key):
    from .rules import record_keys
    return record_keys(df, key)


def response_status(hh: pd.DataFrame, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Check the design and class columns exist; return (respondent, eligible) masks."""
    wcfg, dcfg = cfg["weighting"], cfg["design"]
    for par, col in [(p, dcfg.get(p)) for p in ("psu", "strata", "fpc")] + [
            (f"pseudo_strata.{k}", dcfg.get("pseudo_strata", {}).get(k)) for k in ("order", "within")]:
        if col and col not in hh.columns:
            raise PipelineError(cfg["_path"], f"design.{par}", f"column {col!r} not found in the household data or frame"
                                + _close(col, hh.columns))
    for c in wcfg["nonresponse_classes"]:
        if c not in hh.columns:
            raise PipelineError(cfg["_path"], "weighting.nonresponse_classes", f"column {c!r} not found" + _close(c, hh.columns))
    try:
        resp = evaluate_bool(wcfg["respondent"], hh).fillna(False).to_numpy(bool)
        elig = evaluate_bool(wcfg["eligible"], hh).fillna(False).to_numpy(bool) if "eligible" in wcfg else np.ones(len(hh), bool)
    except ExpressionError as e:
        raise PipelineError(cfg["_path"], "weighting", f"{e.problem} in {e.expression!r}") from None
    return resp, elig


VARIANCE_STRATUM, VARIANCE_FPC = "variance_stratum", "variance_fpc"


def design_spec(cfg: dict) -> dict:
    """The design columns of the variance: the configured ones, or the pseudo-strata's (see :func:`variance_columns`)."""
    dcfg = cfg["design"]
    spec = {"strata": dcfg.get("strata"), "psu": dcfg["psu"], "fpc": dcfg.get("fpc"), "lonely_psu": dcfg["lonely_psu"]}
    ps = dcfg.get("pseudo_strata")
    if ps:
        spec["variance"] = {"method": "paired PSUs", "order": ps["order"], "within": ps.get("within"), "size": ps["size"],
                            "design_strata": spec["strata"], "design_fpc": spec["fpc"]}
        spec["strata"] = VARIANCE_STRATUM
        spec["fpc"] = VARIANCE_FPC if spec["fpc"] else None
    return spec


def variance_columns(data: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Add the pseudo-strata columns of ``[design.pseudo_strata]`` to the responding households.

    Systematic selection along a sorted frame stratifies implicitly; the variance
    then pairs the PSUs in selection order within each design stratum, those of
    one implicit stratum (``within``) together where it has two or more
    (:func:`analysis.pseudo_strata.pair_psus`; Wolter 2007, §8.3).  A design fpc
    given as PSU counts ``N_h`` becomes the stratum's sampling fraction
    ``n_h / N_h`` (``n_h``: its responding PSUs, as R counts them), which each
    pseudo-stratum inherits.  Without ``pseudo_strata`` the data are returned as they are.
    """
    dcfg = cfg["design"]
    ps = dcfg.get("pseudo_strata")
    if not ps:
        return data
    from analysis import SurveyError
    from analysis.pseudo_strata import pair_psus
    strata, psu = dcfg.get("strata"), dcfg["psu"]
    try:
        code = pair_psus(data[strata] if strata else None, data[psu], data[ps["order"]], int(ps["size"]),
                         within=data[ps["within"]] if ps.get("within") else None)
    except SurveyError as e:
        raise PipelineError(cfg["_path"], "design.pseudo_strata", str(e)) from None
    cols = {VARIANCE_STRATUM: code}
    if dcfg.get("fpc"):
        fpc = pd.to_numeric(data[dcfg["fpc"]], errors="coerce").to_numpy(float)
        bad = ~(fpc > 0)
        if bad.any():
            raise PipelineError(cfg["_path"], "design.fpc", f"column {dcfg['fpc']!r}: expected positive PSU counts or "
                                f"fractions, got {fmt(data[dcfg['fpc']].iloc[int(np.flatnonzero(bad)[0])])!r}")
        if (fpc > 1).any():
            groups = data[strata] if strata else np.zeros(len(data))
            n_h = data.groupby(groups)[psu].transform("nunique").to_numpy(float)
            if (n_h > fpc).any():
                i = int(np.flatnonzero(n_h > fpc)[0])
                raise PipelineError(cfg["_path"], "design.fpc", f"column {dcfg['fpc']!r}: {fmt(fpc[i])} PSUs in the "
                                    f"population but {fmt(n_h[i])} in the sample, in stratum {fmt(groups.iloc[i] if strata else 1)}")
            fpc = n_h / fpc
        cols[VARIANCE_FPC] = fpc
    return pd.concat([data, pd.DataFrame(cols, index=data.index)], axis=1)


def compute_weights(hh, resp, elig, controls, person_totals, cfg, frame_path):
    """Base weights -> nonresponse adjustment -> (replicates) -> raking/calibration -> trimming.

    Returns the responding households, the final design and the diagnostics of each step.
    """
    from analysis import SurveyDesign, SurveyError
    from analysis.weighting import WeightingError, adjust_nonresponse, base_weights

    wcfg, spec = cfg["weighting"], design_spec(cfg)
    reports = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hh["w_base"] = base_weights(None, [base_probability(hh, cfg["frame"], frame_path)])
            hh["w_nonresponse"], reports["nonresponse"] = adjust_nonresponse(
                hh, "w_base", resp, wcfg["nonresponse_classes"] or None, eligible=elig)
            data = variance_columns(hh[resp & elig].reset_index(drop=True), cfg)
            design = SurveyDesign(data, weights="w_nonresponse", strata=spec["strata"], psu=spec["psu"],
                                  fpc=spec["fpc"], lonely_psu=spec["lonely_psu"])
            if wcfg.get("replicates"):  # replicates first, so that raking and trimming re-calibrate each one
                r = wcfg["replicates"]
                design = design.to_replicate(type=r["method"], replicates=r["n"], fay_rho=r["fay_rho"], seed=r["seed"])
            design = calibrate_weights(design, controls, person_totals, cfg, reports)
    except (WeightingError, SurveyError) as e:
        raise PipelineError(cfg["_path"], "weighting", _attribute(str(e), controls)) from None
    return data, design, reports, caught


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


def main(argv=None) -> None:
    args, log = parse_args("weight", argv), Log("weight")
    cfg = config.load(args.survey)
    if not cfg.get("weighting"):
        raise PipelineError(cfg["_path"], "weighting", "a [weighting] table is required for the weight stage")

    fcfg = cfg["frame"]
    src = args.build / "clean"
    hh = io.read_parquet(src / "household.parquet")
    person = io.read_parquet(src / "person.parquet") if "person" in cfg["files"] else None
    frame_path = args.survey / fcfg["path"]
    frame = io.read_table(frame_path)
    log(f"read {src}/household.parquet ({len(hh)} records), {frame_path} ({len(frame)} EAs)")

    w = weigh(hh, person, frame, cfg, args.survey, frame_path, log)
    hh, data, person, reports, elig, resp = (w[k] for k in ("households", "data", "person", "reports", "eligible",
                                                             "respondent"))
    diagnostics = {"households": {"clean": len(hh), "eligible": int(elig.sum()), "respondents": int((resp & elig).sum())},
                   "weight_total": float(data["weight"].sum()),
                   "steps": {k: _plain(r.to_dict()) for k, r in reports.items()}}
    out_dir = args.build / "weight"
    with io.Outputs(out_dir) as out:
        out.parquet(data, "household.parquet")
        if person is not None:
            out.parquet(person, "person.parquet")
        out.json(diagnostics, "diagnostics.json")
        out.json(w["spec"], "design.json")
        out.json({"stage": "weight", "inputs": [io.file_entry(p, args.survey) for p in config.inputs(cfg)["weight"]],
                  "outputs": out.entries()}, "manifest.json")
    log(f"{len(data)} responding households weighted to {data['weight'].sum():,.0f}; "
        f"{len(person) if person is not None else 0} persons; wrote {out_dir}")
    log.done()


def weigh(hh: pd.DataFrame, person, frame: pd.DataFrame, cfg: dict, survey, frame_path, log) -> dict:
    """The stage in memory: clean households (and persons) + frame -> weighted respondents.

    Returns a dict: ``households`` (all linked households), ``data`` (responding
    households with ``weight`` and any replicate columns), ``person`` (their members,
    carrying the household's design columns and weight), ``design``, ``reports``,
    ``spec`` (what design.json holds), ``respondent`` and ``eligible`` masks.
    Also used by the coverage study (:mod:`pipeline.validate`).
    """
    wcfg, fcfg = cfg["weighting"], cfg["frame"]
    hh = link_frame(hh, frame, fcfg, frame_path)
    resp, elig = response_status(hh, cfg)
    pk, hk = (cfg["files"]["person"]["parent_key"], cfg["files"]["household"]["key"]) if person is not None else ([], [])
    responding = hh[resp & elig]
    persons_in = person[_keys(person, pk).isin(set(_keys(responding, hk)))] if person is not None else None
    controls = read_controls(cfg, survey, {"household": responding, "person": persons_in})
    person_totals, aux = person_counts(responding, persons_in, [(p, t) for p, u, t in controls if u == "person"], hk, pk)
    hh = pd.concat([hh, aux.reindex(hh.index, fill_value=0.0)], axis=1)

    data, design, reports, caught = compute_weights(hh, resp, elig, controls, person_totals, cfg, frame_path)
    log.warnings(caught)
    data["weight"] = np.asarray(design.weights, float)
    spec = {"weights": "weight", **design_spec(cfg)}
    if wcfg.get("replicates"):
        rep = np.asarray(design.replicate_weights, float)
        names = [f"rw_{k + 1:03d}" for k in range(rep.shape[1])]
        data = pd.concat([data, pd.DataFrame(rep, columns=names, index=data.index)], axis=1)
        spec["replicates"] = {"type": design.type, "columns": names, "scale": _plain(design.scale),
                              "rscales": _plain(np.asarray(design.rscales, float).tolist()), "mse": design.mse}
    data = data.drop(columns=list(aux.columns))
    if person is not None:  # each person carries the household's design columns and weight
        add = [c for c in data.columns if c not in person.columns or c in pk]
        before = len(person)
        person = person.merge(data[add].rename(columns=dict(zip(hk, pk))), on=pk, how="inner", validate="many_to_one")
        if len(person) < before:
            log(f"{before - len(person)} person records of non-responding or ineligible households left out")
    return {"households": hh, "data": data, "person": person, "design": design, "reports": reports, "spec": spec,
            "respondent": resp, "eligible": elig}


def _plain(o):
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    return str(o)


def _attribute(msg: str, controls) -> str:
    """Prefix an analysis error with the control file it concerns, if it names one's margins."""
    for path, _, t in controls:
        name = " x ".join(c for c in t.columns if c != "count")
        if re.search(rf"\b{re.escape(name)}\b", msg):
            return f"{path}: {msg}"
    return msg


def _close(col, columns) -> str:
    import difflib
    m = difflib.get_close_matches(str(col), [str(c) for c in columns], n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""


if __name__ == "__main__":
    run(main)
