"""Stage 3, weight: the survey weights of the responding units.

Computed from the design (``[frame]`` + ``[weighting]``: base weights,
nonresponse adjustment, raking or integrated calibration, trimming, optional
replicate weights) or delivered with the data (``[design] weights``, checked
and passed through, optionally calibrated further); see
:mod:`pipeline.weighting`.  Writes ``build/<survey>/weight/``: one parquet
file per unit (responding records with design columns and ``weight``),
``design.json``, ``diagnostics.json`` and ``manifest.json``.
"""
from __future__ import annotations

from . import config, io
from .designs import json_ready
from .errors import Log, parse_args, run
from .units import design_unit, units
from .weighting import weigh


def main(argv=None) -> None:
    args, log = parse_args("weight", argv), Log("weight")
    cfg = config.load(args.survey)
    src = args.build / "clean"
    tables = {u: io.read_parquet(src / f"{u}.parquet") for u in units(cfg)}
    frame = frame_path = None
    if not cfg["design"].get("weights"):
        frame_path = args.survey / cfg["frame"]["path"]
        frame = io.read_table(frame_path)
    log(f"read {src}: " + ", ".join(f"{u} {len(d)} records" for u, d in tables.items())
        + (f"; {frame_path} ({len(frame)} EAs)" if frame is not None else ""))

    w = weigh(tables, cfg, args.survey, log, frame, frame_path)
    unit = design_unit(cfg)
    data = w["tables"][unit]
    diagnostics = {"unit": unit, "weights": "delivered" if cfg["design"].get("weights") else "computed",
                   "counts": w["counts"], "weight_total": float(data["weight"].sum()),
                   "steps": {k: json_ready(r if isinstance(r, dict) else r.to_dict()) for k, r in w["reports"].items()}}
    out_dir = args.build / "weight"
    with io.Outputs(out_dir) as out:
        for u, df in w["tables"].items():
            out.parquet(df, f"{u}.parquet")
        out.json(diagnostics, "diagnostics.json")
        out.json(w["spec"], "design.json")
        out.json({"stage": "weight", "inputs": [io.file_entry(p, args.survey) for p in config.inputs(cfg)["weight"]],
                  "outputs": out.entries()}, "manifest.json")
    log(f"{len(data)} responding {unit} records weighted to {data['weight'].sum():,.0f}"
        + "".join(f"; {len(df)} {u} records" for u, df in w["tables"].items() if u != unit) + f"; wrote {out_dir}")
    log.done()


if __name__ == "__main__":
    run(main)
