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


class time_limit:
    """Stop a calibration that runs longer than *seconds* of wall-clock time (SIGALRM; main thread only).

    Iterations are bounded too (``rake.max_iter`` <= 10,000), but one iteration on a large
    design with many cells can be slow: an operator gets one line instead of a run that never ends.
    """
    def __init__(self, seconds: float, cfg: dict):
        self.seconds, self.cfg = float(seconds), cfg

    def _expire(self, signum, frame):
        raise PipelineError(self.cfg["_path"], "weighting.rake.max_seconds", f"the calibration did not finish in "
                            f"{self.seconds:g} s of wall-clock time; check the control tables, or allow more time")

    def __enter__(self):
        import signal
        import threading
        self.armed = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def calibrate_weights(design, controls, person_totals, cfg, reports=None):
    """Raking to the household controls (or integrated calibration with the person counts), then trimming.

    The returned design carries the calibration steps, so its Taylor variance uses calibration
    residuals; the estimate stage re-runs this from the nonresponse-adjusted weights.
    """
    from analysis.weighting import calibrate, rake, trim
    wcfg = cfg["weighting"]
    tol, max_iter = wcfg.get("rake", {}).get("tol", 1e-10), wcfg.get("rake", {}).get("max_iter", 100)
    with time_limit(wcfg.get("rake", {}).get("max_seconds", 600), cfg):
        return _calibrate(design, controls, person_totals, cfg, reports, tol, max_iter)


def _calibrate(design, controls, person_totals, cfg, reports, tol, max_iter):
    from analysis.weighting import calibrate, rake, trim
    wcfg = cfg["weighting"]
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
    steps = {HOUSEHOLD: tuple(design.calibration)}
    if person is not None and steps[HOUSEHOLD] and not own_weight(cfg, PERSON):
        unit = pd.Index(record_keys(hh, hk)).get_indexer(record_keys(person, pk))
        steps[PERSON] = (NestedStep(steps[HOUSEHOLD], unit, len(hh)),)
    return steps


# --- sanity of the control tables and of the calibrated weights --------------------------------------------
CHECKS = {"totals_tolerance": 0.01, "household_size_ratio": 1.5, "factor_range": [0.1, 10.0],
          "max_weight_ratio": 1000.0, "accept": False}
ACCEPT = "weighting.checks.accept = true"


def checks(cfg: dict) -> dict:
    """``[weighting.checks]`` with its defaults."""
    return {**CHECKS, **((cfg.get("weighting") or {}).get("checks") or {})}


def _num(x) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"


def check_controls(controls: list, data: pd.DataFrame, weights: str, cfg: dict) -> None:
    """Before calibration: the control tables must agree with each other and with the sample.

    * the tables of one unit must have the same grand total (``totals_tolerance``, relative);
    * household and person totals must imply a mean household size within a factor
      ``household_size_ratio`` of the sample's (weighted members per responding household);
    * each cell's control total must be within ``factor_range`` times the sample's weighted total
      of that cell before calibration (a typo such as 1 for 26,600 moves weights by orders of
      magnitude and no calibration can hide it).

    *data* holds the design unit's records with their weights before calibration and the
    member counts of :func:`person_counts` (columns ``_n<table>_<cell>``).
    """
    c = checks(cfg)
    if c["accept"] or not controls:
        return
    totals: dict[str, list] = {}
    for path, unit, t in controls:
        totals.setdefault(unit, []).append((path, float(t["count"].sum())))
    for unit, items in totals.items():
        p0, t0 = items[0]
        for p, tot in items[1:]:
            if abs(tot - t0) > c["totals_tolerance"] * abs(t0):
                raise PipelineError(p, "count", f"the {unit} total {_num(tot)} differs from {p0}'s {_num(t0)} by "
                                    f"{100 * (tot / t0 - 1):+.1f}% (more than weighting.checks.totals_tolerance = "
                                    f"{c['totals_tolerance']:g}); the control tables must describe one population")
    w = data[weights].to_numpy(float)
    members = [c_ for c_ in data.columns if str(c_).startswith("_n0_")]
    if HOUSEHOLD in totals and PERSON in totals and members:
        implied = totals[PERSON][0][1] / totals[HOUSEHOLD][0][1]
        sample = float((w * data[members].sum(axis=1).to_numpy(float)).sum() / w.sum())
        r = c["household_size_ratio"]
        if not (sample / r <= implied <= sample * r):
            raise PipelineError(totals[PERSON][0][0], "count", f"the person total {_num(totals[PERSON][0][1])} and the "
                                f"household total {_num(totals[HOUSEHOLD][0][1])} of {totals[HOUSEHOLD][0][0]} imply "
                                f"{implied:.2f} persons per household; the sample has {sample:.2f} (more than "
                                f"weighting.checks.household_size_ratio = {r:g} apart)")
    lo, hi = c["factor_range"]
    k = 0
    for path, unit, t in controls:
        margins = [m for m in t.columns if m != "count"]
        if unit == PERSON:
            cols = [f"_n{k}_{j}" for j in range(len(t))]
            k += 1
            if not set(cols) <= set(data.columns):
                continue
            sums = (data[cols].to_numpy(float) * w[:, None]).sum(axis=0)
        else:
            sums = pd.Series(w).groupby(cell_labels(data, margins).to_numpy()).sum().reindex(
                cell_labels(t, margins).to_numpy()).fillna(0.0).to_numpy()
        count = t["count"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = count / sums
        bad = ~((ratio >= lo) & (ratio <= hi)) & (count > 0)
        if bad.any():
            j = int(np.argmax(np.abs(np.log(np.where(bad, ratio, 1.0) + 1e-300))))
            cell = ", ".join(f"{m}={fmt(t[m].iloc[j])}" for m in margins)
            raise PipelineError(path, cell, f"control total {_num(count[j])} is {ratio[j]:.3g} times the sample's weighted "
                                f"total {_num(sums[j])} before calibration (outside weighting.checks.factor_range "
                                f"[{lo:g}, {hi:g}]; {int(bad.sum())} cell(s) in all): a typo in the control table, or a "
                                f"cell the sample barely covers; to use it anyway set {ACCEPT}")


def check_calibrated(before: np.ndarray, after: np.ndarray, data: pd.DataFrame, controls: list, cfg: dict,
                     computed: bool, unit: str = HOUSEHOLD) -> None:
    """After calibration and trimming: factors within ``factor_range``; computed weights within ``max_weight_ratio``."""
    c = checks(cfg)
    if c["accept"]:
        return
    lo, hi = c["factor_range"]
    g = after / before
    bad = ~((g >= lo) & (g <= hi))
    if bad.any():
        raise PipelineError(cfg["_path"], "weighting", f"calibration factors from {g.min():.3g} to {g.max():.3g}: "
                            f"{int(bad.sum())} {unit} record(s) outside weighting.checks.factor_range [{lo:g}, {hi:g}]"
                            f"{_cells(data, bad, controls)}; check those control totals, or set {ACCEPT}")
    ratio = after.max() / after.min()
    if computed and ratio > c["max_weight_ratio"]:
        big = after >= after.max()
        raise PipelineError(cfg["_path"], "weighting", f"final weights from {_num(after.min())} to {_num(after.max())} "
                            f"(largest/smallest {ratio:,.0f}, more than weighting.checks.max_weight_ratio = "
                            f"{c['max_weight_ratio']:g}); the largest{_cells(data, big, controls)}; or set {ACCEPT}")


def _cells(data: pd.DataFrame, mask: np.ndarray, controls: list) -> str:
    """' in <table>: cell (n records), ...' for the records of *mask*, by the first household control table."""
    for path, unit, t in controls:
        margins = [m for m in t.columns if m != "count"]
        if unit == HOUSEHOLD and set(margins) <= set(data.columns):
            counts = cell_labels(data[mask], margins).value_counts()
            shown = [", ".join(f"{m}={v}" for m, v in zip(margins, cell.split("|"))) + f" ({n})"
                     for cell, n in counts.head(3).items()]
            return f", in {path}: " + "; ".join(shown)
    return ""
