"""The survey design as the stages share it: design columns, variance strata, design objects.

:func:`design_spec` turns ``[design]`` into what ``weight/design.json`` records
(weights, strata, PSU, fpc, lonely-PSU rule, pseudo-strata, replicate weights
delivered with the data); :func:`make_design` builds the
:class:`analysis.SurveyDesign` or :class:`analysis.ReplicateDesign` from it.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .config import SDR_TYPES, suggest
from .errors import PipelineError
from .formats import code_text as fmt

VARIANCE_STRATUM, VARIANCE_FPC = "variance_stratum", "variance_fpc"
WEIGHT = "weight"  # the final weight's column in the weight stage's files


def design_spec(cfg: dict) -> dict:
    """The design columns of the variance: the configured ones, or the pseudo-strata's (see :func:`variance_columns`)."""
    dcfg = cfg["design"]
    spec = {"weights": WEIGHT, "strata": dcfg.get("strata"), "psu": dcfg.get("psu"), "fpc": dcfg.get("fpc"),
            "lonely_psu": dcfg["lonely_psu"]}
    ps = dcfg.get("pseudo_strata")
    if ps:
        spec["variance"] = {"method": "paired PSUs", "order": ps["order"], "within": ps.get("within"), "size": ps["size"],
                            "design_strata": spec["strata"], "design_fpc": spec["fpc"]}
        spec["strata"] = VARIANCE_STRATUM
        spec["fpc"] = VARIANCE_FPC if spec["fpc"] else None
    return spec


def check_design_columns(df: pd.DataFrame, cfg: dict, where: str) -> None:
    """Every configured design column must be in *df* (*where* names the file, for the message)."""
    dcfg = cfg["design"]
    cols = [(p, dcfg.get(p)) for p in ("weights", "psu", "strata", "fpc")] + [
        (f"pseudo_strata.{k}", dcfg.get("pseudo_strata", {}).get(k)) for k in ("order", "within")]
    for par, col in cols:
        if col and col not in df.columns:
            raise PipelineError(cfg["_path"], f"design.{par}", f"column {col!r} not found in the {where}"
                                + suggest(col, df.columns))


def replicate_columns(df: pd.DataFrame, cfg: dict, where: str) -> list[str]:
    """The columns of ``[design] replicate_weights`` (a list, or a regular expression matched in full)."""
    spec = cfg["design"]["replicate_weights"]
    if isinstance(spec, list):
        missing = [c for c in spec if c not in df.columns]
        if missing:
            raise PipelineError(cfg["_path"], "design.replicate_weights", f"column {missing[0]!r} not found in the "
                                f"{where}" + suggest(missing[0], df.columns))
        return list(spec)
    pattern = re.compile(spec)
    cols = [c for c in df.columns if pattern.fullmatch(str(c))]
    if len(cols) < 2:
        raise PipelineError(cfg["_path"], "design.replicate_weights", f"the pattern {spec!r} matches {len(cols)} "
                            f"column(s) of the {where}; replicate weights need at least 2")
    return cols


def check_weights(df: pd.DataFrame, cols: list[str], key: list[str], file, allow_zero: bool = False) -> None:
    """Delivered weights must be numeric, finite and positive (replicate weights: non-negative)."""
    from .units import record_keys
    for col in cols:
        s = df[col]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise PipelineError(file, col, f"expected numeric weights, got a column of type {s.dtype}")
        v = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v) | (v < 0) | ((v == 0) if not allow_zero else False)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "missing" if np.isnan(v[i]) else fmt(v[i])
            rule = "non-negative" if allow_zero else "positive"
            raise PipelineError(file, col, f"weight {what} of record {record_keys(df.iloc[[i]], key).iloc[0]} "
                                f"({int(bad.sum())} record(s) in all): expected a {rule}, finite weight")


def make_design(df: pd.DataFrame, spec: dict):
    """The design the weight stage wrote (design.json): Taylor, or replicate weights."""
    from analysis import ReplicateDesign, SurveyDesign
    if spec.get("replicates"):
        r = spec["replicates"]
        fixed = r["type"] in SDR_TYPES   # scale and rscales come with the type (ReplicateDesign refuses others)
        return ReplicateDesign(df, weights=spec["weights"], replicate_weights=r["columns"], type=r["type"],
                               scale=None if fixed else r["scale"], rscales=None if fixed else r["rscales"],
                               mse=r["mse"], fay_rho=r.get("fay_rho"))
    return SurveyDesign(df, weights=spec["weights"], strata=spec["strata"], psu=spec["psu"], fpc=spec["fpc"],
                        lonely_psu=spec["lonely_psu"])


def unit_design(df: pd.DataFrame, spec: dict, steps=()):
    """:func:`make_design` with the weight stage's calibration steps of the rows
    (:func:`pipeline.calibration.calibration_steps`), for calibrated Taylor variances."""
    design = make_design(df, spec)
    for step in steps:
        design = design.with_weights(design.weights, calibration=step)
    return design


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


def json_ready(o):
    """*o* with numpy scalars as Python numbers and non-finite floats as None, for design.json and diagnostics."""
    if isinstance(o, dict):
        return {str(k): json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_ready(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    return str(o)