"""The weight stage stops on control tables that contradict each other or the sample, and on extreme weights.

Cases from a hostile review (issue 15): person controls doubled (integrated
calibration then "converged" to weights from 2.5e-6 to 12,742), a control typo
of 1 for 26,600 (weights of 0.002, exit 0), two household tables with different
grand totals.  Each now stops with one line naming the table, the cell or the
totals; ``[weighting.checks] accept = true`` lets an office use them anyway.
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from conftest import run_stage
from pipeline.errors import PipelineError


@pytest.fixture(scope="module")
def demo(demo_built):
    survey, build, _ = demo_built
    return survey, build


def _variant(demo, tmp_path, edit, toml_extra=""):
    survey, build = demo
    s = tmp_path / "qb2022"
    shutil.copytree(survey, s)  # raw files copied: input paths must resolve inside the survey folder
    edit(s)
    if toml_extra:
        text = (s / "survey.toml").read_text(encoding="utf-8")
        (s / "survey.toml").write_text(text.replace("[weighting.trim]", toml_extra + "\n[weighting.trim]"),
                                       encoding="utf-8")
    b = tmp_path / "build"
    shutil.copytree(build, b, ignore=shutil.ignore_patterns("weight", "estimates.*"))
    return s, b


def _weigh(s, b):
    from pipeline import weight
    weight.main(["--survey", str(s), "--build", str(b)])


def _scale_persons(s, factor=2.0):
    p = s / "controls" / "persons_sex_age.csv"
    t = pd.read_csv(p)
    t["count"] = t["count"] * factor
    t.to_csv(p, index=False)


def test_doubled_person_controls_stop_the_run(demo, tmp_path):
    s, b = _variant(demo, tmp_path, _scale_persons)
    with pytest.raises(PipelineError) as e:
        _weigh(s, b)
    line = e.value.line()
    assert line.startswith(str(s / "controls" / "persons_sex_age.csv") + ": count: ")
    assert "persons per household" in line and "household_size_ratio = 1.5" in line
    assert not (b / "weight" / "manifest.json").exists()


def test_control_typo_names_the_cell(demo, tmp_path):
    def typo(s):
        p = s / "controls" / "households_district_urban.csv"
        t = pd.read_csv(p)
        t.loc[0, "count"] = 1
        t.to_csv(p, index=False)
    s, b = _variant(demo, tmp_path, typo)
    with pytest.raises(PipelineError) as e:
        _weigh(s, b)
    line = e.value.line()
    t = pd.read_csv(demo[0] / "controls" / "households_district_urban.csv")
    cell = f"district={t.loc[0, 'district']}, urban={t.loc[0, 'urban']}"
    assert line.startswith(f"{s / 'controls' / 'households_district_urban.csv'}: {cell}: control total 1 is ")
    assert "factor_range [0.1, 10]" in line and "weighting.checks.accept = true" in line


def test_household_tables_with_different_totals(demo, tmp_path):
    def second(s):
        t = pd.read_csv(s / "controls" / "households_district_urban.csv")
        by = t.groupby("district", as_index=False)["count"].sum()
        by["count"] = by["count"] * 1.05
        by.to_csv(s / "controls" / "households_district.csv", index=False)
    extra = '[[weighting.controls]]\npath = "controls/households_district.csv"\nunit = "household"\n'
    s, b = _variant(demo, tmp_path, second, extra)
    with pytest.raises(PipelineError, match=r"households_district.csv: count: the household total .* differs from "
                                            r".*households_district_urban.csv's .* by \+5.0%"):
        _weigh(s, b)


def test_accept_lets_the_office_use_them(demo, tmp_path):
    s, b = _variant(demo, tmp_path, lambda s: None, "[weighting.checks]\nfactor_range = [0.9, 1.1]\naccept = true\n")
    _weigh(s, b)
    hh = pd.read_parquet(b / "weight" / "household.parquet")
    assert len(hh) > 0 and (hh["weight"] > 0).all()


def test_tighter_factor_range_stops_the_demo_weights(demo, tmp_path):
    s, b = _variant(demo, tmp_path, lambda s: None, "[weighting.checks]\nfactor_range = [0.9, 1.1]\n")
    with pytest.raises(PipelineError, match=r"(factor_range \[0.9, 1.1\])"):
        _weigh(s, b)


def test_derived_column_may_not_overwrite_a_collected_one(demo, tmp_path):
    from pipeline import clean
    def edit(s):
        text = (s / "survey.toml").read_text(encoding="utf-8")
        (s / "survey.toml").write_text(text.replace('name = "adult"', 'name = "age"'), encoding="utf-8")
    s, b = _variant(demo, tmp_path, edit)
    with pytest.raises(PipelineError, match=r"clean.derive\[1\].name: 'age' is already a column of the person data"):
        clean.main(["--survey", str(s), "--build", str(b)])


def test_figure_workers_die_with_the_stage(tmp_path):
    """A worker of the figures stage is ended by the kernel when its parent is killed (SIGKILL)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    code = ("import os, time\nfrom concurrent.futures import ProcessPoolExecutor\nimport multiprocessing as mp\n"
            "from pipeline.figures import _die_with_parent\n"
            "def work(_):\n    print(os.getpid(), flush=True); time.sleep(60)\n"
            "with ProcessPoolExecutor(1, mp_context=mp.get_context('fork'), initializer=_die_with_parent) as p:\n"
            "    list(p.map(work, [0]))\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=str(__import__("conftest").ROOT))
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the worker outlived its parent")


def test_blank_keys_are_quarantined_as_missing_not_duplicate(make_survey, tmp_path):
    s = make_survey(fmt="csv", name="blank")
    hh = pd.read_csv(s / "raw" / "household.csv")
    hh.loc[[3, 7], "hhid"] = None
    hh.to_csv(s / "raw" / "household.csv", index=False)
    b = tmp_path / "b"
    for stage in ("ingest", "clean"):
        run_stage(stage, s, b, check=True)
    q = pd.read_csv(b / "clean" / "quarantine_household.csv")
    assert q["_rule"].value_counts().to_dict().get("missing_key") == 2
    assert "unique_key" not in set(q["_rule"])


def test_blank_frame_probability_names_the_ea(make_survey, tmp_path):
    s = make_survey(fmt="csv", name="blankpi")
    b = tmp_path / "b"
    for stage in ("ingest", "clean"):
        run_stage(stage, s, b, check=True)
    frame = pd.read_csv(s / "frame.csv")
    frame.loc[2, "pi_ea"] = None
    frame.to_csv(s / "frame.csv", index=False)
    p = run_stage("weight", s, b)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == (f"error: {s / 'frame.csv'}: pi_ea: missing value for EA "
                                                 f"{frame.loc[2, 'ea_id']} (1 sampled EA(s) in all)")


def test_control_cell_values_are_shown_as_numbers():
    import numpy as np
    from analysis.weighting.controls import parse_control_table
    t = parse_control_table(pd.DataFrame({"district": np.array([1, 2], dtype="int64"), "count": [10.0, 20.0]}),
                            name="t")
    assert t.cell_label(0) == "district=1"
