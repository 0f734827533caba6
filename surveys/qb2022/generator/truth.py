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
        """Per variable (``all``, district, urban): the rows in one stable sort by its codes and each level's
        slice of them.  A level's rows stay in file order, so each mean adds the same values in the same order
        as a mask per level would (the same bits), with one gather per variable instead of one per level."""
        out = [(None, [("all", "all", slice(None))])]
        for name, codes, labels in (("district", dist, DISTRICT_NAMES), ("urban", urb, URBAN_LEVELS)):
            order = np.argsort(codes, kind="stable")
            ends = np.searchsorted(codes[order], [[c for c in labels], [c + 1 for c in labels]])
            out.append((order, [(name, lev, slice(a, b)) for lev, a, b in zip(labels.values(), *ends)]))
        return out

    def means(y, doms, inside=None):
        for order, levels in doms:
            ys = y if order is None else y[order]
            cs = None if inside is None else (inside if order is None else inside[order])
            for dom, lev, sl in levels:
                yield dom, lev, (ys[sl].mean() if cs is None else ys[sl][cs[sl]].mean())

    rows = []
    hh_domains = domains(hh["district"].to_numpy(), hh["urban"].to_numpy())
    for ind, (col, _) in HH_INDICATORS.items():
        rows += [(ind, *m) for m in means(hh[col].to_numpy(float), hh_domains)]
    for ind, (col, cond, _) in HH_MEANS.items():
        c = np.ones(len(hh), bool) if cond is None else hh[cond].to_numpy() == 1
        rows += [(ind, *m) for m in means(hh[col].to_numpy(float), hh_domains, c)]
    skill_cols = [f"p_skill{j}" for j in range(1, 10)]
    anyskill = adults[skill_cols].to_numpy().max(axis=1)
    adult_domains = domains(a_dist, a_urb)
    for ind in P_INDICATORS:
        y = anyskill.astype(float) if ind == "p_anyskill" else adults[ind].to_numpy(float)
        rows += [(ind, *m) for m in means(y, adult_domains)]
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
        # rows outside go to an extra bin: each commune sums the same values in the same order as with 0
        # weights outside (adding 0.0 changes no sum), with one pass over the rows per indicator
        key = (id(inside), id(idx))  # the entry holds both arrays, so their ids cannot be reused meanwhile
        if key not in counts:
            bins = np.where(inside, idx, n_c)
            counts[key] = (inside, idx, bins, np.bincount(bins, minlength=n_c + 1)[:n_c].astype(float))
        _, _, bins, n = counts[key]
        s = np.bincount(bins, weights=y, minlength=n_c + 1)[:n_c]
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / n

    counts = {}
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
