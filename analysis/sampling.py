"""Sample selection: allocation, equal-probability and PPS selection.

The functions here are what a statistics office uses to draw a stratified
multistage household sample: allocate primary sampling units (PSUs) to
strata, select PSUs with probability proportional to size (PPS) by the
systematic method, then select households within each PSU by simple or
systematic random sampling.

All functions take numpy arrays and a :class:`numpy.random.Generator`
(never global random state), validate their inputs once and return numpy
arrays.  Systematic methods select in the order the units are given: sort
the frame first (e.g. by commune, then enumeration area) to get the
implicit stratification a statistics office relies on.

Functions
---------
allocate
    Integer allocation of a total sample size to strata, proportional to
    ``size ** power``, with per-stratum minimum and maximum.
allocate_sqrt
    :func:`allocate` with ``power=0.5`` (square-root allocation).
pps_inclusion_probabilities
    First-order inclusion probabilities ``n * x / X`` with certainty units
    (``n * x / X >= 1``) taken out iteratively.
pps_systematic
    Systematic PPS selection of ``n`` units, certainty units included.
srs
    Simple random sampling without replacement.
systematic
    Equal-probability systematic sampling with a fractional interval.
systematic_by_group
    Vectorised :func:`systematic` in many groups at once (e.g. 20
    households in each of 150 enumeration areas).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "allocate",
    "allocate_sqrt",
    "pps_inclusion_probabilities",
    "pps_systematic",
    "srs",
    "systematic",
    "systematic_by_group",
]

_EPS = 1e-9


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "parameter 'rng': expected numpy.random.Generator "
            f"(e.g. numpy.random.default_rng(seed)), got {type(rng).__name__}"
        )


def _check_int(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"parameter '{name}': expected an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(
            f"parameter '{name}': expected an integer >= {minimum}, got {value}"
        )
    return value


def _check_sizes(name, sizes, *, allow_zero=True):
    arr = np.asarray(sizes)
    if arr.ndim != 1:
        raise ValueError(
            f"parameter '{name}': expected a 1-d array, got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise TypeError(
            f"parameter '{name}': expected a numeric array, got dtype {arr.dtype}"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter '{name}': expected finite values, got NaN or inf")
    if allow_zero:
        if np.any(arr < 0):
            raise ValueError(
                f"parameter '{name}': expected sizes >= 0, got minimum {arr.min()}"
            )
    elif np.any(arr <= 0):
        raise ValueError(
            f"parameter '{name}': expected sizes > 0, got minimum {arr.min()}"
        )
    return arr


def _check_int_array(name, values, length, minimum=0):
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(length, arr)
    if arr.shape != (length,):
        raise ValueError(
            f"parameter '{name}': expected a scalar or an array of length {length}, "
            f"got shape {arr.shape}"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or np.any(arr != np.round(arr)):
            raise TypeError(
                f"parameter '{name}': expected integers, got dtype {arr.dtype}"
            )
    arr = arr.astype(np.int64)
    if np.any(arr < minimum):
        raise ValueError(
            f"parameter '{name}': expected values >= {minimum}, got minimum {arr.min()}"
        )
    return arr


# ---------------------------------------------------------------------------
# allocation
# ---------------------------------------------------------------------------
def allocate(sizes, n_total, *, power=1.0, minimum=0, maximum=None):
    """Allocate a total sample size to strata proportionally to ``size ** power``.

    The continuous allocation ``n_total * x_h / sum(x)`` with
    ``x_h = size_h ** power`` is computed with strata that fall below
    ``minimum`` or above ``maximum`` fixed at the bound and the rest
    re-allocated, then rounded to integers by the largest-remainder method,
    so the result sums exactly to ``n_total`` and respects the bounds.

    Parameters
    ----------
    sizes : array_like of float, shape (H,)
        Stratum sizes (e.g. household counts), all > 0.
    n_total : int
        Total number of units to allocate.
    power : float, default 1.0
        Exponent: 1 gives proportional allocation, 0.5 square-root
        allocation, 0 equal allocation.
    minimum : int or array_like of int, default 0
        Smallest allocation per stratum (e.g. 2 so every stratum can yield a
        variance estimate).
    maximum : int or array_like of int, optional
        Largest allocation per stratum (e.g. the number of PSUs in the
        stratum).  No upper bound when omitted.

    Returns
    -------
    numpy.ndarray of int64, shape (H,)
        The allocation; sums to ``n_total``.

    Raises
    ------
    ValueError
        If the bounds make ``n_total`` infeasible
        (``sum(minimum) > n_total`` or ``sum(maximum) < n_total``), or
        ``minimum > maximum`` in some stratum.

    Examples
    --------
    >>> allocate([100, 400, 1600], 14, power=0.5)
    array([2, 4, 8])
    """
    x = _check_sizes("sizes", sizes, allow_zero=False)
    n_total = _check_int("n_total", n_total)
    if not isinstance(power, numbers.Real) or not np.isfinite(power) or power < 0:
        raise ValueError(f"parameter 'power': expected a finite number >= 0, got {power!r}")
    h = x.size
    if h == 0:
        raise ValueError("parameter 'sizes': expected at least one stratum, got 0")
    lo = _check_int_array("minimum", minimum, h).astype(np.float64)
    if maximum is None:
        hi = np.full(h, np.inf)
    else:
        hi = _check_int_array("maximum", maximum, h).astype(np.float64)
    if np.any(lo > hi):
        bad = int(np.flatnonzero(lo > hi)[0])
        raise ValueError(
            f"parameters 'minimum'/'maximum': expected minimum <= maximum, got "
            f"{int(lo[bad])} > {int(hi[bad])} in stratum {bad}"
        )
    if lo.sum() > n_total:
        raise ValueError(
            f"parameter 'n_total': expected at least sum(minimum) = {int(lo.sum())}, got {n_total}"
        )
    if hi.sum() < n_total:
        raise ValueError(
            f"parameter 'n_total': expected at most sum(maximum) = {hi.sum():.0f}, got {n_total}"
        )

    w = x**power
    alloc = np.zeros(h)
    fixed = np.zeros(h, dtype=bool)
    for _ in range(2 * h + 1):
        free = ~fixed
        remaining = n_total - alloc[fixed].sum()
        alloc[free] = remaining * w[free] / w[free].sum()
        below = free & (alloc < lo - _EPS)
        above = free & (alloc > hi + _EPS)
        if not below.any() and not above.any():
            break
        # Fix the side with the larger total violation first; this keeps the
        # iteration monotone and always terminates.
        if (lo - alloc)[below].sum() >= (alloc - hi)[above].sum():
            alloc[below] = lo[below]
            fixed |= below
        else:
            alloc[above] = hi[above]
            fixed |= above
        if fixed.all():
            break

    base = np.clip(np.floor(alloc + _EPS), lo, hi)
    short = int(round(n_total - base.sum()))
    frac = alloc - base
    if short > 0:
        room = base < hi
        order = np.lexsort((np.arange(h), -np.where(room, frac, -np.inf)))
        base[order[:short]] += 1
    elif short < 0:
        room = base > lo
        order = np.lexsort((np.arange(h), np.where(room, frac, np.inf)))
        base[order[:-short]] -= 1
    return base.astype(np.int64)


def allocate_sqrt(sizes, n_total, *, minimum=0, maximum=None):
    """Square-root allocation: :func:`allocate` with ``power=0.5``.

    Parameters
    ----------
    sizes : array_like of float, shape (H,)
        Stratum sizes, all > 0.
    n_total : int
        Total number of units to allocate.
    minimum : int or array_like of int, default 0
        Smallest allocation per stratum.
    maximum : int or array_like of int, optional
        Largest allocation per stratum.

    Returns
    -------
    numpy.ndarray of int64, shape (H,)
        The allocation; sums to ``n_total``.

    Examples
    --------
    >>> allocate_sqrt([100, 400, 1600], 14)
    array([2, 4, 8])
    """
    return allocate(sizes, n_total, power=0.5, minimum=minimum, maximum=maximum)


# ---------------------------------------------------------------------------
# PPS
# ---------------------------------------------------------------------------
def pps_inclusion_probabilities(sizes, n):
    """Inclusion probabilities of a without-replacement PPS design of size ``n``.

    ``pi_i = n * x_i / X``; units with ``pi_i >= 1`` are certainty units
    (``pi_i = 1``) and are removed, ``n`` reduced by their number and the
    probabilities of the others recomputed, until no probability exceeds 1.

    Parameters
    ----------
    sizes : array_like of float, shape (N,)
        Measures of size, all >= 0.  Units of size 0 get probability 0.
    n : int
        Sample size, at most the number of units with positive size.

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
        Inclusion probabilities in [0, 1]; they sum to ``n``.

    Examples
    --------
    >>> pps_inclusion_probabilities([10, 10, 80], 2)
    array([0.5, 0.5, 1. ])
    """
    x = _check_sizes("sizes", sizes)
    n = _check_int("n", n)
    positive = int(np.count_nonzero(x > 0))
    if n > positive:
        raise ValueError(
            f"parameter 'n': expected at most the number of units with positive size "
            f"({positive}), got {n}"
        )
    pi = np.zeros(x.size)
    if n == 0:
        return pi
    certain = np.zeros(x.size, dtype=bool)
    while True:
        rest = ~certain & (x > 0)
        m = n - int(certain.sum())
        if m == 0:
            break
        p = m * x[rest] / x[rest].sum()
        over = p >= 1.0 - _EPS
        if not over.any():
            pi[rest] = p
            break
        certain[np.flatnonzero(rest)[over]] = True
    pi[certain] = 1.0
    return pi


def pps_systematic(sizes, n, rng):
    """Systematic PPS selection of ``n`` units, with certainty units.

    Certainty units (see :func:`pps_inclusion_probabilities`) are always
    selected.  The remaining ``m`` units are laid end to end on ``[0, m)``
    with lengths equal to their inclusion probabilities, a random start
    ``u ~ U[0, 1)`` is drawn and the units covering ``u, u + 1, ...,
    u + m - 1`` are selected.  Every unit is selected with exactly its
    inclusion probability ``pi_i``, no unit twice.

    Parameters
    ----------
    sizes : array_like of float, shape (N,)
        Measures of size in frame order (sort the frame beforehand for
        implicit stratification).
    n : int
        Number of units to select.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Positions of the selected units in ``sizes``, ascending.

    See Also
    --------
    pps_inclusion_probabilities : the probabilities this design realises.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> pps_systematic([10, 10, 80], 2, rng)  # unit 2 is a certainty unit
    array([1, 2])
    """
    _check_rng(rng)
    pi = pps_inclusion_probabilities(sizes, n)
    certain = pi >= 1.0
    rest = np.flatnonzero(~certain & (pi > 0))
    m = n - int(certain.sum())
    chosen = [np.flatnonzero(certain)]
    if m > 0:
        cum = np.cumsum(pi[rest])
        cum *= m / cum[-1]
        cum[-1] = m
        points = rng.uniform() + np.arange(m)
        idx = np.searchsorted(cum, points, side="right")
        chosen.append(rest[idx])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# ---------------------------------------------------------------------------
# equal probability
# ---------------------------------------------------------------------------
def srs(N, n, rng):
    """Simple random sample without replacement of ``n`` out of ``N`` units.

    Parameters
    ----------
    N : int
        Population size.
    n : int
        Sample size, ``0 <= n <= N``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Selected positions ``0 .. N-1``, ascending.

    Examples
    --------
    >>> srs(10, 3, np.random.default_rng(0)).shape
    (3,)
    """
    _check_rng(rng)
    N = _check_int("N", N)
    n = _check_int("n", n)
    if n > N:
        raise ValueError(f"parameter 'n': expected at most N = {N}, got {n}")
    return np.sort(rng.choice(N, size=n, replace=False)).astype(np.int64)


def systematic(N, n, rng):
    """Equal-probability systematic sample of ``n`` out of ``N`` units.

    Uses the fractional interval ``k = N / n``: a random start
    ``s ~ U[0, k)`` and the units ``floor(s + j k)``, ``j = 0 .. n-1``.
    Every unit has inclusion probability exactly ``n / N`` and the sample
    size is exactly ``n`` even when ``N / n`` is not an integer.

    Parameters
    ----------
    N : int
        Population (listing) size.
    n : int
        Sample size, ``0 <= n <= N``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Selected positions in listing order, ascending.

    Examples
    --------
    >>> systematic(100, 4, np.random.default_rng(0)).shape
    (4,)
    """
    _check_rng(rng)
    N = _check_int("N", N)
    n = _check_int("n", n)
    if n > N:
        raise ValueError(f"parameter 'n': expected at most N = {N}, got {n}")
    _, pos = systematic_by_group(np.array([N]), np.array([n]), rng)
    return pos


def systematic_by_group(sizes, n, rng):
    """Equal-probability systematic samples in many groups at once.

    For every group ``g`` with ``N_g`` listed units, selects ``n_g`` units
    as :func:`systematic` does, each group with its own random start; fully
    vectorised (one call for all enumeration areas).

    Parameters
    ----------
    sizes : array_like of int, shape (G,)
        Listing sizes ``N_g``.
    n : int or array_like of int, shape (G,)
        Sample size per group, ``0 <= n_g <= N_g``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    group : numpy.ndarray of int64, shape (sum(n),)
        Group position (``0 .. G-1``) of each selected unit.
    position : numpy.ndarray of int64, shape (sum(n),)
        Position of the selected unit within its group's listing,
        ascending within group.

    Examples
    --------
    >>> g, p = systematic_by_group([100, 150], 20, np.random.default_rng(0))
    >>> g.shape, p.shape
    ((40,), (40,))
    """
    _check_rng(rng)
    if np.ndim(sizes) != 1:
        raise ValueError(
            f"parameter 'sizes': expected a 1-d array, got shape {np.shape(sizes)}"
        )
    N = _check_int_array("sizes", sizes, np.size(sizes))
    nn = _check_int_array("n", n, N.size)
    if np.any(nn > N):
        bad = int(np.flatnonzero(nn > N)[0])
        raise ValueError(
            f"parameter 'n': expected n_g <= sizes_g, got {nn[bad]} > {N[bad]} in group {bad}"
        )
    G = N.size
    k = np.divide(N, nn, out=np.zeros(G), where=nn > 0)
    start = rng.uniform(size=G) * k
    group = np.repeat(np.arange(G, dtype=np.int64), nn)
    offsets = np.cumsum(nn) - nn
    j = np.arange(group.size, dtype=np.int64) - np.repeat(offsets, nn)
    pos = np.floor(start[group] + j * k[group]).astype(np.int64)
    pos = np.minimum(pos, N[group] - 1)  # guard against rounding at the end
    return group, pos
