"""The estimate stage's small-area estimates ([sae]) on the demo: every commune, better than direct.

The demo's ``[sae]`` models hh_smartphone, hh_fiber and p_internet for the 151
communes of the province (117 with a sample) from the commune frame
(``communes.csv``).  Checked here: ``sae.csv`` has every commune of every
indicator; it is exactly :func:`pipeline.small_area.small_area_estimates` on
the stage's direct estimates; against the generator's commune truth
(``raw/truth_communes.csv``) the EBLUPs are closer than the direct estimates
and EBLUP ± 1.96·rmse covers the truth for 90-99% of the communes.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_stage


@pytest.fixture(scope="module")
def sae(demo_built):
    survey, build, _ = demo_built
    table = pd.read_csv(build / "sae.csv", dtype={"area": str})
    truth = pd.read_csv(survey / "raw" / "truth_communes.csv", dtype={"level": str})
    return survey, build, table, truth


def test_every_commune_of_every_indicator(sae):
    survey, build, table, _ = sae
    frame = pd.read_csv(survey / "communes.csv")
    assert len(frame) == 151
    assert table.groupby("indicator")["area"].nunique().to_dict() == {"hh_fiber": 151, "hh_smartphone": 151,
                                                                     "p_internet": 151}
    assert list(table.columns) == ["indicator", "area", "area_label", "district", "n", "direct", "direct_se", "eblup",
                                   "rmse", "cv", "gamma", "method", "residual"]
    sampled = table["n"] > 0
    assert (table.loc[sampled, "method"] == "eblup").all() and (table.loc[~sampled, "method"] == "synthetic").all()
    assert sampled.groupby(table["indicator"]).sum().to_dict() == {"hh_fiber": 117, "hh_smartphone": 117,
                                                                   "p_internet": 117}
    assert table["eblup"].between(0, 1).all() and (table["rmse"] > 0).all()
    fits = json.loads((build / "sae_fit.json").read_text())
    assert set(fits) == {"hh_smartphone", "hh_fiber", "p_internet"} and all(f["transform"] == "arcsin"
                                                                             for f in fits.values())
    # the demo's [sae] method: Li-Lahiri adjusted REML, never a zero sigma2_u (pipeline.small_area)
    assert all(f["method"] == "AMRL" and f["sigma2_u"] > 0 and not f["sigma2_u_zero"] for f in fits.values())


def test_eblup_beats_direct_and_covers_the_truth(sae):
    _, _, table, truth = sae
    t = truth[truth["domain"] == "commune"].rename(columns={"level": "area"})
    m = table.merge(t[["indicator", "area", "value"]].rename(columns={"value": "truth"}), on=["indicator", "area"],
                    validate="one_to_one")
    assert len(m) == len(table)
    for ind, g in m.groupby("indicator"):
        s = g[g["n"] > 0]
        direct = np.sqrt(np.mean((s["direct"] - s["truth"]) ** 2))
        eblup = np.sqrt(np.mean((s["eblup"] - s["truth"]) ** 2))
        assert eblup < 0.8 * direct, (ind, eblup, direct)
        covered = (np.abs(g["eblup"] - g["truth"]) <= 1.96 * g["rmse"]).mean()
        assert 0.90 <= covered <= 0.99, (ind, covered)


def test_table_is_the_small_area_service_on_the_stage_direct_estimates(demo_built, tmp_path):
    """Without [sae] the stage writes no sae.csv (and removes a stale one)."""
    import shutil
    survey, build, _ = demo_built
    s = tmp_path / "qb2022"
    shutil.copytree(survey, s)  # raw files copied: input paths must resolve inside the survey folder
    text = (s / "survey.toml").read_text(encoding="utf-8")
    start = text.index("[sae]")
    (s / "survey.toml").write_text(text[:start] + text[text.index("# --- reporting"):], encoding="utf-8")
    b = tmp_path / "build"
    shutil.copytree(build, b)
    run_stage("estimate", s, b, check=True)
    assert not (b / "sae.csv").exists() and not (b / "sae_fit.json").exists()
    assert (b / "estimates.csv").read_bytes() == (build / "estimates.csv").read_bytes()
