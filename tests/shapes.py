"""Surveys shaped unlike the demo, as a statistics office delivers them (used by test_survey_shapes.py).

* ``household_only``: one household file (CSV), weights computed from a frame of
  EAs (base weights and nonresponse, no calibration), two areas named "zone".
* ``delivered``: household and person files (SPSS) with the office's final
  weights (a household weight and a different person weight), nine regions as
  strata with value labels, households as clusters, English labels only.
* ``person_only``: one person file (SPSS) with a household key, a person weight
  and 20 bootstrap replicate weights delivered with it, regions as domains.

Every file is made from ``numpy.random.default_rng(seed)``, so the data, and
the R numbers stored for them in ``tests/data/shapes_r.json``, do not change.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = {1: "Burgenland", 2: "Kärnten", 3: "Niederösterreich", 4: "Oberösterreich", 5: "Salzburg",
           6: "Steiermark", 7: "Tirol", 8: "Vorarlberg", 9: "Wien"}
YES_NO = {1: "yes", 2: "no"}


def _households(rng, n_per_region=40):
    region = np.repeat(np.arange(1, 10), n_per_region)
    n = len(region)
    hh = pd.DataFrame({"hh_id": np.arange(5001, 5001 + n), "region": region.astype(float)})
    p_net = 0.55 + 0.04 * (region % 5)
    hh["internet"] = np.where(rng.random(n) < p_net, 1.0, 2.0)
    hh["broadband"] = np.where(hh["internet"] == 1, np.where(rng.random(n) < 0.6, 1.0, 2.0), np.nan)
    hh["devices"] = rng.poisson(2.2, n).astype(float)
    hh["hh_weight"] = np.round(rng.uniform(80, 400, n) * (1 + 0.3 * (region == 9)), 3)
    return hh


def _persons(rng, hh):
    size = rng.integers(1, 5, len(hh))
    p = pd.DataFrame({"hh_id": np.repeat(hh["hh_id"].to_numpy(), size),
                      "person_no": np.concatenate([np.arange(1, k + 1) for k in size]).astype(float)})
    n = len(p)
    p["age"] = rng.integers(0, 90, n).astype(float)
    p["sex"] = rng.integers(1, 3, n).astype(float)
    p["uses_internet"] = np.where(rng.random(n) < 0.45 + 0.4 * (p["age"] < 50), 1.0, 2.0)
    p["shops_online"] = np.where((p["uses_internet"] == 1) & (rng.random(n) < 0.5), 1.0, 2.0)
    hw = hh.set_index("hh_id")["hh_weight"]
    p["p_weight"] = np.round(p["hh_id"].map(hw).to_numpy() * rng.uniform(0.8, 1.25, n), 3)
    p["region"] = p["hh_id"].map(hh.set_index("hh_id")["region"]).to_numpy()
    return p


def _write_sav(df, path, labels):
    import pyreadstat
    pyreadstat.write_sav(df, str(path), column_labels={c: c.replace("_", " ") for c in df.columns},
                         variable_value_labels={k: v for k, v in labels.items() if k in df.columns})


DELIVERED_TOML = """\
[survey]
name = "{name}"
title = "Household ICT usage survey (test data)"

[files.household]
path = "raw/household.sav"
key = ["hh_id"]
label = "Households"

[files.person]
path = "raw/person.sav"
key = ["hh_id", "person_no"]
parent = "household"
parent_key = ["hh_id"]
weight = "p_weight"
label = "Persons"

[design]
weights = "hh_weight"
strata = "region"
psu = "hh_id"

[[domains]]
id = "country"
label = "Austria"

[[domains]]
id = "region"
by = ["region"]
label = "By region"

[[indicators]]
id = "hh_internet"
unit = "household"
label = "Households with internet access"
numerator = "internet == 1"

[[indicators]]
id = "hh_broadband"
unit = "household"
label = "Households with broadband, of those with internet"
universe = "internet == 1"
universe_label = "Households with internet"
numerator = "broadband == 1"

[[indicators]]
id = "hh_devices"
unit = "household"
kind = "mean"
label = "Devices per household"
numerator = "devices"

[[indicators]]
id = "p_internet"
unit = "person"
label = "Persons 16-74 using the internet"
universe = "age >= 16 and age <= 74"
universe_label = "Persons aged 16 to 74"
numerator = "uses_internet == 1"

[[indicators]]
id = "p_shop"
unit = "person"
label = "Persons 16-74 shopping online"
universe = "age >= 16 and age <= 74"
universe_label = "Persons aged 16 to 74"
numerator = "shops_online == 1"

[report]
language = "en"
key_indicators = ["hh_internet", "hh_broadband", "p_internet", "p_shop"]
"""

PERSON_ONLY_TOML = """\
[survey]
name = "{name}"
title = "Individual ICT usage survey (test data)"

[files.person]
path = "raw/person.sav"
key = ["hh_id", "person_no"]

[design]
weights = "p_weight"
replicate_weights = "rw[0-9]+"
replicate_type = "bootstrap"

[[domains]]
id = "all"
label = "All persons"

[[domains]]
id = "region"
by = ["region"]
label = "Region"

[[indicators]]
id = "p_internet"
unit = "person"
label = "Persons using the internet"
numerator = "uses_internet == 1"

[[indicators]]
id = "p_shop"
unit = "person"
label = "Internet users shopping online"
universe = "uses_internet == 1"
numerator = "shops_online == 1"

[[indicators]]
id = "p_age"
unit = "person"
kind = "mean"
label = "Mean age"
numerator = "age"

[report]
language = "de"
"""

HOUSEHOLD_ONLY_TOML = """\
[survey]
name = "{name}"

[files.household]
path = "raw/household.csv"
key = ["hhid"]

[frame]
path = "frame.csv"
key = "ea_id"
prob = "pi_ea"
listed = "households"

[design]
strata = "zone"
psu = "ea_id"

[weighting]
respondent = "result == 1"

[[domains]]
id = "all"
label = "All households"

[[domains]]
id = "zone"
by = ["zone"]
label = "Zone"

[[indicators]]
id = "hh_phone"
unit = "household"
label = "Households with a phone"
numerator = "phone == 1"

[[indicators]]
id = "hh_size"
unit = "household"
kind = "mean"
label = "Household size"
numerator = "size"
"""


def build(root: Path, shape: str, seed: int = 11) -> Path:
    """Write the survey folder of *shape* under *root* and return it."""
    rng = np.random.default_rng(seed)
    d = root / shape
    (d / "raw").mkdir(parents=True, exist_ok=True)
    if shape == "delivered":
        hh = _households(rng)
        p = _persons(rng, hh)
        _write_sav(hh, d / "raw/household.sav", {"region": REGIONS, "internet": YES_NO, "broadband": YES_NO})
        _write_sav(p.drop(columns="region"), d / "raw/person.sav", {"uses_internet": YES_NO, "shops_online": YES_NO,
                                                                    "sex": {1: "male", 2: "female"}})
        (d / "survey.toml").write_text(DELIVERED_TOML.format(name=shape), encoding="utf-8")
    elif shape == "person_only":
        hh = _households(rng, 25)
        p = _persons(rng, hh)
        # bootstrap replicates: households resampled within regions (R's bootweights rule, done here by hand)
        reps = {}
        for r in range(1, 21):
            mult = np.zeros(len(hh))
            for reg in range(1, 10):
                idx = np.flatnonzero(hh["region"].to_numpy() == reg)
                draw = rng.choice(idx, len(idx) - 1, replace=True)
                np.add.at(mult, draw, len(idx) / (len(idx) - 1))
            reps[f"rw{r}"] = np.round(p["hh_id"].map(pd.Series(mult, index=hh["hh_id"])).to_numpy()
                                      * p["p_weight"].to_numpy(), 4)
        p = pd.concat([p, pd.DataFrame(reps, index=p.index)], axis=1)
        _write_sav(p, d / "raw/person.sav", {"region": REGIONS, "uses_internet": YES_NO, "shops_online": YES_NO})
        (d / "survey.toml").write_text(PERSON_ONLY_TOML.format(name=shape), encoding="utf-8")
    elif shape == "household_only":
        n_ea, per = 12, 12
        ea = np.arange(201, 201 + n_ea)
        zone = 1 + (np.arange(n_ea) % 2)
        frame = pd.DataFrame({"ea_id": ea, "zone": zone, "households": rng.integers(80, 150, n_ea),
                              "pi_ea": np.round(0.15 + 0.05 * zone, 3)})
        frame.to_csv(d / "frame.csv", index=False)
        rows = []
        for e, z in zip(ea, zone):
            for k in range(per):
                resp = rng.random() < 0.85
                rows.append({"hhid": e * 100 + k, "ea_id": e, "zone": z, "result": 1 if resp else 2,
                             "phone": (1 if rng.random() < 0.7 + 0.1 * z else 2) if resp else np.nan,
                             "size": float(rng.integers(1, 8)) if resp else np.nan})
        pd.DataFrame(rows).to_csv(d / "raw/household.csv", index=False)
        (d / "survey.toml").write_text(HOUSEHOLD_ONLY_TOML.format(name=shape), encoding="utf-8")
    else:
        raise ValueError(shape)
    return d
