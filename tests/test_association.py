"""design.chisq (svychisq), design.ttest (svyttest), design.table (svytable) against R survey 4.1-1.

R's numbers: tests/data/r_models.json, made by tests/data/r_models.R.
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis import EstimationError
from api_designs import cases, close, design

STATISTICS = ("F", "Chisq", "Wald", "adjWald")
CHISQ = {f"chisq_{st}_{d}": (d, "sch.wide", "stype", st, None)
         for d in ("dstrat", "dclus1", "dclus2", "dcal", "rclus1") for st in STATISTICS}
CHISQ |= {f"chisq_{st}_dclus1_awards_both": ("dclus1", "awards", "both", st, None) for st in STATISTICS}
CHISQ |= {f"chisq_{st}_{d}_subset": (d, "sch.wide", "awards", st, "notH") for st in STATISTICS
          for d in ("dclus1", "dcal")}


@pytest.mark.parametrize("case_id", sorted(CHISQ))
def test_chisq_matches_svychisq(case_id):
    name, a, b, statistic, dom = CHISQ[case_id]
    d = design(name)
    mask = None if dom is None else (d.data["stype"] != "H").to_numpy()
    t = d.chisq(a, b, statistic=statistic, where=mask)
    r = cases()[case_id]
    close(t.statistic, r["statistic"])
    close(t.pvalue, r["p"])
    if statistic == "Chisq":
        assert r["parameter_names"] == "df" and t.df == r["parameter"]  # (R's scalars are unboxed in the JSON)
        assert np.isnan(t.df_num) and np.isnan(t.df_denom)
    else:
        assert r["parameter_names"] == ["ndf", "ddf"]
        close([t.df_num, t.df_denom], r["parameter"])


def test_chisq_table_and_frame():
    d = design("dclus1")
    t = d.chisq("sch.wide", "stype")
    r = cases()["table_dclus1"]
    assert list(t.table.index) == r["dimnames"]["sch.wide"] and list(t.table.columns) == r["dimnames"]["stype"]
    close(t.table.to_numpy().T.ravel(), r["values"])
    f = t.to_frame()
    assert list(f.columns) == ["variables", "statistic", "df_num", "df_denom", "df", "pvalue", "method"]
    assert "Rao &amp; Scott" in t._repr_html_()


@pytest.mark.parametrize("name", ["dstrat", "dclus1", "dclus2", "rclus1", "dcal"])
def test_ttest_matches_svyttest(name):
    t = design(name).ttest("api00", "sch.wide")
    r = cases()[f"ttest_{name}"]
    assert t.levels == ("No", "Yes")
    close([t.estimate, t.statistic, t.df, t.pvalue], [r["estimate"], r["statistic"], r["df"], r["p"]])
    close(t.conf_int, r["ci"])
    assert list(t.to_frame().columns) == ["variable", "group", "contrast", "estimate", "se", "statistic", "df",
                                          "pvalue", "ci_low", "ci_high", "method"]


def test_ttest_in_a_domain():
    d = design("dclus1")
    t = d.ttest("api00", "awards", where=(d.data["stype"] == "E").to_numpy())
    r = cases()["ttest_dclus1_subset"]
    close([t.estimate, t.statistic, t.df, t.pvalue, *t.conf_int], [r["estimate"], r["statistic"], r["df"], r["p"],
                                                                  *r["ci"]])
    assert "t-test" in t._repr_html_()


@pytest.mark.parametrize("case_id,name,variables", [
    ("table_dclus1", "dclus1", ["sch.wide", "stype"]),
    ("table_dstrat", "dstrat", "stype"),
    ("table_rclus1", "rclus1", ["awards", "stype"]),
])
def test_table_matches_svytable(case_id, name, variables):
    t = design(name).table(variables)
    r = cases()[case_id]
    if isinstance(variables, str):
        assert list(t.index) == r["dimnames"][variables]
        close(t.to_numpy(), r["values"])
    else:
        assert list(t.index) == r["dimnames"][variables[0]] and list(t.columns) == r["dimnames"][variables[1]]
        close(t.to_numpy().T.ravel(), r["values"])  # R stores tables column-major


def test_table_in_a_domain_and_three_ways():
    d = design("dstrat")
    mask = (d.data["stype"] == "E").to_numpy()
    t = d.table(["sch.wide", "awards"], where=mask)
    assert np.isclose(t.to_numpy().sum(), d.weights[mask].sum(), rtol=1e-14)
    three = d.table(["stype", "sch.wide", "awards"])
    assert three.index.nlevels == 3 and np.isclose(three.sum(), d.weights.sum(), rtol=1e-14)


def test_bad_input():
    d = design("dstrat")
    with pytest.raises(ValueError, match="^statistic: expected one of 'F', 'Chisq', 'Wald', 'adjWald', got 'lincom'$"):
        d.chisq("sch.wide", "stype", statistic="lincom")
    with pytest.raises(ValueError, match=r"^b: expected column\(s\) of the data, got unknown column\(s\) 'styp'"):
        d.chisq("sch.wide", "styp")
    with pytest.raises(EstimationError, match=r"^b: expected at least 2 levels of 'stype' in the rows used, got \['E'\]$"):
        d.chisq("sch.wide", "stype", where=(d.data["stype"] == "E").to_numpy())
    with pytest.raises(EstimationError, match=r"^group: expected exactly 2 groups in 'stype', got 3"):
        d.ttest("api00", "stype")
    with pytest.raises(EstimationError, match="^where: expected a domain with at least one row, got an empty domain$"):
        d.table("stype", where=np.zeros(d.n, dtype=bool))
    with pytest.raises(EstimationError, match="^na_rm: expected no missing values with na_rm=False"):
        design("dclus1").chisq("sch.wide", "acs.k3", na_rm=False)
