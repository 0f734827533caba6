"""Small numeric helpers of the generator (exact counts, ranked draws, ICC, file writing)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd


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


def write_csv(df, path):
    """Write *df* as UTF-8 CSV with ``\\n`` line ends, atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    os.replace(tmp, path)


def sha256(path):
    """SHA-256 hex digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
