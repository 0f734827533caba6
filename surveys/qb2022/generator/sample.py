"""The demo's sample: two-stage stratified PPS selection from the population, with nonresponse."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.sampling import pps_systematic, systematic_by_group

from ._util import _expit
from .geography import N_EA_SAMPLE, N_HH_PER_EA, build_frame
from .population import Population


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
