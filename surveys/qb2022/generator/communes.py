"""Commune-level auxiliary data of the demo province: census 2019 shares, telecom administrative data, distance.

What a province really holds for each of its 151 communes, for the small-area
(Fay-Herriot) estimates of ``analysis.sae``:

* census 2019 (complete count): ``census_urban`` (share of households in
  urban areas: 1 for wards and towns, 0 for rural communes, as the demo's
  geography makes every commune wholly urban or rural), ``census_computer``
  (share of households with a computer), ``census_hh_size`` (mean household
  size), ``census_aged_60plus`` (share of persons aged 60+),
  ``census_ethnic_minority`` (share of persons of an ethnic minority);
* telecom administrative data (mid-2022): ``fiber_ports_per_100hh`` (FTTH
  ports in service per 100 households), ``coverage_4g`` (share of the
  population covered by 4G);
* ``distance_km``: road distance from the commune's centre to the district
  centre;

plus ``households`` (the 2022 listing, the sum of ``frame.csv`` over the
commune's EAs: the weights for benchmarking communes to a district).

How they are made, consistently with the households
---------------------------------------------------
The population model (:mod:`.population`) gives every commune a random
effect that shifts all its households' ICT scores, on top of urban/rural and
the district's development level.  The auxiliary data are drawn *given the
population*, from a stream of their own (the fourth child of the seed's
``SeedSequence``), so the household raw files are unchanged:

* the census shares are the population's own values three years earlier:
  computer ownership on the logit scale 0.35 lower with a commune-specific
  change N(0, 0.45²); household size +0.04 and share aged 60+ -0.8 points,
  each with small noise;
* fiber ports = 100 x the commune's true fiber share x a lognormal
  reporting/coverage factor (sd 0.30 on the log scale) + business and
  institutional ports (gamma, more in urban wards);
* the commune's prosperity index ``z`` (the standardised residual of its
  households' true smartphone logit after urban/rural and the district's
  development) makes remote communes poorer: log distance = urban/rural
  level + district remoteness - 0.3 ``z`` + N(0, 0.45²); ethnic-minority
  communes (in the western, mountainous districts) are likelier where ``z``
  is low and the distance long; 4G coverage falls with distance and
  minority share.

Jointly this is the same as a population model in which the commune effect
depends on the covariates (a regression of the effect on them with a residual
variance), which is what the Fay-Herriot model assumes.  With the default
seed, a linear regression of the commune's true rate on the eight covariates
(distance on the log scale) has R² = 0.719 for hh_smartphone and 0.685 for
hh_fiber; urban/rural and district dummies alone explain far less
(``tests/test_communes.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._util import _expit
from .geography import DISTRICTS

#: share of rural communes that are ethnic-minority communes, by district code
#: (the western, mountainous districts: Chứt and Bru-Vân Kiều peoples)
MINORITY_COMMUNES = {3: 0.12, 4: 0.18, 6: 0.20, 7: 0.45, 8: 0.20}
#: remoteness of a district's communes (multiplies the typical distance)
REMOTENESS = {1: 0.6, 2: 0.8, 3: 1.0, 4: 1.2, 5: 0.9, 6: 1.2, 7: 1.4, 8: 1.1}

COLUMNS = [
    "commune_code", "commune", "commune_type", "district_code", "district", "households",
    "census_urban", "census_computer", "census_hh_size", "census_aged_60plus", "census_ethnic_minority",
    "fiber_ports_per_100hh", "coverage_4g", "distance_km",
]
#: the covariates (model columns) of the commune frame
COVARIATES = COLUMNS[6:]


def _logit(p):
    return np.log(p / (1.0 - p))


def commune_frame(pop, seed=None):
    """The commune frame: one row per commune with its auxiliary data (see the module docstring).

    Parameters
    ----------
    pop : Population
    seed : int, optional
        Seed of the auxiliary data; default ``pop.seed``.  Their stream is
        ``SeedSequence(seed).spawn(4)[3]``, independent of the population,
        sample and raw-file streams (children 0 to 2).

    Returns
    -------
    pandas.DataFrame
        Columns ``COLUMNS``, in commune-code order (151 rows).
    """
    seed = pop.seed if seed is None else seed
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    hh, P = pop.households, pop.persons
    communes = pop.communes.sort_values("commune_code").reset_index(drop=True)
    codes = communes["commune_code"].to_numpy()
    n = codes.size
    c_hh = np.searchsorted(codes, hh["commune"].to_numpy())
    c_p = c_hh[P["hh"].to_numpy()]
    H = np.bincount(c_hh, minlength=n).astype(float)

    def share(y, idx, base):
        return np.bincount(idx, weights=np.asarray(y, float), minlength=n) / base

    computer = share(hh["hh_computer"], c_hh, H)
    smart = share(hh["hh_smartphone"], c_hh, H)
    fiber = share(hh["hh_fiber"], c_hh, H)
    size = share(hh["hh_size"], c_hh, H)
    aged60 = share(P["age"].to_numpy() >= 60, c_p, np.bincount(c_p, minlength=n))
    u = (communes["urban"].to_numpy() == 1).astype(float)
    district = communes["district_code"].to_numpy()
    dev = np.array([{d[0]: d[9] for d in DISTRICTS}[k] for k in district])

    # the commune's prosperity: its households' smartphone logit net of urban/rural and district development
    y = _logit(smart)
    X = np.column_stack([np.ones(n), u, dev])
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    z = resid / resid.std()

    census_computer = _expit(_logit(computer) - 0.35 + rng.normal(0.0, 0.45, n))
    ports = 100.0 * fiber * np.exp(rng.normal(0.0, 0.30, n)) + rng.gamma(2.0, 1.0 + 2.0 * u)
    remote = np.array([REMOTENESS[k] for k in district])
    log_dist = np.where(u == 1, np.log(2.5), np.log(9.0)) + 0.3 * np.log(remote) - 0.3 * z + rng.normal(0.0, 0.45, n)
    p_min = np.array([MINORITY_COMMUNES.get(k, 0.0) for k in district]) * (1.0 - u)
    has_min = p_min > 0
    lp = _logit(np.clip(p_min, 1e-3, 1 - 1e-3)) - z + 0.5 * (log_dist - np.log(9.0))
    minority_commune = (rng.uniform(size=n) < _expit(lp)) & has_min
    minority = np.where(minority_commune, rng.beta(4.0, 2.0, n), rng.beta(0.3, 30.0, n) * has_min)
    gap_4g = np.where(u == 1, 0.003, 0.02) * np.exp(0.8 * (log_dist - np.log(9.0)) + 1.5 * minority + rng.normal(0.0, 0.4, n))
    coverage_4g = np.clip(1.0 - gap_4g, 0.0, 1.0)
    census_size = size + 0.04 + rng.normal(0.0, 0.05, n)
    census_60 = aged60 - 0.008 + rng.normal(0.0, 0.004, n)

    out = pd.DataFrame({
        "commune_code": codes,
        "commune": communes["commune"].to_numpy(),
        "commune_type": communes["commune_type"].to_numpy(),
        "district_code": district,
        "district": communes["district"].to_numpy(),
        "households": H.astype(np.int64),
        "census_urban": u,
        "census_computer": np.round(census_computer, 4),
        "census_hh_size": np.round(census_size, 2),
        "census_aged_60plus": np.round(census_60, 4),
        "census_ethnic_minority": np.round(minority, 4),
        "fiber_ports_per_100hh": np.round(ports, 1),
        "coverage_4g": np.round(coverage_4g, 4),
        "distance_km": np.round(np.exp(log_dist), 1),
    })
    return out[COLUMNS]
