"""Write a starting ``survey.toml`` for a new survey from its raw files' codebooks.

``python -m pipeline.init surveys/<name> --from raw/household.sav [raw/person.sav ...]``
(or ``make new-survey SURVEY=surveys/<name> FROM="..."``) reads each file with
:func:`pipeline.io.read_raw` (variable labels, value labels, user-missing
codes) and writes ``surveys/<name>/survey.toml`` with:

* ``[survey]`` and one ``[files.<name>]`` per file (the first is the
  household file, the second the person file), its path relative to the
  survey folder, the key it detects (a column, or pair of columns, unique per
  record; nearly unique with ``duplicate_keys = "quarantine"``) and, for the
  later files, the columns shared with the first file that link to its key
  (``parent``, ``parent_key``);
* ``[design]`` from column names that look like PSUs, strata and weights,
  each marked as a guess in a comment; without a weight-like column, a
  ``[frame]`` and ``[weighting]`` to compute the weights, the values the user
  must fill in marked TODO (the respondent rule from an interview-result
  variable where there is one);
* every variable as a comment, with its label, value labels and missing codes;
* one example indicator per labelled two-category variable, and one domain
  for the whole population (with area-like variables as commented examples).

The file is checked with :func:`pipeline.config.load` before it is written
(it is never written invalid) and an existing ``survey.toml`` is never
overwritten (one-line error, exit status 2).  Which keys it writes follows
:data:`pipeline.config.SCHEMA` (e.g. ``[design] weights`` only where the
schema has that key); the rest stays a comment for the user to fill in.
"""
from __future__ import annotations

import json
import keyword
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, io
from .errors import PipelineError

MAX_VALUE_LABELS = 24            # value labels listed per variable (the codebook of ingest has all)
NEAR_UNIQUE = 0.05               # a key may repeat in at most this share of records (double submissions)
MAX_PAIR_CANDIDATES = 8          # columns tried in pairs when no single column is a key

_ID_TOKENS = {"id", "key", "code", "no", "nr", "num", "number", "line", "serial", "pid", "hhid", "uid", "idx",
              "index", "member", "ln", "hh", "household", "person", "respondent"}
_PSU_TOKENS = {"psu", "cluster", "clust", "ea", "eaid", "enumeration", "segment", "clusterid", "clusterno"}
_STRATA_TOKENS = {"stratum", "strata", "strat", "stratid", "strat_id"}
_WEIGHT_TOKENS = {"weight", "weights", "wt", "wgt", "wgts", "pweight", "hhweight", "hhwt", "pwt", "fexp", "expfac",
                  "finalwt", "finwt"}
_AREA_TOKENS = {"region", "province", "district", "state", "county", "commune", "municipality", "area", "zone",
                "urban", "rural", "urbrur", "residence", "locality", "governorate", "department", "prefecture"}
_RESULT_TOKENS = {"result", "outcome", "status", "response", "disposition", "interview_result", "hhresult"}
_COMPLETE = re.compile(r"(?<!in)complet|hoàn thành|\bdone\b|interviewed|réalis|abgeschlossen", re.I)
_NOT = re.compile(r"\b(not|non|no|partial|partly|chưa|không)\b", re.I)
_YES = {"yes", "có", "co", "oui", "sí", "si", "ja", "da", "sim", "ya", "iya", "true"}


# --- reading the schema (what the current config accepts) ----------------------
def _node(path: str):
    """The schema node at a dotted *path* (``[]`` for array items, ``<name>`` for free keys), or None."""
    node = config.SCHEMA
    for part in path.split("."):
        node = _unwrap(node)
        if isinstance(node, config.List):
            node = _unwrap(node.item)
        if part == "<name>" and isinstance(node, config.Map):
            node = node.value
            continue
        if not isinstance(node, config.Table) or part not in node.fields:
            return None
        node = node.fields[part]
    return _unwrap(node)


def _unwrap(node):
    while isinstance(node, config.Default):
        node = node.node
    return node


def _has(path: str) -> bool:
    return _node(path) is not None


# --- TOML text -------------------------------------------------------------------
def _q(s) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes)."""
    return json.dumps(str(s), ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _one_line(s) -> str:
    return " ".join(str(s).split())


def _kv(key: str, value, comment: str = "", commented: bool = False) -> str:
    """``key = value  # comment`` (commented out: a suggestion the user fills in)."""
    line = ("# " if commented else "") + f"{key} = {value if commented else _value(value)}"
    return f"{line:<32} # {_one_line(comment)}" if comment else line


# --- what the columns look like ------------------------------------------------------
def _tokens(col: str) -> set[str]:
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(col)).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", s) if p]
    toks = set(parts) | {s.strip("_")}
    toks |= {re.sub(r"\d+$", "", p) for p in parts}          # wt2 -> wt, ea01 -> ea
    return toks - {""}


def _id_like(col) -> bool:
    low = str(col).lower()
    return bool(_tokens(col) & (_ID_TOKENS | _PSU_TOKENS)) or low.endswith("id") or low.startswith("id")


def _is_identifier(col) -> bool:
    """Can an expression of survey.toml name this column?"""
    c = str(col)
    return c.isidentifier() and not keyword.iskeyword(c) and not c.startswith("__") and not c.endswith("__") \
        and c not in ("isin", "isna", "notna", "True", "False", "None")


def _key_candidates(df: pd.DataFrame) -> list:
    """Columns that could be part of a key: no missing values, text or whole numbers."""
    out = []
    for c in df.columns:
        s = df[c]
        if s.isna().any():
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(float)
            if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
                continue
        elif not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        out.append(c)
    return out


def _repeats(df: pd.DataFrame, cols) -> int:
    return int(df.duplicated(subset=list(cols)).sum())


def detect_key(df: pd.DataFrame, must_include=()) -> tuple[list, int, str]:
    """``(columns, repeated records, how)``: the best key of *df*.

    In order: an ID-like column unique per record; a pair of ID-like columns
    (one of *must_include* first, e.g. the link to the parent file); the same
    allowing up to ``NEAR_UNIQUE`` repeated records (double submissions); any
    column unique per record.  Falls back to the first column (``how`` says so).
    """
    cand = _key_candidates(df)
    ids = [c for c in cand if _id_like(c)]
    must = [c for c in must_include if c in cand]
    n = len(df)
    singles = [([c], _repeats(df, [c])) for c in ids if c not in must or not must]
    if must:
        others = [c for c in ids if c not in must][:MAX_PAIR_CANDIDATES]
        pairs = [(must + [c], _repeats(df, must + [c])) for c in others]
    else:
        top = sorted(ids, key=lambda c: -df[c].nunique())[:MAX_PAIR_CANDIDATES]
        pairs = [([a, b], _repeats(df, [a, b])) for i, a in enumerate(top) for b in top[i + 1:]]
        pairs = [(sorted(p, key=list(df.columns).index), r) for p, r in pairs]
    for pool in (singles, pairs):
        exact = [p for p, r in pool if r == 0]
        if exact:
            return exact[0], 0, "unique per record"
    for pool in (singles, pairs):
        near = sorted(((p, r) for p, r in pool if r <= NEAR_UNIQUE * n), key=lambda pr: pr[1])
        if near:
            return near[0][0], near[0][1], "nearly unique"
    for c in cand:
        if df[c].is_unique:
            return [c], 0, "unique per record (not named like an ID: check it)"
    return [df.columns[0]], _repeats(df, [df.columns[0]]), "no column or pair of columns is unique per record: set the key"


def detect_link(child: pd.DataFrame, parent: pd.DataFrame, parent_key: list) -> tuple[list, float]:
    """Columns of *child* named like the parent's key, and the share of child records that link."""
    if not parent_key or not all(c in child.columns for c in parent_key):
        return [], 0.0
    left = child[parent_key].astype(str).agg("\x1f".join, axis=1) if len(parent_key) > 1 else child[parent_key[0]].astype(str)
    right = parent[parent_key].astype(str).agg("\x1f".join, axis=1) if len(parent_key) > 1 else parent[parent_key[0]].astype(str)
    return list(parent_key), float(left.isin(set(right)).mean())


def _match(columns, tokens, numeric_df=None) -> list:
    out = []
    for c in columns:
        if _tokens(c) & tokens:
            if numeric_df is not None and not pd.api.types.is_numeric_dtype(numeric_df[c]):
                continue
            out.append(c)
    return out


def _weight_columns(df: pd.DataFrame, exclude) -> tuple[list, list]:
    """``(weights, replicate weights)``: positive numeric columns named like weights."""
    ws = []
    for c in _match(df.columns, _WEIGHT_TOKENS, df):
        if c in exclude:
            continue
        v = pd.to_numeric(df[c], errors="coerce")
        if v.notna().any() and (v.dropna() > 0).all():
            ws.append(c)
    numbered = [c for c in ws if re.search(r"\d+$", str(c))]
    stems = pd.Series([re.sub(r"\d+$", "", str(c)) for c in numbered], dtype=object)
    reps = [c for c, s in zip(numbered, stems) if (stems == s).sum() >= 2]
    return [c for c in ws if c not in reps], reps


def _missing_codes(meta: dict) -> list:
    out = []
    for m in meta.get("missing", []):
        out.append(f"{_value(m[0])}-{_value(m[1])}" if isinstance(m, list) else _value(m))
    return out


def _is_missing_code(code: str, meta: dict) -> bool:
    try:
        x = float(code)
    except ValueError:
        return code in [str(m) for m in meta.get("missing", [])]
    for m in meta.get("missing", []):
        if isinstance(m, list) and m[0] <= x <= m[1]:
            return True
        if not isinstance(m, (list, str)) and float(m) == x:
            return True
    return False


def _code(code: str):
    """A value-label code as it is written in an expression (number or string)."""
    try:
        x = float(code)
    except ValueError:
        return code
    return int(x) if x.is_integer() else x


def _code_order(code: str):
    """Sort key of value-label codes: numbers in numeric order, then strings."""
    x = _code(code)
    return (0, x, "") if isinstance(x, (int, float)) else (1, 0, x)


def _binary(col, meta: dict):
    """``(counted code, its label, other code, its label)`` of a labelled two-category variable, else None."""
    vals = {k: v for k, v in (meta.get("values") or {}).items() if not _is_missing_code(k, meta)}
    if len(vals) != 2:
        return None
    (a, la), (b, lb) = sorted(vals.items(), key=lambda kv: _code_order(kv[0]))
    if _one_line(lb).lower() in _YES and _one_line(la).lower() not in _YES:
        a, la, b, lb = b, lb, a, la
    elif {_code(a), _code(b)} == {0, 1} and _one_line(la).lower() not in _YES:
        a, la, b, lb = b, lb, a, la              # 0/1 coding: 1 is counted
    return _code(a), la, _code(b), lb


def _dtype(s: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    return "text"


# --- the file ----------------------------------------------------------------------
class _Unit:
    def __init__(self, name, path, rel, fmt, df, meta):
        self.name, self.path, self.rel, self.fmt, self.df, self.meta = name, path, rel, fmt, df, meta


def _file_names(paths: list[Path]) -> list[str]:
    """household, person, then the file stems (made unique)."""
    names = []
    for i, p in enumerate(paths):
        if i < 2:
            names.append(("household", "person")[i])
            continue
        stem = re.sub(r"[^a-z0-9_]+", "_", p.stem.lower()).strip("_") or f"file{i + 1}"
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}_{k}", k + 1
        names.append(name)
    return names


def _format(path: Path) -> str:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in config.FORMATS:
        raise PipelineError(path, None, f"unknown format {fmt!r} (expected one of "
                            f"{', '.join('.' + f for f in config.FORMATS)})")
    return fmt


def _locate(given: str, survey: Path) -> Path:
    """A raw file as given (from the current folder) or relative to the survey folder."""
    p = Path(given)
    for cand in ([p] if p.is_absolute() else [p, survey / p]):
        if cand.exists():
            return cand
    raise PipelineError(given, None, f"file not found (looked in the current folder and in {survey})")


def build(survey: Path, paths: list[Path]) -> tuple[str, dict]:
    """The text of a starting survey.toml for the raw files *paths*, and a summary of what it found."""
    units = []
    for name, path in zip(_file_names(paths), paths):
        fmt = _format(path)
        df, meta = io.read_raw(path, fmt)
        rel = Path(os.path.relpath(path.resolve(), survey.resolve())).as_posix()
        units.append(_Unit(name, path, rel, fmt, df, meta))
    hh = units[0]
    name = survey.resolve().name
    allowed_units = getattr(_node("indicators.unit"), "choices", None)
    L = [f"# Survey config of {name}: a starting point written by `python -m pipeline.init` from",
         f"# {', '.join(u.rel for u in units)} (paths relative to this folder).",
         "# Check every line marked 'guess', fill in the design and the weights, and replace the",
         "# example indicators and domains by the survey's own.  Every key is described in",
         "# docs/survey-config.md; `python -m pipeline.config <this folder>` checks the file and",
         "# `make all SURVEY=<this folder>` runs the pipeline.",
         "",
         "[survey]",
         _kv("name", name),
         _kv("title", name, "the survey's title: a string, or { en = \"...\", vi = \"...\" }"),
         ""]
    found = {"files": {}, "indicators": [], "design": {}}

    # --- files and keys
    for i, u in enumerate(units):
        link, linked = [], 0.0
        if i > 0:
            link, linked = detect_link(u.df, hh.df, units[0].key)
        u.key, u.repeats, how = detect_key(u.df, must_include=link)
        L += [f"[files.{u.name}]", _kv("path", u.rel, f"{len(u.df):,} records, {len(u.df.columns)} columns")]
        key_note = f"guess: {how}" + (f"; {u.repeats:,} records repeat a key" if u.repeats else "")
        L.append(_kv("key", u.key, key_note))
        if u.repeats and _has("files.<name>.duplicate_keys") and how == "nearly unique":
            L.append(_kv("duplicate_keys", "quarantine", "e.g. double submissions: the clean stage keeps the first; "
                                                          "\"error\" stops instead"))
        if i > 0:
            if link:
                L += [_kv("parent", hh.name),
                      _kv("parent_key", link, f"guess: {linked:.1%} of the records link to a {hh.name} record")]
            else:
                L += [_kv("parent", _q(hh.name), f"no column shared with the {hh.name} file's key "
                          f"{_value(hh.key)} was found:", commented=True),
                      _kv("parent_key", '["..."]', "name the columns that link each record to it", commented=True)]
        found["files"][u.name] = {"key": u.key, "parent_key": link, "repeats": u.repeats}
        if _has("files.<name>.weight") and i > 0:
            ws, _ = _weight_columns(u.df, set(u.key) | set(link))
            if ws:
                L.append(_kv("weight", ws[0], f"guess: weight of the {u.name} records (delivered)"))
                found["files"][u.name]["weight"] = ws[0]
        L.append("")

    # --- design
    L += _design(hh, found)

    # --- clean (optional rules; an empty table keeps older configs' defaults)
    ex_unit, ex_col, ex_codes = units[0].name, "sex", [1, 2]
    for u in units:
        labelled = [c for c in u.df.columns if c not in u.key and (u.meta[c].get("values") or {})]
        if labelled:
            c = labelled[0]
            ex_unit, ex_col = u.name, c
            ex_codes = [_code(k) for k in u.meta[c]["values"] if not _is_missing_code(k, u.meta[c])]
            break
    L += ["[clean]",
          "# Cleaning rules and derived variables, e.g.:",
          "# [[clean.rules]]",
          f"# id = {_q(str(ex_col) + '_codes')}",
          f"# file = {_q(ex_unit)}",
          _kv("check", '"codes"', "or range (min, max), or when (an expression)", commented=True),
          f"# variable = {_q(ex_col)}",
          f"# allowed = {_value(ex_codes)}",
          _kv("action", '"quarantine"', "or set_missing, or set", commented=True),
          ""]

    # --- domains
    L += ["[[domains]]", _kv("id", "all"), _kv("label", "All", "the whole population"), ""]
    areas = [(u, c) for u in units[:1] for c in u.df.columns
             if _tokens(c) & _AREA_TOKENS and _is_identifier(c)
             and (u.meta[c].get("values") or 1 < u.df[c].nunique() <= 200)]
    for u, c in areas:
        label = _one_line(u.meta[c].get("label") or c)
        L += [f"{'# [[domains]]':<32} # by {c}: {u.df[c].nunique()} values in the data",
              f"# id = {_q(c)}", f"# by = [{_q(c)}]", f"# label = {_q(label)}", ""]

    # --- indicators
    used = set()
    for u in units:
        if allowed_units and u.name not in allowed_units:
            continue
        skip = set(u.key) | set(found["files"][u.name]["parent_key"]) | set(found["design"].values())
        for c in u.df.columns:
            b = _binary(c, u.meta[c])
            if b is None or c in skip or not _is_identifier(c):
                continue
            yes, ylab, no, nlab = b
            ind_id = str(c) if str(c) not in used else f"{u.name}_{c}"
            used.add(ind_id)
            label = f"{_one_line(u.meta[c].get('label') or c)}: {_one_line(ylab)}"
            miss = _missing_codes(u.meta[c])
            L += ["[[indicators]]", _kv("id", ind_id), _kv("unit", u.name), _kv("label", label),
                  _kv("numerator", f"{c} == {_value(yes)}",
                      f"{_value(yes)} = {ylab}; {_value(no)} = {nlab}" + (f"; missing: {', '.join(miss)}" if miss else "")),
                  ""]
            found["indicators"].append(ind_id)
    if not found["indicators"]:
        L += _fallback_indicator(units, allowed_units, found)

    # --- report
    L += ["# [report]",
          _kv("language", '"en"', "language of figures and report", commented=True),
          _kv("key_indicators", "[...]", "indicator ids for the headline and by-area charts", commented=True),
          ""]

    # --- codebook
    for u in units:
        L += _codebook(u)
    return "\n".join(L).rstrip("\n") + "\n", found


def _design(hh: _Unit, found: dict) -> list[str]:
    df = hh.df
    psu = _match(df.columns, _PSU_TOKENS)
    strata = _match(df.columns, _STRATA_TOKENS)
    ws, reps = _weight_columns(df, set(hh.key))
    L = ["[design]"]
    if strata:
        L.append(_kv("strata", strata[0], f"guess: named like a stratum ({df[strata[0]].nunique()} values)"))
        found["design"]["strata"] = strata[0]
    else:
        L.append(_kv("strata", '"..."', "no column named like a stratum was found", commented=True))
    if psu:
        L.append(_kv("psu", psu[0], f"guess: named like a cluster ({df[psu[0]].nunique()} values)"))
        found["design"]["psu"] = psu[0]
    else:
        L.append(_kv("psu", hh.key[0], "guess: no column named like a cluster (PSU) was found, so each "
                     "record is its own PSU; name the cluster column if there is one"))
        found["design"]["psu"] = hh.key[0]
    L.append(_kv("fpc", '"..."', "PSUs in the stratum's population, for without-replacement designs", commented=True))
    if ws:
        if _has("design.weights"):
            L.append(_kv("weights", ws[0], "guess: delivered final weights of the households"))
            found["design"]["weights"] = ws[0]
        else:
            L.append(f"# {ws[0]!r} looks like the survey's delivered final weights")
    if reps:
        shown = f"{reps[0]} ... {reps[-1]}" if len(reps) > 2 else ", ".join(reps)
        L.append(f"# {len(reps)} columns look like replicate weights: {shown}")
    L += ["",
          "# Weights: name the survey's final weights (see docs/survey-config.md), or compute them from",
          "# a sampling frame with [frame] (path, key, prob, and prob_within or listed) and [weighting]",
          "# (respondent, eligible, nonresponse_classes, [[weighting.controls]] to calibrate to).",
          ""]
    if not ws:
        L += _frame_skeleton(hh, found)
    return L


def _frame_skeleton(hh: _Unit, found: dict) -> list[str]:
    """No weights in the data: [frame] and [weighting] to compute them, every value to fill in marked TODO."""
    L = ["# No column looks like delivered weights, so they are computed from a sampling frame:",
         "[frame]",
         _kv("path", "frame.csv", "TODO: CSV of the frame, one row per PSU (EA), relative to this folder"),
         _kv("key", found["design"]["psu"], "the PSU column (as in [design]), shared with the frame"),
         _kv("prob", "prob", "TODO: the frame's column of the PSU's selection probability"),
         _kv("prob_within", '"..."', "the frame's column of a household's probability within its PSU, or",
             commented=True),
         _kv("listed", '"..."', "the frame's column of households listed in the PSU", commented=True),
         "",
         "[weighting]"]
    result = _result_column(hh)
    if result:
        col, code, label = result
        L.append(_kv("respondent", f"{col} == {_value(code)}", f"guess: {_value(code)} = {label}"))
        found["design"]["respondent"] = col
    else:
        L.append(_kv("respondent", f"notna({hh.key[0]})", "TODO: the households that responded (no interview "
                                                           "result variable was found; this takes all)"))
    L += [_kv("eligible", '"..."', "households in scope (e.g. not vacant)", commented=True),
          _kv("nonresponse_classes", "[...]", "columns whose classes get their own nonresponse adjustment",
              commented=True),
          ""]
    return L


def _result_column(u: _Unit):
    """``(column, completed code, its label)`` of a labelled interview-result variable, or None."""
    for c in u.df.columns:
        values = u.meta[c].get("values") or {}
        if not (_tokens(c) & _RESULT_TOKENS) or not values or not _is_identifier(c):
            continue
        codes = [(k, v) for k, v in values.items() if not _is_missing_code(k, u.meta[c])]
        codes.sort(key=lambda kv: _code_order(kv[0]))
        done = [(k, v) for k, v in codes if _COMPLETE.search(v) and not _NOT.search(v)]
        if done or codes:
            k, v = (done or codes)[0]
            return c, _code(k), _one_line(v)
    return None


def _fallback_indicator(units, allowed_units, found) -> list[str]:
    """No labelled two-category variable: one example from the first usable column."""
    for u in units:
        if allowed_units and u.name not in allowed_units:
            continue
        skip = set(u.key) | set(found["files"][u.name]["parent_key"]) | set(found["design"].values())
        skip |= set(_match(u.df.columns, _WEIGHT_TOKENS | _AREA_TOKENS | _STRATA_TOKENS | _PSU_TOKENS))
        cols = [c for c in u.df.columns if c not in skip and _is_identifier(c)]
        num = [c for c in cols if _dtype(u.df[c]) == "numeric"]
        if num:
            c = num[0]
            lines = ["[[indicators]]                   # an example: no labelled two-category variable was found",
                     _kv("id", f"mean_{c}"), _kv("unit", u.name),
                     _kv("label", f"Mean {_one_line(u.meta[c].get('label') or c)}"),
                     _kv("kind", "mean"), _kv("numerator", str(c)), ""]
        else:
            c = (cols or [u.key[0]])[0]
            lines = ["[[indicators]]                   # an example: no labelled two-category variable was found",
                     _kv("id", f"has_{c}"), _kv("unit", u.name),
                     _kv("label", f"Records with a value of {_one_line(u.meta[c].get('label') or c)}"),
                     _kv("numerator", f"notna({c})"), ""]
        found["indicators"].append(lines[1].split('"')[1])
        return lines
    raise PipelineError(units[0].path, None, "no file can hold indicators (expected a household or person file)")


def _codebook(u: _Unit) -> list[str]:
    L = [f"# --- variables of {u.name} ({u.rel}): name, type, label; value labels; missing codes " + "-" * 4]
    width = max(len(str(c)) for c in u.df.columns)
    for c in u.df.columns:
        m = u.meta.get(c, {})
        L.append(f"# {str(c):<{width}}  {_dtype(u.df[c]):<7}  {_one_line(m.get('label') or '')}".rstrip())
        pad = "# " + " " * (width + 11)
        vals = list((m.get("values") or {}).items())
        if vals:
            items = [f"{k} = {_one_line(v)}" for k, v in vals[:MAX_VALUE_LABELS]]
            if len(vals) > MAX_VALUE_LABELS:
                items.append(f"... and {len(vals) - MAX_VALUE_LABELS} more")
            line = ""
            for it in items:
                if line and len(pad) + len(line) + len(it) + 2 > 110:
                    L.append(pad + line.rstrip())
                    line = ""
                line += it + "; "
            L.append(pad + line.rstrip("; "))
        miss = _missing_codes(m)
        if miss:
            L.append(pad + "missing: " + ", ".join(miss))
    L.append("")
    return L


def _check(text: str) -> None:
    """Load *text* with the config check; a failure here is a bug of this module."""
    with tempfile.TemporaryDirectory(prefix="survey-init-") as tmp:
        (Path(tmp) / "survey.toml").write_text(text, encoding="utf-8")
        try:
            config.load(tmp)
        except PipelineError as e:
            raise RuntimeError(f"the generated survey.toml does not pass the config check: "
                               f"{e.key}: {e.problem}") from None


def _write_new(path: Path, text: str) -> None:
    """Write *path* only if it does not exist (atomically: a temporary file, then a hard link)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise PipelineError(path, None, "already exists; not overwritten (edit it, or remove it to start again)") from None
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> None:
    import argparse
    p = argparse.ArgumentParser(prog="python -m pipeline.init",
                                description="write a starting survey.toml from the raw files' codebooks")
    p.add_argument("survey", help="the new survey's folder (surveys/<name>)")
    p.add_argument("--from", dest="files", nargs="+", required=True, metavar="FILE",
                   help="raw files (.sav, .dta, .csv, .parquet): the household file first, then the person file; "
                        "found from the current folder or the survey folder")
    a = p.parse_args(argv)
    survey = Path(a.survey)
    target = survey / "survey.toml"
    if target.exists():
        raise PipelineError(target, None, "already exists; not overwritten (edit it, or remove it to start again)")
    if survey.exists() and not survey.is_dir():
        raise PipelineError(survey, None, "not a folder")
    paths = [_locate(f, survey) for f in a.files]
    text, found = build(survey, paths)
    _check(text)
    survey.mkdir(parents=True, exist_ok=True)
    _write_new(target, text)
    files = ", ".join(f"{n} (key {', '.join(map(str, f['key']))})" for n, f in found["files"].items())
    print(f"wrote {target}: {files}; {len(found['indicators'])} example indicator(s); "
          f"check the lines marked 'guess'", file=sys.stderr)


if __name__ == "__main__":
    from .errors import run
    run(main)
