"""The cached work of one design, in one object that cannot go stale.

A design caches what its estimators derive from its inputs: float matrices
of the analysis columns, domain codes, level indicators (all derived from
the data), and weighted unit totals and the replicate degrees of freedom
(derived from the weights).  All of it lives in one :class:`DesignState`,
stamped with the very objects it was derived from (the data frame, the
weight array, the calibration steps, the replicate weights).  A design asks
for its state through :meth:`DesignState.of`, which compares the stamp by
identity with the design's current inputs and rebuilds the state on any
difference: a re-weighted design (:meth:`~analysis.estimators.DesignBase.with_weights`)
has new weights, so it can never see the old design's totals.  The
data-derived part is carried over when only the weights changed, since the
data frame is the same object (and read-only through the design).
"""
from __future__ import annotations

from typing import Any

__all__ = ["DesignState"]


class DesignState:
    """Caches of one design, valid for the inputs in :attr:`key` only.

    Attributes
    ----------
    key : tuple
        The objects the caches derive from (compared by identity).
    data : dict
        Caches that depend on the data only (``columns``, ``factors``,
        ``domains``, ``indicators``, ``nan_flags``, ``binary_checked``).
    weighted : dict
        Caches that depend on the weights too (``unit_totals``, ``unit_counts``,
        ``unit_runs``, ``degf``).
    """

    __slots__ = ("key", "data", "weighted")

    def __init__(self, key: tuple, data: dict | None = None):
        self.key = key
        self.data: dict[str, Any] = data if data is not None else {}
        self.weighted: dict[str, Any] = {}

    def valid_for(self, key: tuple) -> bool:
        return len(key) == len(self.key) and all(a is b for a, b in zip(key, self.key))

    @classmethod
    def of(cls, design) -> "DesignState":
        """The state of ``design`` for its current inputs (built, or rebuilt, as needed)."""
        key = design._state_key()
        st = design.__dict__.get("_state")
        if st is not None and st.valid_for(key):
            return st
        # Only the data part survives, and only if the data frame is the same object.
        keep = st.data if st is not None and st.key[0] is key[0] else None
        st = cls(key, keep)
        design.__dict__["_state"] = st
        return st

    def bucket(self, part: str, name: str, factory=dict):
        """The cache ``name`` of ``part`` ("data" or "weighted"), created empty if absent."""
        store = self.data if part == "data" else self.weighted
        if name not in store:
            store[name] = factory()
        return store[name]
