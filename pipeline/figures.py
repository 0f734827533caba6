"""Stage 5, figures: charts of the estimates, the weights and the cleaning, PNG and SVG.

Which figures a survey gets is decided by :mod:`pipeline.figure_registry`
from its config and the earlier stages' outputs (:mod:`pipeline.stage_outputs`):
the key indicators of the overall domain (``headline``), each key indicator
over the values of the chart domains (``by-<domain ids>_<indicator>``), the
weights, the control totals, the cleaning and the response rates.  Kinds with
nothing to show are left out and listed, with the reason, in the manifest.

The figures come in two parts, which Make runs as two targets so that the
diagnostics are drawn while the estimate stage runs: ``--part estimates``
(needs the estimates table) and ``--part diagnostics`` (needs only the clean
and weight stages).  Each part writes ``manifest_<part>.json`` last and
removes the figures its previous run drew that it no longer draws (e.g. of
an indicator removed from the config); without ``--part`` both are drawn.

    python -m pipeline.figures --survey surveys/qb2022 --build build/qb2022 --out figures/qb2022 [--part estimates] [--jobs 2]
"""
from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

from . import config, io
from . import plots as P
from .errors import Log, run
from .figure_registry import figures
from .stage_outputs import PARTS, load_inputs, manifest_name, out_args

_JOBS: list = []


def _die_with_parent() -> None:
    """Worker initializer: on Linux, the kernel ends the worker when the stage process dies (even by SIGKILL),
    so that a killed run leaves no workers waiting for jobs that will never come."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_die_with_parent) as pool:
            list(pool.map(_draw_one, range(len(jobs))))
    finally:
        _JOBS = []


def main(argv=None) -> None:
    args, log = out_args("figures", argv), Log("figures")
    cfg = config.load(args.survey)
    lang = cfg["report"]["language"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = load_inputs(cfg, args.build, args.survey, args.parts)
        specs = {part: figures(cfg, inputs, lang, part) for part in args.parts}
    log.warnings(caught)
    log(f"read {args.build}" + (f": {len(inputs['estimates'])} estimates" if inputs["estimates"] is not None else ""))
    old = {part: io.read_json(args.out / manifest_name(part)) if (args.out / manifest_name(part)).is_file() else {}
           for part in args.parts}
    with io.Outputs(args.out) as out:
        named = sorted((f for part in args.parts for f in specs[part][0]), key=lambda f: f["cost"])
        draw_all([(f["draw"], out._tmp(f"{f['name']}.png"), out._tmp(f"{f['name']}.svg")) for f in named],
                 workers=args.jobs)
        files = {e["path"]: e for e in out.entries()}
        for part in args.parts:
            figs, skipped = specs[part]
            listed = [{k: f[k] for k in ("name", "kind", "group", "caption")} | {"png": f"{f['name']}.png",
                                                                                   "svg": f"{f['name']}.svg"}
                      for f in figs]
            for s in skipped:
                log(f"{s['kind']}: not drawn ({s['why']})")
            out.json({"stage": "figures", "part": part, "survey": cfg["survey"]["name"], "language": lang,
                      "figures": listed, "skipped": skipped,
                      "outputs": [files[f[k]] for f in listed for k in ("png", "svg")]}, manifest_name(part))
    for part in args.parts:  # figures of the previous run that this one did not draw
        now = {f"{f['name']}.{x}" for f in specs[part][0] for x in ("png", "svg")}
        for f in old[part].get("figures", []):
            for x in ("png", "svg"):
                if f[x] not in now and (args.out / f[x]).is_file():
                    (args.out / f[x]).unlink()
                    log(f"removed {args.out / f[x]} (no longer drawn)")
    log(f"{len(named)} figures (PNG + SVG; {', '.join(args.parts)}); wrote {args.out}")
    log.done()


if __name__ == "__main__":
    run(main)
