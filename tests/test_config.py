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
    ('label = { vi = "Huyện", en = "District" }', 'label = { vi = "" }', "domains[1].label.vi", "expected a non-empty string"),
    ('label = { vi = "Huyện", en = "District" }', 'label = { vietnamese = "Huyện" }', "domains[1].label.vietnamese",
     "expected a language code"),
    ('label = { vi = "Huyện", en = "District" }', 'label = 7', "domains[1].label", "expected a string or a table of languages"),
    ('[weighting]', '[weighting]\nnonresponse_class = ["x"]', "weighting.nonresponse_class",
     "valid keys: eligible, respondent, nonresponse_classes, controls, rake, trim, checks, replicates) (did you mean "
     "'nonresponse_classes'?)"),
    ('prob = "pi_ea"\n', '', "frame.prob", "required key is missing"),
    ('check = "codes"', 'check = "kodes"', "clean.rules[0].check", "expected one of"),
    ('id = "hh_fiber"', 'id = "hh_smartphone"', "indicators[1].id", "duplicate id"),
    ('path = "raw/household.sav"', 'path = "raw/household.xls"', "files.household.path", "unknown format"),
    ('[[indicators]]', '[[indicatorz]]', "indicatorz", "(did you mean 'indicators'?)"),
    ('respondent = "result == 1"\n', '', "weighting.respondent", "required when the weights are computed"),
    ('psu = "ea_id"', 'psu = "ea_id"\nreplicate_type = "JK1"', "design.replicate_type", "need the delivered final weights"),
    ('[[domains]]\nid = "all"', '[[domains]]\nchart = true\nid = "all"', "domains[0].chart", "exactly one by variable"),
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


# --- surveys of any shape pass (and fail) at the config check, not in a later stage -----------------
def test_optional_tables_and_plain_labels(make_survey):
    s = make_survey()
    text = (s / "survey.toml").read_text(encoding="utf-8")
    start, end = text.index("[[clean.rules]]"), text.index("[weighting]")
    _edit(s, text[start:end], "")                       # no [clean] table at all
    _edit(s, 'title = { vi = "Khảo sát thử", en = "Test survey" }', 'title = "Test survey"')
    _edit(s, 'label = { vi = "Huyện", en = "District" }', 'label = { fr = "Département" }')
    c = config.load(s)
    assert c["clean"] == {"rules": [], "derive": []}
    assert c["survey"]["title"] == "Test survey" and c["domains"][1]["label"] == {"fr": "Département"}


def test_delivered_weights_need_no_frame_or_weighting(make_survey):
    s = make_survey()
    text = (s / "survey.toml").read_text(encoding="utf-8")
    for table in ("[frame]", "[weighting]", "[[weighting.controls]]", "[weighting.trim]"):
        start = text.index(table)
        end = text.index("\n\n", start)
        text = text[:start] + text[end + 2:]
    text = text.replace('psu = "ea_id"', 'psu = "ea_id"\nweights = "w"')
    (s / "survey.toml").write_text(text, encoding="utf-8")
    c = config.load(s)
    assert c["design"]["weights"] == "w" and "frame" not in c and c["weighting"] is None
    # without delivered weights the same config is refused by the config check, naming what is missing
    (s / "survey.toml").write_text(text.replace('weights = "w"\n', ""), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"survey.toml: weighting: required unless the data deliver their weights"):
        config.load(s)


def test_household_only_survey_passes(make_survey):
    s = make_survey()
    text = (s / "survey.toml").read_text(encoding="utf-8")
    start = text.index("[files.person]")
    text = text[:start] + text[text.index("[frame]"):]
    text = text.replace('[[clean.rules]]\nid = "age_range"\nfile = "person"\ncheck = "range"\nvariable = "age"\n'
                        'min = 0\nmax = 110\naction = "quarantine"\n', "")
    text = text[:text.index("[[clean.derive]]")] + text[text.index("[weighting]"):]
    text = text[:text.index('[[indicators]]\nid = "p_internet"')]
    text = text.replace('require_children = "result == 1"\n', "")
    (s / "survey.toml").write_text(text, encoding="utf-8")
    c = config.load(s)
    assert list(c["files"]) == ["household"]


def test_no_stage_imports_another_stage():
    for stage in config.STAGES:
        mods, _ = config.stage_modules(stage)
        others = {f"pipeline/{s}.py" for s in config.STAGES} - {f"pipeline/{stage}.py"}
        assert not set(mods) & others, (stage, set(mods) & others)


def test_make_deps_lists_each_stages_modules(make_survey):
    text = config.make_deps(make_survey())
    weight = re.search(r"^WEIGHT_MODULES := (.*)$", text, re.M).group(1).split()
    assert weight[0] == "pipeline/weight.py" and "pipeline/weighting.py" in weight and "$(ANALYSIS)" in weight
    ingest = re.search(r"^INGEST_MODULES := (.*)$", text, re.M).group(1).split()
    assert "$(ANALYSIS)" not in ingest and "pipeline/io.py" in ingest



def test_make_deps_imports_neither_patsy_nor_pandas_but_load_checks_formulas(tmp_path):
    """--make-deps runs before every make: it reads the demo config (with [[models]]) without patsy or pandas
    (0.8 s); the full check (every stage, python -m pipeline.config) still parses the formulas."""
    import shutil
    import subprocess
    import sys
    from conftest import ROOT
    code = ("import sys; from pipeline import config; config.make_deps('surveys/qb2022'); "
            "print(sorted(m for m in ('patsy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # --generate starts the demo's generator (first on the critical path of `make all`): nor there
    code = ("import subprocess, sys; subprocess.run = lambda *a, **k: type('R', (), {'returncode': 0})(); "
            "from pipeline import config; assert config.generate('surveys/qb2022') == 0; "
            "print(sorted(m for m in ('patsy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    survey = tmp_path / "s"
    shutil.copytree(ROOT / "surveys" / "qb2022", survey, ignore=shutil.ignore_patterns("raw"))
    toml = survey / "survey.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('formula = "fiber ~ C(urban) + C(district) + hh_size"',
                                 'formula = "fiber ~ C(urban) +* hh_size"'), encoding="utf-8")
    config.load(survey, parse_formulas=False)
    with pytest.raises(PipelineError, match=r"models\[0\]\.formula: not a valid formula"):
        config.load(survey)

def _paths(node, path=()):
    """Every key path of a parsed TOML document (into tables and arrays of tables)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,)
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict):
                yield from _paths(v, path + (i,))


def test_no_config_mistake_is_an_internal_error():
    """Every key of the demo's survey.toml removed, or given a value of each wrong type: the check either
    accepts the config or raises one PipelineError naming a key; never another exception (exit 3)."""
    import copy
    import tomllib
    from conftest import ROOT
    raw = tomllib.loads((ROOT / "surveys" / "qb2022" / "survey.toml").read_text(encoding="utf-8"))
    bad_values = (None, -1, 1e308, "", ["x"], {"x": 1}, True)  # missing, and one of each wrong type
    n = 0
    for path in _paths(raw):
        for value in bad_values:
            doc = copy.deepcopy(raw)
            parent = doc
            for k in path[:-1]:
                parent = parent[k]
            if value is None:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            try:
                config.validate(doc, ROOT / "surveys" / "qb2022")
            except PipelineError as e:
                assert e.key or e.problem, path
            n += 1
    assert n > 1500


@pytest.mark.parametrize("replace, key, problem", [
    ('replicate_type = "Fay"', "design.fay_rho", "required with replicate_type = 'Fay'"),
    ('replicate_type = "JKn"', "design.rscales", "required with replicate_type = 'JKn'"),
    ('replicate_type = "successive-difference"\nscale = 0.2', "design.scale", "not used with replicate_type"),
    ('replicate_type = "SDR"\nrscales = [1, 1]', "design.rscales", "not used with replicate_type"),
    ('replicate_type = "BRR2"', "design.replicate_type", "expected one of"),
])
def test_delivered_replicate_types_checked_at_the_config(tmp_path, replace, key, problem):
    """What ReplicateDesign would refuse in the weight stage is refused by the config check."""
    import shapes
    s = shapes.build(tmp_path, "person_only")
    _edit(s, 'replicate_type = "bootstrap"', replace)
    with pytest.raises(PipelineError) as e:
        config.load(s)
    assert f": {key}: " in e.value.line() and problem in e.value.line(), e.value.line()


def test_replicate_types_are_the_library_s():
    from analysis.replicate import REPLICATE_TYPES
    assert config.REPLICATE_TYPES == REPLICATE_TYPES
    assert set(config.SDR_TYPES) <= set(REPLICATE_TYPES)
