"""Stage 4, estimate: every indicator x every domain, with reliability flags.

Household indicators use the weighted household file, person indicators the
person file (which carries its household's design columns and weight, or its
own weight).  For each indicator and domain: estimate, SE, CI
(``[reporting].ci_method``, default ``beta`` = Korn-Graubard), df, deff, CV,
unweighted n, n_eff, weighted n, and the NCHS suppression/review flags
(:mod:`pipeline.reliability`); see :mod:`pipeline.indicators`.  Writes
``build/<survey>/estimates.csv``, ``estimates.parquet`` and ``estimates.xlsx``, and the
``[[models]]`` and ``[[comparisons]]`` of the config (:mod:`pipeline.modelling`) to
``models.csv`` and ``comparisons.csv`` (always written: a header only when the survey has none).
"""
from __future__ import annotations

import warnings

import pandas as pd

from . import config, io
from .calibration import calibration_steps
from .errors import Log, parse_args, run
from .indicators import estimate_unit, label_columns
from .modelling import models_and_comparisons
from .reliability import flags
from .small_area import survey_small_areas
from .text import label_text
from .units import units

# after "indicator" and the label columns (one per language, see indicators.label_columns)
COLUMNS = ["unit", "kind", "domain", "domain_value", "domain_value_label",
           "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "n", "n_eff", "weighted_n",
           "suppress", "flags", "ci_method", "universe", "numerator"]


def main(argv=None) -> None:
    args, log = parse_args("estimate", argv), Log("estimate")
    cfg = config.load(args.survey)
    src = args.build / "weight"
    data = {u: io.read_parquet(src / f"{u}.parquet") for u in units(cfg)}
    codebook = io.read_json(args.build / "ingest" / "codebook.json")
    spec = io.read_json(src / "design.json")
    log(f"read {src}: " + ", ".join(f"{k} {len(v)} records" for k, v in data.items()))
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = calibration_steps(data, cfg, args.survey, spec)
        for unit, df in data.items():
            rows += estimate_unit(df, cfg, unit, codebook, spec, steps=steps.get(unit, ()))
        models, comparisons = models_and_comparisons(data, cfg, spec, steps)
        sae = survey_small_areas(data, cfg, codebook, spec, steps, args.survey) if cfg.get("sae") else None
    log.warnings(caught)
    order = {ind["id"]: k for k, ind in enumerate(cfg["indicators"])}
    dorder = {d["id"]: k for k, d in enumerate(cfg["domains"])}
    columns = ["indicator"] + [c for c, _ in label_columns(cfg)] + COLUMNS
    table = pd.DataFrame(rows, columns=[c for c in columns if c not in ("suppress", "flags")])
    table = table.assign(_i=table["indicator"].map(order), _d=table["domain"].map(dorder))
    table = table.sort_values(["_i", "_d"], kind="stable").drop(columns=["_i", "_d"]).reset_index(drop=True)
    table = flags(table, cfg["reporting"], table["kind"])[columns]
    table["n"] = table["n"].astype("int64")
    published = table.copy()
    cols = ["estimate", "se", "ci_low", "ci_high", "cv"]
    published[cols] = published[cols].astype("float64").where(~published["suppress"])
    published = published.drop(columns=["universe", "numerator"])
    rules = pd.DataFrame({"rule": list(cfg["reporting"]), "value": [str(v) for v in cfg["reporting"].values()]})
    definitions = pd.DataFrame([{"indicator": d["id"], "unit": d["unit"], "kind": d["kind"],
                                 **{col: label_text(d["label"], code) for col, code in label_columns(cfg)},
                                 "universe": d.get("universe", ""), "numerator": d["numerator"]}
                                for d in cfg["indicators"]])
    with io.Outputs(args.build) as out:
        out.csv(table, "estimates.csv")
        out.parquet(table, "estimates.parquet")
        out.csv(models, "models.csv")
        out.csv(comparisons, "comparisons.csv")
        sheets = {"estimates": published, "indicators": definitions, "reporting rules": rules}
        sheets.update({k: v for k, v in (("models", models), ("comparisons", comparisons)) if len(v)})
        out.xlsx(sheets, "estimates.xlsx")
        if sae is not None:
            out.csv(sae.table, "sae.csv")
            out.json(sae.fits, "sae_fit.json")
    if sae is None:  # a survey that no longer has [sae] keeps no stale small-area files
        for name in ("sae.csv", "sae_fit.json"):
            (args.build / name).unlink(missing_ok=True)
    else:
        log(f"small areas: {sae.table['area'].nunique()} areas x {sae.table['indicator'].nunique()} indicators "
            f"({int((sae.table['method'] == 'synthetic').sum())} synthetic estimates); wrote {args.build}/sae.csv")
    log(f"{len(table)} estimates ({int(table['suppress'].sum())} suppressed); "
        f"{len(models)} model terms, {len(comparisons)} comparisons; "
        f"wrote {args.build}/estimates.csv, .parquet, .xlsx, models.csv, comparisons.csv")
    log.done()


if __name__ == "__main__":
    run(main)
