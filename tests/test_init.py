"""python -m pipeline.init writes a valid starting survey.toml from raw files' codebooks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_stage
from pipeline import config
from pipeline.init import _binary, _has, _result_column, _Unit, detect_key

DEMO_BINARY = {  # the demo's labelled two-category variables (value labels 1/2 plus missing codes 8/9)
    "household": ["urban", "q_mobile", "q_computer", "q_internet_home", "q_fiber", "q_fixed_other", "q_mobile_bb"],
    "person": ["sex", "p_smartphone", "p_internet", "p_egov", "p_account", "p_digipay", "p_esign"]
              + [f"p_skill{i}" for i in range(1, 10)]}


def init(survey, *files, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PIPELINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "pipeline.init", str(survey), "--from", *map(str, files)],
                          cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def demo_init(demo_raw, tmp_path_factory):
    """The demo's raw files in a new survey folder, and the survey.toml init writes for them."""
    tmp = tmp_path_factory.mktemp("init")
    survey = tmp / "newsurvey"
    survey.mkdir()
    shutil.copytree(demo_raw / "raw", survey / "raw")
    # from the survey folder: paths relative to it are found too
    p = init(survey, "raw/household.sav", "raw/person.sav", cwd=tmp)
    assert p.returncode == 0, p.stderr
    return survey, p


def test_demo_config_is_valid_and_finds_files_keys_links(demo_init):
    survey, p = demo_init
    assert p.stderr.count("\n") == 1 and "wrote" in p.stderr and "23 example indicator(s)" in p.stderr
    c = config.load(survey)
    hh, person = c["files"]["household"], c["files"]["person"]
    assert hh["path"] == "raw/household.sav" and person["path"] == "raw/person.sav"
    # hhid repeats in 42 records (the demo's CAPI double submissions): a key with quarantine, as the demo's own config
    assert hh["key"] == ["hhid"] and hh["duplicate_keys"] == "quarantine"
    assert person["key"] == ["hhid", "line"] and person["duplicate_keys"] == "quarantine"
    assert person["parent"] == "household" and person["parent_key"] == ["hhid"]
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    assert "# guess: nearly unique; 42 records repeat a key" in text
    assert "99.6% of the records link to a household record" in text
    assert c["design"]["psu"] == "ea_id" and "strata" not in c["design"]
    assert [d["id"] for d in c["domains"]] == ["all"] and c["domains"][0]["by"] == []
    # no weight column in the demo's files: weights computed from a frame, its values to fill in marked TODO
    assert c["frame"] == {"path": "frame.csv", "key": "ea_id", "prob": "prob"}
    assert c["weighting"]["respondent"] == "result == 1"
    assert 'respondent = "result == 1"       # guess: 1 = Hoàn thành' in text
    assert text.count("TODO:") == 2


def test_demo_one_indicator_per_labelled_binary_variable(demo_init):
    survey, _ = demo_init
    c = config.load(survey)
    inds = {i["id"]: i for i in c["indicators"]}
    assert list(inds) == DEMO_BINARY["household"] + DEMO_BINARY["person"]
    for unit, cols in DEMO_BINARY.items():
        for col in cols:
            assert inds[col]["unit"] == unit and inds[col]["kind"] == "proportion"
            assert inds[col]["numerator"] == f"{col} == 1"
    assert inds["q_mobile"]["label"] == "Hộ có điện thoại di động: Có"
    assert inds["sex"]["label"] == "Giới tính: Nam"
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    assert 'numerator = "q_fiber == 1"       # 1 = Có; 2 = Không; missing: 8, 9' in text


def test_demo_every_variable_is_listed_with_its_labels(demo_init):
    import pyreadstat
    survey, _ = demo_init
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    for name in ("household", "person"):
        _, meta = pyreadstat.read_sav(str(survey / "raw" / f"{name}.sav"), metadataonly=True)
        for col, label in meta.column_names_to_labels.items():
            assert any(line.startswith(f"# {col} ") and line.rstrip().endswith(label) for line in comments), col
    assert "#                              1 = Đồng Hới; 2 = Ba Đồn; 3 = Lệ Thủy;" in text
    assert "missing: 99998-99999" in text                     # a missing range (internet_spend)
    assert "... and 127 more" in text                           # long value-label lists are cut
    assert '# by = ["district"]' in text                        # area-like variables as commented domains


def test_demo_config_passes_the_check_and_runs_once_the_todos_are_filled(demo_init, tmp_path):
    survey, _ = demo_init
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "pipeline.config", str(survey)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr.strip().endswith("survey.toml: ok"), p.stderr
    # the user's edit of the README walk-through: the frame and its columns where the file says TODO
    edited = tmp_path / "edited"
    shutil.copytree(survey, edited)
    shutil.copy(ROOT / "surveys" / "qb2022" / "frame.csv", edited / "frame.csv")
    toml = edited / "survey.toml"
    text = toml.read_text(encoding="utf-8")
    for old, new in [('prob = "prob"', 'prob = "pi_ea"\nprob_within = "pi_hh_within"')]:
        assert old in text
        text = text.replace(old, new)
    toml.write_text(text, encoding="utf-8")
    build = tmp_path / "build"
    for stage in ("ingest", "clean", "weight"):
        run_stage(stage, edited, build, check=True)
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    assert len(hh) > 2000 and (hh["weight"] > 0).all()


def test_existing_config_is_never_overwritten(demo_init):
    survey, _ = demo_init
    before = (survey / "survey.toml").read_bytes()
    p = init(survey, survey / "raw" / "household.sav")
    assert p.returncode == 2
    assert p.stderr == f"error: {survey / 'survey.toml'}: already exists; not overwritten (edit it, or remove it to start again)\n"
    assert (survey / "survey.toml").read_bytes() == before


def _csv_survey(root):
    """A household-only CSV survey with delivered weights, strata, clusters and no value labels."""
    rng = np.random.default_rng(11)
    n = 120
    df = pd.DataFrame({"region": np.repeat([1, 2, 3], 40), "stratum": np.repeat([11, 12, 21, 22, 31, 32], 20),
                       "cluster": np.repeat(np.arange(1, 25), 5), "hh_id": rng.permutation(np.arange(1000, 1000 + n)),
                       "hh_weight": rng.uniform(50, 150, n).round(3), "members": rng.integers(1, 8, n),
                       "income": rng.gamma(2.0, 300.0, n).round(0)})
    folder = root / "hhonly"
    (folder / "data").mkdir(parents=True)
    df.to_csv(folder / "data" / "households.csv", index=False)
    return folder


def test_household_only_csv_survey(tmp_path):
    survey = _csv_survey(tmp_path)
    p = init(survey, survey / "data" / "households.csv")      # given from the repository folder
    assert p.returncode == 0, p.stderr
    c = config.load(survey)
    assert list(c["files"]) == ["household"]
    hh = c["files"]["household"]
    assert hh["path"] == "data/households.csv" and hh["format"] == "csv"
    assert hh["key"] == ["hh_id"] and hh["duplicate_keys"] == "error" and "parent" not in hh
    assert c["design"]["strata"] == "stratum" and c["design"]["psu"] == "cluster"
    text = (survey / "survey.toml").read_text(encoding="utf-8")
    if _has("design.weights"):
        assert c["design"]["weights"] == "hh_weight"
    else:
        assert "# 'hh_weight' looks like the survey's delivered final weights" in text
    assert "frame" not in c and c["weighting"] is None          # delivered weights: no frame skeleton
    # no value labels: one example indicator from the first numeric variable that is not a key, design or area column
    assert [(i["id"], i["kind"], i["numerator"]) for i in c["indicators"]] == [("mean_members", "mean", "members")]
    assert "# hh_weight  numeric" in text and "# income     numeric" in text
    build = tmp_path / "build"
    run_stage("ingest", survey, build, check=True)


def test_bad_inputs_one_line_exit_2(tmp_path):
    survey = tmp_path / "s"
    p = init(survey, tmp_path / "nope.sav")
    assert p.returncode == 2 and p.stderr.startswith(f"error: {tmp_path / 'nope.sav'}: file not found")
    assert p.stderr.count("\n") == 1
    (tmp_path / "x.xls").write_text("a,b\n1,2\n")
    p = init(survey, tmp_path / "x.xls")
    assert p.returncode == 2 and "unknown format 'xls' (expected one of .sav, .dta, .csv, .parquet)" in p.stderr
    (tmp_path / "empty.csv").write_text("")
    p = init(survey, tmp_path / "empty.csv")
    assert p.returncode == 2 and "empty file" in p.stderr
    assert not (survey / "survey.toml").exists()


def test_make_new_survey(tmp_path):
    if shutil.which("make") is None or not (ROOT / ".venv/bin/python").exists():
        pytest.skip("make or .venv missing")
    survey = _csv_survey(tmp_path)
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    p = subprocess.run(["make", "--no-print-directory", "new-survey", f"SURVEY={survey}",
                        f"FROM={survey / 'data' / 'households.csv'}"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert config.load(survey)["files"]["household"]["key"] == ["hh_id"]
    p = subprocess.run(["make", "--no-print-directory", "new-survey", f"SURVEY={tmp_path / 'other'}"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert p.returncode != 0 and "FROM is empty" in p.stderr
    help_text = subprocess.run(["make", "help"], cwd=ROOT, env=env, capture_output=True, text=True).stdout
    assert "new-survey" in help_text


# --- the detection rules on small tables -------------------------------------------
def test_detect_key_prefers_id_columns_then_pairs_then_near_unique():
    df = pd.DataFrame({"ea": [1, 1, 2, 2], "hh_no": [1, 2, 1, 2], "income": [10, 20, 30, 40]})
    assert detect_key(df) == (["ea", "hh_no"], 0, "unique per record")      # income is unique but not an ID
    person = pd.DataFrame({"hhid": [1, 1, 2, 3], "line": [1, 2, 1, 1], "pid": [5, 6, 7, 8]})
    assert detect_key(person)[0] == ["pid"]
    assert detect_key(person, must_include=["hhid"])[0] == ["pid"]          # a unique ID column first
    near = pd.DataFrame({"hhid": list(range(100)) + [7], "x": np.arange(101) + 0.5})
    assert detect_key(near) == (["hhid"], 1, "nearly unique")
    none = pd.DataFrame({"a": [1, 1, 1], "b": [2, 2, 2]})
    assert detect_key(none)[0] == ["a"] and "set the key" in detect_key(none)[2]
    assert detect_key(pd.DataFrame({"value": [3, 1, 2]})) == (["value"], 0,
                                                               "unique per record (not named like an ID: check it)")


def test_binary_counts_yes_or_one():
    meta = {"values": {"1": "Yes", "2": "No", "9": "Refused"}, "missing": [9.0]}
    assert _binary("q", meta) == (1, "Yes", 2, "No")
    assert _binary("q", {"values": {"0": "No", "1": "Yes"}, "missing": []}) == (1, "Yes", 0, "No")
    assert _binary("q", {"values": {"0": "absent", "1": "present"}, "missing": []}) == (1, "present", 0, "absent")
    assert _binary("q", {"values": {"1": "Nein", "2": "Ja"}, "missing": []}) == (2, "Ja", 1, "Nein")
    assert _binary("q", {"values": {"1": "a", "2": "b", "3": "c"}, "missing": []}) is None
    assert _binary("q", {"values": {"1": "a", "2": "b", "8": "dk", "9": "na"}, "missing": [[8.0, 9.0]]}) == (1, "a", 2, "b")


def test_commented_suggestions_are_valid_when_uncommented(demo_init, tmp_path):
    """The commented domain examples are written so that removing '# ' gives a valid config."""
    survey, _ = demo_init
    lines = (survey / "survey.toml").read_text(encoding="utf-8").splitlines()
    out, in_block = [], False
    for line in lines:
        if line.startswith("# [[domains]]"):
            in_block = True
        if in_block and line.startswith("# "):
            line = line[2:]
        elif in_block:
            in_block = False
        out.append(line)
    other = tmp_path / "uncommented"
    other.mkdir()
    (other / "survey.toml").write_text("\n".join(out) + "\n", encoding="utf-8")
    c = config.load(other)
    assert [(d["id"], d["by"]) for d in c["domains"]] == [("all", []), ("district", ["district"]),
                                                           ("commune", ["commune"]), ("urban", ["urban"])]
    assert c["domains"][1]["label"] == "Huyện/thị xã/thành phố"


def test_result_column_takes_the_completed_code():
    def unit(values, name="result"):
        return _Unit("household", None, "", "sav", pd.DataFrame({name: [1]}), {name: {"values": values, "missing": []}})
    assert _result_column(unit({"1": "Hoàn thành", "2": "Từ chối"})) == ("result", 1, "Hoàn thành")
    assert _result_column(unit({"1": "Not completed", "2": "Completed"})) == ("result", 2, "Completed")
    assert _result_column(unit({"1": "Incomplete", "2": "Complete", "3": "Refused"})) == ("result", 2, "Complete")
    assert _result_column(unit({"3": "a", "1": "b"})) == ("result", 1, "b")        # else the lowest code
    assert _result_column(unit({"1": "Completed"}, name="sex")) is None             # not named like a result
