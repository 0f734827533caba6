"""The Make layer: help, no-op reruns, and re-running only what changed.

Runs ``make`` on a small survey made in the test, with ``BUILD`` pointed at a
temporary folder so the repository's build/ is not touched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv/bin/python").exists(),
                                reason="make or .venv missing")


def make(*args, check=True):
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    p = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(p.stdout + p.stderr)
    return p


def test_help_lists_targets():
    out = make("help").stdout
    for target in ("all", "test", "bench", "clean", "help"):
        assert f"{target} " in out



def test_stages_run_with_one_blas_thread_and_test_and_bench_do_not():
    """Every stage target exports one BLAS thread (stages run side by side under make -j); the test and
    bench targets keep the library's own threading (read from make's database: `make -pq help`)."""
    import re
    db = make("-pq", "help", check=False).stdout
    found = {}
    for target, var in re.findall(r"^(\S+): (OPENBLAS|OMP|MKL)_NUM_THREADS := 1$", db, re.M):
        found.setdefault(target, set()).add(var)
    stages = {"build/qb2022/ingest/manifest.json", "build/qb2022/clean/manifest.json",
              "build/qb2022/weight/manifest.json", "build/qb2022/estimates.csv", "build/qb2022/models.csv",
              "figures/qb2022/manifest_estimates.json", "figures/qb2022/manifest_diagnostics.json",
              "figures/qb2022/report.html"}
    assert stages <= set(found) and all(found[t] == {"OPENBLAS", "OMP", "MKL"} for t in stages)
    assert not {"test", "bench", "validate", "all"} & set(found)

def test_all_then_noop_then_partial(make_survey, tmp_path):
    survey = make_survey(fmt="csv", strata=False)
    build = tmp_path / "build"
    v = [f"SURVEY={survey}", f"BUILD={build}", f"FIGS={tmp_path / 'figures'}"]
    first = make("all", "-j2", *v)
    for stage in ("ingest", "clean", "weight", "estimate"):
        assert f"pipeline.{stage}" in first.stdout
    assert (build / "estimates.xlsx").exists()
    again = make("all", *v)
    assert "pipeline." not in again.stdout, again.stdout   # nothing re-ran (how fast: `make bench`, W6)
    assert make("-q", "all", *v, check=False).returncode == 0
    # a newer weight stage script re-runs weight and estimate only (dry run with -W)
    plan = make("-n", "all", "-W", "pipeline/weight.py", *v).stdout
    assert "pipeline.weight" in plan and "pipeline.estimate" in plan
    assert "pipeline.ingest" not in plan and "pipeline.clean" not in plan
    # a changed control table re-runs weight and estimate only
    os.utime(survey / "controls" / "households.csv", (time.time() + 5, time.time() + 5))
    plan = make("-n", "all", *v).stdout
    assert "pipeline.weight" in plan and "pipeline.clean" not in plan and "pipeline.ingest" not in plan
    # a changed config re-runs everything
    os.utime(survey / "survey.toml", (time.time() + 10, time.time() + 10))
    plan = make("-n", "all", *v).stdout
    assert all(f"pipeline.{s}" in plan for s in ("ingest", "clean", "weight", "estimate"))
    # `make clean all` cleans first and then builds everything, although `all` runs stages side by side
    rebuilt = make("clean", "all", *v)
    assert rebuilt.stdout.index("pipeline.config --clean") < rebuilt.stdout.index("pipeline.ingest")
    assert (build / "estimates.xlsx").exists() and (tmp_path / "figures" / "report.html").exists()


@pytest.mark.parametrize("damage", ["not_spss", "missing"])
def test_failed_stage_stops_make_with_one_line(make_survey, tmp_path, damage):
    survey = make_survey(fmt="sav")
    if damage == "missing":  # reported by the stage, not as Make's "No rule to make target"
        (survey / "raw" / "person.sav").unlink()
    else:
        (survey / "raw" / "person.sav").write_bytes(b"not spss")
    build = tmp_path / "build"
    p = make("all", f"SURVEY={survey}", f"BUILD={build}", f"FIGS={tmp_path / 'figures'}", check=False)
    assert p.returncode != 0
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "person.sav" in errors[0] and "Traceback" not in p.stderr
    assert not (build / "ingest").exists()
