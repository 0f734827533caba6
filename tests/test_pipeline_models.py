"""[[models]] and [[comparisons]] in the pipeline: config checks, the estimate stage's models.csv and
comparisons.csv on the bundled demo (built once for the module), the Holm adjustment, and surveys without them.

models.csv must equal ``design.glm`` on the same (calibrated) design to 1e-10; comparisons.csv the
contrast of the domain estimates computed directly inside the full design; the adjusted p-values R's
``p.adjust`` (stored numbers below, made by the R code beside them; live where Rscript is installed).
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import special

from conftest import ROOT, copy_demo, run_stage, r_has
from pipeline import config
from pipeline.errors import PipelineError
from pipeline.modelling import COMPARISON_COLUMNS, MODEL_COLUMNS, adjust_p

DEMO = ROOT / "surveys" / "qb2022"
demo_only = pytest.mark.skipif(not (DEMO / "generate.py").exists(), reason="demo generator not present")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("modeldemo")
    survey = copy_demo(root)
    build = root / "build"
    for stage in ("ingest", "clean", "weight", "estimate"):
        run_stage(stage, survey, build, check=True)
    return survey, build


@pytest.fixture(scope="module")
def designs(demo):
    """The estimate stage's design of each unit (the weight stage's design and calibration steps)."""
    from pipeline import io
    from pipeline.calibration import calibration_steps
    from pipeline.designs import unit_design
    from pipeline.indicators import prepare
    survey, build = demo
    cfg = config.load(survey)
    data = {u: io.read_parquet(build / "weight" / f"{u}.parquet") for u in ("household", "person")}
    spec = io.read_json(build / "weight" / "design.json")
    steps = calibration_steps(data, cfg, survey, spec)
    out = {}
    for u, df in data.items():
        prepared, _, universes = prepare(df, cfg, u)
        out[u] = (unit_design(prepared, spec, steps.get(u, ())), prepared, universes)
    return cfg, out


def _close(a, b, rtol=1e-10):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-14)


# --- the estimate stage's outputs on the demo ---------------------------------------------
@demo_only
def test_models_csv_equals_design_glm(demo, designs):
    survey, build = demo
    cfg, ds = designs
    table = pd.read_csv(build / "models.csv")
    assert list(table.columns) == MODEL_COLUMNS
    assert list(table["model"].unique()) == [m["id"] for m in cfg["models"]]
    for m in cfg["models"]:
        design, data, _ = ds[m["unit"]]
        where = None
        if "universe" in m:
            from pipeline.expr import evaluate_bool
            where = evaluate_bool(m["universe"], data).fillna(False).to_numpy(bool)
        fit = design.glm(m["formula"], family=m["family"], where=where)
        rows = table[table["model"] == m["id"]]
        ref = fit.to_frame(cfg["reporting"]["level"])
        assert len(rows) == len(ref)
        for col in ("estimate", "se", "t", "p", "ci_low", "ci_high", "exp_estimate", "exp_ci_low", "exp_ci_high", "df"):
            _close(rows[col], ref[col])
        assert (rows["n"] == fit.n).all()
        assert (rows["ratio"] == "odds ratio").all()
        _close(rows["exp_estimate"], np.exp(rows["estimate"]))
    fiber = table[table["model"] == "fiber"].set_index("term")
    # R's names for integer codes; the reference levels (urban 1, district 1) have no row
    assert list(fiber.index) == ["(Intercept)", "urban2"] + [f"district{k}" for k in range(2, 9)] + ["hh_size"]
    assert fiber.loc["district3", "variable"] == "district" and str(fiber.loc["district3", "level"]) == "3"
    # df.residual: design df (81 PSU pairs' strata: PSUs - strata) minus 10 coefficients plus 1
    assert fiber["df"].iloc[0] == ds["household"][0].degf + 1 - 10


@demo_only
def test_comparisons_csv_equals_direct_contrast(demo, designs):
    survey, build = demo
    cfg, ds = designs
    table = pd.read_csv(build / "comparisons.csv", dtype={"a": str, "b": str})
    assert list(table.columns) == COMPARISON_COLUMNS
    assert len(table) == 10 + 28  # 4 urban-rural, 6 male-female, all 28 district pairs
    inds = {x["id"]: x for x in cfg["indicators"]}
    doms = {x["id"]: x for x in cfg["domains"]}
    for k in cfg["comparisons"]:
        ind, by = inds[k["indicator"]], doms[k["domain"]]["by"][0]
        design, data, universes = ds[ind["unit"]]
        est = design.proportion([f"y_{ind['id']}"], by=[by], where=universes[ind["id"]], na_rm=True)
        frame = est.to_frame()
        ones = np.flatnonzero(frame["level"].astype(float).to_numpy() == 1)
        codes = frame[by].to_numpy()[ones]
        rows = table[table["comparison"] == k["id"]]
        for _, r in rows.iterrows():
            w = np.zeros(len(frame))
            w[ones[codes == float(r["a"])]] = 1
            w[ones[codes == float(r["b"])]] = -1
            c = est.contrast(w)
            _close([r["difference"], r["se"], r["ci_low"], r["ci_high"], r["df"]],
                   [c.estimate[0], c.se[0], c.confint().low[0], c.confint().high[0], design.degf])
            t = c.estimate[0] / c.se[0]
            _close([r["t"], r["p"]], [t, 2 * special.stdtr(design.degf, -abs(t))])
            _close([r["estimate_a"] - r["estimate_b"]], [r["difference"]])
        _close(rows["p_adjusted"], adjust_p(rows["p"].to_numpy(), k["adjust"]))
    # the gaps are the estimates table's own domain estimates
    est = pd.read_csv(build / "estimates.csv", dtype={"domain_value": str})
    row = table[table["comparison"] == "hh_fiber_urban"].iloc[0]
    e = est[(est["indicator"] == "hh_fiber") & (est["domain"] == "urban")].set_index("domain_value")["estimate"]
    _close([row["estimate_a"], row["estimate_b"]], [e["1"], e["2"]])
    # the district pairs: 28 p-values, Holm-adjusted together
    d = table[table["comparison"] == "hh_fiber_district"]
    assert len(d) == 28 and (d["p_adjusted"] >= d["p"] - 1e-15).all() and d["p_adjusted"].max() <= 1


@demo_only
def test_domain_by_sex_adds_estimates_but_no_chart(demo):
    survey, build = demo
    est = pd.read_csv(build / "estimates.csv")
    sex = est[est["domain"] == "sex"]
    cfg = config.load(survey)
    persons = [x["id"] for x in cfg["indicators"] if x["unit"] == "person"]
    assert set(sex["unit"]) == {"person"} and len(sex) == 2 * len(persons)
    from pipeline.chart_data import chart_domains
    assert "sex" not in [d["id"] for d in chart_domains(cfg)]


# --- Holm and Bonferroni, as R's p.adjust -----------------------------------------------------
# R 4.x:  p <- c(0.01, 0.04, 0.03, 0.005, NA)
#         p.adjust(p, "holm")        # 0.03 0.06 0.06 0.02 NA
#         p.adjust(p, "bonferroni")  # 0.04 0.16 0.12 0.02 NA
#         p.adjust(c(0.2, 0.5, 0.9), "holm")  # 0.6 1.0 1.0
P = [0.01, 0.04, 0.03, 0.005, np.nan]


def test_adjust_p_as_r():
    _close(adjust_p(P, "holm")[:4], [0.03, 0.06, 0.06, 0.02])
    _close(adjust_p(P, "bonferroni")[:4], [0.04, 0.16, 0.12, 0.02])
    assert np.isnan(adjust_p(P, "holm")[4])
    _close(adjust_p([0.2, 0.5, 0.9], "holm"), [0.6, 1.0, 1.0])
    _close(adjust_p(P, "none")[:4], P[:4])


@pytest.mark.r
def test_adjust_p_live_r():
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not available")
    rng = np.random.default_rng(12)
    p = rng.uniform(0, 0.2, 30)
    code = "p <- c({}); cat(sprintf('%.17g', c(p.adjust(p, 'holm'), p.adjust(p, 'bonferroni'))), sep='\\n')"
    out = subprocess.run(["Rscript", "-e", code.format(", ".join(f"{x:.17g}" for x in p))],
                         capture_output=True, text=True, check=True).stdout.split()
    r = np.array(out, float)
    _close(adjust_p(p, "holm"), r[:30], rtol=1e-15)
    _close(adjust_p(p, "bonferroni"), r[30:], rtol=1e-15)


# --- config checks: one line naming the key --------------------------------------------------
MODEL = '\n[[models]]\nid = "m"\nlabel = "M"\nunit = "household"\nformula = "{formula}"\nfamily = "{family}"\n'
COMP = '\n[[comparisons]]\nindicator = "{indicator}"\ndomain = "{domain}"\npairs = {pairs}\n'


@pytest.mark.parametrize("extra, key, problem", [
    (MODEL.format(formula="n_smartphones ~ C(urban)", family="logistic"), "models[0].family", "expected one of"),
    (MODEL.format(formula="C(urban) + district", family="gaussian"), "models[0].formula", "expected 'response ~ terms'"),
    (MODEL.format(formula="y ~ C(urban", family="gaussian"), "models[0].formula", "not a valid formula"),
    (MODEL.format(formula="y ~ x", family="gaussian").replace('unit = "household"', 'unit = "firm"'),
     "models[0].unit", "expected one of household, person"),
    (MODEL.format(formula="y ~ x", family="gaussian") * 2, "models[1].id", "duplicate id 'm'"),
    (COMP.format(indicator="hh_fibre", domain="urban", pairs='"all"'), "comparisons[0].indicator",
     "no indicator with id 'hh_fibre' (did you mean 'hh_fiber'?)"),
    (COMP.format(indicator="hh_fiber", domain="areas", pairs='"all"'), "comparisons[0].domain", "no domain with id"),
    (COMP.format(indicator="hh_fiber", domain="all", pairs='"all"'), "comparisons[0].domain",
     "exactly one by variable"),
    (COMP.format(indicator="hh_fiber", domain="urban", pairs="[[1, 2, 3]]"), "comparisons[0].pairs[0]",
     "expected a pair [a, b]"),
    (COMP.format(indicator="hh_fiber", domain="urban", pairs="[[1, 1]]"), "comparisons[0].pairs[0]",
     "two different values"),
    (COMP.format(indicator="hh_fiber", domain="urban", pairs='"some"'), "comparisons[0].pairs",
     'expected "all" or a list of [a, b] pairs'),
    (COMP.format(indicator="hh_fiber", domain="urban", pairs='"all"') + 'adjust = "fdr"\n',
     "comparisons[0].adjust", "expected one of none, holm, bonferroni"),
])
def test_config_errors_are_one_line(make_survey, extra, key, problem):
    s = make_survey()
    toml = s / "survey.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + extra, encoding="utf-8")
    with pytest.raises(PipelineError) as e:
        config.load(s)
    line = e.value.line()
    assert "\n" not in line
    assert f": {key}: " in line, line
    assert problem in line, line


def test_config_defaults(make_survey):
    s = make_survey()
    toml = s / "survey.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + MODEL.replace('family = "{family}"\n', "").format(
        formula="n_smartphones ~ C(urban)") + COMP.format(indicator="hh_fiber", domain="urban", pairs="[[1, 2]]"),
        encoding="utf-8")
    cfg = config.load(s)
    assert cfg["models"][0]["family"] == "gaussian"  # R's svyglm default
    assert cfg["comparisons"][0]["adjust"] == "holm" and cfg["comparisons"][0]["id"] == "hh_fiber_urban"


# --- the estimate stage on a small survey -----------------------------------------------------
def _stages(s, build, upto="estimate"):
    for stage in ("ingest", "clean", "weight", "estimate"):
        p = run_stage(stage, s, build)
        if stage == upto or p.returncode != 0:
            return p


def test_survey_without_models_writes_header_only_files(make_survey, tmp_path):
    s = make_survey()
    build = tmp_path / "build"
    p = _stages(s, build)
    assert p.returncode == 0, p.stderr
    assert list(pd.read_csv(build / "models.csv").columns) == MODEL_COLUMNS and len(pd.read_csv(build / "models.csv")) == 0
    comps = pd.read_csv(build / "comparisons.csv")
    assert list(comps.columns) == COMPARISON_COLUMNS and len(comps) == 0
    assert set(pd.ExcelFile(build / "estimates.xlsx").sheet_names) == {"estimates", "indicators", "reporting rules"}


def test_small_survey_models_and_errors(make_survey, tmp_path):
    s = make_survey()
    toml = s / "survey.toml"
    base = toml.read_text(encoding="utf-8")
    toml.write_text(base + MODEL.format(formula="n_smartphones ~ C(urban) + C(district)", family="quasipoisson")
                    + COMP.format(indicator="hh_smartphone", domain="district", pairs='"all"'), encoding="utf-8")
    build = tmp_path / "build"
    p = _stages(s, build)
    assert p.returncode == 0, p.stderr
    m = pd.read_csv(build / "models.csv")
    assert list(m["term"]) == ["(Intercept)", "urban2", "district2"] and (m["ratio"] == "rate ratio").all()
    c = pd.read_csv(build / "comparisons.csv")
    assert len(c) == 1 and c["adjust"].iloc[0] == "holm" and c["p_adjusted"].iloc[0] == c["p"].iloc[0]
    assert set(pd.ExcelFile(build / "estimates.xlsx").sheet_names) >= {"models", "comparisons"}
    # a formula naming a column the data lack: one line naming the model, exit 2
    toml.write_text(base + MODEL.format(formula="n_smartphones ~ C(urbn)", family="quasipoisson"), encoding="utf-8")
    p = run_stage("estimate", s, build)
    assert p.returncode == 2
    err = [ln for ln in p.stderr.splitlines() if "survey.toml" in ln]
    assert len(err) == 1 and ": models[0]: model 'm': " in err[0] and "urbn" in err[0], p.stderr
    # a pair naming a value the domain does not have
    toml.write_text(base + COMP.format(indicator="hh_smartphone", domain="district", pairs="[[1, 7]]"), encoding="utf-8")
    p = run_stage("estimate", s, build)
    assert p.returncode == 2 and "comparisons[0].pairs[0]: expected values of 'district'" in p.stderr, p.stderr


# --- figures and report -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(demo):
    import os
    import sys
    survey, build = demo
    out = build.parent / "figures"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for stage in ("figures", "report"):
        p = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", "--survey", str(survey), "--build", str(build),
                            "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return out


@demo_only
def test_forest_plot_per_model_shows_every_term(demo, report):
    import json
    import re
    survey, build = demo
    models = pd.read_csv(build / "models.csv")
    manifest = json.loads((report / "manifest_estimates.json").read_text(encoding="utf-8"))
    figs = {f["name"]: f for f in manifest["figures"] if f["kind"] == "models"}
    assert sorted(figs) == ["model_fiber", "model_internet_use"]
    for name, f in figs.items():
        assert f["group"] == "models" and "tỷ số chênh" in f["caption"]
        ids = set(re.findall(r'id="term:([^":]+):([^"]+?)"', (report / f["svg"]).read_text(encoding="utf-8")))
        want = models[(models["model"] == name[len("model_"):]) & (models["term"] != "(Intercept)")]
        assert {t for m, t in ids if not t.endswith((":ci",))} == set(want["term"])


@demo_only
def test_report_shows_models_and_comparisons_as_in_the_tables(demo, report):
    import html
    import re
    from pipeline import formats as F
    survey, build = demo
    text = (report / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="models">' in text and 'href="#models"' in text
    models = pd.read_csv(build / "models.csv")
    for m in ("fiber", "internet_use"):
        sec = re.search(rf'<section id="model-{m}".*?</section>', text, re.S).group(0)
        terms = re.findall(r'<tr data-term="([^"]+)"><td>[^<]*</td><td class="num">([^<]*)</td>', sec)
        want = models[(models["model"] == m) & (models["term"] != "(Intercept)")]
        assert [t for t, _ in terms] == list(want["term"])
        assert [html.unescape(v) for _, v in terms] == [F.fmt_coef(x, "vi") for x in want["exp_estimate"]]
    comps = pd.read_csv(build / "comparisons.csv", dtype={"a": str, "b": str})
    rows = re.findall(r'<tr data-comparison="([^"]+)">(.*?)</tr>', text, re.S)
    assert [r[0] for r in rows] == list(comps["comparison"])
    for (_, cells), (_, c) in zip(rows, comps.iterrows()):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", x)).strip() for x in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
        assert cells[5] == F.fmt_gap(c["difference"], c["kind"], "vi")
        assert cells[6] == F.fmt_gap_ci(c["ci_low"], c["ci_high"], c["kind"], "vi")
        assert cells[7] == F.fmt_p(c["p"], "vi") and cells[8] == F.fmt_p(c["p_adjusted"], "vi")
    # the urban-rural gap of fiber, as a reader sees it
    urban = dict(rows)["hh_fiber_urban"]
    assert "Thành thị" in urban and "Nông thôn" in urban


@demo_only
def test_without_models_the_kind_is_skipped_with_the_reason(demo):
    from pipeline import figure_registry, stage_outputs
    survey, build = demo
    cfg = config.load(survey)
    inputs = stage_outputs.load_inputs(cfg, build, survey, ("estimates",))
    cfg = {**cfg, "models": []}
    figs, skipped = figure_registry.figures(cfg, inputs, "en", "estimates")
    assert not [f for f in figs if f["kind"] == "models"]
    assert {"kind": "models", "group": "models", "why": "no models ([[models]] in survey.toml)"} in skipped


def test_p_and_gap_formats():
    from pipeline import formats as F
    assert F.fmt_p(0.0004, "vi") == "<0,001" and F.fmt_p(0.0456, "en") == "0.046" and F.fmt_p(np.nan, "en") == "—"
    assert F.fmt_gap(0.1108, "proportion", "vi") == "+11,1" and F.fmt_gap(-0.0044, "proportion", "en") == "−0.4"
    assert F.fmt_gap_ci(-0.0151, 0.0063, "proportion", "en") == "[−1.5; 0.6]"
    assert F.fmt_coef(0.6184, "vi") == "0,62" and F.fmt_coef(0.0412, "en") == "0.041"


# --- live R: the demo's model and gap on the pipeline's design (before calibration, which R would redo) ----
R_DEMO = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1])
options(survey.lonely.psu = "adjust")
d <- svydesign(id = ~psu, strata = ~stratum, fpc = ~fpc, weights = ~w, data = df, nest = TRUE)
m <- svyglm(fiber ~ factor(urban) + factor(district) + hh_size, design = d, family = quasibinomial())
ci <- confint(m, df = df.residual(m))
b <- svyby(~y, ~urban, subset(d, !is.na(y)), svymean, covmat = TRUE)  # missing y: out of the domain, as na.rm
g <- svycontrast(b, c(1, -1))
out <- c(coef(m), SE(m), ci[, 1], ci[, 2], df.residual(m), coef(g), SE(g), degf(d))
cat(sprintf("%.17g", out), sep = "\n")
"""


@pytest.mark.r
@demo_only
def test_demo_model_and_gap_match_r_on_the_pipeline_design(demo, tmp_path):
    if not r_has():
        pytest.skip("Rscript with the survey package is not available")
    from pipeline import io
    from pipeline.designs import unit_design
    survey, build = demo
    cfg = config.load(survey)
    hh = io.read_parquet(build / "weight" / "household.parquet")
    spec = io.read_json(build / "weight" / "design.json")
    design = unit_design(hh, spec)  # no calibration steps: R gets the same design from svydesign
    formula = "fiber ~ C(urban) + C(district) + hh_size"
    fit = design.glm(formula, family="quasibinomial")
    y = (hh["q_internet_home"] == 1) & (hh["q_fiber"] == 1)
    y = y.astype(float).where(hh["q_internet_home"].notna() & ~((hh["q_internet_home"] == 1) & hh["q_fiber"].isna()))
    data = pd.DataFrame({"psu": hh[spec["psu"]], "stratum": hh[spec["strata"]], "fpc": hh[spec["fpc"]],
                         "w": hh[spec["weights"]], "fiber": hh["fiber"].astype("Float64").astype(float),
                         "urban": hh["urban"], "district": hh["district"], "hh_size": hh["hh_size"], "y": y})
    assert np.array_equal(np.isnan(data["fiber"]), np.isnan(y)) and (data["fiber"].fillna(-1) == y.fillna(-1)).all()
    data.to_csv(tmp_path / "hh.csv", index=False, na_rep="NA")
    (tmp_path / "demo.R").write_text(R_DEMO, encoding="utf-8")
    run = subprocess.run(["Rscript", str(tmp_path / "demo.R"), str(tmp_path / "hh.csv")], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    r = np.array(run.stdout.split(), float)
    k = len(fit.params)
    ci = fit.conf_int()
    _close(fit.params, r[:k], rtol=1e-6)
    _close(fit.bse, r[k:2 * k], rtol=1e-6)
    _close(ci["ci_low"], r[2 * k:3 * k], rtol=1e-6)
    _close(ci["ci_high"], r[3 * k:4 * k], rtol=1e-6)
    assert fit.df_resid == r[4 * k]
    # the urban - rural gap of hh_fiber, as pipeline.modelling.compare computes it (on the same design)
    from pipeline.modelling import compare
    gap = compare(hh, cfg, "household", spec).set_index("comparison").loc["hh_fiber_urban"]
    _close([gap["difference"], gap["se"]], r[4 * k + 1:4 * k + 3], rtol=1e-6)
    assert gap["df"] == r[4 * k + 3] == design.degf
