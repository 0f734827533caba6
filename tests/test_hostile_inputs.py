"""Hostile but realistic inputs (issue 15): each case asserts the exact outcome.

A survey.toml written by someone else must be safe to run, and no input may give a
silently wrong number.  Most cases run in-process on a small CSV survey
(``conftest.build_survey``); the Make cases run ``make`` itself.  Every operator
mistake must end in exit status 2 with one line naming the file, the key, row or
column and the value; exit 3 is reserved for bugs.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, build_survey, run_stage, write_table
from pipeline import config, errors, expr, io
from pipeline.errors import PipelineError
from pipeline.expr import ExpressionError, ExpressionWarning, evaluate, parse

HAS_MAKE = shutil.which("make") is not None and (ROOT / ".venv/bin/python").exists()


@pytest.fixture
def survey(tmp_path):
    return build_survey(tmp_path, fmt="csv", strata=False)


def _edit(s: Path, old: str, new: str) -> None:
    p = s / "survey.toml"
    text = p.read_text(encoding="utf-8")
    assert old in text, old
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def _config_error(s: Path) -> PipelineError:
    with pytest.raises(PipelineError) as e:
        config.load(s)
    return e.value


def _run_in_process(main, argv, capsys) -> tuple[int, list[str]]:
    """errors.run(main, argv) as the operator's command would: (exit status, stderr lines)."""
    with pytest.raises(SystemExit) as e:
        errors.run(main, argv)
    return e.value.code, capsys.readouterr().err.strip().splitlines()


def _make(*args, cwd=ROOT):
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, env=env, capture_output=True, text=True)


# --- 1. Make and paths ----------------------------------------------------------------
@pytest.mark.parametrize("value, char", [
    ("$(shell touch pwned).csv", "$"),
    ("frame#.csv", "#"),
    ("frame.csv\nGENERATOR := /bin/sh", "\n"),
    ("fr%me.csv", "%"),
    ("a;b.csv", ";"),
    ("x=y.csv", "="),
    ("f*.csv", "*"),
    ("lib(frame.csv)", "("),
    ("frame.csv'", "'"),
    ("back\\slash.csv", "\\"),
])
def test_make_metacharacters_in_a_path_are_refused_naming_the_key(survey, value, char):
    import json
    _edit(survey, 'path = "frame.csv"', f"path = {json.dumps(value)}")
    e = _config_error(survey)
    assert e.key == "frame.path"
    assert f"character {char!r} not allowed in a path" in e.problem and repr(value) in e.problem


def test_generator_args_never_reach_make_or_a_shell(survey):
    """[raw] args are not written to inputs.mk; the generator gets them verbatim, without a shell."""
    (survey / "gen.py").write_text("import json, sys\nopen(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))\n")
    out = survey / "argv.json"
    hostile = ["$(shell touch pwned)", "; touch pwned2 #", "`touch pwned3`", "a\nb"]
    _edit(survey, "[files.household]", f"[raw]\ngenerator = \"gen.py\"\nargs = {json_list([str(out)] + hostile)}\n\n"
                                        "[files.household]")
    deps = config.make_deps(survey)
    plain = deps.replace("$(ANALYSIS)", "")  # the library's files, the one Make reference written on purpose
    assert "$" not in plain and "#" not in plain and "shell" not in plain and "touch" not in plain
    assert [ln.split(" :=")[0] for ln in deps.splitlines()] == [f"{s.upper()}_MODULES" for s in config.STAGES] + [
        "INGEST_INPUTS", "CLEAN_INPUTS", "WEIGHT_INPUTS", "ESTIMATE_INPUTS", "GENERATOR", "GENERATOR_FILES"]
    assert config.generate(survey) == 0
    import json
    assert json.loads(out.read_text()) == hostile
    assert not any((Path.cwd() / p).exists() or (ROOT / p).exists() for p in ("pwned", "pwned2", "pwned3"))


def json_list(items) -> str:
    import json
    return "[" + ", ".join(json.dumps(x) for x in items) + "]"


def test_spaces_are_escaped_in_inputs_mk(tmp_path):
    s = build_survey(tmp_path / "Household survey", fmt="csv", strata=False, name="my survey")
    (s / "raw" / "household.csv").rename(s / "raw" / "house hold.csv")
    _edit(s, 'path = "raw/household.csv"', 'path = "raw/house hold.csv"')
    deps = config.make_deps(s)
    prefix = str(s).replace(" ", "\\ ")
    assert f"INGEST_INPUTS := {prefix}/raw/house\\ hold.csv {prefix}/raw/person.csv\n" in deps


@pytest.mark.parametrize("key, value", [
    ("files.household.path", "../../../../../../etc/passwd"),
    ("files.household.path", "/etc/passwd"),
    ("frame.path", "../outside.csv"),
    ("raw.generator", "../../../gen.py"),
])
def test_input_paths_and_the_generator_must_be_inside_the_survey_folder(survey, key, value):
    (survey.parent / "outside.csv").write_text("ea_id\n1\n")
    if key == "files.household.path":
        _edit(survey, 'path = "raw/household.csv"', f'path = "{value}"')
    elif key == "frame.path":
        _edit(survey, 'path = "frame.csv"', f'path = "{value}"')
    else:
        _edit(survey, "[files.household]", f'[raw]\ngenerator = "{value}"\n\n[files.household]')
    e = _config_error(survey)
    assert e.key == key and repr(value) in e.problem
    assert "outside the survey folder" in e.problem or "relative to the survey folder" in e.problem


def test_a_symlink_out_of_the_survey_folder_is_refused(survey, tmp_path):
    (tmp_path / "elsewhere.csv").write_text((survey / "frame.csv").read_text())
    (survey / "frame.csv").unlink()
    (survey / "frame.csv").symlink_to(tmp_path / "elsewhere.csv")
    e = _config_error(survey)
    assert e.key == "frame.path" and "outside the survey folder" in e.problem and "elsewhere.csv" in e.problem


def test_an_allow_listed_data_root_admits_data_but_not_the_generator(survey, tmp_path, monkeypatch):
    data = tmp_path / "shared data"
    data.mkdir()
    shutil.copy(survey / "frame.csv", data / "frame.csv")
    _edit(survey, 'path = "frame.csv"', 'path = "../shared data/frame.csv"')
    e = _config_error(survey)
    assert e.key == "frame.path" and "outside the survey folder" in e.problem and "HHSURVEY_DATA_ROOTS" in e.problem
    monkeypatch.setenv("HHSURVEY_DATA_ROOTS", str(data))
    c = config.load(survey)
    assert config.inputs(c)["clean"] == [survey / "../shared data/frame.csv", survey / "sample_eas.csv"]
    (data / "gen.py").write_text("")
    _edit(survey, "[files.household]", '[raw]\ngenerator = "../shared data/gen.py"\n\n[files.household]')
    e = _config_error(survey)
    assert e.key == "raw.generator" and "outside the survey folder" in e.problem and "HHSURVEY" not in e.problem


@pytest.mark.parametrize("old, new, key", [
    ("[files.person]", '[files."../../../escaped"]', 'files.../../../escaped'),
    ('id = "hh_fiber"', 'id = "../../hh_fiber"', "indicators[1].id"),
    ('id = "urban"', 'id = "a/b"', "domains[2].id"),
])
def test_names_that_become_output_files_cannot_leave_the_output_folder(survey, old, new, key):
    _edit(survey, old, new)
    e = _config_error(survey)
    assert e.key == key and "output file name" in e.problem


def test_outputs_refuse_a_name_outside_their_folder(tmp_path):
    for name in ("../x.csv", "/tmp/x.csv", "a/../../x.csv"):
        with pytest.raises(PipelineError, match="would leave the output folder"):
            with io.Outputs(tmp_path / "out") as out:
                out.text("x", name)
    assert not (tmp_path / "x.csv").exists() and list((tmp_path / "out").iterdir()) == []


def test_config_cli_reports_it_before_make_runs_anything(survey):
    _edit(survey, 'path = "frame.csv"', 'path = "$(shell id).csv"')
    p = subprocess.run([sys.executable, "-m", "pipeline.config", str(survey)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith(f"error: {survey}/survey.toml: frame.path: character '$' not allowed")


def test_clean_removes_only_build_and_figures_of_the_survey(tmp_path):
    repo = tmp_path / "repo"
    for d in ("analysis", "build/analysis", "figures/analysis", "build/other"):
        (repo / d).mkdir(parents=True)
        (repo / d / "x").write_text("x")
    s = tmp_path / "Household survey" / "analysis"
    s.mkdir(parents=True)
    removed = config.clean(s, repo / "build/analysis", repo / "figures/analysis", root=repo)
    assert removed == [repo / "build/analysis", repo / "figures/analysis"]
    assert (repo / "analysis" / "x").exists() and (repo / "build/other/x").exists()
    (repo / "build/analysis").mkdir()
    (s / "raw").mkdir()
    for build in (repo / "analysis", repo / "build" / "analysis" / "..", repo, repo / "build", repo / "build/other",
                  tmp_path, s, s / "raw", Path("/"), Path.home()):
        with pytest.raises(PipelineError, match="refusing to remove"):
            config.clean(s, build, repo / "figures/analysis", root=repo)
    assert (repo / "analysis" / "x").exists() and (repo / "build/other/x").exists()
    # a build folder that is a link to analysis/: the link goes, what it points to stays
    (repo / "build/analysis").rmdir()
    (repo / "build/analysis").symlink_to(repo / "analysis")
    assert config.clean(s, repo / "build/analysis", repo / "figures/analysis", root=repo) == [repo / "build/analysis"]
    assert (repo / "analysis" / "x").exists()


@pytest.mark.skipif(not HAS_MAKE, reason="make or .venv missing")
def test_make_clean_with_a_space_in_survey_keeps_analysis(tmp_path):
    """The issue's case: SURVEY='.../Household survey/analysis' once ran rm -rf on analysis/."""
    s = tmp_path / "Household survey" / "analysis"
    s.mkdir(parents=True)
    link = ROOT / "build" / "analysis"
    assert not link.exists() and not link.is_symlink()
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(ROOT / "analysis")
    try:
        p = _make("clean", f"SURVEY={s}")
        assert p.returncode == 0, p.stderr
        assert "removed build/analysis" in p.stdout
        assert (ROOT / "analysis" / "__init__.py").is_file()
        p = _make("clean", f"SURVEY={s}", "BUILD=analysis")
        assert p.returncode == 2 and "refusing to remove" in p.stderr
        assert (ROOT / "analysis" / "__init__.py").is_file()
    finally:
        if link.is_symlink():
            link.unlink()


@pytest.mark.skipif(not HAS_MAKE, reason="make or .venv missing")
def test_make_all_and_clean_with_spaces_everywhere(tmp_path):
    s = build_survey(tmp_path / "Household survey", fmt="csv", strata=False, name="analysis")
    build, figs = tmp_path / "b uild", tmp_path / "fig ures"
    v = [f"SURVEY={s}", f"BUILD={build}", f"FIGS={figs}"]
    p = _make("all", *v)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (build / "estimates.xlsx").is_file() and (figs / "report.html").is_file()
    again = _make("all", *v)
    assert again.returncode == 0 and "pipeline." not in again.stdout
    p = _make("clean", *v)
    assert p.returncode == 0 and not build.exists() and not figs.exists()
    assert (ROOT / "analysis" / "__init__.py").is_file() and s.is_dir()


# --- 2. expressions mean what they say ------------------------------------------------------
DF = pd.DataFrame({"a": [1.0, 2, np.nan, 1], "b": [1.0, 0, 1, 2], "q_mobile": [1.0, 2, 1, 2],
                   "district": ["01", "02", "01", None], "flag": [True, False, True, False]})


def test_booleans_count_in_arithmetic():
    """(a == 1) + (b == 1) is the number of conditions met, not 'any of'."""
    got = evaluate("(a == 1) + (b == 1)", DF)
    assert got.iloc[[0, 1, 3]].tolist() == [2.0, 0.0, 1.0] and pd.isna(got.iloc[2])
    assert evaluate("flag + flag", DF).tolist() == [2.0, 0.0, 2.0, 0.0]
    assert evaluate("(a == 1) * 10", DF).iloc[[0, 1]].tolist() == [10.0, 0.0]
    # a mean of the count, as an indicator would take it (1.1842 vs 0.5465 in the demo case)
    assert evaluate("(q_mobile == 1) + (b == 1)", DF).mean() == 1.0


@pytest.mark.parametrize("e", ["-(a == 1)", "-flag", "1 - -(b == 1)"])
def test_unary_minus_of_a_boolean_is_refused(e):
    with pytest.raises(ExpressionError, match="unary minus of a true/false value .* write 'not'"):
        evaluate(e, DF)


@pytest.mark.parametrize("e, words", [
    ("q_mobile == '1'", ["column 'q_mobile' is numeric (float64)", "'1' is text"]),
    ("isin(q_mobile, ['1'])", ["isin()/in of text ['1']", "column 'q_mobile' is numeric (float64)"]),
    ("q_mobile in ['1', '2']", ["isin()/in of text", "column 'q_mobile' is numeric"]),
    ("district == 1", ["column 'district' is text", "1 is numeric"]),
    ("isin(district, [1, 2])", ["isin()/in of numbers [1, 2]", "column 'district' is text"]),
    ("isin(district, ['01', 2])", ["mixes numbers and text"]),
])
def test_text_against_numbers_is_an_error_naming_the_column(e, words):
    with pytest.raises(ExpressionError) as err:
        evaluate(e, DF)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_identifiers_must_be_written_exactly():
    with pytest.raises(ExpressionError, match=r"name 'ｑ_mobile' is not written as a plain column name .*'q_mobile'"):
        parse("ｑ_mobile == 1")
    with pytest.raises(ExpressionError, match="not written as a plain column name"):
        parse("ｉsin(q_mobile, [1])")
    assert evaluate("q_mobile == 1", DF).tolist() == [True, False, True, False]


def test_division_by_zero_gives_missing_and_is_reported():
    with pytest.warns(ExpressionWarning, match=r"expression 'a / b': division by zero in 1 row\(s\) gives missing"):
        got = evaluate("a / b", DF)
    assert got.tolist()[0] == 1.0 and got.tolist()[3] == 0.5 and got.isna().tolist() == [False, True, True, False]
    for e in ("a // (b - b)", "a % 0", "1 / 0"):
        with pytest.warns(ExpressionWarning, match="division by zero"):
            got = evaluate(e, DF)
        assert got.isna().all() and not np.isinf(got.astype("float64")).any()
    with pytest.warns(ExpressionWarning, match="too large to be a number"):
        assert evaluate("a * 1e308 * 10", DF).isna().all()


@pytest.mark.parametrize("e, problem", [
    ("1" * 1990 + " > a", "is too large (at most 2**53"),
    ("a > 1e400", "number inf is not finite"),
    ("isin(a, [-'a'])", "isin()/in needs a list of constants"),
    ("a" + " + a" * 150, "nested more than 100 levels deep"),
    ("not " * 400 + "a", "nested more than 100 levels deep"),
    ("(" * 300 + "a" + ")" * 300, "syntax error" if sys.version_info < (3, 12) else "nested"),
])
def test_long_literals_and_deep_nesting_give_a_clear_error(e, problem):
    with pytest.raises(ExpressionError) as err:
        evaluate(e, DF)
    assert problem in err.value.problem
    assert len(str(err.value)) < 300


def test_expression_mistakes_in_the_config_are_exit_2_naming_the_key(survey, capsys):
    from pipeline import ingest
    _edit(survey, 'numerator = "q_fiber == 1"', 'numerator = "isin(q_fiber, [-\'a\'])"')
    code, lines = _run_in_process(ingest.main, ["--survey", str(survey), "--build", str(survey.parent / "b")], capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: {survey}/survey.toml: indicators[1].numerator: isin()/in needs a list")


def test_an_evaluation_mistake_is_exit_2_at_the_stage(survey, capsys):
    """q_fiber is numeric: comparing it with text stops the estimate stage naming the key and column."""
    from pipeline import clean, estimate, ingest, weight
    build = survey.parent / "b"
    argv = ["--survey", str(survey), "--build", str(build)]
    for stage in (ingest, clean, weight):
        assert _run_in_process(stage.main, argv, capsys)[0] == 0
    _edit(survey, 'numerator = "q_fiber == 1"', "numerator = \"q_fiber == '1'\"")
    code, lines = _run_in_process(estimate.main, argv, capsys)
    assert code == 2 and lines[-1].startswith("error: ") and "indicators[1].numerator" in lines[-1]
    assert "column 'q_fiber' is numeric" in lines[-1]


# --- 3. inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["inf", "-Infinity", "1e400"])
def test_non_finite_numbers_in_a_csv_are_errors_naming_file_row_column(survey, text):
    path = survey / "raw" / "household.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("n_smartphones")] = text
    lines[5] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PipelineError) as e:
        io.read_raw(path, "csv")
    assert (e.value.file, e.value.key) == (str(path), "n_smartphones")
    assert e.value.problem.startswith(f"non-finite number {text!r} (data row 5)")


def test_non_finite_numbers_in_frame_and_controls_are_errors(survey):
    frame = survey / "frame.csv"
    df = pd.read_csv(frame)
    df["pi_ea"] = df["pi_ea"].astype(object)
    df.loc[2, "pi_ea"] = "inf"
    df.to_csv(frame, index=False)
    with pytest.raises(PipelineError) as e:
        io.read_table(frame)
    assert (e.value.file, e.value.key) == (str(frame), "pi_ea") and "non-finite number inf (data row 3)" in e.value.problem


def test_non_finite_numbers_in_parquet_and_sav(tmp_path):
    df = pd.DataFrame({"hhid": [1, 2, 3], "x": [1.0, np.inf, 2.0]})
    for ext in ("parquet", "sav"):
        path = tmp_path / f"t.{ext}"
        write_table(df, path)
        with pytest.raises(PipelineError) as e:
            io.read_raw(path, ext)
        assert e.value.key == "x" and "non-finite number inf" in e.value.problem
        assert ("(data row 2)" if ext == "csv" else "(record 2)") in e.value.problem


@pytest.mark.parametrize("reader", ["raw", "table"])
def test_duplicate_csv_headers_are_errors(tmp_path, reader):
    path = tmp_path / "dup.csv"
    path.write_text("hhid,q_mobile,age,q_mobile\n1,1,30,2\n2,2,40,1\n")
    with pytest.raises(PipelineError) as e:
        io.read_raw(path, "csv") if reader == "raw" else io.read_table(path)
    assert e.value.key == "q_mobile" and e.value.problem == "duplicate column name (columns 2 and 4)"
    path.write_text("hhid,,age\n1,1,30\n")
    with pytest.raises(PipelineError, match="blank column name"):
        io.read_raw(path, "csv") if reader == "raw" else io.read_table(path)


def _sav_with_count(path: Path, n: int, cut: int = 0) -> None:
    b = bytearray(path.read_bytes())
    b[80:84] = struct.pack("<i", n)
    path.write_bytes(bytes(b[:len(b) - cut]))


def test_sav_whose_rows_cannot_be_confirmed_complete(tmp_path):
    df = pd.DataFrame({"hhid": np.arange(3042.0), "x": np.arange(3042.0) % 7})
    path = tmp_path / "h.sav"
    write_table(df, path)
    assert len(io.read_raw(path, "sav")[0]) == 3042
    _sav_with_count(path, -1, cut=2000)     # header says "unknown", file truncated: pyreadstat reads fewer rows
    with pytest.raises(PipelineError, match=r"header does not state the number of records, so the \d+ records read "
                                            r"cannot be confirmed complete"):
        io.read_raw(path, "sav")
    write_table(df, path)
    _sav_with_count(path, 3100)             # more records stated than the file holds
    with pytest.raises(PipelineError) as e:
        io.read_raw(path, "sav")
    assert e.value.file == str(path) and "3100" in e.value.problem or "not a readable SPSS file" in e.value.problem


def test_dta_row_count_is_confirmed(tmp_path):
    df = pd.DataFrame({"hhid": np.arange(50.0), "x": np.arange(50.0)})
    path = tmp_path / "h.dta"
    write_table(df, path)
    assert len(io.read_raw(path, "dta")[0]) == 50
    b = path.read_bytes()
    i = b.index(b"<N>") + 3
    path.write_bytes(b[:i] + (40).to_bytes(8, "little") + b[i + 8:])
    with pytest.raises(PipelineError) as e:
        io.read_raw(path, "dta")
    assert "header states 40 records but 50 were read" in e.value.problem or "not a readable Stata file" in e.value.problem


@pytest.mark.parametrize("old, new, key, problem", [
    ("max = 15", "max = nan", "clean.rules[1].max", "must be a finite number, got nan"),
    ("upper = 3.5", "upper = nan", "weighting.trim.upper", "must be a finite number, got nan"),
    ("upper = 3.5", "upper = inf", "weighting.trim.upper", "must be a finite number, got inf"),
    ("allowed = [1, 2, 3, 4]", "allowed = [1, 2, nan]", "clean.rules[0].allowed[2]", "must be a finite number"),
    ("allowed = [1, 2, 3, 4]", "allowed = [1, " + "9" * 1999 + "]", "clean.rules[0].allowed[1]", "integer out of range"),
    ("[[domains]]", "[reporting]\nmin_n_eff = nan\n\n[[domains]]", "reporting.min_n_eff", "must be a finite number"),
    ("[weighting.trim]", "[weighting.replicates]\nmethod = \"JK1\"\nn = 1000000\n\n[weighting.trim]",
     "weighting.replicates.n", "must be <= 10000, got 1000000"),
    ("[weighting.trim]", "[weighting.rake]\nmax_iter = 1000000000\n\n[weighting.trim]",
     "weighting.rake.max_iter", "must be <= 10000"),
    ("[weighting.trim]", "[weighting.rake]\nmax_iter = 1e9\n\n[weighting.trim]",
     "weighting.rake.max_iter", "expected integer, got float"),
    ("[weighting.trim]", "[weighting.rake]\ntol = 0\n\n[weighting.trim]", "weighting.rake.tol", "must be >= 1e-15, got 0"),
    ("[weighting.trim]", "[weighting.replicates]\nmethod = \"bootstrap\"\nseed = -1\n\n[weighting.trim]",
     "weighting.replicates.seed", "must be >= 0"),
])
def test_non_finite_and_unbounded_config_numbers_are_errors(survey, old, new, key, problem):
    _edit(survey, old, new)
    e = _config_error(survey)
    assert e.key == key and problem in e.problem, e.line()


def test_toml_nested_very_deep_is_a_clear_error(survey):
    p = survey / "survey.toml"
    p.write_text(p.read_text() + "\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    e = _config_error(survey)
    assert e.key is None and "nested too deeply" in e.problem


# --- 4. outputs -------------------------------------------------------------------------------
def test_text_that_looks_like_a_formula_is_text_in_excel():
    df = pd.DataFrame({"label": ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2", "@SUM(A1)", "plain", "=1"],
                       "v": [1.0, 2.0, -3.0, 4.0, 5.0, 6.0]})
    data = io.xlsx_bytes({"t": df})
    sheet = zipfile.ZipFile(__import__("io").BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    from openpyxl import load_workbook
    ws = load_workbook(__import__("io").BytesIO(data))["t"]
    cells = [(c.value, c.data_type) for c in ws["A"][1:]]
    assert cells == [(v, "s") for v in df["label"]]
    assert all(c.quotePrefix for c in ws["A"][1:5]) and not ws["A"][5].quotePrefix
    assert [c.value for c in ws["B"][1:]] == [1, 2, -3, 4, 5, 6]     # numbers stay numbers
    assert io.xlsx_bytes({"t": df}) == data                           # still deterministic


SIGTERM_SCRIPT = """
import sys, time
from pathlib import Path
from pipeline import errors, io

def main(argv):
    with io.Outputs(Path(sys.argv[1])) as out:
        out.text("partial", "a.txt")
        out.text("partial", "b.txt")
        print("ready", flush=True)
        # short sleeps, as a working stage runs bytecode: numpy's and pyarrow's threads can take a
        # process signal, and then only the main thread's next bytecode runs the handler
        for _ in range(300):
            time.sleep(0.1)

errors.run(main)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_temporary_files_are_removed_on_sigterm(tmp_path, sig):
    out = tmp_path / "out"
    # the child starts with the default SIGINT action: a test run started in the background of a
    # non-interactive shell ignores SIGINT, and an ignored signal stays ignored across exec
    p = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline().strip() == "ready"
    assert len(list(out.glob(".*.tmp"))) == 2
    p.send_signal(sig)
    _, err = p.communicate(timeout=20)
    if sig == signal.SIGINT:
        assert p.returncode == 130 and err.strip() == "error: interrupted"
    else:
        assert p.returncode == 128 + sig
        assert err.strip() == f"error: terminated ({sig.name}); temporary files removed"
    assert list(out.iterdir()) == []


def test_stale_temporary_files_of_killed_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / f".estimates.csv.{pid}.tmp", out / f".manifest.json.{pid}.tmp"]
    live = out / f".x.csv.{os.getppid()}.tmp"          # a run still going on keeps its files
    for f in stale + [live]:
        f.write_text("half")
    (out / "keep.tmp").write_text("not ours")
    with io.Outputs(out) as o:
        o.text("done", "estimates.csv")
    assert sorted(p.name for p in out.iterdir()) == sorted(["estimates.csv", live.name, "keep.tmp"])


LOCK_HOLDER = """
import sys
from pathlib import Path
from pipeline import errors
errors.lock(Path(sys.argv[1]), "ingest", ["--survey", "x", "--build", "y"])
print("locked", flush=True)
sys.stdin.read()          # hold the lock until the test closes stdin
"""


def test_concurrent_runs_of_a_stage_are_serialised(survey, tmp_path):
    """A second run of a stage on the same build folder says it waits, and waits for the first."""
    build = tmp_path / "b"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(build)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    second = subprocess.Popen([sys.executable, "-m", "pipeline.ingest", "--survey", str(survey), "--build", str(build)],
                              cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    first_line = second.stderr.readline()
    assert "another run of this stage on" in first_line and "waiting for it" in first_line
    time.sleep(0.5)
    assert second.poll() is None and not (build / "ingest").exists()     # still waiting, nothing written
    holder.stdin.close()
    holder.wait(timeout=20)
    rest = second.stderr.read()
    assert second.wait(timeout=60) == 0, rest
    assert (build / "ingest" / "manifest.json").is_file()
    # the lock goes with the process: a run right after does not wait
    p = run_stage("ingest", survey, build)
    assert p.returncode == 0 and "waiting" not in p.stderr


TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def test_run_releases_its_locks(survey, tmp_path, capsys):
    """A stage run in-process through errors.run does not keep its lock (no later run waits for it)."""
    build = tmp_path / "b"
    path = errors.lock(build, "ingest", [])
    probe = [sys.executable, "-c", TRY_LOCK, str(path)]
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "held"
    errors.release_locks()
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "free"
    from pipeline import ingest
    code, _ = _run_in_process(ingest.main, ["--survey", str(survey), "--build", str(build)], capsys)
    assert code == 0 and not errors._HELD
    held = list((build / ".locks").iterdir())
    assert held and all(subprocess.run([sys.executable, "-c", TRY_LOCK, str(p)], capture_output=True,
                                       text=True).stdout.strip() == "free" for p in held)


@pytest.mark.skipif(not HAS_MAKE, reason="make or .venv missing")
def test_two_makes_at_once_both_succeed(survey, tmp_path):
    """Two `make` of the same survey at once (the issue: one failed on inputs.mk.tmp)."""
    build = tmp_path / "b"
    target = str(build / "ingest" / "manifest.json")
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    procs = [subprocess.Popen(["make", "--no-print-directory", f"SURVEY={survey}", f"BUILD={build}",
                               f"FIGS={tmp_path / 'f'}", target], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert (build / "ingest" / "manifest.json").is_file() and (build / "inputs.mk").is_file()
    assert not list(build.rglob("*.tmp"))


def test_inputs_mk_is_written_atomically_per_process(survey, tmp_path):
    out = tmp_path / "b" / "inputs.mk"
    procs = [subprocess.Popen([sys.executable, "-m", "pipeline.config", "--make-deps", str(survey), "--out", str(out)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert out.read_text() == config.make_deps(survey)
    assert [p.name for p in out.parent.iterdir()] == ["inputs.mk"]


def test_read_only_output_folder_is_exit_2_with_one_line(survey, tmp_path, capsys, monkeypatch):
    from pipeline import ingest
    build = tmp_path / "b"
    (build / "ingest").mkdir(parents=True)
    (build / "ingest").chmod(0o555)
    if os.geteuid() == 0:   # root ignores permission bits: refuse the write as the file system would
        real_open = open

        def refusing_open(file, *a, **k):
            if str(file).startswith(str(build / "ingest")) and "w" in (a[0] if a else k.get("mode", "r")):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)
        monkeypatch.setattr(io, "open", refusing_open, raising=False)
    try:
        code, lines = _run_in_process(ingest.main, ["--survey", str(survey), "--build", str(build)], capsys)
    finally:
        (build / "ingest").chmod(0o755)
    assert code == 2 and len(lines) == 3 and lines[-1].startswith(f"error: {build / 'ingest'}: cannot write the output")
    assert "Permission denied" in lines[-1] and "internal" not in lines[-1]
    assert list((build / "ingest").iterdir()) == []


# --- 5. exit codes ------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate, words", [
    (lambda s: _edit(s, "max = 15", "max = nan"), ["survey.toml", "clean.rules[1].max", "nan"]),
    (lambda s: _edit(s, 'path = "frame.csv"', 'path = "../../etc/passwd"'), ["survey.toml", "frame.path", "../../etc/passwd"]),
    (lambda s: (s / "raw/person.csv").write_text("hhid,line,age,line\n1,1,2,3\n"), ["raw/person.csv", "line", "duplicate"]),
    (lambda s: _edit(s, 'universe = "age >= 15"', 'universe = "age >= 15 + ' + "9" * 1900 + '"'),
     ["survey.toml", "indicators[2].universe", "too large"]),
])
def test_operator_mistakes_are_exit_2_one_line_as_a_command(survey, tmp_path, mutate, words):
    mutate(survey)
    p = run_stage("ingest", survey, tmp_path / "b")
    lines = p.stderr.strip().splitlines()
    errors_ = [ln for ln in lines if ln.startswith("error: ")]
    assert p.returncode == 2 and errors_ == [lines[-1]] and "internal" not in lines[-1] and "Traceback" not in p.stderr
    for w in words:
        assert w in lines[-1], lines[-1]


# --- weighting sanity and the pipeline's own cases (issue 15, items 3, 8, 10) -----------------------------
# Person controls doubled (integrated calibration "converged" to weights from 2.5e-6 to 12,742), a control
# typo of 1 for 26,600 (weights of 0.002, exit 0), household tables with different grand totals: each stops
# the weight stage with one line naming the table, cell or totals ([weighting.checks] accept = true lets an
# office use them anyway).  Also: the calibration's wall-clock guard, derived columns that would overwrite
# collected ones, blank keys, a blank frame probability, figure workers outliving a killed stage.


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
        try:   # gone, or a zombie whose new parent (a container's PID 1) does not reap it
            if open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except (FileNotFoundError, ProcessLookupError):
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


def test_calibration_has_a_wall_clock_guard(demo, tmp_path):
    s, b = _variant(demo, tmp_path, lambda s: None)
    text = (s / "survey.toml").read_text(encoding="utf-8")
    (s / "survey.toml").write_text(text.replace("[weighting.trim]", "[weighting.rake]\nmax_seconds = 0.000001\n\n"
                                                "[weighting.trim]"), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"weighting.rake.max_seconds: the calibration did not finish in 1e-06 s"):
        _weigh(s, b)


def test_a_set_rule_value_of_the_wrong_type_is_refused(make_survey, tmp_path):
    s = make_survey(fmt="csv", name="settype")
    text = (s / "survey.toml").read_text(encoding="utf-8")
    text = text.replace('action = "set_missing"\nvariables = ["q_fiber"]', 'action = "set"\nset = { q_fiber = "abc" }')
    (s / "survey.toml").write_text(text, encoding="utf-8")
    b = tmp_path / "b"
    run_stage("ingest", s, b, check=True)
    p = run_stage("clean", s, b)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].endswith(
        "clean.rules[2].set.q_fiber: value 'abc' does not fit column 'q_fiber' of the household data (numeric, float64)")


def test_a_raw_column_named_like_the_quarantine_reasons_is_refused(make_survey, tmp_path):
    s = make_survey(fmt="csv", name="rulecol")
    hh = pd.read_csv(s / "raw" / "household.csv")
    hh["_rule"] = 1
    hh.to_csv(s / "raw" / "household.csv", index=False)
    b = tmp_path / "b"
    run_stage("ingest", s, b, check=True)
    p = run_stage("clean", s, b)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == (f"error: {s / 'raw' / 'household.csv'}: _rule: column name reserved "
                                                 "for the quarantine file's reason columns (rename it in the raw file)")
