"""Shared fixtures: small synthetic survey folders for the pipeline tests.

``make_survey(tmp_path, fmt="sav", strata=True)`` writes a complete survey
folder (raw files, frame, control totals, survey.toml) with a known design, so
the pipeline tests do not depend on the demo generator.
"""
from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# CI (CI=true, as .ci/run is called) runs the property tests on fixed examples, so that a run's verdict does not
# depend on the draw; locally they keep drawing new examples.  (A domain whose variance is mathematically zero
# used to come out as rounding noise whose deff and n_eff depended on row order; the estimators now treat a
# variance below the rounding error of its sums as 0, so test_permuting_rows_changes_nothing holds on any draw.)
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

SURVEY_TOML = """\
[survey]
name = "{name}"
title = {{ vi = "Khảo sát thử", en = "Test survey" }}

[files.household]
path = "raw/household.{ext}"
key = ["hhid"]
require_children = "result == 1"
{hh_missing}
[files.person]
path = "raw/person.{ext}"
key = ["hhid", "line"]
parent = "household"
parent_key = ["hhid"]
{p_missing}
[frame]
path = "frame.csv"
sample = "sample_eas.csv"
key = "ea_id"
prob = "pi_ea"
listed = "households"

[design]
{strata_line}psu = "ea_id"

[[clean.rules]]
id = "result_codes"
file = "household"
check = "codes"
variable = "result"
allowed = [1, 2, 3, 4]
action = "quarantine"

[[clean.rules]]
id = "smartphones_range"
file = "household"
check = "range"
variable = "n_smartphones"
min = 0
max = 15
action = "set_missing"

[[clean.rules]]
id = "fiber_skip"
file = "household"
check = "when"
when = "q_fiber == 1 and q_internet_home == 2"
action = "set_missing"
variables = ["q_fiber"]

[[clean.rules]]
id = "age_range"
file = "person"
check = "range"
variable = "age"
min = 0
max = 110
action = "quarantine"

[[clean.derive]]
file = "person"
name = "age_group"
expr = "1 + (age >= 15) + (age >= 60)"

[weighting]
eligible = "result != 4"
respondent = "result == 1"
nonresponse_classes = ["district"]

[[weighting.controls]]
path = "controls/households.csv"

[weighting.trim]
upper = 3.5

[[domains]]
id = "all"
label = {{ vi = "Toàn bộ", en = "All" }}

[[domains]]
id = "district"
by = ["district"]
label = {{ vi = "Huyện", en = "District" }}

[[domains]]
id = "urban"
by = ["urban"]
label = {{ vi = "Thành thị/nông thôn", en = "Urban/rural" }}

[[indicators]]
id = "hh_smartphone"
unit = "household"
label = {{ vi = "Hộ có điện thoại thông minh", en = "Households with a smartphone" }}
universe = "result == 1"
numerator = "n_smartphones > 0"

[[indicators]]
id = "hh_fiber"
unit = "household"
label = {{ vi = "Hộ có cáp quang", en = "Households with fiber" }}
numerator = "q_fiber == 1"

[[indicators]]
id = "p_internet"
unit = "person"
label = {{ vi = "Người dùng Internet", en = "Internet users" }}
universe = "age >= 15"
numerator = "p_internet == 1"
"""


def build_survey(root: Path, *, fmt: str = "sav", strata: bool = True, name: str = "tiny",
                 n_ea: int = 16, per_ea: int = 10, seed: int = 1) -> Path:
    """Write a small survey folder under *root*/name and return its path."""
    rng = np.random.default_rng(seed)
    d = root / name
    (d / "raw").mkdir(parents=True, exist_ok=True)
    (d / "controls").mkdir(exist_ok=True)
    ea = np.arange(101, 101 + n_ea)
    district = 1 + (np.arange(n_ea) % 2)
    urban = 1 + (np.arange(n_ea) // 2 % 2)
    listed = rng.integers(60, 120, n_ea)
    frame = pd.DataFrame({"ea_id": ea, "district": district, "urban": urban,
                          "stratum": district, "households": listed,
                          "pi_ea": np.round(0.2 + 0.1 * district, 3)})
    frame.to_csv(d / "frame.csv", index=False)
    frame[["ea_id"]].to_csv(d / "sample_eas.csv", index=False)
    rows, people = [], []
    hhid = 1000
    for e, dist, urb in zip(ea, district, urban):
        for _ in range(per_ea):
            hhid += 1
            result = int(rng.choice([1, 1, 1, 1, 1, 1, 1, 2, 3, 4]))
            inet = int(rng.choice([1, 2])) if result == 1 else np.nan
            rows.append({"hhid": hhid, "ea_id": e, "district": dist, "urban": urb, "result": result,
                         "n_smartphones": float(rng.integers(0, 4)) if result == 1 else np.nan,
                         "q_internet_home": inet,
                         "q_fiber": (1 if (inet == 1 and rng.random() < 0.7) else 2) if result == 1 else np.nan})
            if result == 1:
                for line in range(1, int(rng.integers(1, 5)) + 1):
                    people.append({"hhid": hhid, "line": line, "sex": int(rng.integers(1, 3)),
                                   "age": int(rng.integers(0, 90)), "p_internet": int(rng.choice([1, 2]))})
    hh, pp = pd.DataFrame(rows), pd.DataFrame(people)
    hh.loc[3, "n_smartphones"] = 98          # a don't-know code (user-missing)
    write_table(hh, d / f"raw/household.{fmt}", missing={"n_smartphones": [98, 99]})
    write_table(pp, d / f"raw/person.{fmt}", missing={"p_internet": [8, 9]})
    hhr = hh[hh.result != 4].merge(frame[["ea_id", "pi_ea", "households"]], on="ea_id")
    ctrl = (hhr.assign(w=hhr.households / per_ea / hhr.pi_ea)
            .groupby(["district", "urban"], as_index=False)["w"].sum()
            .assign(count=lambda t: t.w.round()).drop(columns="w"))
    ctrl.to_csv(d / "controls/households.csv", index=False)
    (d / "survey.toml").write_text(SURVEY_TOML.format(
        name=name, ext=fmt, strata_line='strata = "stratum"\n' if strata else "",
        hh_missing='missing_codes = { n_smartphones = [98, 99] }\n' if fmt == "csv" else "",
        p_missing='missing_codes = { p_internet = [8, 9] }\n' if fmt == "csv" else ""), encoding="utf-8")
    return d


def copy_demo(root: Path) -> Path:
    """A copy of the bundled demo survey under *root*, with its raw files generated there."""
    survey = root / "qb2022"
    shutil.copytree(ROOT / "surveys" / "qb2022", survey, ignore=shutil.ignore_patterns("raw", "__pycache__", "*.pyc"))
    subprocess.run([sys.executable, str(survey / "generate.py"), "--out", str(survey / "raw")],
                   cwd=ROOT, check=True, capture_output=True)
    return survey


def write_table(df: pd.DataFrame, path: Path, missing=None) -> None:
    if path.suffix == ".sav":
        import pyreadstat
        pyreadstat.write_sav(df, str(path), column_labels={c: c.replace("_", " ") for c in df.columns},
                             variable_value_labels={"result": {1: "completed", 2: "refused", 3: "not at home", 4: "vacant"}}
                             if "result" in df.columns else None,
                             missing_ranges={k: v for k, v in (missing or {}).items() if k in df.columns})
    elif path.suffix == ".dta":
        import pyreadstat
        pyreadstat.write_dta(df, str(path), column_labels={c: c.replace("_", " ") for c in df.columns})
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def run_stage(stage: str, survey: Path, build: Path, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m pipeline.<stage>`` as the operator would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PIPELINE_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", "--survey", str(survey), "--build", str(build)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{stage} failed:\n{p.stderr}")
    return p


@pytest.fixture
def make_survey(tmp_path):
    def factory(**kw):
        return build_survey(tmp_path, **kw)
    return factory


# --- the demo, built once per test session ---------------------------------------------------------------
# Tests read these folders; a test that changes anything copies them first (shutil.copytree).  Under
# pytest-xdist the workers share one build (the first worker to need it builds it, under a file lock, while
# the other waits), which saves a demo build of about 30 s CPU per extra worker.
def _shared_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` run once per test session, for every xdist worker; returns *folder*."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # not under xdist: this session's own folder
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    base = tmp_path_factory.getbasetemp().parent   # the folder all of this session's workers share
    folder, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)   # a worker that failed half-way
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def demo_raw(tmp_path_factory) -> Path:
    """A copy of the demo survey folder with its raw files generated (about 3 s, once)."""
    return _shared_once(tmp_path_factory, "demo_raw", copy_demo) / "qb2022"


def _build_demo(survey: Path, root: Path) -> None:
    build, out = root / "build", root / "figures"
    for stage in ("ingest", "clean", "weight", "estimate"):
        run_stage(stage, survey, build, check=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for stage in ("figures", "report"):
        p = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", "--survey", str(survey), "--build", str(build),
                            "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


@pytest.fixture(scope="session")
def demo_built(demo_raw, tmp_path_factory):
    """(survey, build, figures) of the demo after every stage: ingest to estimate, figures and report."""
    root = _shared_once(tmp_path_factory, "demo_built", functools.partial(_build_demo, demo_raw))
    return demo_raw, root / "build", root / "figures"


@functools.cache
def r_has(package: str = "survey") -> bool:
    """Whether ``Rscript`` exists and loads *package* (live R cross-checks skip otherwise); asked once per session."""
    return shutil.which("Rscript") is not None and subprocess.run(
        ["Rscript", "-e", f"library({package})"], capture_output=True).returncode == 0
