"""Figures and report of the small-area estimates (issue 14) on the demo, and their absence without [sae].

The demo's ``[sae]`` (hh_smartphone, hh_fiber, p_internet for 151 communes)
gives one commune chart per indicator (``sae_<indicator>``) and the
``sae_diagnostics`` figure.  Checked: every commune is drawn once, under the
id ``est:<indicator>:<sae.by>:<area>``, at its EBLUP of ``sae.csv`` with the
interval ``eblup ± 1.96·rmse`` clipped to [0, 1] and the direct estimate
beside it; the bytes are the same when drawn twice; the residuals the
diagnostics draw are the model's standardised residuals
(``FayHerriotResult.standardized_residuals``) recovered from the columns of
``sae.csv``; the report's small-area section prints the fit of
``sae_fit.json`` and only the 10 lowest communes; a survey without ``[sae]``
gets no small-area figure (skipped with the reason) and no section.
"""
from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

DEMO = ROOT / "surveys" / "qb2022"
pytestmark = pytest.mark.skipif(not (DEMO / "generate.py").exists(), reason="demo generator not present")
Z = 1.959963984540054


@pytest.fixture(scope="module")
def demo(demo_built):
    from pipeline import config, stage_outputs
    survey, build, out = demo_built
    cfg = config.load(survey)
    return survey, build, out, cfg, stage_outputs.load_inputs(cfg, build, survey, ("estimates",))


def test_one_commune_chart_per_indicator_with_every_commune_once(demo):
    survey, build, out, cfg, _ = demo
    sae = pd.read_csv(build / "sae.csv", dtype={"area": str})
    manifest = json.loads((out / "manifest_estimates.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in manifest["figures"] if f["group"] == "small_areas"]
    assert names == [f"sae_{k}" for k in cfg["sae"]["indicators"]] + ["sae_diagnostics"]
    for ind in cfg["sae"]["indicators"]:
        svg = (out / f"sae_{ind}.svg").read_text(encoding="utf-8")
        ids = re.findall(r'id="(est:[^"]+)"', svg)
        areas = sae.loc[sae["indicator"] == ind, "area"]
        assert len(areas) == 151 and len(ids) == 151
        assert set(ids) == {f"est:{ind}:{cfg['sae']['by']}:{a}" for a in areas}
        assert f'id="direct:{ind}"' in svg
    assert 'id="target:hh_fiber:0.8"' in (out / "sae_hh_fiber.svg").read_text(encoding="utf-8")


def test_eblups_and_intervals_drawn_are_those_of_sae_csv(demo):
    from pipeline import chart_data as C
    from pipeline import plots as P
    survey, build, out, cfg, inputs = demo
    sae = pd.read_csv(build / "sae.csv", dtype={"area": str})
    ind, by = "hh_fiber", cfg["sae"]["by"]
    s = sae[sae["indicator"] == ind].set_index("area")
    data = C.sae_data(inputs["sae"], cfg, ind)
    # districts are blocks (each appears in one run) and communes are ranked by EBLUP inside them
    runs = data["district"].ne(data["district"].shift()).sum()
    assert runs == data["district"].nunique() == s["district"].nunique()
    assert all((g["eblup"].diff().dropna() <= 0).all() for _, g in data.groupby("district"))
    fig = P.sae_figure(data, cfg, "en", "Fiber")
    ax = fig.axes[1]
    pts = {a.get_gid(): a for a in ax.lines if a.get_gid()}
    drawn = pd.Series({g.split(":")[-1]: a.get_xdata()[0] for g, a in pts.items() if g.startswith("est:")})
    assert drawn.sort_index().to_numpy().tolist() == s["eblup"].sort_index().to_numpy().tolist()
    y_of = {g.split(":")[-1]: a.get_ydata()[0] for g, a in pts.items() if g.startswith("est:")}
    segs = {c.get_gid(): c.get_segments() for c in ax.collections if c.get_gid()}
    ends = {}
    for gid in (f"sae-ci:{ind}:eblup", f"sae-ci:{ind}:synthetic"):
        for seg in segs[gid]:
            ends[seg[0][1]] = (seg[0][0], seg[1][0])
    lo = np.clip(s["eblup"] - Z * s["rmse"], 0, 1)
    hi = np.clip(s["eblup"] + Z * s["rmse"], 0, 1)
    for area in s.index:
        assert ends[y_of[area]] == pytest.approx((lo[area], hi[area]), abs=1e-12)
    direct = pts[f"direct:{ind}"].get_xdata()
    assert sorted(direct) == sorted(s["direct"].dropna())
    synthetic = {g.split(":")[-1] for g, a in pts.items() if g.startswith("est:") and a.get_marker() == "s"}
    assert synthetic == set(s.index[s["method"] == "synthetic"]) and len(synthetic) == 34
    P.pyplot().close(fig)


def test_commune_chart_bytes_are_reproducible(demo, tmp_path):
    from pipeline import chart_data as C
    from pipeline import plots as P
    survey, build, out, cfg, inputs = demo
    data = C.sae_data(inputs["sae"], cfg, "hh_smartphone")
    P.save(P.sae_figure(data, cfg, "vi", "x"), tmp_path / "a.png", tmp_path / "a.svg")
    P.save(P.sae_figure(data, cfg, "vi", "x"), tmp_path / "b.png", tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_residuals_in_sae_csv_are_the_fits_and_the_chart_draws_them(demo):
    """sae.csv's ``residual`` is each fit's standardised residual (the fit summary in sae_fit.json is made from
    the same vector) for the sampled areas, empty for the synthetic ones; the diagnostics chart reads it."""
    from pipeline import chart_data as C
    survey, build, out, cfg, _ = demo
    table = pd.read_csv(build / "sae.csv", dtype={"area": str})
    fits = json.loads((build / "sae_fit.json").read_text(encoding="utf-8"))
    for ind, fit in fits.items():
        t = table[table["indicator"] == ind]
        r = t["residual"].to_numpy(float)
        assert (np.isfinite(r) == t["method"].eq("eblup").to_numpy()).all()
        r = r[np.isfinite(r)]
        assert len(r) == fit["areas_sampled"] > 0 and fit["transform"] == "arcsin"
        s = fit["residuals"]
        assert r.mean() == pytest.approx(s["mean"], rel=1e-12, abs=1e-15)
        assert r.std(ddof=1) == pytest.approx(s["sd"], rel=1e-12)
        assert np.mean(np.abs(r) > 2) == s["share_abs_over_2"]
        rows = C.sae_residuals({"table": table, "fits": fits}, ind)
        np.testing.assert_array_equal(rows["residual"].to_numpy(float), r)


def test_report_section_prints_the_fit_and_ten_lowest_communes(demo):
    from pipeline import formats as F
    survey, build, out, cfg, _ = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="small-areas"' in page and page.count('id="sae-') == 3
    fits = json.loads((build / "sae_fit.json").read_text(encoding="utf-8"))
    sae = pd.read_csv(build / "sae.csv", dtype={"area": str})
    lang = cfg["report"]["language"]
    for ind in cfg["sae"]["indicators"]:
        i = page.index(f'id="sae-{ind}"')
        sec = page[i:page.index("</section>", i)]
        cells = [html.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', sec)]
        fit = fits[ind]
        for v in (F.fmt_num(fit["sigma2_u"], lang, 4), F.fmt_num(fit["r2_synthetic"], lang, 3),
                  F.fmt_num(fit["areas_sampled"], lang), F.fmt_num(fit["areas_synthetic"], lang),
                  F.fmt_num(fit["residuals"]["sd"], lang, 2)):
            assert v in cells
        assert fit["areas_sampled"] == 117 and fit["areas_synthetic"] == 34
        lowest = sae[sae["indicator"] == ind].sort_values("eblup", kind="stable").head(10)
        assert re.findall(r'data-area="([^"]+)"', sec) == list(lowest["area"])
        assert f'id="fig-sae_{ind}"' in sec
    assert 'id="fig-sae_diagnostics"' in page and "sae.csv" in page


def test_without_sae_no_small_area_figures_nor_section(demo):
    from pipeline import figure_registry as R
    from pipeline import report
    from pipeline import stage_outputs
    from pipeline.text import REPORT, table
    survey, build, out, cfg, _ = demo
    plain = {k: v for k, v in cfg.items() if k != "sae"}
    inputs = stage_outputs.load_inputs(plain, build, survey, ("estimates",))
    assert inputs["sae"] is None
    figs, skipped = R.figures(plain, inputs, "en", "estimates")
    assert not [f for f in figs if f["group"] == "small_areas"]
    why = table(REPORT, "en")["why_no_sae"]
    assert [(s["kind"], s["why"]) for s in skipped if s["group"] == "small_areas"] == [("sae", why),
                                                                                        ("sae_diagnostics", why)]
    full = stage_outputs.load_inputs(plain, build, survey)
    manifest = {"figures": [f for p in ("estimates", "diagnostics")
                            for f in json.loads((out / f"manifest_{p}.json").read_text(encoding="utf-8"))["figures"]
                            if f["group"] != "small_areas"], "skipped": []}
    page = report.render(report.context(plain, full, manifest, build, out))
    assert 'id="small-areas"' not in page and "sae.csv" not in page


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_area_and_group_nouns_come_from_the_config(demo, lang):
    """The small-area texts name the areas as [sae] area_noun / group_noun say (here: villages in regions),
    never the demo's communes and districts; without them, the built-in "area" and "group"."""
    from pipeline import figure_registry as R
    from pipeline import report
    from pipeline.text import FIGURE, area_words, table
    survey, build, out, cfg, inputs = demo
    names = {"area_noun": {"vi": "thôn", "en": "village"}, "group_noun": {"vi": "vùng", "en": "region"}}
    other = {**cfg, "sae": {**cfg["sae"], **names}, "report": {**cfg["report"], "language": lang}}
    demo_words = ("commune", "district", "xã", "huyện", "Commune", "District", "Xã", "Huyện")

    sae = pd.read_csv(build / "sae.csv", dtype={"area": str})
    data_labels = set(sae["area_label"].astype(str)) | set(sae["district"].astype(str))

    def texts_of(fig):  # the interface text (the areas' own names, e.g. "Xã 06", are data)
        return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))
                if t.get_text().strip() not in data_labels]

    figs, _ = R.figures(other, inputs, lang, "estimates")
    sae_figs = [f for f in figs if f["group"] == "small_areas"]
    for f in (sae_figs[0], sae_figs[-1]):  # one commune chart and the diagnostics
        fig = f["draw"]()
        words = " ".join(texts_of(fig) + [f["caption"]])
        __import__("matplotlib.pyplot").pyplot.close(fig)
        assert ("village" if lang == "en" else "thôn") in words
        assert table(FIGURE, lang)["ci_none"] not in words  # the note explains EBLUP ± 1.96·RMSE instead
        assert not [w for w in demo_words if re.search(rf"\b{w}\b", words)], words
    full = __import__("pipeline.stage_outputs").stage_outputs.load_inputs(other, build, survey)
    manifest = {"figures": [], "skipped": []}
    page = report.render(report.context(other, full, manifest, build, out))
    sec = page[page.index('id="small-areas"'):page.index('id="methods"')]
    assert ("Villages" if lang == "en" else "thôn") in sec and ("Region" if lang == "en" else "Vùng") in sec
    sec = re.sub(r"<tr data-area.*?</tr>", " ", sec, flags=re.S)  # the rows of the lowest areas name them
    assert not [w for w in demo_words if re.search(rf"\b{w}\b", re.sub(r"<[^>]+>", " ", sec))]
    assert area_words(None, "en")["areas"] == "areas" and area_words({"area_noun": "county"}, "en")["Areas"] == "Counties"
    assert area_words({"area_noun": {"vi": "xã"}}, "vi")["areas"] == "xã"
