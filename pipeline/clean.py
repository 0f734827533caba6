"""Stage 2, clean: apply the survey's cleaning rules with exact record accounting.

For each file (parents before children): user-missing codes -> missing,
unique keys, EA link to the frame, the configured ``[[clean.rules]]``
(allowed codes, ranges, skip logic as ``when`` expressions; each either fixes
values or quarantines the record), parent/child referential integrity, then the
``[[clean.derive]]`` recodes to analysis variables.  Checks that raw = clean +
quarantined for every file.  Writes ``build/<survey>/clean/``: ``<file>.parquet``,
``quarantine_<file>.csv``, ``fixes.csv``, ``validation.csv``, ``manifest.json``.
"""
from __future__ import annotations

import pandas as pd

from . import config, io
from .errors import Log, PipelineError, parse_args, run
from .cleaning import apply_rules, check_config_columns, derive, sampled_eas
from .expr import ExpressionError


def main(argv=None) -> None:
    args, log = parse_args("clean", argv), Log("clean")
    cfg = config.load(args.survey)
    src = args.build / "ingest"
    codebook = io.read_json(src / "codebook.json")
    raw = {n: io.read_parquet(src / f"{n}.parquet") for n in cfg["files"]}
    log(f"read {src}: " + ", ".join(f"{n} {len(d)} records" for n, d in raw.items()))
    try:
        check_config_columns(cfg, {n: set(d.columns) for n, d in raw.items()})
    except ExpressionError as e:
        raise PipelineError(cfg["_path"], None, str(e)) from None
    ledgers = apply_rules(cfg, raw, codebook, sampled_eas(cfg, args.survey), args.survey)
    derive(cfg, ledgers)

    for n, L in ledgers.items():
        if len(L.live) == 0:
            rules = ", ".join(f"{r}: {k}" for (r, a), k in L.counts.items() if a == "quarantine" and k)
            raise PipelineError(args.survey / cfg["files"][n]["path"], None,
                                f"no records left after cleaning (all {len(L.raw)} quarantined; {rules})")
    accounting = {n: L.accounting() for n, L in ledgers.items()}
    fixes = pd.DataFrame([f for L in ledgers.values() for f in L.fixes],
                         columns=["file", "key", "variable", "old_value", "new_value", "rule"])
    validation = pd.DataFrame([{"file": n, "rule": r, "action": a, "records": k}
                               for n, L in ledgers.items() for (r, a), k in L.counts.items()],
                              columns=["file", "rule", "action", "records"])
    out_dir = args.build / "clean"
    with io.Outputs(out_dir) as out:
        for n, L in ledgers.items():
            out.parquet(L.live.reset_index(drop=True), f"{n}.parquet")
            out.csv(L.quarantine_table(), f"quarantine_{n}.csv")
        out.csv(fixes, "fixes.csv")
        out.csv(validation, "validation.csv")
        manifest = {"stage": "clean", "inputs": io.read_json(src / "manifest.json")["outputs"],
                    "accounting": accounting, "fixes": len(fixes), "outputs": out.entries()}
        out.json(manifest, "manifest.json")
    for n, a in accounting.items():
        by_rule = ", ".join(f"{r} {k}" for (r, act), k in ledgers[n].counts.items() if act == "quarantine" and k)
        log(f"{n}: raw {a['raw']} = clean {a['clean']} + quarantined {a['quarantined']}"
            + (f" ({by_rule})" if by_rule else ""))
    log(f"{len(fixes)} values fixed; wrote {out_dir}")
    log.done()


if __name__ == "__main__":
    run(main)
