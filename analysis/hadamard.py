"""Hadamard matrices for balanced repeated replication, chosen as R's ``survey`` chooses them.

BRR and Fay replicates (Wolter 2007, sec. 3.3) take their half-sample
pattern from a Hadamard matrix whose order exceeds the number of strata.
Any Hadamard matrix balances the replicates, but *which* one decides the
replicate weights, and with them every nonlinear statistic (ratios,
quantiles, logit intervals).  To give replicate weights identical to R's
``as.svrepdesign(type="BRR")``, :func:`hadamard` picks the matrix by R's
rule: for ``n`` strata, one of four tabulated matrices (orders 4, 16, 28
and 36, the ones R's ``survey`` package ships; orders 4 and 16 are
Sylvester's, 28 and 36 from Sloane's library of Hadamard matrices) when its
order is in ``(m, m + 4]`` with ``m = n - n mod 4``; otherwise the smaller
of a Paley (type I) matrix and a doubled tabulated one (Sylvester doubling
``[[H, H], [H, 1 - H]]``).  Matrices are 0/1 (1 for +1), as R's.

References
----------
Paley, R. E. A. C. (1933). On orthogonal matrices. *J. Math. Phys.* 12, 311-320.
Sloane, N. J. A. A library of Hadamard matrices. http://neilsloane.com/hadamard/
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., sec. 3.3.
"""
from __future__ import annotations

import numpy as np

__all__ = ["hadamard", "paley", "is_hadamard"]

# Rows as hexadecimal bit strings (first column = highest bit).
_TABLE = {
    4: (
        "f", "a", "c", "9",
    ),
    16: (
        "ffff", "aaaa", "cccc", "9999", "f0f0", "a5a5",
        "c3c3", "9696", "ff00", "aa55", "cc33", "9966",
        "f00f", "a55a", "c33c", "9669",
    ),
    28: (
        "fffffff", "9c71c78", "83cd378", "83b2e66", "9a0f8d6", "952c5ae",
        "8cd239e", "58aa7f0", "45b59d4", "46cbcac", "561774a", "4b64e9a",
        "5959b26", "2d1eae8", "3666b34", "2b3b51c", "31d74b2", "32f89ca",
        "2ced646", "ea545e4", "f1632cc", "f09ce1c", "e54ad52", "e6392b2",
        "e8a792a", "dffe000", "bf81f80", "7f8007e",
    ),
    36: (
        "fffffffff", "5c7dc8564", "b8fb90ac8", "71f721592", "e3ee42b24", "c7dc8564a",
        "8fb90ac96", "1f721592e", "3ee42b25c", "7dc8564b8", "fb90ac970", "f721592e2",
        "ee42b25c6", "dc8564b8e", "b90ac971e", "721592e3e", "e42b25c7c", "c8564b8fa",
        "90ac971f6", "21592e3ee", "42b25c7dc", "8564b8fb8", "0ac971f72", "1592e3ee4",
        "2b25c7dc8", "564b8fb90", "ac971f720", "592e3ee42", "b25c7dc84", "64b8fb90a",
        "c971f7214", "92e3ee42a", "25c7dc856", "4b8fb90ac", "971f72158", "2e3ee42b2",
    ),
}
_SIZES = (4, 16, 28, 36)
_PRIME_MAX = 7919  # R's table of primes p = 3 (mod 4) for the Paley construction ends here


def _table(order: int) -> np.ndarray:
    rows = _TABLE[order]
    bits = [bin(int(r, 16))[2:].zfill(order) for r in rows]
    return np.array([[int(b) for b in row] for row in bits], dtype=np.int8)


def _doubled(h: np.ndarray) -> np.ndarray:
    return np.block([[h, h], [h, 1 - h]]).astype(np.int8)


def _is_prime(q: int) -> bool:
    if q < 2:
        return False
    if q % 2 == 0:
        return q == 2
    i = 3
    while i * i <= q:
        if q % i == 0:
            return False
        i += 2
    return True


def _paley_primes() -> np.ndarray:
    return np.array([p for p in range(3, _PRIME_MAX + 1) if p % 4 == 3 and _is_prime(p)])


def _paley_matrix(p: int) -> np.ndarray:
    """The 0/1 Paley matrix of order ``p + 1`` for a prime ``p = 3 (mod 4)``.

    Entry (i, j) of the core is 0 when ``(i + j) mod p`` is 0 or a quadratic
    residue, 1 otherwise; a border of ones is added.
    """
    residues = np.zeros(p, dtype=bool)
    residues[0] = True
    residues[1] = True
    residues[(np.arange(2, (p - 1) // 2 + 1) ** 2) % p] = True
    core = np.where(residues[(np.arange(p)[:, None] + np.arange(p)[None, :]) % p], 0, 1)
    out = np.ones((p + 1, p + 1), dtype=np.int8)
    out[1:, 1:] = core
    return out


def paley(n: int, nmax: int | None = None) -> np.ndarray | None:
    """A Paley-type Hadamard matrix of order > ``n`` (at most ``nmax``), or None, by R's rule.

    If the next multiple of 4 above ``n`` reduces by halving to ``p + 1``
    with a tabulated prime ``p``, the Paley matrix of ``p`` doubled up to
    that order; otherwise the Paley matrix of the smallest tabulated prime
    ``p >= n`` (or of the order four above when that prime is far larger).
    """
    nmax = 2 * n if nmax is None else nmax
    primes = _paley_primes()
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if nn - 1 in primes:
            m = _paley_matrix(nn - 1)
            while nn < nceil:
                m = _doubled(m)
                nn *= 2
            return m
    if n > primes.max():
        return None
    p = int(primes[primes >= n].min())
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return paley(nceil + 3)
    if p > nmax:
        return None
    return _paley_matrix(p)


def hadamard(n: int) -> np.ndarray:
    """A 0/1 Hadamard matrix with more than ``n`` rows, the one R's ``survey::hadamard(n)`` returns.

    For BRR with ``n`` strata of two PSUs, row ``h + 1`` (``h = 1..n``)
    gives stratum ``h``'s half-sample in each replicate (column).
    """
    n = int(n)
    m = n - n % 4
    sizes = np.array(_SIZES)
    pre = np.flatnonzero((m < sizes) & (m + 4 >= sizes))
    if pre.size:
        return _table(int(sizes[pre.min()]))
    if (m < sizes).all():
        return _table(int(sizes[0]))
    doubled = sizes * 2 ** np.maximum(0, np.ceil(np.log2((n + 1) / sizes))).astype(int)
    best = int(np.argmin(doubled - n))
    h = None
    if doubled[best] - n > 4:
        h = paley(n, int(doubled[best]))
    if h is None:
        k = int(np.ceil(np.log2(doubled / sizes))[best])
        h = _table(int(sizes[best]))
        for _ in range(k):
            h = _doubled(h)
    return h


def is_hadamard(h: np.ndarray) -> bool:
    """Whether a 0/1 (or ±1) matrix has mutually orthogonal ±1 columns."""
    s = np.where(np.asarray(h) > 0, 1, -1)
    return s.shape[0] == s.shape[1] and np.array_equal(s.T @ s, s.shape[0] * np.eye(s.shape[0], dtype=int))
