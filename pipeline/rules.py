"""Cleaning rules applied by the clean stage, with exact record accounting.

A :class:`Ledger` holds one file's working table and records every change:
fixes (record key, variable, old value, new value, rule) and quarantined
records (with the rule and reason that rejected them).  A record is
quarantined once, by the first rule that rejects it; later rules see only the
records still in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PipelineError
from .formats import code_text as fmt
from .units import record_keys
from .expr import ExpressionError, evaluate, evaluate_bool


QUARANTINE_COLUMNS = ("_rule", "_variable", "_value", "_reason")  # the reason columns of quarantine_<file>.csv


class Ledger:
    def __init__(self, name: str, df: pd.DataFrame, key: list[str], cfg_path: str):
        self.name, self.raw, self.key, self.cfg_path = name, df, key, cfg_path
        self.df = df.copy()
        self.keys = record_keys(df, key)
        self.out = pd.Series(False, index=df.index)  # quarantined?
        self.quarantined: list[dict] = []
        self.fixes: list[dict] = []
        self.counts: dict[tuple[str, str], int] = {}

    @property
    def live(self) -> pd.DataFrame:
        return self.df[~self.out]

    def count(self, rule, action, n):
        self.counts[(rule, action)] = self.counts.get((rule, action), 0) + int(n)

    def quarantine(self, mask: pd.Series, rule: str, reason: str, variable: str = "") -> None:
        mask = mask.reindex(self.df.index, fill_value=False).fillna(False).astype(bool) & ~self.out
        for i in mask[mask].index:
            val = fmt(self.raw.at[i, variable]) if variable in self.raw.columns else ""
            self.quarantined.append({"index": i, "rule": rule, "variable": variable, "value": val, "reason": reason})
        self.out |= mask
        self.count(rule, "quarantine", mask.sum())

    def set(self, mask: pd.Series, variable: str, value, rule: str) -> None:
        mask = mask.reindex(self.df.index, fill_value=False).fillna(False).astype(bool) & ~self.out
        if not mask.any():
            self.count(rule, "fix", 0)
            return
        col = self.df[variable]
        for i in mask[mask].index:
            self.fixes.append({"file": self.name, "key": self.keys.at[i], "variable": variable,
                               "old_value": fmt(col.at[i]), "new_value": fmt(value), "rule": rule})
        if value is None:
            value = np.nan if pd.api.types.is_numeric_dtype(col) else None
        elif pd.api.types.is_integer_dtype(col) and not float(value).is_integer():
            self.df[variable] = col.astype("float64")
        self.df.loc[mask, variable] = value
        self.count(rule, "fix", mask.sum())

    def column(self, variable: str, where: str, numeric=False) -> pd.Series:
        if variable not in self.df.columns:
            raise PipelineError(self.cfg_path, where, f"column {variable!r} not found in {self.name}")
        s = self.live[variable]
        if numeric and not pd.api.types.is_numeric_dtype(s):
            bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            raise PipelineError(self.cfg_path, where, f"column {variable!r} of {self.name} is not numeric "
                                f"(value {fmt(bad.iloc[0]) if len(bad) else '?'!r})")
        return s

    def condition(self, expression: str, where: str) -> pd.Series:
        try:
            return evaluate_bool(expression, self.live).fillna(False).astype(bool)
        except ExpressionError as e:
            raise PipelineError(self.cfg_path, where, f"{e.problem} in {expression!r}") from None

    def value(self, expression: str, where: str) -> pd.Series:
        try:
            return evaluate(expression, self.live)
        except ExpressionError as e:
            raise PipelineError(self.cfg_path, where, f"{e.problem} in {expression!r}") from None

    def bins(self, spec: dict, where: str) -> pd.Series:
        """Classes of a numeric column: label k for breaks[k-1] <= x < breaks[k]; missing stays missing."""
        x = self.column(spec["column"], f"{where}.column", numeric=True)
        k = np.searchsorted(np.asarray(spec["breaks"], float), x.to_numpy(float), side="right")
        labels = np.asarray(spec["labels"], dtype=object)
        out = pd.Series(labels[k], index=x.index, dtype=object).where(x.notna())
        out = out.reindex(self.df.index)
        return out.astype("str") if all(isinstance(v, str) for v in spec["labels"]) else out.astype("float64")

    # --- the rules ---------------------------------------------------------------
    def user_missing(self, meta: dict) -> None:
        """Declared user-missing codes (SPSS missing values, config missing_codes) -> missing."""
        for col, m in meta.items():
            if not m.get("missing") or col not in self.df.columns:
                continue
            s = self.live[col]
            mask = pd.Series(False, index=s.index)
            for code in m["missing"]:
                if isinstance(code, list):
                    mask |= (s >= code[0]) & (s <= code[1])
                else:
                    mask |= s == code
            self.set(mask, col, None, "user_missing")

    def unique(self, action: str, path) -> None:
        blank = self.live[self.key].isna().any(axis=1)  # a record without its key is not a duplicate
        self.quarantine(blank, "missing_key", f"{'/'.join(self.key)} missing", self.key[0])
        dup = self.live.duplicated(self.key, keep="first")
        if action == "error" and dup.any():
            k = self.keys[dup[dup].index[0]]
            raise PipelineError(path, "/".join(self.key), f"duplicate key {k!r} ({int(dup.sum())} repeated record(s); "
                                f"set duplicate_keys = \"quarantine\" in [files.{self.name}] to keep the first)")
        self.quarantine(dup, "unique_key", f"duplicate {'/'.join(self.key)} (first record kept)", self.key[0])

    def link(self, column: str, allowed, rule: str, reason: str) -> None:
        s = self.live[column]
        self.quarantine(~s.isin(allowed), rule, reason, column)

    def apply(self, rule: dict, where: str) -> None:
        check, var = rule["check"], rule.get("variable")
        if check == "codes":
            s = self.column(var, f"{where}.variable")
            bad = s.notna() & ~s.isin(rule["allowed"])
        elif check == "range":
            s = self.column(var, f"{where}.variable", numeric=True)
            bad = pd.Series(False, index=s.index)
            if "min" in rule:
                bad |= s < rule["min"]
            if "max" in rule:
                bad |= s > rule["max"]
        else:
            bad = self.condition(rule["when"], f"{where}.when")
        action = rule["action"]
        if action == "quarantine":
            self.quarantine(bad, rule["id"], _describe(rule), var or "")
        elif action == "set_missing":
            for v in rule.get("variables") or [var]:
                self.column(v, f"{where}.variables")
                self.set(bad, v, None, rule["id"])
        else:
            for v, value in rule["set"].items():
                col = self.column(v, f"{where}.set")
                numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
                if numeric == isinstance(value, str):  # "abc" into a numeric column, or 3 into a text one
                    raise PipelineError(self.cfg_path, f"{where}.set.{v}", f"value {value!r} does not fit column {v!r} "
                                        f"of the {self.name} data ({'numeric' if numeric else 'text'}, {col.dtype})")
                self.set(bad, v, value, rule["id"])

    def accounting(self) -> dict:
        n_raw, n_q = len(self.raw), int(self.out.sum())
        n_clean = len(self.live)
        if n_raw != n_clean + n_q or len(self.quarantined) != n_q:
            raise PipelineError(self.name, "row accounting", f"raw {n_raw} != clean {n_clean} + quarantined {n_q}")
        return {"raw": n_raw, "clean": n_clean, "quarantined": n_q}

    def quarantine_table(self) -> pd.DataFrame:
        q = pd.DataFrame(self.quarantined, columns=["index", "rule", "variable", "value", "reason"])
        rows = self.raw.loc[q["index"]].reset_index(drop=True) if len(q) else self.raw.iloc[:0]
        q = q.drop(columns="index").rename(columns=lambda c: f"_{c}")
        return pd.concat([q, rows.reset_index(drop=True)], axis=1)


def _describe(rule: dict) -> str:
    if rule["check"] == "codes":
        return f"{rule['variable']} not in {rule['allowed']}"
    if rule["check"] == "range":
        return f"{rule['variable']} outside [{rule.get('min', '')}, {rule.get('max', '')}]"
    return f"violates {rule['when']}"
