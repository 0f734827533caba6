"""The demo generator as a package (surveys/qb2022/generator/) behind the command line generate.py.

* The default seed gives exactly the raw files the single-module generator
  wrote before the split (SHA-256 digests pinned below; they change only when
  the population model is changed on purpose, which must be said in the
  commit and the survey README).
* ``make validate``'s contract: ``pipeline.validate.load_generator`` finds
  ``build_population``, ``draw_sample``, ``raw_tables`` and ``Sample`` in
  generate.py, and a census "sample" of the population goes through
  ``raw_tables``.
* Deterministic: the same seed and generator stream give equal populations,
  samples and tables in one process, and a copy of the survey folder loads its
  own package (no clash between the two in one process).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load
from pipeline.validate import load_generator

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "surveys" / "qb2022"

# SHA-256 of the raw files for the default seed 20220714, as the single-module
# generate.py (before the split into a package) wrote them.
RAW_DIGESTS = {
    "household.sav": "dc893d132ae6a79bdacd9f193333864d9943dc50e4d4b6b1274843ccfc89cef6",
    "person.sav": "818c4fcf0ccbea377e8f7b9fc1b7deed908ebc5bfdabee31ba85c0930ebe8c0c",
    "defects.csv": "ac2575c98593985cac68b6fe588920cb3696fe3e068b62134461c8529eceb0cf",
    "truth.csv": "ffefad3f17bb62845d1de987333615fe7166d722bb6f5bf53933a7b61b376a52",
}


@pytest.fixture(scope="module")
def gen():
    return load_generator(load(SURVEY), SURVEY)


@pytest.fixture(scope="module")
def run(gen, tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    return out, gen.generate(out, gen.DEFAULT_SEED)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_seed_gives_the_pinned_raw_files(run):
    out, _ = run
    got = {name: _sha(out / name) for name in RAW_DIGESTS}
    assert got == RAW_DIGESTS


def test_validate_contract(gen, run):
    for name in ("build_population", "draw_sample", "raw_tables", "Sample", "DEFAULT_SEED"):
        assert hasattr(gen, name), name
    _, res = run
    pop = res["population"]
    # what pipeline.validate does for the truth: every household interviewed
    hhs = pop.households.copy()
    hhs["result"] = 1
    census = gen.Sample(eas=pop.frame.copy(), households=hhs, persons=pop.persons, population=pop)
    hh, person = gen.raw_tables(census, np.random.default_rng(0))
    assert len(hh) == len(pop.households) == 244_921
    assert len(person) == len(pop.persons) == 895_413
    # the raw codes carry the true values: yes = 1, no = 2
    share = (hh["q_mobile"] == 1).mean()
    assert share == pytest.approx(pop.households["hh_mobile"].mean(), abs=0)
    assert res["sample"].eas["ea_id"].isin(pop.frame["ea_id"]).all()


def test_same_stream_same_sample_and_tables(gen, run):
    _, res = run
    pop = res["population"]
    a = gen.draw_sample(pop, np.random.default_rng([7, 1]))
    b = gen.draw_sample(pop, np.random.default_rng([7, 1]))
    pd.testing.assert_frame_equal(a.households, b.households)
    pd.testing.assert_frame_equal(a.persons, b.persons)
    ta = gen.raw_tables(a, np.random.default_rng(3))
    tb = gen.raw_tables(b, np.random.default_rng(3))
    for x, y in zip(ta, tb):
        pd.testing.assert_frame_equal(x, y)
    c = gen.draw_sample(pop, np.random.default_rng([7, 2]))
    assert not a.households["ea_id"].equals(c.households["ea_id"])


def test_population_is_a_function_of_the_seed(gen, run):
    _, res = run
    again = gen.build_population(gen.DEFAULT_SEED)
    for part in ("communes", "frame", "households", "persons"):
        pd.testing.assert_frame_equal(getattr(again, part), getattr(res["population"], part))
    np.testing.assert_array_equal(again.listing_hh, res["population"].listing_hh)


def test_copied_folder_loads_its_own_package(gen, tmp_path):
    copy = tmp_path / "qb2022"
    shutil.copytree(SURVEY, copy, ignore=shutil.ignore_patterns("raw", "__pycache__"))
    other = load_generator(load(copy), copy)
    assert other is not gen
    assert Path(sys.modules[other.build_population.__module__].__file__).is_relative_to(copy)
    assert Path(sys.modules[gen.build_population.__module__].__file__).is_relative_to(SURVEY)
