"""What the earlier stages wrote, read back for the figures and the report (read only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .chart_data import response_data
from .errors import PipelineError
from .frame import link_frame
from .units import design_unit, units
from .response import response_status

PARTS = ("estimates", "diagnostics")  # the two parts of the figures stage, each with its manifest


def manifest_name(part: str) -> str:
    return f"manifest_{part}.json"


def read_estimates(path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    e = pd.read_csv(path, dtype={"domain_value": str, "flags": str, "domain_value_label": str}, keep_default_na=True)
    e["flags"] = e["flags"].fillna("")
    e["suppress"] = e["suppress"].astype(str).str.lower().eq("true")
    return e


def read_results(path) -> pd.DataFrame:
    """models.csv or comparisons.csv of the estimate stage (codes and levels as text)."""
    if not Path(path).is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    return pd.read_csv(path, dtype={"level": str, "a": str, "b": str, "variable": str}, keep_default_na=True)


def read_sae(cfg: dict, build: Path) -> dict | None:
    """``sae.csv`` and ``sae_fit.json`` of the estimate stage as ``{"table", "fits"}``; None without ``[sae]``."""
    if not cfg.get("sae"):
        return None
    path = build / "sae.csv"
    if not path.is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    table = pd.read_csv(path, dtype={"area": str, "area_label": str, "district": str}, keep_default_na=True)
    return {"table": table, "fits": io.read_json(build / "sae_fit.json")}


def load_inputs(cfg: dict, build: Path, survey: Path, parts=PARTS) -> dict:
    """What the figures of *parts* (and the report: all) read, as tables."""
    results = {"models": read_results(build / "models.csv"), "comparisons": read_results(build / "comparisons.csv")} \
        if "estimates" in parts else {}
    if "estimates" in parts:
        results["sae"] = read_sae(cfg, build)
    if tuple(parts) == ("estimates",):
        return {"estimates": read_estimates(build / "estimates.csv"), **results,
                "codebook": io.read_json(build / "ingest" / "codebook.json")}
    inputs = {"estimates": read_estimates(build / "estimates.csv") if "estimates" in parts else None, **results,
              "codebook": io.read_json(build / "ingest" / "codebook.json"),
              "ingest": io.read_json(build / "ingest" / "manifest.json"),
              "clean": io.read_json(build / "clean" / "manifest.json"),
              "validation": io.read_table(build / "clean" / "validation.csv"),
              "quarantine": {}}
    for name in cfg["files"]:
        q = build / "clean" / f"quarantine_{name}.csv"
        inputs["quarantine"][name] = pd.read_csv(q) if q.is_file() and q.stat().st_size else pd.DataFrame(
            columns=["_rule", "_reason"])
    fixes = build / "clean" / "fixes.csv"
    inputs["fixes"] = pd.read_csv(fixes) if fixes.is_file() else pd.DataFrame(columns=["file", "rule"])
    wdir = build / "weight"
    inputs["units"] = {u: io.read_parquet(wdir / f"{u}.parquet") for u in units(cfg)}
    inputs["weighted"] = inputs["units"][design_unit(cfg)]
    inputs["diagnostics"] = io.read_json(wdir / "diagnostics.json")
    inputs["design"] = io.read_json(wdir / "design.json")
    inputs["controls"] = [(c["path"], c["unit"], io.read_table(survey / c["path"]))
                          for c in (cfg.get("weighting") or {}).get("controls", [])]
    inputs["response"] = response_rates(cfg, build, survey, inputs["codebook"]) if "frame" in cfg and not \
        cfg["design"].get("weights") else None
    return inputs


def response_rates(cfg: dict, build: Path, survey: Path, codebook: dict) -> pd.DataFrame:
    """Eligible and responding households per stratum, from the clean household file linked to the frame."""
    hh = io.read_parquet(build / "clean" / "household.parquet")
    frame_path = survey / cfg["frame"]["path"]
    hh = link_frame(hh, io.read_table(frame_path), cfg["frame"], frame_path)
    resp, elig = response_status(hh, cfg)
    by = [c for d in cfg["domains"] for c in d["by"] if c in hh.columns]
    return response_data(hh, cfg["design"].get("strata"), elig, resp, codebook, list(dict.fromkeys(by)))


def out_args(stage: str, argv=None):
    """The stage arguments plus ``--out`` (default ``figures/<survey name>``), ``--part`` and ``--jobs``."""
    import argparse
    from .errors import parse_args
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", default=None)
    p.add_argument("--part", choices=PARTS, default=None)
    p.add_argument("--jobs", type=int, default=None, help="processes drawing figures (default: one per core)")
    known, rest = p.parse_known_args(argv)
    args = parse_args(stage, rest)
    args.out = Path(known.out) if known.out else Path("figures") / args.build.name
    args.parts = (known.part,) if known.part else PARTS
    args.jobs = known.jobs
    return args
