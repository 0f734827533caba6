"""The clean stage's checks and derivations, in memory (also run by the coverage study).

For each file, parents before children: user-missing codes -> missing, unique
keys, the EA link to the frame, the configured ``[[clean.rules]]``,
parent/child referential integrity; then the ``[[clean.derive]]`` recodes.
Every change is recorded by the file's :class:`pipeline.rules.Ledger`.
"""
from __future__ import annotations

import pandas as pd

from . import io
from .errors import PipelineError
from .expr import columns
from .rules import QUARANTINE_COLUMNS, Ledger, fmt
from .units import record_keys


def order(files: dict) -> list[str]:
    """File names with every parent before its children."""
    done: list[str] = []
    while len(done) < len(files):
        for n, f in files.items():
            if n not in done and (f.get("parent") in done or "parent" not in f):
                done.append(n)
                break
        else:
            raise PipelineError("survey.toml", "files", "parent links form a cycle")
    return done


def check_config_columns(cfg: dict, cols: dict[str, set]) -> None:
    """Every column an expression, rule, domain or indicator names must exist."""
    where = cfg["_path"]

    def need(expr_or_cols, available, key):
        names = columns(expr_or_cols) if isinstance(expr_or_cols, str) else set(expr_or_cols)
        missing = sorted(names - set(available))
        if missing:
            raise PipelineError(where, key, f"unknown column {missing[0]!r}")

    avail = {n: set(c) for n, c in cols.items()}
    for n, c in avail.items():
        reserved = sorted(x for x in c if str(x) in QUARANTINE_COLUMNS)
        if reserved:
            raise PipelineError(cfg["_dir"] / cfg["files"][n]["path"], reserved[0], "column name reserved for the "
                                "quarantine file's reason columns (rename it in the raw file)")
    for i, r in enumerate(cfg["clean"]["rules"]):
        if "when" in r:
            need(r["when"], avail[r["file"]], f"clean.rules[{i}].when")
    for i, d in enumerate(cfg["clean"]["derive"]):
        if "expr" in d:
            need(d["expr"], avail[d["file"]], f"clean.derive[{i}].expr")
        else:
            need([d["bins"]["column"]], avail[d["file"]], f"clean.derive[{i}].bins.column")
        if d["name"] in avail[d["file"]]:
            raise PipelineError(where, f"clean.derive[{i}].name", f"{d['name']!r} is already a column of the "
                                f"{d['file']} data: a derived column may not overwrite a collected or earlier one")
        avail[d["file"]].add(d["name"])
    for n, f in cfg["files"].items():
        if "parent" in f:
            avail[n] |= avail[f["parent"]]
        if f.get("require_children"):
            need(f["require_children"], avail[n], f"files.{n}.require_children")
    for i, ind in enumerate(cfg["indicators"]):
        for k in ("universe", "numerator"):
            if k in ind:
                need(ind[k], avail[ind["unit"]], f"indicators[{i}].{k}")
    everything = set().union(*avail.values())
    for i, d in enumerate(cfg["domains"]):
        need(d["by"], everything, f"domains[{i}].by")
        if "where" in d:
            need(d["where"], everything, f"domains[{i}].where")


def sampled_eas(cfg: dict, survey) -> pd.Series | None:
    """EA codes a household may carry: the sample list if given (each must be in the frame), else the frame."""
    if "frame" not in cfg:
        return None
    key = cfg["frame"]["key"]
    frame_path = survey / cfg["frame"]["path"]
    frame = io.read_table(frame_path)
    if key not in frame.columns:
        raise PipelineError(frame_path, key, "frame key column not found")
    if "sample" not in cfg["frame"]:
        return frame[key]
    sample_path = survey / cfg["frame"]["sample"]
    sample = io.read_table(sample_path)
    if key not in sample.columns:
        raise PipelineError(sample_path, key, "EA key column not found")
    absent = ~sample[key].isin(frame[key])
    if absent.any():
        raise PipelineError(frame_path, key, f"sampled EA {fmt(sample[key][absent].iloc[0])} is not in the frame")
    return sample[key]


def apply_rules(cfg: dict, raw: dict, codebook: dict, ea_ids, survey) -> dict[str, Ledger]:
    """Run every check on every file, parents first; return each file's ledger."""
    ledgers: dict[str, Ledger] = {}
    for name in order(cfg["files"]):
        spec = cfg["files"][name]
        L = ledgers[name] = Ledger(name, raw[name], spec["key"], cfg["_path"])
        L.user_missing(codebook.get(name, {}))
        L.unique(spec["duplicate_keys"], survey / spec["path"])
        if ea_ids is not None and cfg["frame"]["key"] in L.df.columns and "parent" not in spec:
            L.link(cfg["frame"]["key"], ea_ids, "frame_link", "EA not in the sample/frame")
        for i, rule in enumerate(cfg["clean"]["rules"]):
            if rule["file"] == name:
                L.apply(rule, f"clean.rules[{i}]")
        if "parent" in spec:  # referential integrity, both ways
            P = ledgers[spec["parent"]]
            L.quarantine(~_keys(L.live, spec["parent_key"]).isin(_keyset(P.live, P.key)), "parent_link",
                         f"no {spec['parent']} record with this {'/'.join(spec['parent_key'])}", spec["parent_key"][0])
            parent_rule = cfg["files"][spec["parent"]].get("require_children")
            if parent_rule:
                need = P.condition(parent_rule, f"files.{spec['parent']}.require_children")
                has = _keys(P.live, P.key).isin(_keyset(L.live, spec["parent_key"]))
                P.quarantine(need & ~has, "no_" + name, f"no {name} records", "")
    return ledgers


def derive(cfg: dict, ledgers: dict[str, Ledger]) -> None:
    """Add the analysis variables of [[clean.derive]] once all records are settled."""
    for i, d in enumerate(cfg["clean"]["derive"]):
        L = ledgers[d["file"]]
        if "bins" in d:
            L.df[d["name"]] = L.bins(d["bins"], f"clean.derive[{i}].bins")
        else:
            v = L.value(d["expr"], f"clean.derive[{i}].expr")
            L.df.loc[~L.out, d["name"]] = v.astype("Float64").astype("float64")


def _keys(df: pd.DataFrame, key: list[str]) -> pd.Series:
    return record_keys(df, key)


def _keyset(df, key) -> set:
    return set(_keys(df, key))
