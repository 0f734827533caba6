"""True population values and census-style control totals of the demo population."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .geography import DISTRICT_NAMES, URBAN_LEVELS
from .measures import AGE_GROUPS, HH_INDICATORS, HH_MEANS, P_INDICATORS


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


def commune_truth(pop):
    """True value of every indicator in every commune (the small areas of ``analysis.sae``).

    Parameters
    ----------
    pop : Population

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, domain, level, value`` as :func:`truth_table`
        (so the two tables concatenate), ``domain`` = ``commune`` and
        ``level`` = the commune code as text (``"101"``, as the estimate
        stage writes a domain value); one row per indicator x commune (151),
        in indicator then commune-code order.
    """
    hh = pop.households
    P = pop.persons
    codes, c_hh = np.unique(hh["commune"].to_numpy(), return_inverse=True)
    n_c = codes.size
    levels = [str(int(c)) for c in codes]

    def by_commune(y, inside, idx):
        n = np.bincount(idx, weights=inside.astype(float), minlength=n_c)
        s = np.bincount(idx, weights=np.where(inside, y, 0.0), minlength=n_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / n

    frames = []

    def add(ind, values):
        frames.append(pd.DataFrame({"indicator": ind, "domain": "commune", "level": levels, "value": values}))

    every_hh = np.ones(len(hh), bool)
    for ind, (col, _) in HH_INDICATORS.items():
        add(ind, by_commune(hh[col].to_numpy(float), every_hh, c_hh))
    for ind, (col, cond, _) in HH_MEANS.items():
        inside = every_hh if cond is None else hh[cond].to_numpy() == 1
        add(ind, by_commune(np.nan_to_num(hh[col].to_numpy(float)), inside, c_hh))
    adult = P["age"].to_numpy() >= 15
    c_p = c_hh[P["hh"].to_numpy()]
    skill_cols = [f"p_skill{j}" for j in range(1, 10)]
    anyskill = P[skill_cols].to_numpy().max(axis=1).astype(float)
    for ind in P_INDICATORS:
        y = anyskill if ind == "p_anyskill" else P[ind].to_numpy(float)
        add(ind, by_commune(y, adult, c_p))
    return pd.concat(frames, ignore_index=True)
