"""Survey units and the links between their files.

A survey has a household file, a person file, or both (``[files.household]``,
``[files.person]``; the person file names its household with ``parent_key``).
Records are identified by their key columns joined as text
(:func:`record_keys`); a person record carries its household's design columns
and weight (:func:`inherit`) unless the person file has a weight of its own.
"""
from __future__ import annotations

import pandas as pd

from .formats import code_series

HOUSEHOLD, PERSON = "household", "person"
UNITS = (HOUSEHOLD, PERSON)


def record_keys(df: pd.DataFrame, key: list[str]) -> pd.Series:
    """Each record's key as text, key columns joined by '/' (e.g. ``10305-005/2``)."""
    out = code_series(df[key[0]])
    for col in key[1:]:
        out = out + "/" + code_series(df[col])
    return out.astype(object)


def cell_labels(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Cell labels as text, e.g. '1|15-24'; '' parts for missing values."""
    out = code_series(df[cols[0]])
    for c in cols[1:]:
        out = out + "|" + code_series(df[c])
    return out


def units(cfg: dict) -> list[str]:
    """The survey's units with a file, households first."""
    return [u for u in UNITS if u in cfg["files"]]


def design_unit(cfg: dict) -> str:
    """The unit whose file holds the design columns: households when there is a household file."""
    return HOUSEHOLD if HOUSEHOLD in cfg["files"] else PERSON


def person_link(cfg: dict) -> tuple[list[str], list[str]]:
    """(person columns naming the household, household key), or two empty lists without both files."""
    files = cfg["files"]
    if HOUSEHOLD in files and PERSON in files:
        return files[PERSON]["parent_key"], files[HOUSEHOLD]["key"]
    return [], []


def own_weight(cfg: dict, unit: str) -> str | None:
    """The column of *unit*'s own delivered weight (``[files.<unit>] weight``), if any."""
    return cfg["files"].get(unit, {}).get("weight")


def members(persons: pd.DataFrame, households: pd.DataFrame, pk: list[str], hk: list[str]) -> pd.DataFrame:
    """The person records whose household is among *households*."""
    return persons[record_keys(persons, pk).isin(set(record_keys(households, hk)))]


def inherit(persons: pd.DataFrame, households: pd.DataFrame, pk: list[str], hk: list[str],
            keep_own: tuple[str, ...] = ()) -> pd.DataFrame:
    """Each person with its household's columns (design columns, weights) that the person file lacks.

    Persons of households not in *households* (non-responding, ineligible) are left out.  Columns named
    in *keep_own* stay the person's own even where the household file has a column of that name.
    """
    add = [c for c in households.columns if (c not in persons.columns and c not in keep_own) or c in hk]
    return persons.merge(households[add].rename(columns=dict(zip(hk, pk))), on=pk, how="inner",
                         validate="many_to_one")
