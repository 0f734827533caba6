"""Figures and report stages on the bundled demo (surveys/qb2022).

Builds the demo once into a temporary folder (generator -> ingest -> clean ->
weight -> estimate -> figures -> report), then checks that every figure is
written and drawn from the estimates (perturbing a copy of the table changes
what is plotted), that suppressed estimates are absent from the charts, that
the report shows every estimate as formatted from the table, that it is
self-contained, and that reruns are byte-identical.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, build_survey, run_stage

DEMO = ROOT / "surveys" / "qb2022"
pytestmark = pytest.mark.skipif(not (DEMO / "generate.py").exists(), reason="demo generator not present")


def run_out(stage: str, survey: Path, build: Path, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", "--survey", str(survey), "--build", str(build),
                        "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


@pytest.fixture(scope="module")
def demo(demo_built):
    return demo_built


@pytest.fixture(scope="module")
def loaded(demo):
    from pipeline import config, stage_outputs
    survey, build, out = demo
    cfg = config.load(survey)
    return cfg, stage_outputs.load_inputs(cfg, build, survey)


def read_manifests(out: Path) -> dict:
    """The figures of both parts (estimates, then diagnostics), as the report reads them."""
    parts = [json.loads((out / f"manifest_{p}.json").read_text(encoding="utf-8")) for p in ("estimates", "diagnostics")]
    return {"figures": [f for m in parts for f in m["figures"]], "outputs": [e for m in parts for e in m["outputs"]]}


def svg_ids(path: Path) -> set[str]:
    return set(re.findall(r'id="(est:[^"]+)"', path.read_text(encoding="utf-8")))


# --- figure files ---------------------------------------------------------------
def test_every_figure_file_is_written(demo, loaded):
    survey, build, out = demo
    cfg, _ = loaded
    manifest = read_manifests(out)
    names = [f["name"] for f in manifest["figures"]]
    expected = (["headline"] + [f"by-district-urban_{k}" for k in cfg["report"]["key_indicators"]]
                + [f"model_{m['id']}" for m in cfg["models"]] + [f"sae_{k}" for k in cfg["sae"]["indicators"]]
                + ["sae_diagnostics", "weights", "controls", "quality_rules", "quality_quarantine", "response_rates"])
    assert names == expected
    sizes = {e["path"]: e["bytes"] for e in manifest["outputs"]}
    for f in manifest["figures"]:
        png, svg = out / f["png"], out / f["svg"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
        assert sizes[f["png"]] == png.stat().st_size and sizes[f["svg"]] == svg.stat().st_size


def test_headline_is_drawn_from_the_estimates(loaded):
    from pipeline import chart_data as C
    from pipeline import plots as P
    cfg, inputs = loaded
    est = inputs["estimates"].copy()
    data = C.headline_data(est, cfg, "vi")
    assert list(data["indicator"]) == [k for k in cfg["report"]["key_indicators"]]  # all demo keys are proportions
    row = est.index[(est.indicator == "hh_fiber") & (est.domain == "province")][0]
    assert data.set_index("indicator").loc["hh_fiber", "estimate"] == est.loc[row, "estimate"]
    est.loc[row, ["estimate", "ci_low", "ci_high"]] = [0.1234, 0.11, 0.14]
    fig = P.headline_figure(C.headline_data(est, cfg, "vi"), cfg, "vi")
    points = {a.get_gid(): a for ax in fig.axes for a in ax.lines if a.get_gid()}
    assert list(points["est:hh_fiber:province:all"].get_xdata()) == [0.1234]
    assert list(points["est:hh_fiber:province:all:ci"].get_xdata()) == [0.11, 0.14]
    assert "target:hh_fiber:0.8" in points and "target:p_account:0.8" in points
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "12,3%" in texts


def area_chart(est, cfg, indicator, lang="vi"):
    from pipeline import chart_data as C
    return C.area_data(est, cfg, indicator, C.chart_domains(cfg), lang)


def test_district_chart_is_drawn_from_the_estimates(loaded):
    from pipeline import plots as P
    cfg, inputs = loaded
    est = inputs["estimates"].copy()
    row = est.index[(est.indicator == "p_account") & (est.domain == "district") & (est.domain_value == "5")][0]
    est.loc[row, ["estimate", "ci_low", "ci_high"]] = [0.987, 0.97, 0.995]
    data = area_chart(est, cfg, "p_account")
    assert [p["domain"] for p in data["panels"]] == ["district", "urban"]
    assert data["panels"][0]["rows"].iloc[0]["domain_value"] == "5"  # sorted: now the highest
    assert data["panels"][0]["title"] == "Huyện/thị xã/thành phố" and data["overall_label"] == "Toàn tỉnh"
    fig = P.area_figure(data, cfg, "vi")
    pts = {a.get_gid(): a for ax in fig.axes for a in ax.lines if a.get_gid()}
    assert list(pts["est:p_account:district:5"].get_xdata()) == [0.987]
    prov = est[(est.indicator == "p_account") & (est.domain == "province")].iloc[0]
    assert pts["ref:p_account"].get_xdata()[0] == prov["estimate"]
    assert {g for g in pts if g.startswith("est:") and g.count(":") == 3} == {
        f"est:p_account:{d}:{v}" for d, v in est.loc[est.indicator.eq("p_account") & est.domain.isin(["district", "urban"]),
                                                      ["domain", "domain_value"]].itertuples(index=False)}


def test_suppressed_estimates_are_not_drawn(loaded):
    from pipeline import plots as P
    cfg, inputs = loaded
    est = inputs["estimates"].copy()
    sel = (est.indicator == "hh_fiber") & (((est.domain == "district") & (est.domain_value == "3"))
                                          | (est.domain == "urban") & (est.domain_value == "1"))
    est.loc[sel, "suppress"] = True
    est.loc[sel, "flags"] = "n_eff<30"
    review = (est.indicator == "hh_fiber") & (est.domain == "district") & (est.domain_value == "7")
    est.loc[review, "suppress"] = False  # drawn, whatever the demo's estimate for it
    est.loc[review, "flags"] = "df<8"
    from pipeline import chart_data as C
    data = area_chart(est, cfg, "hh_fiber")
    rows = pd.concat([p["rows"] for p in data["panels"]] + [data["overall"]])
    fig = P.area_figure(data, cfg, "vi", C.reliability_notes(rows, "vi"))
    gids = {a.get_gid() for ax in fig.axes for a in ax.lines if a.get_gid()}
    assert not any(g.startswith(("est:hh_fiber:district:3", "est:hh_fiber:urban:1")) for g in gids)
    assert "est:hh_fiber:district:2" in gids
    hollow = next(a for ax in fig.axes for a in ax.lines if a.get_gid() == "est:hh_fiber:district:7")
    assert hollow.get_markerfacecolor() == "white"
    note = fig.texts[0].get_text()
    assert "cỡ mẫu hiệu dụng < 30" in note and "bậc tự do < 8" in note
    # and a suppressed key indicator is absent from the headline
    est.loc[(est.indicator == "p_esign") & (est.domain == "province"), "suppress"] = True
    fig = P.headline_figure(C.headline_data(est, cfg, "vi"), cfg, "vi")
    gids = {a.get_gid() for ax in fig.axes for a in ax.lines if a.get_gid()}
    assert not any(g.startswith("est:p_esign") for g in gids) and "est:p_account:province:all" in gids


def test_weighting_and_quality_figures_are_drawn_from_their_inputs(loaded):
    import numpy as np
    from pipeline import chart_data as C
    from pipeline import plots as P
    cfg, inputs = loaded
    # records per rule: bar lengths are the validation table's counts (perturbed here)
    val = inputs["validation"].copy()
    val.loc[0, "records"] = 777
    fig = P.rules_figure(C.rules_data(val, "vi"), cfg, "vi")
    bars = {b.get_gid(): b.get_width() for b in fig.axes[0].patches if b.get_gid()}
    assert bars == {f"rule:{f}:{r}": n for f, r, n in val[["file", "rule", "records"]].itertuples(index=False)}
    # quarantined records by reason: counted from the quarantine files
    q = C.quarantine_data(inputs["quarantine"], "vi")
    assert q["records"].sum() == sum(len(x) for x in inputs["quarantine"].values())
    # achieved vs control totals: weighted sums of the weight stage's output against the control tables
    ctl = C.control_data(inputs["units"], inputs["controls"], inputs["codebook"])
    assert len(ctl) == sum(len(t) for _, _, t in inputs["controls"])
    hh = inputs["weighted"]
    first = inputs["controls"][0][2].iloc[0]
    inside = (hh["district"] == first["district"]) & (hh["urban"] == first["urban"])
    assert ctl.loc[0, "control"] == first["count"]
    assert np.isclose(ctl.loc[0, "w_base"], hh.loc[inside, "w_base"].sum())
    assert np.allclose(ctl["w_final"], ctl["control"], rtol=1e-6)  # calibrated: final weights meet the controls
    fig = P.controls_figure(ctl, cfg, "vi")
    dots = {a.get_gid(): a.get_xdata() for a in fig.axes[0].lines if a.get_gid()}
    assert np.allclose(dots["controls:w_base"], ctl["w_base"] / ctl["control"] - 1)
    # response rates by stratum: eligible and respondents add up to the weight stage's counts
    rr = inputs["response"]
    n = inputs["diagnostics"]["counts"]
    assert rr["eligible"].sum() == n["eligible"] and rr["respondents"].sum() == n["respondents"]
    # weights: the histogram data are the weight stage's columns
    w = C.weights_data(hh)
    assert w["w_final"].equals(hh["weight"].astype(float).rename("w_final"))


def test_svg_files_show_exactly_the_unsuppressed_estimates(demo, loaded):
    survey, build, out = demo
    cfg, inputs = loaded
    est = inputs["estimates"]
    for ind in cfg["report"]["key_indicators"]:
        e = est[(est.indicator == ind) & est.domain.isin(["district", "urban"])]
        want = {f"est:{ind}:{d}:{v}" for d, v, s in e[["domain", "domain_value", "suppress"]].itertuples(index=False)
                if not s}
        got = {i for i in svg_ids(out / f"by-district-urban_{ind}.svg") if i.count(":") == 3}
        assert got == want, ind


# --- report --------------------------------------------------------------------------
def report_rows(text: str) -> dict:
    rows = {}
    for sec in re.finditer(r'<section id="est-([^"]+)"(.*?)</section>', text, re.S):
        for tr in re.finditer(r'<tr data-domain="([^"]*)" data-value="([^"]*)"[^>]*>(.*?)</tr>', sec.group(2), re.S):
            cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr.group(3), re.S)]
            rows[(sec.group(1), tr.group(1), tr.group(2))] = cells
    return rows


def test_report_shows_every_estimate_as_in_the_table(demo, loaded):
    from pipeline import formats as P
    survey, build, out = demo
    _, inputs = loaded
    est = pd.read_csv(build / "estimates.csv", dtype={"domain_value": str})
    rows = report_rows((out / "report.html").read_text(encoding="utf-8"))
    assert len(rows) == len(est)
    for r in est.itertuples(index=False):
        cells = rows[(r.indicator, r.domain, r.domain_value)]
        if r.suppress:
            assert cells[1] == "—" and cells[2] == "—" and P.flag_text(r.flags, "vi") in cells[5]
        else:
            assert cells[1] == P.fmt_value(r.estimate, r.kind, "vi"), (r.indicator, r.domain, r.domain_value)
            assert cells[2] == P.fmt_ci(r.ci_low, r.ci_high, r.kind, "vi")
        assert cells[3] == P.fmt_num(r.n, "vi")
    assert est["suppress"].any()  # the demo has at least one suppressed estimate to show as "—"


def test_report_is_self_contained(demo):
    survey, build, out = demo
    text = (out / "report.html").read_text(encoding="utf-8")
    manifest = read_manifests(out)
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', text)
    assert len(srcs) == len(manifest["figures"])
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "<script" not in text and "@import" not in text
    for word in ("Tóm tắt các chỉ tiêu chính", "Phương pháp", "Chất lượng dữ liệu", "Korn–Graubard",
                 "Quyết định 749/QĐ-TTg (2020)", "Số tầng"):
        assert word in text
    assert 'id="validation"' not in text


def test_reruns_are_byte_identical(demo, loaded, tmp_path):
    from pipeline import plots as P
    from pipeline.figure_registry import figures
    survey, build, out = demo
    cfg, inputs = loaded
    specs = {f["name"]: f["draw"] for part in ("estimates", "diagnostics") for f in figures(cfg, inputs, "vi", part)[0]}
    # the stage ran in another process: equal bytes here mean no run-dependent state (dates, ids, layout bits)
    for name in ("headline", "by-district-urban_hh_fiber", "weights", "controls", "response_rates"):
        P.save(specs[name](), tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
        assert (tmp_path / f"{name}.png").read_bytes() == (out / f"{name}.png").read_bytes(), name
        assert (tmp_path / f"{name}.svg").read_bytes() == (out / f"{name}.svg").read_bytes(), name
    again = tmp_path / "again"
    shutil.copytree(out, again)
    (again / "report.html").unlink()
    run_out("report", survey, build, again)
    assert (again / "report.html").read_bytes() == (out / "report.html").read_bytes()


def test_validation_section_when_coverage_exists(demo, tmp_path):
    survey, build, out = demo
    b2 = tmp_path / "build"
    shutil.copytree(build, b2)
    (b2 / "validation").mkdir()
    pd.DataFrame({"indicator": ["hh_fiber", "hh_fiber", "hh_fiber"], "domain": ["province", "district", "district"],
                  "level": ["all", "1", "2"], "ci_method": "beta", "replicates": 500, "truth": [0.5921, 0.61, 0.55],
                  "mean_estimate": [0.5925, 0.6, 0.56], "relative_bias": [0.0007, -0.01, 0.01],
                  "coverage": [0.947, 0.93, 0.96], "se_ratio": [1.02, 0.98, 1.0]}).to_csv(
        b2 / "validation" / "coverage.csv", index=False)
    o2 = tmp_path / "figs"
    shutil.copytree(out, o2)
    run_out("report", survey, b2, o2)
    text = (o2 / "report.html").read_text(encoding="utf-8")
    assert 'id="validation"' in text
    val = text[text.index('id="validation"'):]
    assert "94,7%" in val and "Hộ có kết nối cáp quang" in val and "0,592" in val and "94,5%" in val  # district mean


# --- formats and config -----------------------------------------------------------------
def test_number_formats():
    from pipeline import formats as P
    assert P.flag_text("n_eff<30;rel_ci_width>130%;df<8", "vi") == (
        "cỡ mẫu hiệu dụng < 30; độ rộng tương đối của KTC > 130%; bậc tự do < 8")
    assert P.flag_text("ci_width>=0.3", "en") == "CI width ≥ 0.3" and P.flag_text("", "en") == ""
    assert P.fmt_pct(0.7907, "vi") == "79,1%" and P.fmt_pct(0.7907, "en") == "79.1%"
    assert P.fmt_num(244921, "vi") == "244.921" and P.fmt_num(244921, "en") == "244,921"
    assert P.fmt_ci(0.767, 0.8157, "proportion", "vi") == "76,7–81,6%"
    assert P.fmt_value(188.889, "mean", "vi") == "188,9" and P.fmt_value(1.9283, "mean", "en") == "1.93"
    assert P.tick_pct(-0.125, "vi") == "−12,5%" and P.tick_pct(0.2, "en") == "20%"
    # other languages: their own decimal marks (the interface text falls back to English)
    assert P.fmt_pct(0.7907, "de") == "79,1%" and P.fmt_num(244921.5, "fr", 1) == "244\u202f921,5"
    assert P.fmt_num(1234.5, "pt-BR", 1) == "1.234,5" and P.fmt_num(1234.5, "ja", 1) == "1,234.5"


def test_report_stage_does_not_import_matplotlib():
    # the report uses only texts, formats and tables from pipeline.plots; importing matplotlib costs ~0.5 s
    code = "import sys, pipeline.report; assert 'matplotlib' not in sys.modules"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_report_section_is_optional(tmp_path):
    from pipeline import config
    d = build_survey(tmp_path)
    cfg = config.load(d)
    assert cfg["report"] == {"language": "en", "key_indicators": [], "targets": []}
    text = (d / "survey.toml").read_text(encoding="utf-8")
    (d / "survey.toml").write_text(text + '\n[report]\nkey_indicators = ["nope"]\n', encoding="utf-8")
    from pipeline.errors import PipelineError
    with pytest.raises(PipelineError, match=r"report.key_indicators\[0\]: no indicator with id 'nope'"):
        config.load(d)


def test_report_methods_describe_the_variance_design(demo):
    """The methods section gives the variance strata and df the estimates used (design.json)."""
    survey, build, out = demo
    text = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    rows = dict(re.findall(r"<dt>([^<]*)</dt>\s*<dd>([^<]*)</dd>", text))
    hh = pd.read_parquet(build / "weight" / "household.parquet")
    est = pd.read_csv(build / "estimates.csv")
    v_strata = hh["variance_stratum"].nunique()
    df = int(est.loc[est.domain == "province", "df"].iloc[0])
    assert df == hh["ea_id"].nunique() - v_strata
    assert rows["Số tầng tính phương sai (cặp PSU)"] == str(v_strata)
    assert rows["Bậc tự do của phương sai (PSU − tầng tính phương sai)"] == str(df)
    assert rows["Số tầng"] == str(hh["stratum"].nunique())
    assert "ghép cặp theo thứ tự chọn (ea_id)" in text and "cùng commune_code" in text
    assert "stratum_eas (tỷ lệ chọn PSU của tầng, n_h/N_h)" in text


def test_figure_parts_need_only_their_own_inputs(demo, tmp_path):
    """Make draws the diagnostics while the estimate stage runs: that part must not read the
    estimates, and the estimates part must not read the weight stage."""
    survey, build, out = demo
    diag_build, est_build = tmp_path / "b_diag", tmp_path / "b_est"
    shutil.copytree(build, diag_build, ignore=shutil.ignore_patterns("estimates.*"))
    est_build.mkdir()
    for name in ("estimates.csv", "models.csv", "comparisons.csv", "sae.csv", "sae_fit.json",
                 "ingest/codebook.json"):  # the estimate stage's
        (est_build / name).parent.mkdir(exist_ok=True)                                      # outputs, the codebook
        shutil.copy(build / name, est_build / name)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for part, b, jobs in (("diagnostics", diag_build, "1"), ("estimates", est_build, "2")):
        p = subprocess.run([sys.executable, "-m", "pipeline.figures", "--part", part, "--jobs", jobs, "--survey", str(survey),
                            "--build", str(b), "--out", str(tmp_path / "figs")], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    for part in ("estimates", "diagnostics"):  # the same files as one run drawing both, in any number of processes
        m = json.loads((tmp_path / "figs" / f"manifest_{part}.json").read_text(encoding="utf-8"))
        assert m == json.loads((out / f"manifest_{part}.json").read_text(encoding="utf-8"))
        for f in m["figures"]:
            assert (tmp_path / "figs" / f["png"]).read_bytes() == (out / f["png"]).read_bytes()


def test_labels_reach_matplotlib_as_plain_text(loaded, tmp_path):
    """A `$` in a label from the config (or a .sav value label) is shown as it is, never parsed as mathtext."""
    import copy
    from pipeline import chart_data as C
    from pipeline import plots as P
    cfg, inputs = loaded
    cfg = copy.deepcopy(cfg)
    label = r"Spend over $\bogus{10}$ a month"
    cfg["indicators"][0]["label"] = label
    data = C.area_data(inputs["estimates"], cfg, cfg["indicators"][0]["id"], C.chart_domains(cfg), "en")
    data["panels"][0]["rows"].loc[0, "label"] = "Region $ 1"
    fig = P.area_figure(data, cfg, "en")
    assert fig._suptitle.get_text() == label.replace("$", r"\$")
    P.save(fig, tmp_path / "x.png", tmp_path / "x.svg")   # mathtext would fail on \bogus
    assert (tmp_path / "x.png").stat().st_size > 1000


def test_png_has_savefig_pixels_without_alpha(tmp_path):
    """write_png: the pixels matplotlib's savefig draws (the figures are opaque), as RGB, with the dpi."""
    import numpy as np
    from PIL import Image
    from pipeline import plots as P
    fig = P.new_figure(4, 3, "Source: test")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=P.BLUE)
    ax.set_title("Tỷ lệ hộ có điện thoại thông minh")
    fig.get_layout_engine().execute(fig)
    fig.set_layout_engine(None)
    fig.set_dpi(150)
    fig.savefig(tmp_path / "ref.png", format="png")
    P.write_png(fig, tmp_path / "x.png")
    ref, got = Image.open(tmp_path / "ref.png"), Image.open(tmp_path / "x.png")
    assert ref.mode == "RGBA" and got.mode == "RGB" and got.size == ref.size == (600, 450)
    a = np.asarray(ref)
    assert (a[..., 3] == 255).all() and np.array_equal(a[..., :3], np.asarray(got))
    assert got.info["dpi"] == pytest.approx(ref.info["dpi"]) and ref.info["dpi"] == pytest.approx((150, 150), abs=0.02)
    P.pyplot().close(fig)


def test_figures_no_longer_drawn_are_removed(demo, tmp_path):
    """An indicator taken out of the key indicators loses its chart: the figures stage removes the old files."""
    import shutil
    survey, build, out = demo
    s, o = tmp_path / "qb2022", tmp_path / "figs"
    shutil.copytree(survey, s)
    shutil.copytree(out, o)
    text = (s / "survey.toml").read_text(encoding="utf-8")
    (s / "survey.toml").write_text(text.replace('key_indicators = ["hh_smartphone", ', 'key_indicators = ['), encoding="utf-8")
    old = o / "by-district-urban_hh_smartphone.png"
    assert old.exists()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "pipeline.figures", "--part", "estimates", "--survey", str(s), "--build",
                        str(build), "--out", str(o)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert not old.exists() and not old.with_suffix(".svg").exists()
    assert f"removed {old} (no longer drawn)" in p.stderr
    assert (o / "by-district-urban_hh_fiber.png").read_bytes() == (out / "by-district-urban_hh_fiber.png").read_bytes()
