"""Generator of the bundled demo survey ``qb2022`` (synthetic Quảng Bình, mid-2022).

Three separable steps, importable for simulation studies::

    pop = build_population(seed)            # households + persons with true values
    sample = draw_sample(pop, rng)          # stratified 2-stage PPS sample + nonresponse
    write_raw(sample, out_dir, rng)         # CAPI-style .sav files with logged defects

and a command line that runs all three and writes the raw files::

    python surveys/qb2022/generate.py --out surveys/qb2022/raw [--seed 20220714]
        [--survey-files surveys/qb2022]

``--out`` receives ``household.sav``, ``person.sav``, ``defects.csv``,
``truth.csv`` and ``checksums.sha256``.  ``--survey-files DIR`` also writes
what a statistics office supplies (``frame.csv``, ``sample_eas.csv``,
``codebook.csv``, ``controls/*.csv``); the copies committed in
``surveys/qb2022`` are exactly what the default seed produces.

Everything is drawn from ``numpy.random.default_rng`` streams spawned from
the seed (population, sample, raw-file stream), never from global state, so
the same seed gives byte-identical files.  See ``README.md`` for the
codebook, the design and what is synthetic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # run as a script from a fresh clone
    sys.path.insert(0, str(_ROOT))

from analysis.sampling import (  # noqa: E402
    allocate_sqrt,
    pps_inclusion_probabilities,
    pps_systematic,
    systematic_by_group,
)

__all__ = [
    "DEFAULT_SEED",
    "DISTRICTS",
    "Population",
    "Sample",
    "build_population",
    "build_frame",
    "draw_sample",
    "write_raw",
    "truth_table",
    "control_tables",
    "codebook_table",
    "exact_count",
    "icc_anova",
    "generate",
    "main",
]

DEFAULT_SEED = 20220714

#: Province shares fixed by construction, as exact fractions (numerator, denominator).
SMARTPHONE_SHARE = (7907, 10000)
FIBER_SHARE = (5921, 10000)

N_EA_SAMPLE = 150
N_HH_PER_EA = 20
MIN_EA_PER_STRATUM = 2
EA_TARGET_SIZE = 135
EA_MIN, EA_MAX = 80, 200
VACANCY_RATE = 0.012  # vacant dwellings on the 2022 listing, per occupied dwelling
FIELD_START = dt.date(2022, 7, 18)
SAV_TIMESTAMP = b"14 Jul 2200:00:00"  # fixed creation date/time in the .sav header

# code, name, unit type, wards, towns, communes, persons, households,
# urban share of households, development index (drives ICT rates)
# Persons/households: Ba Đồn exact (2019 census, preliminary); others approximate.
DISTRICTS = [
    (1, "Đồng Hới", "Thành phố", 9, 0, 6, 136_000, 38_000, 0.700, 0.55),
    (2, "Ba Đồn", "Thị xã", 6, 0, 10, 106_413, 27_621, 0.464, 0.15),
    (3, "Lệ Thủy", "Huyện", 0, 2, 24, 142_000, 39_000, 0.090, 0.00),
    (4, "Bố Trạch", "Huyện", 0, 3, 25, 186_000, 51_300, 0.090, 0.05),
    (5, "Quảng Trạch", "Huyện", 0, 0, 17, 105_000, 28_500, 0.000, -0.10),
    (6, "Tuyên Hóa", "Huyện", 0, 1, 19, 80_000, 22_000, 0.080, -0.35),
    (7, "Minh Hóa", "Huyện", 0, 1, 14, 52_000, 14_000, 0.090, -0.60),
    (8, "Quảng Ninh", "Huyện", 0, 1, 13, 88_000, 24_500, 0.070, -0.10),
]
DISTRICT_NAMES = {d[0]: d[1] for d in DISTRICTS}
URBAN_LEVELS = {1: "urban", 2: "rural"}

AGE_GROUPS = [(0, 14, "0-14"), (15, 24, "15-24"), (25, 39, "25-39"), (40, 59, "40-59"), (60, 200, "60+")]

HH_INDICATORS = {
    # id: (column in population.households, description)
    "hh_mobile": ("hh_mobile", "households with any mobile phone"),
    "hh_smartphone": ("hh_smartphone", "households with at least one smartphone"),
    "hh_computer": ("hh_computer", "households with a computer"),
    "hh_internet": ("hh_internet", "households with internet access at home"),
    "hh_fiber": ("hh_fiber", "households with fiber broadband"),
    "hh_fixed_bb": ("hh_fixed_bb", "households with any fixed broadband (fiber or other)"),
    "hh_mobile_bb": ("hh_mobile_bb", "households with mobile broadband at home"),
}
HH_MEANS = {
    "hh_n_smartphones": ("n_smartphones", None, "mean number of smartphones per household"),
    "hh_internet_spend": ("internet_spend", "hh_internet", "mean monthly internet spending (thousand VND), households with internet at home"),
}
P_INDICATORS = {
    "p_smartphone": "persons 15+ owning a smartphone",
    "p_internet": "persons 15+ who used the internet in the last 3 months",
    "p_egov": "persons 15+ who used online public services in the last 12 months",
    "p_account": "persons 15+ with a bank or e-wallet payment account",
    "p_digipay": "persons 15+ who paid digitally in the last 12 months",
    "p_esign": "persons 15+ with a digital signature",
    **{f"p_skill{j}": f"persons 15+ with ICT skill {j}" for j in range(1, 10)},
    "p_anyskill": "persons 15+ with at least one of the nine ICT skills",
}

SKILLS = [
    ("Sao chép hoặc di chuyển tệp, thư mục", "Copied or moved a file or folder", 0.8),
    ("Sao chép và dán trong một tài liệu", "Used copy and paste tools within a document", 0.3),
    ("Gửi thư điện tử có đính kèm tệp", "Sent e-mail with attached files", 1.3),
    ("Dùng công thức cơ bản trong bảng tính", "Used basic arithmetic formulas in a spreadsheet", 2.1),
    ("Kết nối và cài đặt thiết bị mới", "Connected and installed new devices", 1.1),
    ("Tìm, tải, cài đặt và cấu hình phần mềm", "Found, downloaded, installed and configured software", 1.7),
    ("Tạo bài trình chiếu điện tử", "Created electronic presentations", 2.3),
    ("Chuyển tệp giữa máy tính và thiết bị khác", "Transferred files between a computer and other devices", 0.6),
    ("Viết chương trình máy tính", "Wrote a computer program", 3.8),
]

NO_INTERNET_REASONS = [
    (1, "Không cần thiết/không hữu ích", "Do not need it / not useful"),
    (2, "Không biết sử dụng", "Lack of skills"),
    (3, "Chi phí thiết bị quá cao", "Cost of equipment too high"),
    (4, "Chi phí dịch vụ quá cao", "Cost of service too high"),
    (5, "Không có dịch vụ tại khu vực", "Service not available in the area"),
    (6, "Lo ngại về quyền riêng tư, an ninh", "Privacy or security concerns"),
    (7, "Có thể truy cập ở nơi khác", "Have access elsewhere"),
    (96, "Lý do khác", "Other"),
]

#: Defect rates: fraction of eligible records (see README, "Defects").
DEFECT_RATES = {
    "duplicate_submission": 0.015,      # completed households, submitted twice
    "household_without_members": 0.005,  # completed households whose roster is missing
    "orphan_person": 0.005,             # rosters of completed hh copied under an unknown hhid
    "ea_not_in_frame": 0.005,           # household records with an ea_id absent from the frame
    "skip_violation": 0.02,             # households without internet at home: q_fiber = 1
    "implausible_smartphones": 0.005,   # completed households: n_smartphones 30..60
    "impossible_age": 0.003,            # persons 15+: age 120..199
    "dont_know": 0.01,                  # per key item, eligible answers set to 8 / 98
    "refused": 0.003,                   # per key item, eligible answers set to 9 / 99
}
DK_ITEMS_HH = ["q_mobile", "n_smartphones", "q_internet_home", "q_fiber"]
DK_ITEMS_P = ["p_smartphone", "p_internet", "p_account"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def exact_count(share, n):
    """Count ``round(share * n)`` (half up) in exact integer arithmetic.

    Parameters
    ----------
    share : tuple of int
        ``(numerator, denominator)``, e.g. ``(7907, 10000)`` for 79.07%.
    n : int
        Number of units.

    Returns
    -------
    int
    """
    num, den = share
    return (num * int(n) + den // 2) // den


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bern(rng, logit):
    return (rng.uniform(size=np.shape(logit)) < _expit(logit)).astype(np.int8)


def _top_k(score, k, eligible=None):
    """0/1 array marking the ``k`` largest scores (among ``eligible``)."""
    out = np.zeros(score.size, dtype=np.int8)
    if eligible is None:
        idx = np.arange(score.size)
    else:
        idx = np.flatnonzero(eligible)
    if k > idx.size:
        raise ValueError(f"cannot mark {k} of {idx.size} eligible units")
    if k > 0:
        part = np.argpartition(-score[idx], k - 1)[:k]
        out[idx[part]] = 1
    return out


def _split_integer(total, weights):
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, float)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    short = int(total - base.sum())
    if short:
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:short]] += 1
    return base


def _adjust_sizes(size, target, rng, lo=1, hi=14):
    """Add/remove one member in random households until ``size.sum() == target``."""
    diff = int(target - size.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        elig = np.flatnonzero(size < hi) if step > 0 else np.flatnonzero(size > lo)
        k = min(abs(diff), elig.size)
        pick = rng.choice(elig, size=k, replace=False)
        size[pick] += step
        diff -= step * k
    return size


def icc_anova(y, cluster):
    """One-way ANOVA estimate of the intra-cluster correlation of ``y``.

    Parameters
    ----------
    y : array_like of float
        Values (e.g. a 0/1 indicator).
    cluster : array_like of int
        Cluster codes ``0 .. C-1`` (e.g. enumeration areas).

    Returns
    -------
    float
    """
    y = np.asarray(y, float)
    g = np.asarray(cluster)
    _, g = np.unique(g, return_inverse=True)
    n_g = np.bincount(g)
    s_g = np.bincount(g, weights=y)
    ss_g = np.bincount(g, weights=y * y)
    C, N = n_g.size, y.size
    m_g = s_g / n_g
    ssw = (ss_g - s_g * m_g).sum()
    ssb = (n_g * (m_g - y.mean()) ** 2).sum()
    msw = ssw / (N - C)
    msb = ssb / (C - 1)
    n0 = (N - (n_g**2).sum() / N) / (C - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


# ---------------------------------------------------------------------------
# population
# ---------------------------------------------------------------------------
@dataclass
class Population:
    """A synthetic population with true indicator values.

    Attributes
    ----------
    seed : int
        Seed it was built from.
    communes : pandas.DataFrame
        One row per commune-level unit (151).
    frame : pandas.DataFrame
        One row per enumeration area (the sampling frame, in frame order).
    households : pandas.DataFrame
        One row per household, in EA then listing order; ``ea`` is the row
        position of its EA in ``frame``; true ICT values as 0/1.
    persons : pandas.DataFrame
        One row per person, in household then line order; ``hh`` is the row
        position of its household in ``households``.
    person_start : numpy.ndarray
        Row of each household's first member in ``persons``.
    listing_hh : numpy.ndarray
        The 2022 listing, EA by EA in frame order: row of the household in
        ``households`` for each listed dwelling, -1 for a vacant dwelling.
    listing_start : numpy.ndarray
        Position of each EA's first dwelling in ``listing_hh``.
    """

    seed: int
    communes: pd.DataFrame
    frame: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame
    person_start: np.ndarray = field(repr=False)
    listing_hh: np.ndarray = field(repr=False)
    listing_start: np.ndarray = field(repr=False)


def _build_geography(rng):
    rows = []
    for code, name, kind, wards, towns, communes, persons, households, ushare, dev in DISTRICTS:
        n_urban_hh = int(round(ushare * households))
        units = ([("Phường", 1)] * wards) + ([("Thị trấn", 1)] * towns) + ([("Xã", 2)] * communes)
        counters = {}
        for seq, (ukind, urban) in enumerate(units, start=1):
            counters[ukind] = counters.get(ukind, 0) + 1
            rows.append(
                dict(
                    district_code=code,
                    district=name,
                    commune_code=code * 100 + seq,
                    commune=f"{ukind} {counters[ukind]:02d}, {name}",
                    commune_type=ukind,
                    urban=urban,
                )
            )
        sub = [r for r in rows if r["district_code"] == code]
        for urban, total in ((1, n_urban_hh), (2, households - n_urban_hh)):
            idx = [i for i, r in enumerate(sub) if r["urban"] == urban]
            if not idx:
                if total:
                    raise AssertionError("urban households without urban units")
                continue
            w = rng.lognormal(0.0, 0.4, size=len(idx))
            hh = _split_integer(total, w)
            for i, v in zip(idx, hh):
                sub[i]["households"] = int(v)
    communes = pd.DataFrame(rows)
    communes["stratum"] = communes["district_code"] * 10 + communes["urban"]
    return communes


def _split_eas(communes, rng):
    ea_rows = []
    for c in communes.itertuples(index=False):
        hh = c.households
        n_ea = max(1, int(round(hh / EA_TARGET_SIZE)))
        sizes = None
        for _ in range(50):
            w = rng.uniform(0.7, 1.3, size=n_ea)
            cand = _split_integer(hh, w)
            if cand.min() >= EA_MIN and cand.max() <= EA_MAX:
                sizes = cand
                break
        if sizes is None:  # fall back to an even split
            sizes = _split_integer(hh, np.ones(n_ea))
        vacant = rng.binomial(sizes, VACANCY_RATE)
        for j, (s, v) in enumerate(zip(sizes, vacant), start=1):
            ea_rows.append((c.commune_code * 100 + j, c.commune_code, int(s), int(s + v)))
    eas = pd.DataFrame(ea_rows, columns=["ea_id", "commune_code", "households", "listed"])
    return eas


def build_frame(communes, eas, n_ea=N_EA_SAMPLE):
    """Assemble the EA frame with stratum allocation and stage-1 probabilities.

    Parameters
    ----------
    communes : pandas.DataFrame
        Commune table (from the population).
    eas : pandas.DataFrame
        ``ea_id, commune_code, households``.
    n_ea : int
        Total number of EAs to allocate (square-root allocation, at least
        ``MIN_EA_PER_STRATUM`` per stratum).

    Returns
    -------
    pandas.DataFrame
        One row per EA in frame order (stratum, commune, EA).
    """
    cols = ["district_code", "district", "commune_code", "commune", "commune_type", "urban", "stratum"]
    frame = eas.merge(communes[cols], on="commune_code", how="left", validate="many_to_one")
    frame = frame.sort_values(["stratum", "commune_code", "ea_id"], kind="stable").reset_index(drop=True)
    strata = frame.groupby("stratum", sort=True).agg(
        stratum_households=("households", "sum"), stratum_eas=("ea_id", "size")
    )
    alloc = allocate_sqrt(
        strata["stratum_households"].to_numpy(),
        n_ea,
        minimum=MIN_EA_PER_STRATUM,
        maximum=strata["stratum_eas"].to_numpy(),
    )
    strata["n_ea_stratum"] = alloc
    frame = frame.merge(strata.reset_index(), on="stratum", how="left")
    pi = np.zeros(len(frame))
    st = frame["stratum"].to_numpy()
    for h, n_h in zip(strata.index, alloc):
        m = st == h
        pi[m] = pps_inclusion_probabilities(frame.loc[m, "households"].to_numpy(), int(n_h))
    frame["pi_ea"] = pi
    frame["pi_hh_within"] = np.minimum(N_HH_PER_EA / frame["listed"], 1.0)
    frame["pi_hh"] = frame["pi_ea"] * frame["pi_hh_within"]
    order = [
        "ea_id", "district_code", "district", "commune_code", "commune", "commune_type",
        "urban", "stratum", "households", "listed", "stratum_households", "stratum_eas",
        "n_ea_stratum", "pi_ea", "pi_hh_within", "pi_hh",
    ]
    return frame[order]


def build_population(seed=DEFAULT_SEED):
    """Build the synthetic population of Quảng Bình (mid-2022).

    Parameters
    ----------
    seed : int, default 20220714
        Seed; the population uses the first stream spawned from it.

    Returns
    -------
    Population
    """
    ss = np.random.SeedSequence(seed)
    rng = np.random.default_rng(ss.spawn(3)[0])

    communes = _build_geography(rng)
    eas = _split_eas(communes, rng)
    frame = build_frame(communes, eas)

    # ---- households, in frame (EA) order ---------------------------------
    n_ea = len(frame)
    ea_hh = frame["households"].to_numpy()
    H = int(ea_hh.sum())
    ea = np.repeat(np.arange(n_ea), ea_hh)
    # the 2022 listing: households and vacant dwellings in random order
    ea_listed = frame["listed"].to_numpy()
    L = int(ea_listed.sum())
    entry_ea = np.repeat(np.arange(n_ea), ea_listed)
    listing_start = np.cumsum(ea_listed) - ea_listed
    k_in_ea = np.arange(L) - listing_start[entry_ea]
    is_vacant = k_in_ea >= ea_hh[entry_ea]
    order = np.lexsort((rng.uniform(size=L), entry_ea))
    is_vacant = is_vacant[order]
    real = np.flatnonzero(~is_vacant)
    listing_hh = np.full(L, -1, dtype=np.int64)
    listing_hh[real] = np.arange(H)
    listing_no = k_in_ea[real] + 1
    district = frame["district_code"].to_numpy()[ea]
    urban = frame["urban"].to_numpy()[ea]
    u = (urban == 1).astype(float)
    commune_codes, commune_idx_ea = np.unique(frame["commune_code"].to_numpy(), return_inverse=True)
    commune_idx = commune_idx_ea[ea]
    dev_by_code = np.zeros(9)
    for d in DISTRICTS:
        dev_by_code[d[0]] = d[9]
    dev = dev_by_code[district]

    # household size: base distribution, urban a little smaller, then
    # adjusted to the district person totals
    pmf = np.array([0.09, 0.19, 0.21, 0.27, 0.14, 0.06, 0.025, 0.01, 0.005])
    pmf_u = np.array([0.12, 0.22, 0.23, 0.25, 0.11, 0.045, 0.015, 0.007, 0.003])
    size = np.where(
        u == 1,
        rng.choice(np.arange(1, 10), size=H, p=pmf_u / pmf_u.sum()),
        rng.choice(np.arange(1, 10), size=H, p=pmf / pmf.sum()),
    ).astype(np.int64)
    for d in DISTRICTS:
        m = np.flatnonzero(district == d[0])
        size[m] = _adjust_sizes(size[m].copy(), d[6], rng)

    # random effects: commune, EA, household
    re_commune = rng.normal(0.0, 0.38, size=commune_codes.size)
    re_ea = rng.normal(0.0, 0.38, size=n_ea)
    re_fiber = rng.normal(0.0, 0.25, size=commune_codes.size)
    area = re_commune[commune_idx] + re_ea[ea]
    h_prop = rng.normal(0.0, 1.0, size=H)
    h_edu = rng.normal(0.0, 0.7, size=H)

    # ---- persons ----------------------------------------------------------
    P = int(size.sum())
    hh = np.repeat(np.arange(H), size)
    start = np.cumsum(size) - size
    line = np.arange(P) - start[hh] + 1

    head_age = np.where(
        size == 1,
        rng.normal(60, 16, size=H),
        rng.normal(45, 13, size=H),
    )
    head_age = np.clip(np.round(head_age), 19, 95).astype(np.int64)
    head_sex = np.where(rng.uniform(size=H) < np.where(size == 1, 0.45, 0.76), 1, 2)

    r = rng.uniform(size=P)
    relation = np.full(P, 3, dtype=np.int64)
    relation[line == 1] = 1
    l2 = line == 2
    relation[l2] = np.select([r[l2] < 0.85, r[l2] < 0.94, r[l2] < 0.98], [2, 3, 4], 6)
    l3 = line >= 3
    relation[l3] = np.select(
        [r[l3] < 0.72, r[l3] < 0.79, r[l3] < 0.91, r[l3] < 0.98], [3, 4, 5, 6], 7
    )
    ha = head_age[hh]
    relation[(relation == 5) & (ha < 45)] = 3

    r2 = rng.uniform(size=P)
    age = np.empty(P)
    age[relation == 1] = ha[relation == 1]
    m = relation == 2
    age[m] = ha[m] + rng.normal(-3, 4, size=m.sum())
    m = relation == 3
    age[m] = np.floor(r2[m] * np.maximum(ha[m] - 18, 1))
    m = relation == 4
    age[m] = ha[m] + 20 + 15 * r2[m]
    m = relation == 5
    age[m] = np.floor(r2[m] * np.maximum(ha[m] - 38, 1))
    m = relation == 6
    age[m] = np.floor(85 * r2[m])
    m = relation == 7
    age[m] = 16 + np.floor(50 * r2[m])
    age = np.clip(np.round(age), 0, 100).astype(np.int64)
    age[relation == 2] = np.maximum(age[relation == 2], 18)

    sex = np.where(rng.uniform(size=P) < np.where(relation == 4, 0.4, 0.5), 1, 2)
    sex[relation == 1] = head_sex[hh[relation == 1]]
    sex[relation == 2] = 3 - head_sex[hh[relation == 2]]

    # education 1..6 (NaN under 5)
    pu = u[hh]
    parea = area[hh]
    z = (
        0.5 * pu + 0.6 * dev[hh] - 0.035 * np.maximum(age - 25, 0) + h_edu[hh]
        + 0.3 * parea + rng.normal(0, 1, size=P)
    )
    level = 1 + np.searchsorted(np.array([-2.3, -1.2, 0.0, 0.9, 1.4]), z)
    cap = np.select([age < 11, age < 15, age < 18, age < 22], [2, 3, 4, 5], 6)
    child = age < 18
    level = np.where(child, np.where(z < -2.3, 1, cap), np.minimum(level, cap))
    education = np.where(age < 5, np.nan, level.astype(float))

    head_educ = level[start]
    adult = age >= 15
    n_adults = np.bincount(hh, weights=adult, minlength=H).astype(np.int64)
    ed_c = head_educ - 3.0
    log_size = np.log(size)
    old = np.maximum(head_age - 55, 0) / 10.0

    # ---- household ICT (ranked latent scores; exact province shares) -----
    smart_score = (
        0.9 * u + 0.7 * dev + 0.35 * ed_c + 0.9 * log_size - 0.5 * old
        + area + 0.8 * h_prop + rng.normal(0, 1, size=H)
    )
    hh_smartphone = _top_k(smart_score, exact_count(SMARTPHONE_SHARE, H))
    fiber_score = (
        0.5 * u + 0.5 * dev + 0.3 * ed_c + 0.5 * log_size - 0.3 * old
        + area + re_fiber[commune_idx] + 0.6 * h_prop + 0.6 * hh_smartphone
        + rng.normal(0, 1, size=H)
    )
    hh_fiber = _top_k(fiber_score, exact_count(FIBER_SHARE, H))
    other_score = 0.4 * u + 0.3 * ed_c + rng.normal(0, 1, size=H)
    hh_fixed_other = _top_k(other_score, int(round(0.02 * H)), eligible=hh_fiber == 0)
    mbb_score = 0.3 * u + 0.4 * log_size + 0.3 * ed_c + 0.5 * area + 0.5 * h_prop + rng.normal(0, 1, size=H)
    n_smart_hh = int(hh_smartphone.sum())
    hh_mobile_bb = _top_k(mbb_score, int(round(0.72 * n_smart_hh)), eligible=hh_smartphone == 1)
    hh_internet = (hh_fiber | hh_fixed_other | hh_mobile_bb).astype(np.int8)
    hh_fixed_bb = (hh_fiber | hh_fixed_other).astype(np.int8)
    comp_score = (
        0.6 * u + 0.4 * dev + 0.5 * ed_c + 0.3 * log_size + 0.8 * area + 0.8 * h_prop
        + rng.normal(0, 1, size=H)
    )
    hh_computer = _top_k(comp_score, int(round(0.22 * H)))
    feat_score = -0.6 * old + 0.5 * log_size + rng.normal(0, 1, size=H)
    n_nosmart = H - n_smart_hh
    hh_mobile = (hh_smartphone | _top_k(feat_score, int(round(0.78 * n_nosmart)), eligible=hh_smartphone == 0)).astype(np.int8)

    # internet spending (thousand VND / month) and reason for no internet
    spend = np.where(
        hh_fiber == 1,
        rng.lognormal(np.log(200), 0.25, size=H),
        rng.lognormal(np.log(110), 0.35, size=H),
    )
    internet_spend = np.where(hh_internet == 1, np.round(spend / 5) * 5, np.nan)
    codes = np.array([c[0] for c in NO_INTERNET_REASONS])
    base_p = np.array([0.33, 0.25, 0.09, 0.15, 0.05, 0.02, 0.08, 0.03])
    rr = rng.uniform(size=H)
    # elderly heads more often "no need"; otherwise the base distribution
    rr = np.where((head_age >= 65) & (rng.uniform(size=H) < 0.3), 0.0, rr)
    reason = codes[np.minimum(np.searchsorted(np.cumsum(base_p), rr, side="right"), codes.size - 1)]
    no_internet_reason = np.where(hh_internet == 0, reason, np.nan)

    # ---- person ICT (15+) -------------------------------------------------
    ped = level - 3.0
    a = age.astype(float)
    young = (age >= 15) & (age < 18)
    working = (age >= 22) & (age < 60)
    hsm = hh_smartphone[hh]
    p_smart_logit = (
        2.3 + 0.5 * pu + 0.45 * ped - 0.09 * np.maximum(a - 45, 0) - 0.6 * young
        + 0.6 * parea + 0.7 * h_prop[hh]
    )
    p_smart_u = rng.uniform(size=P)
    p_smartphone = ((p_smart_u < _expit(p_smart_logit)) & adult & (hsm == 1)).astype(np.int8)
    # every smartphone household has an owner: the adult with the highest score
    owners = np.bincount(hh, weights=p_smartphone, minlength=H)
    need = (hh_smartphone == 1) & (owners == 0)
    cand = np.flatnonzero(need[hh] & adult)
    if cand.size:
        key = p_smart_logit[cand] - np.log(p_smart_u[cand] + 1e-12)
        o = np.lexsort((-key, hh[cand]))
        first = np.ones(o.size, dtype=bool)
        first[1:] = hh[cand][o][1:] != hh[cand][o][:-1]
        p_smartphone[cand[o][first]] = 1
    owners = np.bincount(hh, weights=p_smartphone, minlength=H).astype(np.int64)
    extra = np.minimum(rng.poisson(0.15, size=H), 2)
    n_smartphones = np.where(hh_smartphone == 1, owners + extra, 0)

    p_internet = _bern(
        rng,
        -1.3 + 2.4 * p_smartphone + 1.0 * hh_internet[hh] + 0.45 * ped
        - 0.05 * np.maximum(a - 40, 0) + 0.3 * pu + 0.6 * parea + 0.5 * h_prop[hh],
    ) & adult
    p_egov = _bern(
        rng, -1.3 + 0.55 * ped + 0.5 * pu + 0.6 * dev[hh] + 0.6 * parea + 0.5 * working
    ) & p_internet
    p_account = _bern(
        rng,
        -0.6 + 0.6 * ped + 0.5 * pu + 1.0 * p_smartphone + 0.5 * working
        - 0.04 * np.maximum(a - 60, 0) - 0.8 * young + 0.6 * parea + 0.4 * h_prop[hh],
    ) & adult
    p_digipay = _bern(rng, -0.2 + 1.2 * p_internet + 0.4 * ped + 0.3 * pu + 0.5 * parea) & p_account
    p_esign = _bern(rng, -4.4 + 0.8 * ped + 0.5 * pu + 0.9 * working + 0.3 * parea) & adult
    theta = (
        -0.6 + 0.7 * ped + 1.3 * p_internet + 0.8 * hh_computer[hh] + 0.4 * pu
        - 0.04 * np.maximum(a - 35, 0) + 0.4 * parea + rng.normal(0, 1, size=P)
    )
    skills = {}
    for j, (_, _, diff) in enumerate(SKILLS, start=1):
        skills[f"p_skill{j}"] = ((theta - diff + rng.logistic(0, 0.5, size=P) > 0) & adult).astype(np.int8)

    households = pd.DataFrame(
        {
            "ea": ea,
            "ea_id": frame["ea_id"].to_numpy()[ea],
            "listing_no": listing_no,
            "district": district,
            "commune": frame["commune_code"].to_numpy()[ea],
            "urban": urban,
            "stratum": frame["stratum"].to_numpy()[ea],
            "hh_size": size,
            "n_adults": n_adults,
            "head_sex": head_sex,
            "head_age": head_age,
            "head_educ": head_educ,
            "hh_mobile": hh_mobile,
            "hh_smartphone": hh_smartphone,
            "n_smartphones": n_smartphones,
            "hh_computer": hh_computer,
            "hh_internet": hh_internet,
            "hh_fiber": hh_fiber,
            "hh_fixed_other": hh_fixed_other,
            "hh_fixed_bb": hh_fixed_bb,
            "hh_mobile_bb": hh_mobile_bb,
            "internet_spend": internet_spend,
            "no_internet_reason": no_internet_reason,
        }
    )
    persons = pd.DataFrame(
        {
            "hh": hh,
            "line": line,
            "sex": sex,
            "age": age,
            "relation": relation,
            "education": education,
            "p_smartphone": p_smartphone,
            "p_internet": p_internet.astype(np.int8),
            "p_egov": p_egov.astype(np.int8),
            "p_account": p_account.astype(np.int8),
            "p_digipay": p_digipay.astype(np.int8),
            "p_esign": p_esign.astype(np.int8),
            **skills,
        }
    )
    return Population(
        seed=seed, communes=communes, frame=frame, households=households,
        persons=persons, person_start=start, listing_hh=listing_hh,
        listing_start=listing_start,
    )


# ---------------------------------------------------------------------------
# truth and control tables
# ---------------------------------------------------------------------------
def truth_table(pop):
    """True population values of every indicator, overall and by domain.

    Parameters
    ----------
    pop : Population

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, domain, level, value``: household indicators are
        shares of households, ``hh_n_smartphones`` a mean per household,
        ``hh_internet_spend`` a mean over households with internet at home,
        person indicators shares of persons aged 15+.  ``domain`` is ``all``
        (level ``all``), ``district`` (level = district name) or ``urban``
        (level ``urban`` / ``rural``).
    """
    hh = pop.households
    P = pop.persons
    adults = P[P["age"] >= 15]
    a_dist = hh["district"].to_numpy()[adults["hh"].to_numpy()]
    a_urb = hh["urban"].to_numpy()[adults["hh"].to_numpy()]

    def domains(dist, urb):
        return ([("all", "all", np.ones(dist.size, dtype=bool))]
                + [("district", name, dist == code) for code, name in DISTRICT_NAMES.items()]
                + [("urban", name, urb == code) for code, name in URBAN_LEVELS.items()])

    rows = []
    hd, hu = hh["district"].to_numpy(), hh["urban"].to_numpy()
    hh_domains = domains(hd, hu)  # the masks, once for all indicators
    for ind, (col, _) in HH_INDICATORS.items():
        y = hh[col].to_numpy(float)
        for dom, lev, m in hh_domains:
            rows.append((ind, dom, lev, y[m].mean()))
    for ind, (col, cond, _) in HH_MEANS.items():
        y = hh[col].to_numpy(float)
        c = np.ones(len(hh), bool) if cond is None else hh[cond].to_numpy() == 1
        for dom, lev, m in hh_domains:
            rows.append((ind, dom, lev, y[m & c].mean()))
    skill_cols = [f"p_skill{j}" for j in range(1, 10)]
    anyskill = adults[skill_cols].to_numpy().max(axis=1)
    adult_domains = domains(a_dist, a_urb)
    for ind in P_INDICATORS:
        y = anyskill.astype(float) if ind == "p_anyskill" else adults[ind].to_numpy(float)
        for dom, lev, m in adult_domains:
            rows.append((ind, dom, lev, y[m].mean()))
    return pd.DataFrame(rows, columns=["indicator", "domain", "level", "value"])


def control_tables(pop):
    """Census-style control totals from the population.

    Returns
    -------
    households : pandas.DataFrame
        ``district, urban, count`` (codes as in the raw files).
    persons : pandas.DataFrame
        ``sex, age_group, count`` with age groups 0-14, 15-24, 25-39, 40-59, 60+.
    """
    hh = pop.households
    t1 = (
        hh.groupby(["district", "urban"], sort=True).size().rename("count").reset_index()
    )
    P = pop.persons
    bins = [g[0] for g in AGE_GROUPS] + [10_000]
    labels = [g[2] for g in AGE_GROUPS]
    grp = pd.cut(P["age"], bins=bins, right=False, labels=labels)
    t2 = (
        pd.DataFrame({"sex": P["sex"].to_numpy(), "age_group": grp})
        .groupby(["sex", "age_group"], sort=True, observed=False)
        .size()
        .rename("count")
        .reset_index()
    )
    t2["age_group"] = t2["age_group"].astype(str)
    return t1, t2


# ---------------------------------------------------------------------------
# sample
# ---------------------------------------------------------------------------
@dataclass
class Sample:
    """A drawn sample with true values and fieldwork outcome.

    Attributes
    ----------
    eas : pandas.DataFrame
        Selected EAs (frame columns, plus ``n_hh_selected``).
    households : pandas.DataFrame
        Selected dwellings (population columns; household attributes NaN
        for vacant dwellings) plus ``result`` (1 completed, 2 refused, 3 not
        at home, 4 dwelling vacant), ``pi_ea``, ``pi_hh`` and ``weight``
        (design weight ``1 / pi_hh``).
    persons : pandas.DataFrame
        Members of completed households (population columns), ``hh`` now
        the row position in ``households``.
    population : Population
        The population it was drawn from (frame and labels for the raw files).
    """

    eas: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame
    population: Population = field(repr=False)


def draw_sample(pop, rng, *, n_ea=N_EA_SAMPLE, n_hh=N_HH_PER_EA):
    """Draw the two-stage stratified sample and simulate nonresponse.

    Stage 1: in each of the 15 strata (district x urban/rural), EAs by
    systematic PPS (measure of size = households) with the allocation in
    ``pop.frame`` (``n_ea_stratum``); stage 2: ``n_hh`` dwellings per EA by
    systematic sampling from the 2022 listing (``listed`` dwellings, some
    vacant: result 4).  Nonresponse of households is higher in urban areas
    and for one- and two-person households.

    Parameters
    ----------
    pop : Population
    rng : numpy.random.Generator
        The only source of randomness.
    n_ea : int, default 150
        Total EAs; any other value re-allocates them (square root, at least 2
        per stratum) and recomputes ``pi_ea`` for this sample.
    n_hh : int, default 20
        Dwellings per EA.

    Returns
    -------
    Sample
    """
    frame = pop.frame
    if n_ea != int(frame.groupby("stratum")["n_ea_stratum"].first().sum()):
        frame = build_frame(pop.communes, frame[["ea_id", "commune_code", "households", "listed"]], n_ea)
    st = frame["stratum"].to_numpy()
    size = frame["households"].to_numpy()
    n_alloc = frame.groupby("stratum", sort=True)["n_ea_stratum"].first()
    chosen = []
    for h, n_h in n_alloc.items():
        idx = np.flatnonzero(st == h)
        chosen.append(idx[pps_systematic(size[idx], int(n_h), rng)])
    sel = np.concatenate(chosen)
    eas = frame.iloc[sel].reset_index(drop=True)
    listed = eas["listed"].to_numpy()
    eas["n_hh_selected"] = np.minimum(n_hh, listed)

    # stage 2: systematic sample of dwellings from each EA's listing
    g, pos = systematic_by_group(listed, eas["n_hh_selected"].to_numpy(), rng)
    entry = pop.listing_start[sel[g]] + pos
    hh_idx = pop.listing_hh[entry]
    vacant = hh_idx < 0
    src = np.where(vacant, 0, hh_idx)
    e = sel[g]
    location = {"ea": np.arange(len(frame)), "ea_id": frame["ea_id"].to_numpy(),
                "district": frame["district_code"].to_numpy(), "commune": frame["commune_code"].to_numpy(),
                "urban": frame["urban"].to_numpy(), "stratum": frame["stratum"].to_numpy()}
    cols = {}
    for c in pop.households.columns:
        if c in location:  # from the frame, also for vacant dwellings
            cols[c] = location[c][e]
        elif c == "listing_no":
            cols[c] = pos + 1
        else:  # household attributes: NaN for vacant dwellings
            cols[c] = np.where(vacant, np.nan, pop.households[c].to_numpy()[src].astype(float))
    hhs = pd.DataFrame(cols)
    hhs["listing_no"] = pos + 1
    hhs["pi_ea"] = eas["pi_ea"].to_numpy()[g]
    hhs["pi_hh"] = hhs["pi_ea"] * eas["n_hh_selected"].to_numpy()[g] / listed[g]
    hhs["weight"] = 1.0 / hhs["pi_hh"]

    # outcome: vacant dwellings 4; households respond, refuse or are not at
    # home, nonresponse higher in urban areas and for small households
    hs = hhs["hh_size"].to_numpy(float)
    uu = (hhs["urban"].to_numpy() == 1).astype(float)
    p_nr = _expit(-3.05 + 0.8 * uu + 0.8 * (hs == 1) + 0.35 * (hs == 2))
    nr = rng.uniform(size=hs.size) < p_nr
    refuse = rng.uniform(size=hs.size) < 0.45
    result = np.where(nr, np.where(refuse, 2, 3), 1)
    hhs["result"] = np.where(vacant, 4, result).astype(np.int64)

    comp = np.flatnonzero(hhs["result"].to_numpy() == 1)
    src = hh_idx[comp]
    n_mem = pop.households["hh_size"].to_numpy()[src]
    starts = pop.person_start[src]
    rows = np.repeat(starts, n_mem) + (np.arange(n_mem.sum()) - np.repeat(np.cumsum(n_mem) - n_mem, n_mem))
    persons = pop.persons.take(rows).reset_index(drop=True)
    persons["hh"] = np.repeat(comp, n_mem)
    return Sample(eas=eas, households=hhs, persons=persons, population=pop)


# ---------------------------------------------------------------------------
# raw files
# ---------------------------------------------------------------------------
YESNO_VI = {1: "Có", 2: "Không", 8: "Không biết", 9: "Từ chối trả lời"}
COUNT_MISSING_VI = {98: "Không biết", 99: "Từ chối trả lời"}

HH_VARS = [
    # name, label_vi, label_en, value labels (vi) or None, missing codes
    ("hhid", "Mã hộ (mã địa bàn-số thứ tự hộ)", "Household ID (EA code-listing number)", None, None),
    ("ea_id", "Mã địa bàn điều tra", "Enumeration area code", None, None),
    ("district", "Huyện/thị xã/thành phố", "District", "district", None),
    ("commune", "Xã/phường/thị trấn", "Commune", "commune", None),
    ("urban", "Thành thị/nông thôn", "Urban/rural", {1: "Thành thị", 2: "Nông thôn"}, None),
    ("result", "Kết quả phỏng vấn", "Interview result",
     {1: "Hoàn thành", 2: "Từ chối", 3: "Không có nhà", 4: "Nhà trống"}, None),
    ("interviewer", "Mã điều tra viên", "Interviewer code", None, None),
    ("interview_date", "Ngày phỏng vấn", "Interview date", None, None),
    ("duration_min", "Thời gian phỏng vấn (phút)", "Interview duration (minutes)", None, None),
    ("hh_size", "Số nhân khẩu của hộ", "Household size (members)", None, None),
    ("q_mobile", "Hộ có điện thoại di động", "Any mobile phone in the household", YESNO_VI, [8, 9]),
    ("n_smartphones", "Số điện thoại thông minh của hộ", "Number of smartphones in the household",
     COUNT_MISSING_VI, [98, 99]),
    ("q_computer", "Hộ có máy vi tính", "Computer in the household", YESNO_VI, [8, 9]),
    ("q_internet_home", "Hộ có kết nối Internet tại nhà", "Internet access at home", YESNO_VI, [8, 9]),
    ("q_fiber", "Kết nối cáp quang", "Fiber-optic connection", YESNO_VI, [8, 9]),
    ("q_fixed_other", "Kết nối băng rộng cố định khác", "Other fixed broadband connection", YESNO_VI, [8, 9]),
    ("q_mobile_bb", "Kết nối băng rộng di động (3G/4G)", "Mobile broadband connection (3G/4G)", YESNO_VI, [8, 9]),
    ("internet_spend", "Chi tiêu Internet hằng tháng (nghìn đồng)", "Monthly internet spending (thousand VND)",
     None, [99998, 99999]),
    ("no_internet_reason", "Lý do chính không có Internet tại nhà", "Main reason for no internet at home",
     {**{c: vi for c, vi, _ in NO_INTERNET_REASONS}, 98: "Không biết", 99: "Từ chối trả lời"}, [98, 99]),
]
P_VARS = [
    ("hhid", "Mã hộ (mã địa bàn-số thứ tự hộ)", "Household ID (EA code-listing number)", None, None),
    ("line", "Số thứ tự thành viên", "Member line number", None, None),
    ("sex", "Giới tính", "Sex", {1: "Nam", 2: "Nữ"}, None),
    ("age", "Tuổi (năm tròn)", "Age (completed years)", None, None),
    ("relation", "Quan hệ với chủ hộ", "Relationship to head",
     {1: "Chủ hộ", 2: "Vợ/chồng", 3: "Con", 4: "Bố/mẹ", 5: "Cháu",
      6: "Quan hệ gia đình khác", 7: "Không có quan hệ gia đình"}, None),
    ("education", "Trình độ học vấn cao nhất", "Highest education level",
     {1: "Chưa đi học/chưa tốt nghiệp tiểu học", 2: "Tiểu học", 3: "Trung học cơ sở",
      4: "Trung học phổ thông", 5: "Trung cấp/cao đẳng", 6: "Đại học trở lên"}, None),
    ("p_smartphone", "Sở hữu điện thoại thông minh", "Owns a smartphone", YESNO_VI, [8, 9]),
    ("p_internet", "Sử dụng Internet trong 3 tháng qua", "Used the internet in the last 3 months", YESNO_VI, [8, 9]),
    ("p_egov", "Sử dụng dịch vụ công trực tuyến trong 12 tháng qua",
     "Used online public services in the last 12 months", YESNO_VI, [8, 9]),
    ("p_account", "Có tài khoản ngân hàng hoặc ví điện tử", "Has a bank or e-wallet payment account", YESNO_VI, [8, 9]),
    ("p_digipay", "Thanh toán điện tử trong 12 tháng qua", "Paid digitally in the last 12 months", YESNO_VI, [8, 9]),
    ("p_esign", "Có chữ ký số", "Has a digital signature", YESNO_VI, [8, 9]),
    *[
        (f"p_skill{j}", f"Kỹ năng: {vi} (3 tháng qua)", f"Skill: {en} (last 3 months)", YESNO_VI, [8, 9])
        for j, (vi, en, _) in enumerate(SKILLS, start=1)
    ],
]


def _yn(x):
    """0/1 -> 1 yes / 2 no (float, NaN kept)."""
    return np.where(np.isnan(x), np.nan, np.where(x == 1, 1.0, 2.0))


def _hhid(ea_id, listing_no):
    return pd.Series(ea_id).astype(str).str.cat(pd.Series(listing_no).map("{:03d}".format), sep="-").to_numpy()


def _raw_tables(sample, rng):
    """Clean CAPI tables (no defects) from a sample."""
    hhs, eas = sample.households, sample.eas
    n = len(hhs)
    comp = hhs["result"].to_numpy() == 1
    f = lambda c: np.where(comp, hhs[c].to_numpy(float), np.nan)  # noqa: E731
    internet = f("hh_internet")
    asked = internet == 1

    # interview metadata: one interviewer and a visit window per EA
    ea_pos = pd.Index(eas["ea_id"]).get_indexer(hhs["ea_id"])
    dcode = eas["district_code"].to_numpy()
    interviewer_ea = dcode * 100 + rng.integers(1, 5, size=len(eas))
    day_ea = rng.integers(0, 42, size=len(eas))
    day = day_ea[ea_pos] + rng.integers(0, 3, size=n)
    dates = [FIELD_START + dt.timedelta(days=int(d)) for d in day]
    hs = hhs["hh_size"].to_numpy(float)
    dur = np.where(
        comp,
        np.round(rng.lognormal(np.log(18 + 5 * hs), 0.25)),
        rng.integers(1, 6, size=n),
    )

    hhdf = pd.DataFrame(
        {
            "hhid": _hhid(hhs["ea_id"].to_numpy(), hhs["listing_no"].to_numpy()),
            "ea_id": hhs["ea_id"].to_numpy(float),
            "district": hhs["district"].to_numpy(float),
            "commune": hhs["commune"].to_numpy(float),
            "urban": hhs["urban"].to_numpy(float),
            "result": hhs["result"].to_numpy(float),
            "interviewer": interviewer_ea[ea_pos].astype(float),
            "interview_date": dates,
            "duration_min": dur.astype(float),
            "hh_size": f("hh_size"),
            "q_mobile": _yn(f("hh_mobile")),
            "n_smartphones": f("n_smartphones"),
            "q_computer": _yn(f("hh_computer")),
            "q_internet_home": _yn(internet),
            "q_fiber": np.where(asked, _yn(f("hh_fiber")), np.nan),
            "q_fixed_other": np.where(asked, _yn(f("hh_fixed_other")), np.nan),
            "q_mobile_bb": np.where(asked, _yn(f("hh_mobile_bb")), np.nan),
            "internet_spend": np.where(asked, f("internet_spend"), np.nan),
            "no_internet_reason": np.where(internet == 0, f("no_internet_reason"), np.nan),
        }
    )
    P = sample.persons
    adult = P["age"].to_numpy() >= 15
    pdf = pd.DataFrame(
        {
            "hhid": hhdf["hhid"].to_numpy()[P["hh"].to_numpy()],
            "line": P["line"].to_numpy(float),
            "sex": P["sex"].to_numpy(float),
            "age": P["age"].to_numpy(float),
            "relation": P["relation"].to_numpy(float),
            "education": P["education"].to_numpy(float),
        }
    )
    for name, *_ in P_VARS[6:]:
        pdf[name] = np.where(adult, _yn(P[name].to_numpy(float)), np.nan)
    return hhdf, pdf


def _defect_rows(kind, file, keys, variable, injected, original, action):
    keys = list(keys)
    k = len(keys)
    bc = lambda v: list(v) if isinstance(v, (list, np.ndarray, pd.Series)) else [v] * k  # noqa: E731
    return pd.DataFrame(
        {
            "defect_type": kind,
            "file": file,
            "key": keys,
            "variable": bc(variable),
            "injected_value": bc(injected),
            "original_value": bc(original),
            "expected_action": action,
        }
    )


def _fmt(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _count(rate, n):
    return int(np.floor(rate * n + 0.5))


def _isin(keys, among):
    """``np.isin`` for text keys, by hashing (``np.isin`` sorts object arrays: 30 times slower)."""
    among = set(among)
    return np.fromiter((k in among for k in keys), dtype=bool, count=len(keys))


def inject_defects(hhdf, pdf, rng, frame_ea_ids):
    """Inject the CAPI defects at ``DEFECT_RATES`` and log each one.

    Household-level defects hit disjoint sets of households; person-level
    defects hit persons of households untouched by household-level ones.

    Returns
    -------
    hhdf, pdf : pandas.DataFrame
        Tables with defects.
    defects : pandas.DataFrame
        One row per injected defect.
    """
    hhdf = hhdf.copy()
    pdf = pdf.copy()
    logs = []
    R = DEFECT_RATES
    n_hh = len(hhdf)
    result = hhdf["result"].to_numpy()
    completed = np.flatnonzero(result == 1)
    used = np.zeros(n_hh, dtype=bool)

    def take(pool, k):
        pool = pool[~used[pool]]
        k = min(k, pool.size)
        pick = np.sort(rng.choice(pool, size=k, replace=False))
        used[pick] = True
        return pick

    hhid = hhdf["hhid"].to_numpy()

    # households without members (completed, roster dropped)
    nomem = take(completed, _count(R["household_without_members"], completed.size))
    # duplicate submissions
    dup = take(completed, _count(R["duplicate_submission"], completed.size))
    # skip violation: no internet at home but fiber = 1
    noint = np.flatnonzero(hhdf["q_internet_home"].to_numpy() == 2)
    skip = take(noint, _count(R["skip_violation"], noint.size))
    # implausible smartphone counts
    smart = take(completed, _count(R["implausible_smartphones"], completed.size))
    # EA code not in the frame (any result)
    ea_bad = take(np.arange(n_hh), _count(R["ea_not_in_frame"], n_hh))
    # orphan rosters: copies of completed households' rosters under unknown hhids
    orph_src = take(completed, _count(R["orphan_person"], completed.size))

    # don't know / refused on key household items
    dk_hh = []
    for item in DK_ITEMS_HH:
        miss = 98 if item == "n_smartphones" else 8
        ref = 99 if item == "n_smartphones" else 9
        elig = np.flatnonzero(~np.isnan(hhdf[item].to_numpy()))
        for rate, code, kind in ((R["dont_know"], miss, "dont_know"), (R["refused"], ref, "refused")):
            pick = take(elig, _count(rate, elig.size))
            dk_hh.append((item, pick, code, kind))

    # ---- apply household-level defects -------------------------------------
    logs.append(_defect_rows("household_without_members", "household", hhid[nomem], "", "", "", "quarantine"))
    orig = hhdf["q_fiber"].to_numpy()[skip]
    hhdf.loc[skip, "q_fiber"] = 1.0
    logs.append(_defect_rows("skip_violation", "household", hhid[skip], "q_fiber", 1, orig, "set_missing"))
    orig = hhdf["n_smartphones"].to_numpy()[smart]
    val = rng.integers(30, 61, size=smart.size).astype(float)
    hhdf.loc[smart, "n_smartphones"] = val
    logs.append(_defect_rows("implausible_smartphones", "household", hhid[smart], "n_smartphones", val, orig, "set_missing"))
    orig = hhdf["ea_id"].to_numpy()[ea_bad]
    # EA numbers 90..99 do not exist in any commune (at most ~40 EAs each)
    bad_ids = (orig // 100) * 100 + 90 + (orig % 10)
    assert not np.isin(bad_ids, frame_ea_ids).any()
    hhdf.loc[ea_bad, "ea_id"] = bad_ids
    logs.append(_defect_rows("ea_not_in_frame", "household", hhid[ea_bad], "ea_id", bad_ids, orig, "quarantine"))
    for item, pick, code, kind in dk_hh:
        orig = hhdf[item].to_numpy()[pick]
        hhdf.loc[pick, item] = float(code)
        if item == "q_internet_home":  # the CAPI cannot route: follow-ups not asked
            for c in ("q_fiber", "q_fixed_other", "q_mobile_bb", "internet_spend", "no_internet_reason"):
                hhdf.loc[pick, c] = np.nan
        logs.append(_defect_rows(kind, "household", hhid[pick], item, code, orig, "set_missing"))

    # ---- person-level defects ---------------------------------------------
    p_hhid = pdf["hhid"].to_numpy()
    touched = _isin(p_hhid, hhid[used])
    p_used = touched.copy()
    p_key = pd.Series(p_hhid).str.cat(pdf["line"].astype(int).astype(str), sep="/").to_numpy()

    def ptake(mask, k):
        pool = np.flatnonzero(mask & ~p_used)
        k = min(k, pool.size)
        pick = np.sort(rng.choice(pool, size=k, replace=False))
        p_used[pick] = True
        return pick

    adult = pdf["age"].to_numpy() >= 15
    age_bad = ptake(adult, _count(R["impossible_age"], adult.sum()))
    orig = pdf["age"].to_numpy()[age_bad]
    val = rng.integers(120, 200, size=age_bad.size).astype(float)
    pdf.loc[age_bad, "age"] = val
    logs.append(_defect_rows("impossible_age", "person", p_key[age_bad], "age", val, orig, "set_missing"))
    for item in DK_ITEMS_P:
        elig = ~np.isnan(pdf[item].to_numpy())
        for rate, code, kind in ((R["dont_know"], 8, "dont_know"), (R["refused"], 9, "refused")):
            pick = ptake(elig, _count(rate, elig.sum()))
            orig = pdf[item].to_numpy()[pick]
            pdf.loc[pick, item] = float(code)
            logs.append(_defect_rows(kind, "person", p_key[pick], item, code, orig, "set_missing"))

    # roster removal, orphan copies, duplicates (row operations last)
    keep = ~_isin(p_hhid, hhid[nomem])
    orphan_parts = []
    orph_ids = []
    for j, i in enumerate(orph_src):
        rows = pdf[p_hhid == hhid[i]].copy()
        ea_str = hhid[i].split("-")[0]
        new_id = f"{ea_str}-{900 + j % 100:03d}"  # listing numbers never exceed ~210
        rows["hhid"] = new_id
        orphan_parts.append(rows)
        orph_ids.append(new_id)
    assert not _isin(orph_ids, hhid).any()
    dup_p = pdf[_isin(p_hhid, hhid[dup])]
    pdf = pd.concat([pdf[keep], dup_p, *orphan_parts], ignore_index=True)
    pdf = pdf.sort_values(["hhid", "line"], kind="stable").reset_index(drop=True)
    if orphan_parts:
        orows = pd.concat(orphan_parts)
        okeys = orows["hhid"].str.cat(orows["line"].astype(int).astype(str), sep="/")
        logs.append(_defect_rows("orphan_person", "person", okeys, "hhid", orows["hhid"].to_numpy(), "", "quarantine"))
    dup_rows = hhdf.iloc[dup].copy()
    dup_rows["duration_min"] = dup_rows["duration_min"] + rng.integers(1, 6, size=dup.size)
    hhdf = pd.concat([hhdf, dup_rows], ignore_index=True)
    hhdf = hhdf.sort_values("hhid", kind="stable").reset_index(drop=True)
    logs.append(_defect_rows("duplicate_submission", "household", hhid[dup], "", "", "", "drop_duplicate"))
    logs.append(_defect_rows("duplicate_submission", "person", hhid[dup], "", "", "", "drop_duplicate"))

    defects = pd.concat(logs, ignore_index=True)
    for c in ("injected_value", "original_value"):
        defects[c] = [_fmt(v) for v in defects[c]]
    return hhdf, pdf, defects


def _value_labels(spec, pop_labels):
    out = {}
    for name, _, _, vl, _ in spec:
        if vl is None:
            continue
        if isinstance(vl, str):
            vl = pop_labels[vl]
        out[name] = {float(k): v for k, v in vl.items()}
    return out


def _write_sav(df, path, spec, pop_labels, file_label):
    fmt = {}
    for c in df.columns:
        if c == "hhid":
            continue
        if c == "interview_date":
            continue
        fmt[c] = "F8.0" if c in ("ea_id", "internet_spend") else "F3.0"
    if "ea_id" in fmt:
        fmt["ea_id"] = "F5.0"
    if "interviewer" in fmt:
        fmt["interviewer"] = "F4.0"
    missing = {name: list(m) for name, _, _, _, m in spec if m}
    missing = {k: ([{"lo": v[0], "hi": v[1]}] if k == "internet_spend" else v) for k, v in missing.items()}
    tmp = Path(str(path) + ".tmp")
    pyreadstat.write_sav(
        df,
        str(tmp),
        file_label=file_label,
        column_labels={name: vi for name, vi, _, _, _ in spec},
        variable_value_labels=_value_labels(spec, pop_labels),
        missing_ranges=missing,
        variable_format=fmt,
        variable_measure={name: ("scale" if name in ("age", "hh_size", "n_smartphones", "internet_spend", "duration_min") else "nominal")
                          for name, *_ in spec if name != "interview_date"},
    )
    data = bytearray(tmp.read_bytes())
    # fixed creation date/time so the same seed gives byte-identical files
    assert data[92:101].decode("ascii").count(" ") == 2
    data[92:109] = SAV_TIMESTAMP
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)


def _labels(pop):
    c = pop.communes
    return {
        "district": {d[0]: d[1] for d in DISTRICTS},
        "commune": dict(zip(c["commune_code"].tolist(), c["commune"].tolist())),
    }


def write_raw(sample, out_dir, rng):
    """Write the CAPI-style raw files with injected defects.

    Parameters
    ----------
    sample : Sample
    out_dir : str or pathlib.Path
        Directory (created if needed).
    rng : numpy.random.Generator
        Stream for interview metadata and defects.

    Returns
    -------
    list of pathlib.Path
        ``household.sav``, ``person.sav``, ``defects.csv``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pop = sample.population
    hhdf, pdf = _raw_tables(sample, rng)
    hhdf, pdf, defects = inject_defects(hhdf, pdf, rng, pop.frame["ea_id"].to_numpy())
    labels = _labels(pop)
    paths = [out / "household.sav", out / "person.sav", out / "defects.csv"]
    _write_sav(hhdf, paths[0], HH_VARS, labels, "Khao sat chuyen doi so ho gia dinh Quang Binh 2022 (du lieu mo phong) - ho")
    _write_sav(pdf, paths[1], P_VARS, labels, "Khao sat chuyen doi so ho gia dinh Quang Binh 2022 (du lieu mo phong) - thanh vien")
    _write_csv(defects, paths[2])
    return paths


def _write_csv(df, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    os.replace(tmp, path)


YESNO_EN = {1: "Yes", 2: "No", 8: "Don't know", 9: "Refused"}
VALUES_EN = {
    "urban": {1: "Urban", 2: "Rural"},
    "result": {1: "Completed", 2: "Refused", 3: "Not at home", 4: "Dwelling vacant"},
    "n_smartphones": {98: "Don't know", 99: "Refused"},
    "no_internet_reason": {**{c: en for c, _, en in NO_INTERNET_REASONS}, 98: "Don't know", 99: "Refused"},
    "sex": {1: "Male", 2: "Female"},
    "relation": {1: "Head", 2: "Spouse", 3: "Child", 4: "Parent", 5: "Grandchild",
                 6: "Other relative", 7: "Not related"},
    "education": {1: "None / primary not completed", 2: "Primary", 3: "Lower secondary",
                  4: "Upper secondary", 5: "Vocational / college", 6: "University or higher"},
}


def codebook_table():
    """English/Vietnamese codebook of both raw files as a table."""
    rows = []
    for file, spec in (("household", HH_VARS), ("person", P_VARS)):
        for name, vi, en, vl, miss in spec:
            if vl == "district":
                vals = "; ".join(f"{d[0]}={d[1]}" for d in DISTRICTS)
            elif vl == "commune":
                vals = "commune_code (district code x 100 + number); names in frame.csv"
            elif vl:
                vals = "; ".join(f"{k}={v}" for k, v in vl.items())
            else:
                vals = ""
            if miss and name == "internet_spend":
                ms = "99998-99999"
            else:
                ms = ",".join(str(m) for m in miss) if miss else ""
            if vl is YESNO_VI:
                ven = YESNO_EN
            else:
                ven = VALUES_EN.get(name)
            if ven:
                vals_en = "; ".join(f"{k}={v}" for k, v in ven.items())
            elif vl == "district":
                vals_en = vals
            elif vl == "commune":
                vals_en = "commune_code (district code x 100 + number); names in frame.csv"
            else:
                vals_en = ""
            rows.append((file, name, vi, en, vals, vals_en, ms))
    return pd.DataFrame(
        rows, columns=["file", "variable", "label_vi", "label_en", "values_vi", "values_en", "user_missing"]
    )


def write_survey_files(pop, sample, out_dir):
    """Write the statistics-office files: frame, selected EAs, controls, codebook."""
    out = Path(out_dir)
    frame = pop.frame
    _write_csv(frame, out / "frame.csv")
    se = sample.eas[["ea_id", "stratum", "district_code", "urban", "households", "n_ea_stratum",
                     "pi_ea", "n_hh_selected"]].copy()
    se["pi_hh"] = se["pi_ea"] * se["n_hh_selected"] / se["households"]
    _write_csv(se, out / "sample_eas.csv")
    t1, t2 = control_tables(pop)
    _write_csv(t1, out / "controls" / "households_district_urban.csv")
    _write_csv(t2, out / "controls" / "persons_sex_age.csv")
    _write_csv(codebook_table(), out / "codebook.csv")


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def generate(out_dir, seed=DEFAULT_SEED, survey_files=None):
    """Build the population, draw the sample, write everything.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Raw-file directory.
    seed : int
    survey_files : str or pathlib.Path, optional
        Where to write frame, selected EAs, control tables and codebook.

    Returns
    -------
    dict
        ``population``, ``sample`` and the written ``paths``.
    """
    ss = np.random.SeedSequence(seed)
    _, s_sample, s_raw = ss.spawn(3)
    pop = build_population(seed)
    sample = draw_sample(pop, np.random.default_rng(s_sample))
    out = Path(out_dir)
    paths = write_raw(sample, out, np.random.default_rng(s_raw))
    truth = truth_table(pop)
    _write_csv(truth, out / "truth.csv")
    paths.append(out / "truth.csv")
    lines = "".join(f"{_sha256(p)}  {p.name}\n" for p in paths)
    tmp = out / "checksums.sha256.tmp"
    tmp.write_text(lines, encoding="utf-8")
    os.replace(tmp, out / "checksums.sha256")  # written last: the Make target
    if survey_files is not None:
        write_survey_files(pop, sample, survey_files)
    return {"population": pop, "sample": sample, "paths": paths}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for the raw files")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--survey-files", default=None,
                    help="also write frame.csv, sample_eas.csv, codebook.csv, controls/ here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = generate(args.out, args.seed, args.survey_files)
    hh = res["sample"].households
    print(
        f"qb2022: {len(res['population'].households):,} households, "
        f"{len(res['population'].persons):,} persons; sample {len(res['sample'].eas)} EAs, "
        f"{len(hh)} households ({(hh['result'] == 1).sum()} completed); "
        f"{time.perf_counter() - t0:.1f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
