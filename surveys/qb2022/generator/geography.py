"""Geography of the demo province: districts, communes, enumeration areas (EAs) and the EA frame.

The province has 8 districts and 151 commune-level units (wards, towns and
rural communes; code ``district * 100 + number``).  Each commune's households
are split into EAs of about ``EA_TARGET_SIZE`` households (code ``commune *
100 + number``); the frame is sorted by stratum (district x urban/rural),
commune and EA, and carries the square-root allocation of ``N_EA_SAMPLE`` EAs
and each EA's PPS inclusion probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.sampling import allocate_sqrt, pps_inclusion_probabilities

from ._util import _split_integer

N_EA_SAMPLE = 150
N_HH_PER_EA = 20
MIN_EA_PER_STRATUM = 2
EA_TARGET_SIZE = 135
EA_MIN, EA_MAX = 80, 200
VACANCY_RATE = 0.012  # vacant dwellings on the 2022 listing, per occupied dwelling

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


def build_geography(rng):
    """Communes of each district with their urban/rural status and household counts (one row per commune)."""
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


def split_eas(communes, rng):
    """Split each commune into EAs of about ``EA_TARGET_SIZE`` households, with vacant dwellings on the listing."""
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
