"""The api designs of tests/data/r_models.R, built with the library, and R's numbers.

Shared by test_models.py, test_association.py and test_vcov_contrast.py.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import SurveyDesign

DATA = Path(__file__).parent / "data"
RTOL = 1e-6
POP_STYPE = pd.DataFrame({"stype": ["E", "H", "M"], "count": [4421, 755, 1018]})
POP_SCHWIDE = pd.DataFrame({"sch.wide": ["No", "Yes"], "count": [1072, 5122]})


@functools.cache
def cases() -> dict:
    """R's numbers by case id (tests/data/r_models.json, made by tests/data/r_models.R)."""
    return {c["id"]: c for c in json.loads((DATA / "r_models.json").read_text())}


@functools.cache
def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


@functools.cache
def design(name: str):
    """The design R's case code names: dstrat, dclus1, dclus2, dcal, rclus1, rstrat."""
    from analysis.weighting import calibrate

    if name == "dstrat":
        return SurveyDesign(load("apistrat"), weights="pw", strata="stype", fpc="fpc")
    if name == "dclus1":
        return SurveyDesign(load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    if name == "dclus2":
        return SurveyDesign(load("apiclus2"), psu="dnum", ssu="snum", fpc=["fpc1", "fpc2"])
    if name == "dcal":
        total = float(load("apipop")["api99"].sum())
        return calibrate(design("dclus1"), margins=[POP_STYPE], totals={"api99": total})
    if name == "rclus1":
        return design("dclus1").to_replicate("JK1")
    if name == "rstrat":
        return design("dstrat").to_replicate("JKn")
    raise KeyError(name)


def close(got, want, rtol: float = RTOL, atol: float = 0.0) -> None:
    """Assert agreement to ``rtol`` relative (elementwise, NaN-free)."""
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol=rtol, atol=atol)


def max_rel(got, want) -> float:
    got, want = np.asarray(got, float).ravel(), np.asarray(want, float).ravel()
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
