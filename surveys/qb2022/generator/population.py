"""The synthetic population: households and persons of the demo province with their true values.

``build_population(seed)`` draws, from the first stream spawned from the seed
and always in this order:

1. the geography (communes, EAs, frame: :mod:`.geography`);
2. the 2022 listing (households and vacant dwellings in random order);
3. household sizes, adjusted to the district person totals;
4. random effects of commune, EA and household (the source of the
   clustering the design must account for);
5. persons: relation to the head, age, sex, education;
6. household ICT (ranked latent scores, so the province shares of
   smartphone and fiber households are exact), spending, reasons;
7. person ICT (aged 15+): smartphone, internet, e-government, account,
   digital payment, digital signature, nine ICT skills.

Each step is a function below; changing the order or the number of draws of
any step changes every later draw, and so the raw files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._util import _adjust_sizes, _bern, _expit, _top_k, exact_count
from .geography import DISTRICTS, build_frame, build_geography, split_eas
from .measures import FIBER_SHARE, NO_INTERNET_REASONS, SKILLS, SMARTPHONE_SHARE

DEFAULT_SEED = 20220714


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

    communes = build_geography(rng)
    eas = split_eas(communes, rng)
    frame = build_frame(communes, eas)

    g = _listing(frame, rng)
    g["size"] = _household_sizes(g, rng)
    g.update(_random_effects(g, rng))
    per = _persons(g, rng)
    hict = _household_ict(g, per, rng)
    pict = _person_ict(g, per, hict, rng)

    ea = g["ea"]
    households = pd.DataFrame(
        {
            "ea": ea,
            "ea_id": frame["ea_id"].to_numpy()[ea],
            "listing_no": g["listing_no"],
            "district": g["district"],
            "commune": frame["commune_code"].to_numpy()[ea],
            "urban": g["urban"],
            "stratum": frame["stratum"].to_numpy()[ea],
            "hh_size": g["size"],
            "n_adults": per["n_adults"],
            "head_sex": per["head_sex"],
            "head_age": per["head_age"],
            "head_educ": per["head_educ"],
            "hh_mobile": hict["hh_mobile"],
            "hh_smartphone": hict["hh_smartphone"],
            "n_smartphones": pict.pop("n_smartphones"),
            "hh_computer": hict["hh_computer"],
            "hh_internet": hict["hh_internet"],
            "hh_fiber": hict["hh_fiber"],
            "hh_fixed_other": hict["hh_fixed_other"],
            "hh_fixed_bb": hict["hh_fixed_bb"],
            "hh_mobile_bb": hict["hh_mobile_bb"],
            "internet_spend": hict["internet_spend"],
            "no_internet_reason": hict["no_internet_reason"],
        }
    )
    persons = pd.DataFrame(
        {
            "hh": per["hh"],
            "line": per["line"],
            "sex": per["sex"],
            "age": per["age"],
            "relation": per["relation"],
            "education": per["education"],
            **pict,
        }
    )
    return Population(
        seed=seed, communes=communes, frame=frame, households=households,
        persons=persons, person_start=per["start"], listing_hh=g["listing_hh"],
        listing_start=g["listing_start"],
    )


def _listing(frame, rng):
    """Households in frame (EA) order and the 2022 listing: households and vacant dwellings in random order."""
    n_ea = len(frame)
    ea_hh = frame["households"].to_numpy()
    H = int(ea_hh.sum())
    ea = np.repeat(np.arange(n_ea), ea_hh)
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
    commune_codes, commune_idx_ea = np.unique(frame["commune_code"].to_numpy(), return_inverse=True)
    dev_by_code = np.zeros(9)
    for d in DISTRICTS:
        dev_by_code[d[0]] = d[9]
    return dict(
        H=H, n_ea=n_ea, ea=ea, listing_hh=listing_hh, listing_start=listing_start, listing_no=listing_no,
        district=district, urban=urban, u=(urban == 1).astype(float), commune_codes=commune_codes,
        commune_idx=commune_idx_ea[ea], dev=dev_by_code[district],
    )


def _household_sizes(g, rng):
    """Household size: a base distribution, urban a little smaller, adjusted to the district person totals."""
    H, u, district = g["H"], g["u"], g["district"]
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
    return size


def _random_effects(g, rng):
    """Random effects of commune, EA and household (prosperity, education)."""
    H, n_c = g["H"], g["commune_codes"].size
    re_commune = rng.normal(0.0, 0.38, size=n_c)
    re_ea = rng.normal(0.0, 0.38, size=g["n_ea"])
    re_fiber = rng.normal(0.0, 0.25, size=n_c)
    area = re_commune[g["commune_idx"]] + re_ea[g["ea"]]
    h_prop = rng.normal(0.0, 1.0, size=H)
    h_edu = rng.normal(0.0, 0.7, size=H)
    return dict(re_commune=re_commune, re_ea=re_ea, re_fiber=re_fiber, area=area, h_prop=h_prop, h_edu=h_edu)


def _persons(g, rng):
    """Members of each household: line, relation to the head, age, sex, education (1..6, NaN under 5)."""
    H, size, u, dev, area, h_edu = g["H"], g["size"], g["u"], g["dev"], g["area"], g["h_edu"]
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
    return dict(P=P, hh=hh, start=start, line=line, head_age=head_age, head_sex=head_sex, relation=relation,
                age=age, sex=sex, level=level, education=education, head_educ=head_educ, adult=adult,
                n_adults=n_adults, pu=pu, parea=parea)


def _household_ict(g, per, rng):
    """Household ICT from ranked latent scores (exact province shares), internet spending and reasons."""
    H, u, dev, area, h_prop = g["H"], g["u"], g["dev"], g["area"], g["h_prop"]
    size, head_age, commune_idx, re_fiber = g["size"], per["head_age"], g["commune_idx"], g["re_fiber"]
    ed_c = per["head_educ"] - 3.0
    log_size = np.log(size)
    old = np.maximum(head_age - 55, 0) / 10.0

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

    return dict(hh_mobile=hh_mobile, hh_smartphone=hh_smartphone, hh_computer=hh_computer, hh_internet=hh_internet,
                hh_fiber=hh_fiber, hh_fixed_other=hh_fixed_other, hh_fixed_bb=hh_fixed_bb,
                hh_mobile_bb=hh_mobile_bb, internet_spend=internet_spend, no_internet_reason=no_internet_reason)


def _person_ict(g, per, hict, rng):
    """Person ICT (aged 15+) and each household's number of smartphones."""
    H, dev, h_prop = g["H"], g["dev"], g["h_prop"]
    P, hh, age, level, adult, pu, parea = (per[k] for k in ("P", "hh", "age", "level", "adult", "pu", "parea"))
    hh_smartphone, hh_internet, hh_computer = hict["hh_smartphone"], hict["hh_internet"], hict["hh_computer"]
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

    return dict(
        n_smartphones=n_smartphones,
        p_smartphone=p_smartphone,
        p_internet=p_internet.astype(np.int8),
        p_egov=p_egov.astype(np.int8),
        p_account=p_account.astype(np.int8),
        p_digipay=p_digipay.astype(np.int8),
        p_esign=p_esign.astype(np.int8),
        **skills,
    )
