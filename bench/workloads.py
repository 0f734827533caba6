"""Synthetic workloads for the benchmarks (deterministic from a seed)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def household_sample(n: int, n_ind: int = 20, n_rep: int = 0, seed: int = 1) -> pd.DataFrame:
    """A stratified two-stage sample: 8 districts x urban/rural = 16 strata, PSUs of ~20 households."""
    rng = np.random.default_rng(seed)
    psu_size = 20
    n_psu = n // psu_size
    psu_stratum = rng.integers(0, 16, n_psu)
    psu = np.repeat(np.arange(n_psu), psu_size)[:n]
    stratum = psu_stratum[psu]
    district = stratum // 2 + 1
    urban = stratum % 2
    w = (rng.gamma(4.0, 25.0, n_psu)[psu] * rng.uniform(0.8, 1.25, n)).round(6)
    df = pd.DataFrame({"stratum": stratum, "psu": psu, "district": district, "urban": urban, "w": w})
    eff = rng.normal(0, 0.6, n_psu)[psu]
    for j in range(n_ind):
        p = 1 / (1 + np.exp(-(rng.normal(0, 1) + 0.4 * urban + eff)))
        df[f"y{j + 1}"] = (rng.random(n) < p).astype(np.int64)
    if n_rep:
        counts = np.empty((n_psu, n_rep))
        for h in range(16):
            idx = np.flatnonzero(psu_stratum == h)
            counts[idx] = rng.multinomial(idx.size, np.full(idx.size, 1 / idx.size), size=n_rep).T
        rw = w[:, None] * counts[psu]
        df = pd.concat([df, pd.DataFrame(rw, columns=[f"rw{r + 1}" for r in range(n_rep)])], axis=1)
    return df
