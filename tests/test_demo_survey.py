"""Tests of the bundled demo survey surveys/qb2022 (issue 4).

Population facts, the sample design, determinism of the raw files and the
defects log.  The generator runs twice (about 3 s each).
"""

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from analysis.sampling import allocate_sqrt

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "surveys" / "qb2022"
RAW_FILES = ["household.sav", "person.sav", "defects.csv", "truth.csv"]
SURVEY_FILES = [
    "frame.csv",
    "sample_eas.csv",
    "codebook.csv",
    "controls/households_district_urban.csv",
    "controls/persons_sex_age.csv",
]


def _load_generator():
    spec = importlib.util.spec_from_file_location("qb2022_generate", SURVEY / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["qb2022_generate"] = mod
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("qb2022")
    res = gen.generate(base / "raw", gen.DEFAULT_SEED, survey_files=base / "survey")
    res["base"] = base
    return res


@pytest.fixture(scope="module")
def pop(run):
    return run["population"]


@pytest.fixture(scope="module")
def raw(run):
    d = run["base"] / "raw"
    hh, hmeta = pyreadstat.read_sav(d / "household.sav", user_missing=True)
    pp, pmeta = pyreadstat.read_sav(d / "person.sav", user_missing=True)
    defects = pd.read_csv(d / "defects.csv", dtype=str, keep_default_na=False)
    return dict(hh=hh, hmeta=hmeta, pp=pp, pmeta=pmeta, defects=defects, dir=d)


# ---------------------------------------------------------------------------
# population facts
# ---------------------------------------------------------------------------
def test_administrative_units(pop):
    c = pop.communes
    assert c["district_code"].nunique() == 8
    assert len(c) == 151
    n = c.groupby("district")["commune_code"].size()
    assert n["Đồng Hới"] == 15 and n["Ba Đồn"] == 16 and n["Lệ Thủy"] == 26
    assert n["Bố Trạch"] == 28 and n["Quảng Trạch"] == 17
    assert n[["Tuyên Hóa", "Minh Hóa", "Quảng Ninh"]].sum() == 49
    t = c.groupby(["district", "commune_type"]).size()
    assert t["Đồng Hới", "Phường"] == 9 and t["Đồng Hới", "Xã"] == 6
    assert t["Ba Đồn", "Phường"] == 6 and t["Ba Đồn", "Xã"] == 10
    assert t["Lệ Thủy", "Thị trấn"] == 2 and t["Bố Trạch", "Thị trấn"] == 3
    for d in ("Tuyên Hóa", "Minh Hóa", "Quảng Ninh"):
        assert t[d, "Thị trấn"] == 1
    assert (c["commune_type"] == "Xã").sum() == 128
    assert (c["commune_type"] == "Phường").sum() == 15
    assert (c["commune_type"] == "Thị trấn").sum() == 8
    assert not (c.loc[c["district"] == "Quảng Trạch", "urban"] == 1).any()
    assert ((c["commune_type"] == "Xã") == (c["urban"] == 2)).all()


def test_population_size(pop):
    hh, pp = pop.households, pop.persons
    assert len(hh) == pytest.approx(245_000, rel=0.01)
    assert len(pp) == pytest.approx(895_000, rel=0.01)
    assert len(pp) / len(hh) == pytest.approx(3.7, abs=0.1)
    assert hh["hh_size"].sum() == len(pp)
    bd = hh["district"] == 2
    assert bd.sum() == 27_621 and hh.loc[bd, "hh_size"].sum() == 106_413
    urban_persons = np.average(hh["urban"] == 1, weights=hh["hh_size"])
    assert 0.19 < urban_persons < 0.23
    assert 0.19 < (hh["urban"] == 1).mean() < 0.23


def test_enumeration_areas(pop):
    f = pop.frame
    assert f["ea_id"].is_unique
    assert f["households"].between(80, 200).all()
    assert f["households"].sum() == len(pop.households)
    assert f["stratum"].nunique() == 15
    assert (pop.households.groupby("ea").size().to_numpy() == f["households"].to_numpy()).all()


def test_exact_province_shares(pop):
    hh = pop.households
    N = len(hh)
    n_smart = int(hh["hh_smartphone"].sum())
    n_fiber = int(hh["hh_fiber"].sum())
    assert n_smart == (7907 * N + 5000) // 10000 == round(0.7907 * N)
    assert n_fiber == (5921 * N + 5000) // 10000 == round(0.5921 * N)
    assert round(100 * n_smart / N, 2) == 79.07
    assert round(100 * n_fiber / N, 2) == 59.21


def test_truth_table(run, pop):
    t = pd.read_csv(run["base"] / "raw" / "truth.csv", keep_default_na=False)
    assert list(t.columns) == ["indicator", "domain", "level", "value"]
    for ind in ["hh_smartphone", "hh_fiber", "hh_internet", "hh_computer", "hh_mobile",
                "p_smartphone", "p_internet", "p_egov", "p_account", "p_digipay",
                "p_esign", "p_anyskill"]:
        sub = t[t["indicator"] == ind]
        assert len(sub) == 1 + 8 + 2, ind
        assert set(sub["domain"]) == {"all", "district", "urban"}
        assert set(sub.loc[sub["domain"] == "district", "level"]) == set(gen.DISTRICT_NAMES.values())
        assert set(sub.loc[sub["domain"] == "urban", "level"]) == {"urban", "rural"}
        assert sub["value"].between(0, 1).all()
    prov = t[(t["domain"] == "all")].set_index("indicator")["value"]
    N = len(pop.households)
    assert prov["hh_smartphone"] == pop.households["hh_smartphone"].sum() / N
    assert round(prov["hh_smartphone"] * 100, 2) == 79.07
    assert round(prov["hh_fiber"] * 100, 2) == 59.21
    adults = pop.persons[pop.persons["age"] >= 15]
    assert prov["p_internet"] == pytest.approx(adults["p_internet"].mean(), abs=1e-12)
    # district truths average back to the province value
    hh = pop.households
    dist = t[(t["indicator"] == "hh_fiber") & (t["domain"] == "district")].set_index("level")["value"]
    w = hh.groupby("district").size().rename(index=gen.DISTRICT_NAMES)
    assert np.average(dist[w.index], weights=w) == pytest.approx(prov["hh_fiber"], abs=1e-12)


def test_rates_plausible_and_consistent(pop):
    hh, pp = pop.households, pop.persons
    by_u = hh.groupby("urban")[["hh_smartphone", "hh_fiber", "hh_internet", "hh_computer"]].mean()
    assert (by_u.loc[1] > by_u.loc[2]).all()
    by_d = hh.groupby("district")["hh_smartphone"].mean()
    assert by_d.idxmax() == 1 and by_d.idxmin() == 7  # Đồng Hới highest, Minh Hóa lowest
    by_e = hh.groupby("head_educ")["hh_internet"].mean()
    assert by_e.is_monotonic_increasing
    # logical consistency of the true values
    assert (hh["hh_internet"] >= hh["hh_fiber"]).all()
    assert ((hh["n_smartphones"] > 0) == (hh["hh_smartphone"] == 1)).all()
    assert (hh["hh_mobile"] >= hh["hh_smartphone"]).all()
    adult = pp["age"] >= 15
    owners = pp.loc[adult].groupby("hh")["p_smartphone"].sum()
    assert ((owners.reindex(range(len(hh)), fill_value=0) > 0).to_numpy() == (hh["hh_smartphone"] == 1).to_numpy()).all()
    assert (pp["p_digipay"] <= pp["p_account"]).all()
    assert (pp["p_egov"] <= pp["p_internet"]).all()
    assert (pp.loc[~adult, ["p_smartphone", "p_internet", "p_skill1"]] == 0).all().all()
    a = pp[adult]
    young = a[a["age"] < 35]["p_internet"].mean()
    old = a[a["age"] >= 60]["p_internet"].mean()
    assert young > old + 0.2


@pytest.mark.parametrize(
    "indicator,level",
    [("hh_smartphone", "hh"), ("hh_fiber", "hh"), ("hh_internet", "hh"),
     ("p_smartphone", "p"), ("p_internet", "p")],
)
def test_intra_cluster_correlation(pop, indicator, level):
    if level == "hh":
        y, g = pop.households[indicator], pop.households["ea"]
    else:
        a = pop.persons[pop.persons["age"] >= 15]
        y, g = a[indicator], pop.households["ea"].to_numpy()[a["hh"].to_numpy()]
    icc = gen.icc_anova(y, g)
    assert 0.05 <= icc <= 0.15, icc


def test_control_tables(pop):
    t1 = pd.read_csv(SURVEY / "controls" / "households_district_urban.csv")
    t2 = pd.read_csv(SURVEY / "controls" / "persons_sex_age.csv")
    assert list(t1.columns) == ["district", "urban", "count"]
    assert list(t2.columns) == ["sex", "age_group", "count"]
    assert len(t1) == 15 and t1["count"].sum() == len(pop.households)
    assert len(t2) == 10 and t2["count"].sum() == len(pop.persons)
    assert set(t2["age_group"]) == {"0-14", "15-24", "25-39", "40-59", "60+"}


# ---------------------------------------------------------------------------
# design
# ---------------------------------------------------------------------------
def test_frame_and_allocation(pop):
    f = pop.frame
    s = f.groupby("stratum").agg(hh=("households", "sum"), n=("n_ea_stratum", "first"),
                                 pi=("pi_ea", "sum"), eas=("ea_id", "size"))
    assert len(s) == 15 and 52 in s.index and 51 not in s.index
    assert s["n"].sum() == 150 and s["n"].min() >= 2
    assert (s["n"].to_numpy() == allocate_sqrt(s["hh"].to_numpy(), 150, minimum=2, maximum=s["eas"].to_numpy())).all()
    # selection probabilities sum to the allocation in every stratum
    np.testing.assert_allclose(s["pi"], s["n"], rtol=1e-12)
    assert f["pi_ea"].between(0, 1).all()
    assert (f["listed"] >= f["households"]).all()
    np.testing.assert_allclose(f["pi_hh"], f["pi_ea"] * 20 / f["listed"], rtol=1e-12)
    # square-root allocation: n_h / sqrt(M_h) roughly constant
    ratio = s["n"] / np.sqrt(s["hh"])
    assert ratio.max() / ratio.min() < 2.5


def test_sample_structure(run, pop):
    smp = run["sample"]
    assert len(smp.eas) == 150 and smp.eas["ea_id"].is_unique
    assert (smp.eas.groupby("stratum").size() == pop.frame.groupby("stratum")["n_ea_stratum"].first()).all()
    hh = smp.households
    assert len(hh) == 3000 and (hh.groupby("ea_id").size() == 20).all()
    assert not hh.duplicated(["ea_id", "listing_no"]).any()
    # design weights: 1 / (pi_ea * 20 / listed dwellings)
    f = pop.frame.set_index("ea_id")
    exp = f.loc[hh["ea_id"], "pi_ea"].to_numpy() * 20 / f.loc[hh["ea_id"], "listed"].to_numpy()
    np.testing.assert_allclose(hh["pi_hh"], exp, rtol=1e-12)
    np.testing.assert_allclose(hh["weight"] * hh["pi_hh"], 1.0)
    # vacant dwellings (result 4) carry no household attributes
    vac = hh["result"] == 4
    assert vac.any() and hh.loc[vac, "hh_size"].isna().all() and hh.loc[~vac, "hh_size"].notna().all()
    nr = (hh["result"] != 1).mean()
    assert 0.04 <= nr <= 0.12
    assert set(hh["result"].unique()) <= {1, 2, 3, 4}
    comp = hh.index[hh["result"] == 1]
    assert smp.persons["hh"].isin(comp).all()
    assert len(smp.persons) == hh.loc[comp, "hh_size"].sum()


def test_nonresponse_depends_on_characteristics(pop):
    rng = np.random.default_rng(7)
    frames = [gen.draw_sample(pop, rng).households for _ in range(30)]
    hh = pd.concat(frames)
    nr = hh["result"] != 1
    assert nr[hh["urban"] == 1].mean() > nr[hh["urban"] == 2].mean() + 0.02
    assert nr[hh["hh_size"] == 1].mean() > nr[hh["hh_size"] >= 4].mean() + 0.02
    assert 0.05 <= nr.mean() <= 0.12
    assert set(hh.loc[nr, "result"]) == {2, 3, 4}
    # weighted count of occupied dwellings is unbiased for the household total
    occ = [(f.loc[f["result"] != 4, "weight"]).sum() for f in frames]
    assert np.mean(occ) == pytest.approx(len(pop.households), rel=0.02)


def test_draw_sample_other_sizes(pop):
    smp = gen.draw_sample(pop, np.random.default_rng(3), n_ea=60, n_hh=10)
    assert len(smp.eas) == 60 and len(smp.households) == 600
    assert (smp.eas.groupby("stratum").size() >= 2).all()
    s = smp.eas.groupby("stratum")["n_ea_stratum"].first()
    assert s.sum() == 60
    np.testing.assert_allclose(smp.households["pi_hh"],
                               smp.households["pi_ea"] * 10 / smp.eas.set_index("ea_id").loc[smp.households["ea_id"], "listed"].to_numpy())


def test_draw_sample_depends_only_on_its_rng(pop):
    """(Its speed, 0.5 s at most, is measured by `make bench`, W6.)"""
    a = gen.draw_sample(pop, np.random.default_rng(123))
    b = gen.draw_sample(pop, np.random.default_rng(123))
    pd.testing.assert_frame_equal(a.households, b.households)


def test_pps_reproduces_inclusion_probabilities(pop):
    """Empirical stage-1 inclusion frequencies match pi_ea within MC error."""
    rng = np.random.default_rng(99)
    f = pop.frame
    reps = 400
    counts = pd.Series(0, index=f["ea_id"].to_numpy())
    for _ in range(reps):
        smp = gen.draw_sample(pop, rng)
        counts[smp.eas["ea_id"].to_numpy()] += 1
    pi = f["pi_ea"].to_numpy()
    freq = counts.to_numpy() / reps
    se = np.sqrt(pi * (1 - pi) / reps)
    z = (freq - pi) / se
    assert np.mean(z**2) < 1.3  # ~1 expected
    assert np.abs(z).max() < 5.5
    # and in aggregate by stratum (exact: fixed sample size)
    agg = pd.Series(freq).groupby(f["stratum"].to_numpy()).sum()
    np.testing.assert_allclose(agg.to_numpy(), f.groupby("stratum")["n_ea_stratum"].first().to_numpy())


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
_CLI = """
import runpy, sys

def _peak_kib():   # VmHWM: this address space only (ru_maxrss would count the parent's pages before exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

sys.argv = ["generate.py", "--out", sys.argv[1], "--survey-files", sys.argv[2]]
try:
    runpy.run_path({gen!r}, run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
print("MAXRSS", _peak_kib())
"""


def test_cli_same_seed_byte_identical(run, tmp_path):
    """The command line, in a fresh process, reproduces the in-process files
    byte for byte, in under 1 GiB.  (Its time, 10 s at most, is measured by
    `make bench`, W6.)"""
    import subprocess

    code = _CLI.format(gen=str(SURVEY / "generate.py"))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "raw"), str(tmp_path / "survey")],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout
    assert int(out.split("MAXRSS")[1]) < 1024 * 1024  # Linux reports KiB
    a, b = run["base"], tmp_path
    for name in RAW_FILES + ["checksums.sha256"]:
        assert (a / "raw" / name).read_bytes() == (b / "raw" / name).read_bytes(), name
    for name in SURVEY_FILES:
        assert (a / "survey" / name).read_bytes() == (b / "survey" / name).read_bytes(), name


def test_checksums_file(run):
    d = run["base"] / "raw"
    lines = (d / "checksums.sha256").read_text().splitlines()
    listed = dict(reversed(line.split("  ")) for line in lines)
    assert sorted(listed) == sorted(RAW_FILES)
    for name, digest in listed.items():
        assert hashlib.sha256((d / name).read_bytes()).hexdigest() == digest


def test_committed_survey_files_match_generator(run):
    for name in SURVEY_FILES:
        assert (SURVEY / name).read_bytes() == (run["base"] / "survey" / name).read_bytes(), name


def test_other_seed_differs(tmp_path):
    pop2 = gen.build_population(1)
    smp = gen.draw_sample(pop2, np.random.default_rng(1))
    paths = gen.write_raw(smp, tmp_path, np.random.default_rng(2))
    ref = SURVEY / "raw" / "household.sav"
    other = paths[0].read_bytes()
    assert len(pop2.households) == 244_921
    if ref.exists():
        assert other != ref.read_bytes()


# ---------------------------------------------------------------------------
# raw files
# ---------------------------------------------------------------------------
HH_COLUMNS = ["hhid", "ea_id", "district", "commune", "urban", "result", "interviewer",
              "interview_date", "duration_min", "hh_size", "q_mobile", "n_smartphones",
              "q_computer", "q_internet_home", "q_fiber", "q_fixed_other", "q_mobile_bb",
              "internet_spend", "no_internet_reason"]
P_COLUMNS = ["hhid", "line", "sex", "age", "relation", "education", "p_smartphone",
             "p_internet", "p_egov", "p_account", "p_digipay", "p_esign",
             *[f"p_skill{j}" for j in range(1, 10)]]


def test_raw_variables_and_labels(raw):
    hh, pp, hm, pm = raw["hh"], raw["pp"], raw["hmeta"], raw["pmeta"]
    assert list(hh.columns) == HH_COLUMNS
    assert list(pp.columns) == P_COLUMNS
    assert hm.variable_value_labels["district"][1.0] == "Đồng Hới"
    assert hm.variable_value_labels["urban"] == {1.0: "Thành thị", 2.0: "Nông thôn"}
    assert hm.variable_value_labels["q_mobile"][8.0] == "Không biết"
    assert "Internet" in hm.column_names_to_labels["q_internet_home"]
    mr = hm.missing_ranges
    assert {(r["lo"], r["hi"]) for r in mr["q_mobile"]} == {(8, 8), (9, 9)}
    assert {(r["lo"], r["hi"]) for r in mr["n_smartphones"]} == {(98, 98), (99, 99)}
    assert {(r["lo"], r["hi"]) for r in pm.missing_ranges["p_internet"]} == {(8, 8), (9, 9)}
    assert pm.variable_value_labels["sex"] == {1.0: "Nam", 2.0: "Nữ"}
    # default read turns user-missing codes into NaN
    d, _ = pyreadstat.read_sav(raw["dir"] / "household.sav")
    assert not d["q_mobile"].isin([8, 9]).any()
    cb = pd.read_csv(SURVEY / "codebook.csv")
    assert set(cb.loc[cb["file"] == "household", "variable"]) == set(HH_COLUMNS)
    assert set(cb.loc[cb["file"] == "person", "variable"]) == set(P_COLUMNS)
    assert cb["label_en"].notna().all()


def test_skip_logic_in_raw(raw):
    hh, pp = raw["hh"], raw["pp"]
    d = raw["defects"]
    skip_keys = set(d.loc[d["defect_type"] == "skip_violation", "key"])
    no_int = (hh["q_internet_home"] == 2) & ~hh["hhid"].isin(skip_keys)
    assert hh.loc[no_int, ["q_fiber", "q_fixed_other", "q_mobile_bb", "internet_spend"]].isna().all().all()
    assert hh.loc[hh["result"] != 1, ["hh_size", "q_mobile", "q_internet_home"]].isna().all().all()
    kids = pp["age"] < 15
    assert pp.loc[kids, P_COLUMNS[6:]].isna().all().all()
    assert pp.loc[~kids, "p_esign"].notna().all()


# ---------------------------------------------------------------------------
# defects
# ---------------------------------------------------------------------------
def _keys(d, kind, file=None):
    m = d["defect_type"] == kind
    if file:
        m &= d["file"] == file
    return set(d.loc[m, "key"])


def test_defects_file_columns_and_rates(raw):
    d = raw["defects"]
    assert list(d.columns) == ["defect_type", "file", "key", "variable", "injected_value",
                               "original_value", "expected_action"]
    kinds = set(d["defect_type"])
    assert kinds == {"duplicate_submission", "household_without_members", "orphan_person",
                     "ea_not_in_frame", "skip_violation", "implausible_smartphones",
                     "impossible_age", "dont_know", "refused"}
    assert set(d["expected_action"]) <= {"quarantine", "set_missing", "drop_duplicate"}
    n_hh, n_p = len(raw["hh"]), len(raw["pp"])
    # every defect type (per file and variable) hits at most ~2% of records
    for (kind, file, var), k in d.groupby(["defect_type", "file", "variable"]).size().items():
        n = n_hh if file == "household" else n_p
        assert 0 < k / n <= 0.025, (kind, file, var, k)


def test_every_defect_is_detectable_and_logged(raw):
    hh, pp, d = raw["hh"], raw["pp"], raw["defects"]
    frame_ids = set(pd.read_csv(SURVEY / "frame.csv")["ea_id"])
    # duplicates: exactly the logged hhids appear twice
    counts = hh["hhid"].value_counts()
    assert set(counts[counts > 1].index) == _keys(d, "duplicate_submission", "household")
    assert counts.max() == 2
    pdup = pp.groupby("hhid")["line"].apply(lambda s: s.duplicated().any())
    assert set(pdup[pdup].index) == _keys(d, "duplicate_submission", "person")
    # households without members
    comp = set(hh.loc[hh["result"] == 1, "hhid"])
    assert comp - set(pp["hhid"]) == _keys(d, "household_without_members")
    # orphan persons
    orphan = pp[~pp["hhid"].isin(set(hh["hhid"]))]
    keys = set(orphan["hhid"] + "/" + orphan["line"].astype(int).astype(str))
    assert keys == _keys(d, "orphan_person")
    # EA not in frame
    bad = hh[~hh["ea_id"].isin(frame_ids)]
    assert set(bad["hhid"]) == _keys(d, "ea_not_in_frame")
    # skip violations
    sv = hh[(hh["q_internet_home"] == 2) & (hh["q_fiber"] == 1)]
    assert set(sv["hhid"]) == _keys(d, "skip_violation")
    # implausible smartphone counts
    ns = hh["n_smartphones"]
    imp = hh[(ns < 98) & (ns > hh["hh_size"] + 5)]
    assert set(imp["hhid"]) == _keys(d, "implausible_smartphones")
    # impossible ages
    ia = pp[(pp["age"] > 110) | (pp["age"] < 0)]
    assert set(ia["hhid"] + "/" + ia["line"].astype(int).astype(str)) == _keys(d, "impossible_age")
    # don't know / refused codes
    for kind, code in (("dont_know", 8), ("refused", 9)):
        logged = d[d["defect_type"] == kind]
        for var in sorted(set(logged["variable"])):
            exp = set(logged.loc[logged["variable"] == var, "key"])
            codes = {code + 90} if var == "n_smartphones" else {code}
            if var.startswith("p_"):
                m = pp[var].isin(codes)
                got = set(pp.loc[m, "hhid"] + "/" + pp.loc[m, "line"].astype(int).astype(str))
                # duplicated rosters repeat rows: compare sets
            else:
                got = set(hh.loc[hh[var].isin(codes), "hhid"])
            assert got == exp, (kind, var)
    # no user-missing codes outside the logged ones
    for var in ["q_computer", "q_fixed_other", "q_mobile_bb"]:
        assert not hh[var].isin([8, 9]).any()
    for var in ["p_egov", "p_digipay", "p_esign"]:
        assert not pp[var].isin([8, 9]).any()


def test_defects_original_values(raw):
    d = raw["defects"]
    sm = d[d["defect_type"] == "implausible_smartphones"]
    assert (sm["injected_value"].astype(int) >= 30).all()
    ea = d[d["defect_type"] == "ea_not_in_frame"]
    assert (ea["original_value"].str.len() == 5).all()
    assert (ea["key"].str[:5] == ea["original_value"]).all()
