"""Taylor-linearisation survey designs (R's ``svydesign``)."""
from __future__ import annotations

import dataclasses
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from . import kernel
from .association import AssociationMethods
from .estimators import DesignBase
from .models import ModelMethods
from .pps import PPS_METHODS, pps_variance_matrix
from .validation import (
    DesignError,
    LonelyPSUError,
    LonelyPSUWarning,
    as_column_list,
    check_choice,
    check_columns,
)

__all__ = ["SurveyDesign", "LONELY_PSU_RULES"]

#: Lonely-PSU rules, as R's ``options(survey.lonely.psu=)``.
LONELY_PSU_RULES = ("fail", "remove", "certainty", "adjust", "average")


def _codes(values, parameter: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    s = pd.Series(values)
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DesignError(
            f"{parameter}: expected no missing values, got {int(s.isna().sum())} missing in column {column!r} "
            f"(first at row {i})"
        )
    codes, uniques = pd.factorize(s, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _nested(outer: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the units ``(outer, inner)`` per row, and the outer code of each unit."""
    _, code = np.unique(outer * (inner.max() + 1) + inner, return_inverse=True)
    code = code.reshape(-1).astype(np.int64)
    parent = np.zeros(int(code.max()) + 1, dtype=np.int64)
    parent[code] = outer
    return code, parent


class SurveyDesign(ModelMethods, AssociationMethods, DesignBase):
    """A complex sample design analysed by Taylor linearisation.

    Parameters
    ----------
    data : DataFrame
        One row per sampled unit (household, person).
    weights : str, optional
        Column of sampling weights.  If omitted, weights are the inverse of
        the product of the stage sampling fractions implied by ``fpc``
        (R's behaviour), or 1 when there is no ``fpc``.
    strata : str, optional
        Stratum column (first stage).
    psu : str, optional
        First-stage cluster column; each row is its own PSU if omitted.
    ssu : str or list of str, optional
        Units of the later stages, outermost first (second-stage units
        within PSUs, third-stage units within them, ...), as the later
        terms of R's ``id=~psu+ssu+...``.  A stage enters the variance
        when it and every stage before it have an ``fpc`` (R's multistage
        formula); otherwise the ultimate-cluster formula applies from there.
    fpc : str or list of str, optional
        Population size per stage: a column of counts (``N_h`` per stratum
        for the first stage, ``N_i`` per PSU for the second, ...) or of
        sampling fractions (all values <= 1), as R's ``svydesign(fpc=)``.
        For a PPS design (``pps=``), the inclusion probability of each PSU.
    probs : str, optional
        Column of inclusion probabilities; weights are ``1/probs`` (R's
        ``probs=``).  Not with ``weights``.
    pps : {"brewer", "overton", "hartley-rao", "ht", "yg"}, optional
        PPS sampling without replacement, as R's ``svydesign(pps=...)``:
        Brewer's, Overton's or the Hartley-Rao approximation, or the
        Horvitz-Thompson (``"ht"``) or Sen-Yates-Grundy (``"yg"``)
        estimator with ``joint_probs``; one stage, or (Brewer's, as R)
        any number of stages with ``ssu=`` and one column of inclusion
        probabilities per stage in ``fpc`` (each given its parent unit;
        the weights are ``1/`` their product; every stage's units weighted
        by ``1 - π`` in R's ``svyrecvar`` recursion).
        See :mod:`analysis.pps`.  A Brewer design can be calibrated
        (poststratify, rake, calibrate: the variance takes the GREG
        residuals, as R's); the others cannot (R's ``ppsvar`` leaves the
        residuals out for them), nor be converted to replicate weights.
    joint_probs : (P, P) array, optional
        Joint inclusion probabilities of the PSUs in order of first
        appearance (diagonal: the inclusion probabilities), for ``"ht"``
        and ``"yg"`` (R's ``ppsmat``).
    hr_p2 : float or array, optional
        Population ``Σπ²/n`` per stratum for ``"hartley-rao"`` (R's
        ``HR(psum)``); estimated by the sample mean of ``π`` when omitted,
        as R's ``HR()``.
    nest : bool
        If False (default), a PSU code appearing in two strata is an error
        (as R); if True, PSU codes are taken as nested within strata.
    lonely_psu : {"fail", "remove", "certainty", "adjust", "average"}
        How a stratum with a single PSU enters the variance, as R's
        ``survey.lonely.psu`` option: ``fail`` raises naming the strata;
        ``remove`` and ``certainty`` let it contribute 0; ``adjust`` centres
        its PSU total at 0 (the grand mean for a mean) instead of the
        stratum mean; ``average`` scales the variance of the other strata by
        (strata)/(strata with >= 2 PSUs), counting for a domain the strata
        that hold domain rows (as R, whose domain is a subset design).  A single PSU with a sampling
        fraction of 1 is a certainty unit and contributes 0 under every rule.
        At a later stage of a multistage design with fpc (a unit with one
        sampled sub-unit), ``average`` acts as ``remove``: R's recursion
        has no other stratum to average over there and its variance is
        NaN (survey 4.1-1).

    Notes
    -----
    Variances follow R ``survey``'s ``svyrecvar``: the with-replacement
    ultimate-cluster estimator with the finite population correction of the
    first stage, ``V = Σ_h (1 - f_h) n_h/(n_h - 1) Σ_k (z_hk - z̄_h)²``, plus
    ``Σ_i (n_h/N_h) V_2(i)`` for a second stage with an fpc (Lohr 2022,
    ch. 6; Wolter 2007, ch. 1).  Design degrees of freedom are R's
    ``degf``: PSUs minus strata among rows with non-zero weight, counted
    within the domain for domain estimates.

    Examples
    --------
    >>> d = SurveyDesign(df, weights="pw", strata="stype", fpc="fpc")   # doctest: +SKIP
    >>> d.mean("api00", by="stype").to_frame()                          # doctest: +SKIP
    """

    def __init__(self, data: pd.DataFrame, weights: str | None = None, strata: str | None = None,
                 psu: str | None = None, ssu: str | None = None, fpc: str | Sequence[str] | None = None,
                 nest: bool = False, lonely_psu: str = "fail", probs: str | None = None, pps: str | None = None,
                 joint_probs=None, hr_p2=None):
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data: expected a pandas DataFrame, got {type(data).__name__}")
        check_choice(lonely_psu, LONELY_PSU_RULES, "lonely_psu")
        n = len(data)
        if n == 0:
            raise DesignError("data: expected at least one row, got an empty DataFrame")
        fpcs = as_column_list(fpc, "fpc")
        ssus = as_column_list(ssu, "ssu")
        if len(fpcs) > 1 + len(ssus):
            raise DesignError(f"fpc: expected at most one column per stage ({1 + len(ssus)}), got {fpcs}")
        if pps is not None:
            check_choice(pps, PPS_METHODS, "pps")
            if ssu is not None and pps != "brewer":
                raise DesignError("ssu: expected None for a PPS design without replacement other than Brewer's "
                                  f"(R has multistage PPS for pps='brewer' only), got {ssu!r}")
            if not fpcs and probs is None:
                raise DesignError(f"fpc: expected a column of inclusion probabilities (fpc= or probs=) for "
                                  f"pps={pps!r}, got neither")
        elif joint_probs is not None or hr_p2 is not None:
            raise DesignError("pps: expected 'ht', 'yg' or 'hartley-rao' with joint_probs/hr_p2, got pps=None")
        if weights is not None and probs is not None:
            raise DesignError(f"probs: expected weights or probs (weights = 1/probs), got both ({weights!r}, {probs!r})")
        check_columns(data, ssus, "ssu")
        for par, col in (("weights", weights), ("strata", strata), ("psu", psu), ("probs", probs)):
            if col is not None:
                if not isinstance(col, str):
                    raise DesignError(f"{par}: expected a column name, got {col!r}")
                check_columns(data, [col], par)
        check_columns(data, fpcs, "fpc")
        self._data = data.copy(deep=False)  # copy-on-write snapshot: later edits of `data` do not reach the design
        self.lonely_psu = lonely_psu
        self.nest = bool(nest)
        self._spec = dict(weights=weights, strata=strata, psu=psu, ssu=ssus, fpc=fpcs, probs=probs, pps=pps)

        # Strata and PSUs -------------------------------------------------
        if strata is None:
            s_codes, s_labels = np.zeros(n, dtype=np.int64), np.array(["(all)"], dtype=object)
        else:
            s_codes, s_labels = _codes(data[strata], "strata", strata)
        if psu is None:
            p_raw, p_labels = np.arange(n, dtype=np.int64), None
        else:
            p_raw, p_labels = _codes(data[psu], "psu", psu)
        H = s_labels.shape[0]
        if psu is not None and not self.nest and strata is not None:
            # A PSU code in two strata is an error unless nest=True (R: "Clusters not nested in strata").
            pairs = np.unique(p_raw * H + s_codes)
            per_psu = np.bincount(pairs // H, minlength=p_labels.shape[0])
            if (per_psu > 1).any():
                bad = p_labels[np.flatnonzero(per_psu > 1)[:5]].tolist()
                raise DesignError(
                    f"nest: expected each PSU code of {psu!r} in one stratum of {strata!r}, got PSU(s) {bad} "
                    f"in several strata; pass nest=True if PSU codes are reused across strata"
                )
        psu_code, psu_stratum = _nested(s_codes, p_raw)
        P = psu_stratum.shape[0]
        n_h = np.bincount(psu_stratum, minlength=H).astype(float)

        # Finite population corrections ----------------------------------
        N_h = None
        pi_row = None
        if probs is not None:
            pi_row = self._probabilities(data[probs], probs, "probs")
        if pps is not None:
            if fpcs:
                pi_row = self._probabilities(data[fpcs[0]], fpcs[0], "fpc")
        elif fpcs:
            N_h = self._stage_popsize(data[fpcs[0]], fpcs[0], s_codes, H, n_h, s_labels, "stratum")
        # Later stages: (unit code per row, parent unit of each unit, units per parent, population per parent)
        later = []
        stage_pis = []  # multistage Brewer: each later stage's inclusion probability of each row's unit
        prev_code, prev_count = psu_code, P
        for k, col in enumerate(ssus):
            u_codes, _ = _codes(data[col], "ssu", col)
            code, parent = _nested(prev_code, u_codes)
            n_sub = np.bincount(parent, minlength=prev_count).astype(float)
            N_sub = None
            if len(fpcs) > k + 1 and pps is not None:  # Brewer: the stage's inclusion probabilities
                stage_pis.append(self._probabilities(data[fpcs[k + 1]], fpcs[k + 1], "fpc"))
            elif len(fpcs) > k + 1:
                N_sub = self._stage_popsize(data[fpcs[k + 1]], fpcs[k + 1], prev_code, prev_count, n_sub, None,
                                            f"stage-{k + 1} unit")
            later.append((code, parent, n_sub, N_sub, prev_code))
            prev_code, prev_count = code, parent.shape[0]

        # Weights -----------------------------------------------------------
        if weights is not None:
            w = data[weights]
            if not (pd.api.types.is_numeric_dtype(w.dtype) and not pd.api.types.is_bool_dtype(w.dtype)):
                raise DesignError(f"weights: expected a numeric column, got column {weights!r} of dtype {w.dtype}")
            w = w.to_numpy(dtype=float, na_value=np.nan)
            if np.isnan(w).any():
                i = int(np.flatnonzero(np.isnan(w))[0])
                raise DesignError(f"weights: expected no missing weights, got {int(np.isnan(w).sum())} missing in {weights!r} (first at row {i})")
            if (w < 0).any() or np.isinf(w).any():
                i = int(np.flatnonzero((w < 0) | np.isinf(w))[0])
                raise DesignError(f"weights: expected finite non-negative weights, got {float(w[i])!r} in {weights!r} at row {i}")
        elif pi_row is not None:
            # multistage Brewer without probs=: the product of the stages' probabilities (R)
            w = 1.0 / (pi_row if probs is not None else np.prod([pi_row, *stage_pis], axis=0))
        elif N_h is not None:
            prob = (n_h / N_h)[s_codes]
            for code, parent, n_sub, N_sub, parent_code in later:
                if N_sub is None:
                    break
                prob = prob * (n_sub / N_sub)[parent_code]
            w = 1.0 / prob
        else:
            w = np.ones(n)
        w = np.array(w, dtype=float)
        w.setflags(write=False)
        self._w = w

        # Stages of the variance formula -------------------------------------
        f1 = np.ones(H) if N_h is None else np.where(np.isinf(N_h), 1.0, (N_h - n_h) / N_h)
        lonely = (n_h == 1) & (f1 >= 1e-7)
        if lonely.any() and lonely_psu == "fail":
            raise LonelyPSUError(
                f"lonely_psu: expected at least two PSUs in every stratum with lonely_psu='fail', got one PSU in "
                f"stratum(s) {s_labels[lonely][:10].tolist()}"
                + (f" ({int(lonely.sum())} in all)" if lonely.sum() > 10 else "")
                + "; choose lonely_psu='remove', 'certainty', 'adjust' or 'average'"
            )
        if lonely.any():
            warnings.warn(
                f"{int(lonely.sum())} stratum/strata with a single PSU handled by lonely_psu={lonely_psu!r}: "
                f"{s_labels[lonely][:10].tolist()}",
                LonelyPSUWarning,
                stacklevel=2,
            )
        self._stages = [self._make_stage(psu_code, psu_stratum, n_h, f1, lonely, lonely_psu, np.ones(H))]
        self._psu_stratum = psu_stratum
        # Stage s >= 2 enters when every stage up to s has an fpc (R's multistage recursion): its
        # variance within each parent unit is multiplied by the sampling fractions of all the
        # parent's ancestors (n_h/N_h of the stratum, n_i/N_i of the PSU, ...).
        if N_h is not None:
            frac = (n_h / N_h)[psu_stratum]  # sampling fraction of each stage-1 unit
            parents = []  # parent maps of the included later stages
            rule2 = "remove" if lonely_psu == "average" else lonely_psu
            for depth, (code, parent, n_sub, N_sub, _) in enumerate(later, start=2):
                if N_sub is None:
                    break
                f_s = np.where(np.isinf(N_sub), 1.0, (N_sub - n_sub) / N_sub)
                lonely_s = (n_sub == 1) & (f_s >= 1e-7)
                if lonely_s.any() and lonely_psu == "fail":
                    raise LonelyPSUError(
                        f"lonely_psu: expected at least two stage-{depth} units in every stage-{depth - 1} unit with "
                        f"lonely_psu='fail', got one in {int(lonely_s.sum())} unit(s)")
                self._stages.append(self._make_stage(code, parent, n_sub, f_s, lonely_s, rule2, frac))
                parents.append(parent)
                frac = frac[parent] * (n_sub / N_sub)[parent]
            # map the last included stage's units to each stage's units
            up = None
            for s_idx in range(len(self._stages) - 2, -1, -1):
                step = parents[s_idx]
                up = step if up is None else step[up]
                self._stages[s_idx] = dataclasses.replace(self._stages[s_idx], fine_map=up)
        self._popsize1 = N_h
        self._strata_code = s_codes
        self._psu_code = psu_code
        self._n_strata = H
        self._n_psu = P
        self._strata_labels = s_labels
        self._calibration: tuple = ()
        self._pps = None
        if pps is not None:
            first_row = np.full(P, n, dtype=np.int64)
            np.minimum.at(first_row, psu_code, np.arange(n))
            pi_psu = np.zeros(P)
            pi_psu[psu_code] = pi_row
            if not np.allclose(pi_psu[psu_code], pi_row, rtol=1e-12, atol=0):
                raise DesignError("fpc: expected one inclusion probability per PSU, got several within a PSU")
            joint = None
            if joint_probs is not None:  # rows and columns in order of first appearance of the PSUs, as R's ppsmat
                jp = np.asarray(joint_probs, float)
                if jp.shape != (P, P):
                    raise DesignError(f"joint_probs: expected a ({P} x {P}) matrix (one row per PSU, in order of "
                                      f"first appearance), got shape {jp.shape}")
                rank = np.empty(P, dtype=np.int64)
                rank[np.argsort(first_row, kind="stable")] = np.arange(P)
                joint = jp[np.ix_(rank, rank)]
            if pps == "brewer":  # R's svyrecvar with the probabilities as fpc, one stage or several
                self._brewer_stages(pi_psu, later, stage_pis, lonely_psu)
            else:
                self._pps = pps_variance_matrix(pps, psu_stratum, pi_psu, first_row, joint_probs=joint,
                                                hr_p2=hr_p2)
        self._pps_method = pps

    def _brewer_stages(self, pi_psu, later, stage_pis, lonely_psu) -> None:
        """The variance stages of a Brewer design, as R's ``svyrecvar`` with ``pps="brewer"``.

        Brewer's approximation ``n/(n-1) Σ_i (1 - π_i)(z_i - z̄)²`` per
        stratum is the first stage with a multiplier ``1 - π`` per unit
        (:class:`analysis.kernel.Stage`, ``unit_scale``); so is each later
        stage.  Each stage's sum of squares weights unit ``k`` by ``1 - π_k`` (its
        inclusion probability given its parent: Brewer's approximation,
        varying within the group) and the group by ``n/(n - 1)``; stage
        ``s >= 2`` enters when it has probabilities, within each parent unit,
        times the probabilities of the parent and its ancestors (R's
        ``nPSU/fpc`` with ``fpc = n/π``).
        """
        self._stages[0] = dataclasses.replace(self._stages[0], unit_scale=1.0 - pi_psu)
        frac = pi_psu
        parents = []
        rule2 = "remove" if lonely_psu == "average" else lonely_psu
        for depth, ((code, parent, n_sub, _, _), pis) in enumerate(zip(later, stage_pis), start=2):
            pi_u = np.zeros(parent.shape[0])
            pi_u[code] = pis
            if not np.allclose(pi_u[code], pis, rtol=1e-12, atol=0):
                raise DesignError(f"fpc: expected one inclusion probability per stage-{depth} unit, got several "
                                  f"within a unit")
            f_max = np.zeros(n_sub.shape[0])
            np.maximum.at(f_max, parent, 1.0 - pi_u)
            lonely_s = (n_sub == 1) & (f_max >= 1e-7)
            if lonely_s.any() and lonely_psu == "fail":
                raise LonelyPSUError(
                    f"lonely_psu: expected at least two stage-{depth} units in every stage-{depth - 1} unit with "
                    f"lonely_psu='fail', got one in {int(lonely_s.sum())} unit(s)")
            st = self._make_stage(code, parent, n_sub, np.ones(n_sub.shape[0]), lonely_s, rule2, frac)
            self._stages.append(dataclasses.replace(st, unit_scale=1.0 - pi_u))
            parents.append(parent)
            frac = frac[parent] * pi_u
        up = None  # map the last stage's units to each stage's units
        for s_idx in range(len(self._stages) - 2, -1, -1):
            step = parents[s_idx]
            up = step if up is None else step[up]
            self._stages[s_idx] = dataclasses.replace(self._stages[s_idx], fine_map=up)

    # ----------------------------------------------------------------- set-up
    @staticmethod
    def _stage_popsize(col: pd.Series, name, group_code, G, n_units, labels, what):
        if not pd.api.types.is_numeric_dtype(col.dtype):
            raise DesignError(f"fpc: expected a numeric column, got column {name!r} of dtype {col.dtype}")
        v = col.to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(v).any():
            raise DesignError(f"fpc: expected no missing values, got {int(np.isnan(v).sum())} missing in {name!r}")
        if (v <= 0).any():
            raise DesignError(f"fpc: expected positive population sizes or fractions, got {float(v[v <= 0][0])!r} in {name!r}")
        lo = np.full(G, np.inf)
        hi = np.full(G, -np.inf)
        np.minimum.at(lo, group_code, v)
        np.maximum.at(hi, group_code, v)
        if (hi > lo).any():
            g = int(np.flatnonzero(hi > lo)[0])
            lab = labels[g] if labels is not None else g
            raise DesignError(f"fpc: expected one value of {name!r} per {what}, got {float(lo[g])!r} and {float(hi[g])!r} in {what} {lab!r}")
        if (v <= 1).all():  # sampling fractions, as R's as.fpc
            N = n_units / lo
        else:
            N = lo
            if (N < n_units).any():
                g = int(np.flatnonzero(N < n_units)[0])
                lab = labels[g] if labels is not None else g
                raise DesignError(
                    f"fpc: expected population size >= sample size, got {N[g]:g} < {n_units[g]:g} units in {what} {lab!r} ({name!r})"
                )
        return N

    @staticmethod
    def _probabilities(col: pd.Series, name: str, parameter: str) -> np.ndarray:
        if not pd.api.types.is_numeric_dtype(col.dtype):
            raise DesignError(f"{parameter}: expected a numeric column of probabilities, got column {name!r} of dtype {col.dtype}")
        v = col.to_numpy(dtype=float, na_value=np.nan)
        bad = ~((v > 0) & (v <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DesignError(f"{parameter}: expected inclusion probabilities in (0, 1], got {v[i]!r} in {name!r} at row {i}")
        return v

    @staticmethod
    def _make_stage(unit, group, n_units, f, lonely, rule, mult) -> kernel.Stage:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(n_units > 1, f * n_units / (n_units - 1), f)
        scale = np.where(f < 1e-7, 0.0, scale) * mult
        centre = np.ones_like(lonely)
        averaged = None
        if lonely.any():
            if rule in ("remove", "certainty"):
                scale = np.where(lonely, 0.0, scale)
            elif rule == "adjust":
                centre = ~lonely
            elif rule == "average":
                scale = np.where(lonely, 0.0, scale)
                averaged = lonely.copy()
        return kernel.Stage(unit=unit, group=group, n_units=n_units, scale=scale, centre=centre, averaged=averaged)

    # ------------------------------------------------------------------ info
    @property
    def degf(self) -> float:
        """Design degrees of freedom, as R's ``degf``: PSUs - strata (rows with weight > 0)."""
        pos = self._w != 0
        return float(np.unique(self._psu_code[pos]).shape[0] - np.unique(self._strata_code[pos]).shape[0])

    @property
    def n_psu(self) -> int:
        return self._n_psu

    @property
    def n_strata(self) -> int:
        return self._n_strata

    def __repr__(self) -> str:
        cal = f", {len(self._calibration)} calibration step(s)" if self._calibration else ""
        return (f"<SurveyDesign: {self.n} rows, {self._n_strata} strata, {self._n_psu} PSUs, "
                f"{len(self._stages)} stage(s) in the variance, df={self.degf:g}{cal}>")

    @property
    def calibration(self) -> tuple:
        """The calibration steps whose residuals the variance uses (see :meth:`with_weights`)."""
        return self._calibration

    def _state_key(self) -> tuple:
        return (self._data, self._w, self._calibration)

    def _reweighted(self, new, calibration, replicate_weights) -> None:
        if replicate_weights is not None:
            raise DesignError("replicate_weights: expected None for a Taylor design (SurveyDesign), got an array; "
                              "convert with to_replicate() first")
        if calibration is not None:
            if self._pps_method not in (None, "brewer"):
                # R's ppsvar() leaves the calibration residuals out for these designs (its variance is that of
                # the calibrated-weighted values, not the GREG variance): neither is given here
                raise DesignError(f"calibration: expected pps='brewer' for a calibrated PPS design (R's calibrated "
                                  f"variance of the other PPS designs omits the calibration residuals), got "
                                  f"pps={self._pps_method!r}")
            if not hasattr(calibration, "residualize"):
                raise DesignError(f"calibration: expected a calibration step with a residualize() method, "
                                  f"got {type(calibration).__name__}")
            new._calibration = self._calibration + (calibration,)

    # ----------------------------------------------------------------- hooks
    def _agg_units(self):
        if self._calibration:
            return None  # calibration residuals cut across PSUs: row-level values needed
        last = self._stages[-1]
        return last.unit, last.group.shape[0]

    def _rounding_factor(self) -> float:
        # Σ_h scale_h Σ_k (z_k - z̄_h)² <= (Σ over stages of the largest scale) x (Σ_k |z_k|)²
        return max(1.0, sum(float(st.scale.max()) for st in self._stages if st.scale.size))

    def _domain_df_units(self, k_unit, k_dom, n_dom, row_level, rows):
        if row_level:
            psu = self._psu_code[k_unit] if rows is None else self._psu_code[rows][k_unit]
        else:
            fm = self._stages[0].fine_map
            psu = k_unit if fm is None else fm[k_unit]
        return kernel.domain_df(psu, self._psu_stratum[psu], self._n_psu, self._n_strata, k_dom, n_dom)

    def _unit_variance(self, k_unit, k_dom, TY, TX, est, xhat, n_dom, coef, extra=None):
        """Stage variances from (last-stage unit x domain) totals."""
        if TX is None:
            Z = TY
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                # (TY - est TX) / xhat per unit, in place; a denominator that is one column repeated
                # (every variable counts every row) is divided as that column
                Z = np.take(est, k_dom, axis=0)  # take: a row gather several times faster than est[k_dom]
                Z *= TX
                np.subtract(TY, Z, out=Z)
                Z /= (xhat[:, :1] if xhat.ndim == 2 and xhat.strides[1] == 0 else xhat)[k_dom]
            if (xhat == 0).any():  # empty domains: no linearised values
                Z[~np.isfinite(Z)] = 0.0
        if coef is not None:
            Z = Z * coef[k_dom][:, None]
            k_dom = np.zeros_like(k_dom)
            n_dom = 1
        if self._pps is not None:  # PPS without replacement other than Brewer's: one stage, k_unit are the PSUs
            out = self._pps.variance(k_unit, k_dom, Z, n_dom)
            return out[0] if coef is not None else out
        out = 0.0
        for st in self._stages:  # one or two stages
            unit = k_unit if st.fine_map is None else st.fine_map[k_unit]
            out = out + kernel.stage_variance_units(st, unit, k_dom, n_dom, Z)
        return out[0] if coef is not None else out

    def _z_variance(self, zc, dom, n_dom, rows, coef=None):
        """Variance of domain totals of linearised values ``zc`` (rows x J)."""
        if coef is not None:  # a linear combination of domains: one column per variable
            z = zc * coef[dom][:, None]
            dom = np.zeros_like(dom)
            n_dom = 1
        else:
            z = zc
        if not self._calibration:
            return kernel.taylor_variance(self._stages, z, dom, n_dom, rows)
        # Calibration residuals are taken on full-length columns (they cut
        # across PSUs and domains), a block of domains at a time to bound memory.
        J = z.shape[1]
        out = np.empty((n_dom, J))
        block = max(1, int(2e7 // max(self.n * J, 1)))
        zero = np.zeros(self.n, dtype=np.int64)
        for d0 in range(0, n_dom, block):
            d1 = min(n_dom, d0 + block)
            full = np.zeros((self.n, (d1 - d0) * J))
            sel = (dom >= d0) & (dom < d1)
            r_sel = rows[sel]
            cols = (dom[sel] - d0)[:, None] * J + np.arange(J)
            full[r_sel[:, None], cols] = z[sel]
            for step in self._calibration:
                full = step.residualize(full)
            v = kernel.taylor_variance(self._stages, full, zero, 1, None)
            out[d0:d1] = v.reshape(d1 - d0, J)
        return out

    def _ratio_core(self, Y, X, dom, n_dom, rows, coef=None, extra=None):
        w = self._w[rows]
        Yw = Y * w[:, None]
        yhat = kernel.domain_sums(dom, n_dom, Yw)
        if X is None:
            est, xhat, zc = yhat, None, Yw
        else:
            Xw = X * w[:, None]
            xhat = kernel.domain_sums(dom, n_dom, Xw)
            with np.errstate(invalid="ignore", divide="ignore"):
                est = yhat / xhat
                zc = (Yw - est[dom] * Xw) / xhat[dom]
            zc = np.nan_to_num(zc, nan=0.0, posinf=0.0, neginf=0.0)
        if coef is not None:
            return self._z_variance(zc, dom, n_dom, rows, coef=coef)[0]
        return est, self._z_variance(zc, dom, n_dom, rows), xhat

    # ---------------------------------------------------------- replication
    def to_replicate(self, type: str = "auto", replicates: int = 50, fay_rho: float = 0.0, seed=None):
        """Replicate-weight version of this design, as R's ``as.svrepdesign``.

        Parameters
        ----------
        type : {"auto", "JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap"}
            ``auto`` is JK1 for a design without strata and JKn otherwise
            (R).  The replicate multipliers come from
            :mod:`analysis.repweights` (R's ``jk1weights``, ``jknweights``,
            ``brrweights``, ``bootweights``, ``subbootweights``) applied to
            this design's strata, PSUs and first-stage population sizes;
            as R, BRR/Fay and the subbootstrap drop the fpc.  A PPS design
            without replacement (``pps=``) is refused (see Raises).
        replicates : int
            Number of bootstrap replicates (>= 2).
        fay_rho : float
            Fay's rho (``type="Fay"``).
        seed : int or numpy.random.Generator, optional
            For the bootstrap draws.

        Returns
        -------
        ReplicateDesign

        Raises
        ------
        DesignError
            For a calibrated design, a PPS design without replacement (the
            replicates would ignore its finite-population correction), and
            a ``type`` that does not fit the strata.
        """
        from . import repweights
        from .replicate import ReplicateDesign, ReplicateStructure

        check_choice(type, ("auto", "JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap"), "type")
        if self._pps_method is not None:
            # the replicate methods treat the PSUs as drawn with replacement: they would silently drop the
            # PPS design's finite-population correction (R's as.svrepdesign fails on these designs too)
            raise DesignError(
                f"design: expected a design with replacement at the first stage, got pps={self._pps_method!r}; the "
                "replicate methods would drop its finite-population correction (larger SEs). To use them as a "
                "with-replacement approximation, declare the design with probs= (or weights=) and no pps=")
        if self._calibration:
            raise DesignError("design: expected an uncalibrated design; convert to replicates first, then calibrate "
                              "(each replicate is then re-calibrated)")
        has_strata = self._spec["strata"] is not None  # as R: declared strata, even a single one
        if type == "auto":
            type = "JKn" if has_strata else "JK1"
        if type == "JK1" and has_strata:
            raise DesignError("type: expected JKn, BRR, Fay or bootstrap for a stratified design, got 'JK1'")
        if type in ("JKn", "BRR", "Fay") and not has_strata:
            raise DesignError(f"type: expected JK1 or bootstrap for an unstratified design, got {type!r}")
        strata = self._strata_labels[self._strata_code]
        psu = self._psu_code
        fpc = None if self._popsize1 is None else self._popsize1[self._strata_code]
        if type == "JK1":
            rw = repweights.jk1_weights(psu, fpc=fpc)
        elif type == "JKn":
            rw = repweights.jkn_weights(strata, psu, fpc=fpc, lonely_psu=self.lonely_psu)
        elif type in ("BRR", "Fay"):
            rw = repweights.brr_weights(strata, psu, fay_rho=fay_rho if type == "Fay" else 0.0)
        elif type == "bootstrap":
            rw = repweights.boot_weights(strata, psu, replicates=replicates, fpc=fpc, seed=seed)
        else:
            rw = repweights.subboot_weights(strata, psu, replicates=replicates, seed=seed)
        rep = ReplicateStructure(self.weights, None, rw.multipliers, rw.psu)
        return ReplicateDesign._from_structure(self.data, self.weights, rep, rw.type, float(rw.scale), rw.rscales,
                                               fay_rho=fay_rho if rw.type == "Fay" else None)
