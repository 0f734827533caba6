"""CAPI defects injected into the raw tables at fixed rates, each logged with the action the cleaning should take."""

from __future__ import annotations

import numpy as np
import pandas as pd

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

