"""Stage 5, figures: charts of the estimates, the weights and the cleaning, PNG and SVG.

Reads ``build/<survey>/estimates.csv``, ``weight/household.parquet`` and
``diagnostics.json``, the control tables, ``clean/validation.csv``,
``clean/quarantine_*.csv`` and ``clean/household.parquet`` with the frame (for
response rates by stratum), and writes to ``figures/<survey>/``:

* ``headline`` — key indicators for the province with 95% CIs and national targets
* ``districts_<indicator>`` — each key indicator by district and urban/rural
* ``weights`` — base vs final weights; ``controls`` — achieved vs control totals
* ``quality_rules``, ``quality_quarantine``, ``response_rates`` — data quality

each as ``.png`` and ``.svg``.  The figures come in two parts, which Make
runs as two targets so that the diagnostics are drawn while the estimate stage
runs: ``--part estimates`` (headline, districts; needs the estimates table)
and ``--part diagnostics`` (weights, controls, data quality; needs only the
clean and weight stages).  Each part writes ``manifest_<part>.json`` last,
listing its figures; without ``--part`` both are drawn.  Labels follow
``[report] language``; see :mod:`pipeline.plots` for the style.

    python -m pipeline.figures --survey surveys/qb2022 --build build/qb2022 --out figures/qb2022 [--part estimates] [--jobs 2]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, io
from . import plots as P
from .errors import Log, PipelineError, parse_args, run
from .expr import ExpressionError, evaluate_bool


PARTS = ("estimates", "diagnostics")


def manifest_name(part: str) -> str:
    return f"manifest_{part}.json"


def parse(stage: str, argv=None) -> argparse.Namespace:
    """The stage arguments plus ``--out`` (default ``figures/<survey name>``) and ``--part``."""
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


def load_inputs(cfg: dict, build: Path, survey: Path, parts=PARTS) -> dict:
    """What the figures of *parts* (and the report: all) read, as tables (read only)."""
    if parts == ("estimates",):
        return {"estimates": _estimates(build)}
    inputs = {"estimates": _estimates(build) if "estimates" in parts else None,
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
    inputs["weighted"] = None
    if cfg.get("weighting"):
        inputs["weighted"] = io.read_parquet(build / "weight" / "household.parquet")
        person = build / "weight" / "person.parquet"
        inputs["units"] = {"household": inputs["weighted"],
                           **({"person": io.read_parquet(person)} if person.is_file() else {})}
        inputs["diagnostics"] = io.read_json(build / "weight" / "diagnostics.json")
        inputs["controls"] = [(c["path"], c["unit"], io.read_table(survey / c["path"]))
                              for c in cfg["weighting"]["controls"]]
        inputs["response"] = response_rates(cfg, build, survey, inputs["codebook"])
    return inputs


def _estimates(build: Path) -> pd.DataFrame:
    path = build / "estimates.csv"
    if not path.is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    return P.read_estimates(path)


def response_rates(cfg: dict, build: Path, survey: Path, codebook: dict) -> pd.DataFrame:
    from .weight import link_frame
    hh = io.read_parquet(build / "clean" / "household.parquet")
    frame_path = survey / cfg["frame"]["path"]
    hh = link_frame(hh, io.read_table(frame_path), cfg["frame"], frame_path)
    w = cfg["weighting"]
    try:
        resp = evaluate_bool(w["respondent"], hh).fillna(False).to_numpy(bool)
        elig = (evaluate_bool(w["eligible"], hh).fillna(False).to_numpy(bool) if "eligible" in w
                else np.ones(len(hh), bool))
    except ExpressionError as e:
        raise PipelineError(cfg["_path"], "weighting", f"{e.problem} in {e.expression!r}") from None
    by = [c for d in cfg["domains"] for c in d["by"] if c in hh.columns]
    return P.response_data(hh, cfg["design"].get("strata"), elig, resp, codebook, list(dict.fromkeys(by)))


def figure_specs(cfg: dict, inputs: dict, lang: str, parts=PARTS) -> list[tuple[str, callable]]:
    """(name, draw) for every figure of *parts* for this survey; ``draw()`` returns a matplotlib Figure."""
    specs = []
    if "estimates" in parts:
        est = inputs["estimates"]
        specs.append(("headline", lambda: P.headline_figure(P.headline_data(est, cfg), cfg, lang)))
        for ind in P.key_indicators(est, cfg):
            if (est["indicator"] == ind).any():
                specs.append((f"districts_{ind}",
                              lambda ind=ind: P.district_figure(P.district_data(est, ind), cfg, lang)))
    if "diagnostics" in parts:
        specs += _diagnostic_specs(cfg, inputs, lang)
    return specs


def _diagnostic_specs(cfg: dict, inputs: dict, lang: str) -> list[tuple[str, callable]]:
    specs = []
    if inputs["weighted"] is not None:
        hh = inputs["weighted"]
        specs.append(("weights", lambda: P.weights_figure(P.weights_data(hh), inputs["diagnostics"], cfg, lang)))
        if inputs["controls"]:
            specs.append(("controls", lambda: P.controls_figure(
                P.control_data(inputs["units"], inputs["controls"], inputs["codebook"]), cfg, lang)))
    specs.append(("quality_rules", lambda: P.rules_figure(P.rules_data(inputs["validation"], lang), cfg, lang)))
    specs.append(("quality_quarantine", lambda: P.quarantine_figure(P.quarantine_data(inputs["quarantine"], lang),
                                                                    cfg, lang)))
    if inputs["weighted"] is not None:
        specs.append(("response_rates", lambda: P.response_figure(inputs["response"], cfg, lang)))
    return specs


_JOBS: list = []

# Figures by drawing time on the demo, slowest first (about 1 s down to 0.3 s each on one core): the
# workers take them in this order, so that they finish together rather than one waiting for the
# other's last slow figure.
SLOWEST_FIRST = ("headline", "controls", "response_rates", "districts", "weights", "quality_rules",
                 "quality_quarantine")


def drawing_order(names: list[str]) -> list[int]:
    """Positions of *names* in the order to draw them (unknown kinds with the district charts)."""
    def rank(name):
        kind = "districts" if name.startswith("districts_") else name
        return SLOWEST_FIRST.index(kind if kind in SLOWEST_FIRST else "districts")
    return sorted(range(len(names)), key=lambda i: rank(names[i]))


def _draw_one(i: int) -> None:
    draw, png, svg = _JOBS[i]
    P.save(draw(), png, svg)


def draw_all(jobs: list, workers: int | None = None) -> None:
    """Draw and save every figure, on all cores: figures are independent and each is deterministic."""
    global _JOBS
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        for draw, png, svg in jobs:
            P.save(draw(), png, svg)
        return
    P.pyplot()  # matplotlib imported once, here, rather than by each worker
    _JOBS = jobs  # inherited by the forked workers; the drawing closures need no pickling
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            list(pool.map(_draw_one, range(len(jobs))))
    finally:
        _JOBS = []


def main(argv=None) -> None:
    args, log = parse("figures", argv), Log("figures")
    cfg = config.load(args.survey)
    lang = cfg["report"]["language"]
    inputs = load_inputs(cfg, args.build, args.survey, args.parts)
    log(f"read {args.build}" + (f": {len(inputs['estimates'])} estimates" if inputs["estimates"] is not None else ""))
    specs = {part: figure_specs(cfg, inputs, lang, (part,)) for part in args.parts}
    with io.Outputs(args.out) as out:
        named = [spec for part in args.parts for spec in specs[part]]
        jobs = [(draw, out._tmp(f"{name}.png"), out._tmp(f"{name}.svg")) for name, draw in named]
        draw_all([jobs[i] for i in drawing_order([name for name, _ in named])], workers=args.jobs)
        files = {e["path"]: e for e in out.entries()}
        for part in args.parts:
            figures = [{"name": name, "png": f"{name}.png", "svg": f"{name}.svg"} for name, _ in specs[part]]
            out.json({"stage": "figures", "part": part, "survey": cfg["survey"]["name"], "language": lang,
                      "figures": figures, "outputs": [files[f[k]] for f in figures for k in ("png", "svg")]},
                     manifest_name(part))
    log(f"{len(named)} figures (PNG + SVG; {', '.join(args.parts)}); wrote {args.out}")
    log.done()


if __name__ == "__main__":
    run(main)
