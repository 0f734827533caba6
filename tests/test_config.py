"""survey.toml schema validation: every error names the key path and the problem."""
import re

import pytest

from pipeline import config
from pipeline.errors import PipelineError


def _edit(survey, old, new, count=1):
    p = survey / "survey.toml"
    s = p.read_text(encoding="utf-8")
    assert old in s, old
    p.write_text(s.replace(old, new, count), encoding="utf-8")


def test_valid_config_loads_with_defaults(make_survey):
    c = config.load(make_survey())
    assert c["reporting"]["ci_method"] == "beta"
    assert c["reporting"]["min_n_eff"] == 30 and c["reporting"]["max_ci_width"] == 0.30
    assert c["files"]["household"]["format"] == "sav"
    assert c["indicators"][0]["kind"] == "proportion"
    assert c["design"]["lonely_psu"] == "fail"


@pytest.mark.parametrize("old, new, key, problem", [
    ('[frame]', '[frame]\ncolour = "red"', "frame.colour", "unknown key"),
    ('psu = "ea_id"', 'psu = "ea_id"\nstrata_col = "x"', "design.strata_col", "unknown key"),
    ('numerator = "q_fiber == 1"', 'numerator = 3', "indicators[1].numerator", "expected string, got integer"),
    ('numerator = "q_fiber == 1"', 'numerator = "q_fiber.real == 1"', "indicators[1].numerator", "attribute access"),
    ('numerator = "q_fiber == 1"', 'numerator = "open(q_fiber)"', "indicators[1].numerator", "call of open()"),
    ('unit = "household"', 'unit = "village"', "indicators[0].unit", "expected one of household, person"),
    ('key = ["hhid"]', 'key = "hhid"', "files.household.key", "expected array, got string"),
    ('key = ["hhid"]', 'key = []', "files.household.key", "at least 1"),
    ('upper = 3.5', 'upper = "high"', "weighting.trim.upper", "expected number, got string"),
    ('upper = 3.5', 'upper = 0.5', "weighting.trim.upper", "must be >= 1"),
    ('label = { vi = "Huyện", en = "District" }', 'label = { vi = "Huyện", en = 3 }', "domains[1].label.en", "expected string, got integer"),
    ('label = { vi = "Huyện", en = "District" }', 'label = { Vietnamese = "Huyện" }', "domains[1].label.Vietnamese", "expected a language code"),
    ('label = { vi = "Huyện", en = "District" }', 'label = 1', "domains[1].label", "expected string or table of languages"),
    ('prob = "pi_ea"\n', '', "frame.prob", "required key is missing"),
    ('check = "codes"', 'check = "kodes"', "clean.rules[0].check", "expected one of"),
    ('id = "hh_fiber"', 'id = "hh_smartphone"', "indicators[1].id", "duplicate id"),
    ('path = "raw/household.sav"', 'path = "raw/household.xls"', "files.household.path", "unknown format"),
    ('[[indicators]]', '[[indicatorz]]', "indicatorz", "unknown key (did you mean 'indicators'?)"),
])
def test_schema_errors_name_the_key(make_survey, old, new, key, problem):
    s = make_survey()
    _edit(s, old, new)
    with pytest.raises(PipelineError) as e:
        config.load(s)
    line = e.value.line()
    assert line.startswith(str(s / "survey.toml") + ": ")
    assert f": {key}: " in line, line
    assert problem in line, line


def test_not_toml(make_survey):
    s = make_survey()
    (s / "survey.toml").write_text("[survey\nname=", encoding="utf-8")
    with pytest.raises(PipelineError, match="not valid TOML"):
        config.load(s)


def test_missing_config(tmp_path):
    with pytest.raises(PipelineError, match="survey.toml: file not found"):
        config.load(tmp_path)


def test_make_deps(make_survey):
    s = make_survey()
    text = config.make_deps(s)
    assert re.search(r"^INGEST_INPUTS := .*raw/household.sav .*raw/person.sav$", text, re.M)
    assert "frame.csv" in text and "controls/households.csv" in text


@pytest.mark.parametrize("derive, key, problem", [
    ('bins = { column = "age", breaks = [15, 60], labels = ["child", "adult"] }', "clean.derive[0].bins.labels", "expected 3 labels"),
    ('bins = { column = "age", breaks = [60, 15], labels = ["a", "b", "c"] }', "clean.derive[0].bins.breaks", "increasing"),
    ('expr = "age > 1"\nbins = { column = "age", breaks = [15], labels = ["a", "b"] }', "clean.derive[0]", "exactly one of expr or bins"),
])
def test_derive_bins_checked(make_survey, derive, key, problem):
    s = make_survey()
    _edit(s, 'expr = "1 + (age >= 15) + (age >= 60)"', derive)
    with pytest.raises(PipelineError) as e:
        config.load(s)
    assert f": {key}: " in e.value.line() and problem in e.value.line(), e.value.line()
