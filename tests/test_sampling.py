"""Tests of analysis.sampling: allocation, PPS systematic, SRS, systematic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.sampling import (
    allocate,
    allocate_sqrt,
    pps_inclusion_probabilities,
    pps_systematic,
    srs,
    systematic,
    systematic_by_group,
)


# ---------------------------------------------------------------------------
# allocation
# ---------------------------------------------------------------------------
def test_sqrt_allocation_exact_case():
    assert allocate_sqrt([100, 400, 1600], 14).tolist() == [2, 4, 8]


def test_proportional_and_equal_allocation():
    assert allocate([1, 2, 7], 20, power=1).tolist() == [2, 4, 14]
    assert allocate([1, 2, 7], 9, power=0).tolist() == [3, 3, 3]


def test_allocation_minimum_and_maximum():
    a = allocate_sqrt([5, 10_000, 40_000, 90_000], 30, minimum=2)
    assert a.sum() == 30 and a.min() >= 2 and a[0] == 2
    b = allocate_sqrt([1, 1, 1_000_000], 10, minimum=2, maximum=[3, 3, 5])
    assert b.tolist()[2] == 5 and b.sum() == 10 and np.all(b >= 2)
    assert np.all(b <= [3, 3, 5])


def test_allocation_infeasible_bounds():
    with pytest.raises(ValueError, match="n_total"):
        allocate_sqrt([1, 2, 3], 5, minimum=2)
    with pytest.raises(ValueError, match="n_total"):
        allocate_sqrt([1, 2, 3], 10, maximum=3)
    with pytest.raises(ValueError, match="minimum"):
        allocate_sqrt([1, 2], 3, minimum=[2, 2], maximum=[1, 5])
    with pytest.raises(ValueError, match="sizes"):
        allocate_sqrt([1, 0, 3], 5)
    with pytest.raises(TypeError, match="n_total"):
        allocate_sqrt([1, 2], 2.5)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 10**6), min_size=1, max_size=20),
    extra=st.integers(0, 200),
    minimum=st.integers(0, 3),
)
def test_allocation_properties(sizes, extra, minimum):
    n_total = minimum * len(sizes) + extra
    a = allocate_sqrt(sizes, n_total, minimum=minimum)
    assert a.sum() == n_total
    assert np.all(a >= minimum)
    # Largest-remainder rounding stays within one unit of the continuous
    # allocation when no bound binds.
    if minimum == 0:
        w = np.sqrt(np.asarray(sizes, float))
        cont = n_total * w / w.sum()
        assert np.all(np.abs(a - cont) < 1 + 1e-9)


# ---------------------------------------------------------------------------
# PPS
# ---------------------------------------------------------------------------
def test_pps_probabilities_simple_and_certainty():
    np.testing.assert_allclose(pps_inclusion_probabilities([1, 2, 3, 4], 2), [0.2, 0.4, 0.6, 0.8])
    pi = pps_inclusion_probabilities([10, 10, 80], 2)
    np.testing.assert_allclose(pi, [0.5, 0.5, 1.0])
    # A second certainty unit appears only after the first is removed.
    pi = pps_inclusion_probabilities([100, 60, 40, 10, 5], 3)
    np.testing.assert_allclose(pi, [1.0, 1.0, 0.4 / 0.55, 0.1 / 0.55, 0.05 / 0.55])
    assert pi.sum() == pytest.approx(3)


def test_pps_zero_size_and_errors():
    pi = pps_inclusion_probabilities([0, 5, 5], 2)
    np.testing.assert_allclose(pi, [0, 1, 1])
    with pytest.raises(ValueError, match="'n'"):
        pps_inclusion_probabilities([0, 5, 5], 3)
    with pytest.raises(ValueError, match="sizes"):
        pps_inclusion_probabilities([1, -1, 3], 1)
    with pytest.raises(ValueError, match="sizes"):
        pps_inclusion_probabilities([1, np.nan, 3], 1)
    with pytest.raises(ValueError, match="1-d"):
        pps_inclusion_probabilities([[1, 2]], 1)
    with pytest.raises(TypeError, match="rng"):
        pps_systematic([1, 2, 3], 1, rng=42)


def test_pps_systematic_returns_distinct_and_certainty():
    rng = np.random.default_rng(3)
    sizes = np.array([500, 20, 30, 40, 10, 400, 35, 25, 60, 80])
    for _ in range(200):
        s = pps_systematic(sizes, 4, rng)
        assert len(s) == 4 and len(np.unique(s)) == 4
        assert 0 in s and 5 in s  # certainty units
    assert pps_systematic(sizes, 0, rng).size == 0
    assert pps_systematic(sizes, 10, rng).tolist() == list(range(10))


@pytest.mark.parametrize("n", [3, 7])
def test_pps_systematic_inclusion_frequencies(n):
    """Empirical inclusion frequencies match pi_i = n x_i / X (capped)."""
    rng = np.random.default_rng(20220714)
    sizes = rng.integers(80, 200, size=30).astype(float)
    sizes[4] = 1500.0  # a certainty unit when n = 7
    pi = pps_inclusion_probabilities(sizes, n)
    reps = 20_000
    counts = np.zeros(sizes.size)
    for _ in range(reps):
        counts[pps_systematic(sizes, n, rng)] += 1
    freq = counts / reps
    se = np.sqrt(np.maximum(pi * (1 - pi), 1e-12) / reps)
    z = np.abs(freq - pi) / se
    assert np.all(z[pi < 1] < 4.5), z.max()
    assert np.all(freq[pi >= 1] == 1.0)
    # The overall chi-square-like statistic stays moderate.
    assert np.mean(z[pi < 1] ** 2) < 2.0


# ---------------------------------------------------------------------------
# SRS and systematic
# ---------------------------------------------------------------------------
def test_srs_basic_and_frequencies():
    rng = np.random.default_rng(1)
    s = srs(10, 10, rng)
    assert s.tolist() == list(range(10))
    counts = np.zeros(12)
    for _ in range(6000):
        s = srs(12, 5, rng)
        assert len(np.unique(s)) == 5
        counts[s] += 1
    np.testing.assert_allclose(counts / 6000, 5 / 12, atol=0.03)
    with pytest.raises(ValueError, match="'n'"):
        srs(3, 4, rng)


def test_systematic_exact_size_and_probability():
    rng = np.random.default_rng(2)
    N, n = 137, 20
    counts = np.zeros(N)
    for _ in range(5000):
        s = systematic(N, n, rng)
        assert len(s) == n and len(np.unique(s)) == n
        assert s.min() >= 0 and s.max() < N
        counts[s] += 1
    freq = counts / 5000
    se = np.sqrt(n / N * (1 - n / N) / 5000)
    assert np.all(np.abs(freq - n / N) < 4.5 * se)


def test_systematic_by_group_vectorised():
    rng = np.random.default_rng(5)
    sizes = np.array([80, 200, 137, 20, 95])
    g, p = systematic_by_group(sizes, 20, rng)
    assert g.size == 100
    for k in range(sizes.size):
        pk = p[g == k]
        assert pk.size == 20 and len(np.unique(pk)) == 20
        assert pk.max() < sizes[k] and np.all(np.diff(pk) > 0)
    g, p = systematic_by_group(sizes, [0, 1, 2, 20, 0], rng)
    assert np.bincount(g, minlength=5).tolist() == [0, 1, 2, 20, 0]
    with pytest.raises(ValueError, match="'n'"):
        systematic_by_group(sizes, 21, rng)
    with pytest.raises(ValueError, match="length"):
        systematic_by_group(sizes, [1, 2], rng)


@settings(max_examples=100, deadline=None)
@given(N=st.integers(1, 500), frac=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_systematic_always_exact_size(N, frac, seed):
    n = int(round(frac * N))
    s = systematic(N, n, np.random.default_rng(seed))
    assert len(s) == n and len(np.unique(s)) == n
    if n:
        assert s.min() >= 0 and s.max() < N
