"""Small-area estimates (Fay-Herriot EBLUPs) of every area of an area frame, from a domain's direct estimates.

A shared service, not a stage: :func:`small_area_estimates` reads and writes
nothing; :func:`survey_small_areas` (the estimate stage's and the coverage
study's entry point) makes the direct estimates from the weighted data and
reads the area frame unless it is given.  :func:`small_area_estimates` takes

* ``estimates``: the estimate stage's table (``estimates.csv``: one row per
  indicator x domain value, with ``indicator, kind, domain, domain_value,
  domain_value_label, estimate, se, df, n``); the rows of the domain named
  by ``sae["domain"]`` are the areas' direct estimates (areas without a
  sample have no row);
* ``frame``: the area frame, one row per area of the population (sampled or
  not) with its covariates (the demo's ``surveys/qb2022/communes.csv``);
* ``sae``: the ``[sae]`` table of the survey config (keys below);

fits one Fay-Herriot model per indicator with :func:`analysis.sae.fay_herriot_frame`
and returns the ``sae.csv`` table, one row per indicator x area of the frame:

``indicator, area, area_label, district, n, direct, direct_se, eblup, rmse, cv, gamma, method, residual``

``method`` is ``"eblup"`` for areas with a direct estimate and
``"synthetic"`` (``x' beta``, ``gamma`` 0) for the others; ``n`` is the
unweighted sample size (0 without a sample); ``direct_se`` is the design SE
of the direct estimate (the variance the model used may be the GVF's, see
``variance``); ``residual`` is the standardised model residual
``(y - x' beta) / sqrt(sigma2_u + psi)`` of a sampled area on the model's
scale (``arcsin(sqrt(p))`` with ``transform = "arcsin"``; Rao and Molina
2015, sec. 6.2), empty for the others.  The model fits (``sigma2_u``, ``beta`` with SEs, GVF, R²-like
and residual diagnostics) come back beside the table for a sidecar file.

The ``[sae]`` keys (a proposal for the config schema; ``survey.toml`` does
not have them yet)::

    [sae]
    domain = "commune"            # domain id of the direct estimates
    frame = "communes.csv"        # the area frame (read by the caller, not here)
    area = "commune_code"         # frame column matching the domain's values
    label = "commune"             # frame column of area names (default: the area code)
    group = "district_code"       # frame column of the group (written as `district`)
    group_label = "district"      # frame column written as `district` instead of `group`
    indicators = ["hh_smartphone", "hh_fiber"]
    covariates = ["census_urban", "census_computer", "log(distance_km)"]   # log(col) allowed
    categorical = []              # frame columns entered as dummies (R factors)
    method = "REML"               # REML | ML | FH | AMRL
    variance = "gvf"              # gvf | direct
    gvf_model = "deff"            # deff | loglinear
    gvf_min_df = 1                # areas with df >= this (two PSUs or more) fit the GVF
    transform = "arcsin"          # optional: arcsine square root for proportions near 0 or 1
    benchmark = "district"        # optional: domain id of the group-level direct estimates
    benchmark_weight = "households"   # frame column of area sizes for benchmarking

Variances.  A commune's direct variance from 20-40 households is noisy, and
where the commune has one sampled EA it is about 0 (the linearised values of a
domain mean sum to zero within its only PSU), which the model would read as
a perfect direct estimate.  ``variance = "gvf"`` (default) gives every area
the variance of a generalised variance function (:func:`analysis.sae.gvf_proportion`,
pooled design effect at the pooled proportion; Wolter 2007, ch. 7) fitted on
the areas with ``df >= gvf_min_df``; ``"direct"`` keeps the design variance
of those areas and gives the GVF's to the others (one PSU, a proportion of 0
or 1).  The GVF is for proportions; a mean needs ``variance = "direct"`` and
a usable variance in every sampled area.

Proportions near 0 or 1.  The linear model can put an EBLUP outside [0, 1]
(on the demo, one or two of the 151 communes for hh_smartphone, at 79% in
the province);
such estimates are clipped to the bound and counted in the fit
(``clipped_to_0_1``; before benchmarking, and again after it, counted in
``benchmark.clipped_to_0_1``, where a group then no longer adds up exactly).  ``transform = "arcsin"`` models ``arcsin(sqrt(p))``
with variance ``1 / (4 n_eff)`` (``n_eff`` from the GVF) and back-transforms
(:mod:`analysis.sae.transform`; MSE by parametric bootstrap, ``bootstrap``
samples, ``seed``), which keeps every estimate inside.

Estimator of sigma2_u (``method``).  REML (default, as R ``sae``) can give
0 or a value far too small when the area effects' variance is small against
the sampling variances, and the intervals ``eblup +- 1.96 rmse`` of such a
sample are then too short.  The demo is such a case: most of its 117
sampled communes have one EA (about 19 households) and ``gamma`` is mostly
below 0.5.  Over 200 simulated samples (``make validate``) REML's
sigma2_u had a coefficient of variation of 0.6-0.7, some estimates 0, and
the intervals covered the commune truth 91.4, 91.7 and 90.3 % of the time
(hh_smartphone, hh_fiber, p_internet) although the mean estimated MSE
exceeded the empirical one: 79-85 % in the quarter of the samples with the
smallest estimate, 91-96 % in the other quarters, while communes with one
EA (90-91 %), two (90-92 %) or none (90-94 %) differed little.  ``method =
"AMRL"`` (Li and Lahiri's adjusted REML, :func:`analysis.sae.fay_herriot`)
is strictly positive and lifts the small estimates; the demo uses it:
93.7, 94.5 and 93.5 % (sampled communes 93.0, 93.9, 93.2 %; without a
sample 96.3, 97.3, 94.5 %), MSE gain 3.0, 2.8, 3.6 (REML 3.1, 2.9, 3.8).

Known limitation (measured, not corrected): on the arcsine scale the
sampling variance of a one-EA commune is understated -- its empirical
variance was 1.46, 1.23 and 1.36 times the model's ``1 / (4 n_eff)``.  Two
causes: the GVF's pooled design effect comes from the communes with two EAs
or more, more often urban, where it is smaller on the proportion scale
(hh_smartphone: 1.3 against 1.6 in rural communes); and ``1 / (4 n)``
understates the variance of ``arcsin(sqrt(p))`` for ``n`` about 12 and
``p`` near 0.9 (by 1.3-1.8 in binomial samples).  sigma2_u absorbs the
excess (REML's mean was 1.5-2.2 times the variance of the true commune
effects about the covariates), so the EBLUPs shrink less than they could.
Anscombe's (1948) ``arcsin(sqrt((n p + 3/8) / (n + 3/4)))``, variance
``1 / (4 n + 2)``, removes the second cause (tried with AMRL: MSE gain 4.0,
3.5, 3.8, coverage 93.1, 93.0, 93.5 % over 100 samples); it is not offered yet.

Benchmarking (optional): the areas of each group are ratio-benchmarked to the
group's direct estimate (:func:`analysis.sae.ratio_benchmark`, weights
``benchmark_weight``); ``eblup`` and ``rmse`` are then the benchmarked
estimate and its approximate RMSE (MSE plus the squared adjustment).

References: Fay and Herriot (1979), *JASA* 74, 269-277; Rao and Molina
(2015), *Small Area Estimation*, 2nd ed., ch. 6; Wolter (2007), ch. 7; Li and
Lahiri (2010), *J. Multivariate Anal.* 101, 882-892.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.sae import fay_herriot_frame, gvf_proportion, ratio_benchmark
from analysis.validation import SurveyError

from . import io
from .errors import PipelineError
from .formats import code_text
from .indicators import AREA_DOMAIN, area_estimates, estimate_unit

__all__ = ["SAE_COLUMNS", "SmallAreaResult", "small_area_estimates", "survey_small_areas"]

SAE_COLUMNS = ["indicator", "area", "area_label", "district", "n", "direct", "direct_se", "eblup", "rmse", "cv",
               "gamma", "method", "residual"]
_LOG = re.compile(r"^log\((\w+)\)$")


@dataclass
class SmallAreaResult:
    """Result of :func:`small_area_estimates`.

    Attributes
    ----------
    table : the ``sae.csv`` table (columns ``SAE_COLUMNS``), indicators in
        config order, areas in frame order.
    fits : one dict per indicator (JSON-ready): ``method, sigma2_u,
        sigma2_u_zero, converged, iterations, beta`` (name -> estimate, se),
        ``areas_sampled, areas_synthetic, variance`` (``gvf`` or ``direct``),
        ``gvf`` (model, deff, areas used), ``r2_synthetic`` (squared
        correlation of direct and synthetic estimates over sampled areas),
        ``residuals`` (standardised ``(direct - synthetic) / sqrt(sigma2_u +
        psi)``: mean, sd, share beyond 2 in absolute value), ``benchmark``.
    """

    table: pd.DataFrame
    fits: dict = field(default_factory=dict)


def _err(sae: dict, key: str, problem: str):
    return PipelineError(sae.get("_path", "survey.toml"), f"sae.{key}", problem)


def _covariate_columns(frame: pd.DataFrame, sae: dict) -> tuple[pd.DataFrame, list[str]]:
    """The frame with the covariate columns (``log(col)`` computed), and their names."""
    frame = frame.copy()
    names = []
    for spec in sae.get("covariates", []):
        m = _LOG.match(spec)
        col = m.group(1) if m else spec
        if col not in frame.columns:
            raise _err(sae, "covariates", f"expected a column of the area frame, got {col!r} "
                       f"(frame columns: {', '.join(map(str, frame.columns))})")
        x = pd.to_numeric(frame[col], errors="coerce")
        if x.isna().any():
            bad = frame.loc[x.isna(), sae["area"]].iloc[0]
            raise _err(sae, "covariates", f"expected a number for every area in column {col!r}, "
                       f"got {int(x.isna().sum())} missing or not numeric (e.g. area {code_text(bad)})")
        if m:
            if (x <= 0).any():
                raise _err(sae, "covariates", f"log({col}) needs positive values, got minimum {x.min()!r}")
            x = np.log(x)
        frame[spec] = x.to_numpy(float)
        names.append(spec)
    for col in sae.get("categorical", []):
        if col not in frame.columns:
            raise _err(sae, "categorical", f"expected a column of the area frame, got {col!r}")
    return frame, names


def _direct(estimates: pd.DataFrame, sae: dict, ind: str, keys: pd.Index) -> pd.DataFrame:
    """The domain's rows of one indicator, aligned with the frame's area keys (NaN without a sample)."""
    rows = estimates[(estimates["domain"] == sae["domain"]) & (estimates["indicator"] == ind)]
    if rows.empty:
        raise _err(sae, "indicators", f"expected estimates of {ind!r} for domain {sae['domain']!r}, got none")
    dv = rows["domain_value"].map(code_text)
    unknown = ~dv.isin(keys)
    if unknown.any():
        raise _err(sae, "area", f"every {sae['domain']!r} value of the estimates must be an area of the frame, "
                   f"got {unknown.sum()} that are not (e.g. {dv[unknown].iloc[0]!r})")
    if dv.duplicated().any():
        raise _err(sae, "domain", f"expected one estimate per area, got {dv[dv.duplicated()].iloc[0]!r} twice")
    return rows.assign(_key=dv.to_numpy()).set_index("_key").reindex(keys)


def _variances(d: pd.DataFrame, sae: dict, ind: str, kind: str, sampled: np.ndarray):
    """The sampling variance each sampled area enters the model with, and the GVF record."""
    mode = sae.get("variance", "gvf")
    if mode not in ("gvf", "direct"):
        raise _err(sae, "variance", f"expected 'gvf' or 'direct', got {mode!r}")
    p = d["estimate"].to_numpy(float)[sampled]
    v = d["se"].to_numpy(float)[sampled] ** 2
    n = d["n"].to_numpy(float)[sampled]
    df = d["df"].to_numpy(float)[sampled]
    if kind != "proportion":
        if mode == "gvf":
            raise _err(sae, "variance", f"the GVF is for proportions; {ind!r} is a {kind}: use variance = 'direct'")
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise _err(sae, "variance", f"{ind!r}: expected a positive direct variance in every sampled area, "
                       f"got {int((~(v > 0)).sum())} without (areas with one PSU)")
        return v, None
    usable = np.nan_to_num(df, nan=0.0) >= float(sae.get("gvf_min_df", 1))
    try:
        g = gvf_proportion(p, v, n, usable=usable, model=sae.get("gvf_model", "deff"),
                           use="all" if mode == "gvf" else "fallback")
    except SurveyError as e:
        raise _err(sae, "variance", f"{ind!r}: {e}") from None
    return g.variance, {"n_eff": g.n_eff, "model": g.model, "deff": float(g.deff), "areas_used": int(g.n_used),
                        "from_gvf": int((g.source == "gvf").sum())}


def small_area_estimates(estimates: pd.DataFrame, frame: pd.DataFrame, sae: dict) -> SmallAreaResult:
    """Fay-Herriot estimates of every area of ``frame`` for each indicator of ``sae["indicators"]``.

    Parameters
    ----------
    estimates : the estimate stage's table (``estimates.csv``), with the
        area domain's rows (and the benchmark domain's, if any).
    frame : the area frame, one row per area with the covariates.
    sae : the ``[sae]`` config table (see the module docstring); its
        ``_path`` (if present) names the config in error messages.

    Returns
    -------
    SmallAreaResult
        ``table`` (the ``sae.csv`` rows) and ``fits`` (the model fits).

    Raises
    ------
    PipelineError
        One line naming the ``sae`` key, what was expected and what was got.
    """
    for key in ("domain", "area", "indicators", "covariates"):
        if key not in sae:
            raise _err(sae, key, "missing (needed for small-area estimates)")
    area = sae["area"]
    for key in ("area", "label", "group", "group_label", "benchmark_weight"):
        if key in sae and sae[key] not in frame.columns:
            raise _err(sae, key, f"expected a column of the area frame, got {sae[key]!r}")
    keys = pd.Index(frame[area].map(code_text))
    if keys.duplicated().any() or (keys == "").any():
        raise _err(sae, "area", f"expected one row per area in the frame's column {area!r}, "
                   f"got duplicates or missing values")
    data, covariates = _covariate_columns(frame.reset_index(drop=True), sae)
    categorical = list(sae.get("categorical", []))
    labels = data[sae["label"]].astype(str).to_numpy() if "label" in sae else keys.to_numpy()
    group_col = sae.get("group_label", sae.get("group"))
    district = data[group_col].map(code_text).to_numpy() if group_col else np.full(len(data), "")
    method = sae.get("method", "REML")

    parts, fits = [], {}
    for ind in sae["indicators"]:
        d = _direct(estimates, sae, ind, keys)
        kinds = d["kind"].dropna().unique()
        kind = kinds[0] if len(kinds) else "proportion"
        y = d["estimate"].to_numpy(float)
        sampled = np.isfinite(y)
        psi, gvf = _variances(d, sae, ind, kind, sampled)
        data["_y"] = np.where(sampled, y, np.nan)
        data["_v"] = np.nan
        data.loc[sampled, "_v"] = psi
        options = {}
        transform = sae.get("transform")
        if transform not in (None, "none", "arcsin"):
            raise _err(sae, "transform", f"expected 'arcsin' or 'none', got {transform!r}")
        if transform == "arcsin":
            if gvf is None:
                raise _err(sae, "transform", f"the arcsine transformation is for proportions; {ind!r} is a {kind}")
            options = {"transform": "arcsin", "n_eff": np.where(sampled, 0.0, np.nan),
                       "B": int(sae.get("bootstrap", 200)), "seed": int(sae.get("seed", 0))}
            options["n_eff"][sampled] = gvf["n_eff"]
        if gvf is not None:
            gvf = {k: v for k, v in gvf.items() if k != "n_eff"}
        try:
            res = fay_herriot_frame(data, "_y", "_v", covariates, categorical=categorical, method=method, **options)
        except SurveyError as e:
            raise _err(sae, "covariates", f"{ind!r}: the model cannot be fitted: {e}") from None
        t, fit = res.table, res.fit
        est, mse = t["estimate"].to_numpy(float), t["mse"].to_numpy(float)
        clipped = 0
        if kind == "proportion":  # a linear model can leave [0, 1] near the bounds: clip, and say so in the fit
            clipped = int(((est < 0) | (est > 1)).sum())
            est = np.clip(est, 0.0, 1.0)
        bench = None
        if sae.get("benchmark"):
            est, mse, bench = _benchmark(estimates, sae, ind, data, est, mse)
            if kind == "proportion":  # a factor above 1 can push an estimate past 1 again
                bench["clipped_to_0_1"] = int(((est < 0) | (est > 1)).sum())
                est = np.clip(est, 0.0, 1.0)
        rmse = np.sqrt(mse)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(est != 0, rmse / np.abs(est), np.nan)
        in_model = t["method"].to_numpy() == "eblup"
        residual = np.full(len(t), np.nan)
        residual[in_model] = fit.standardized_residuals  # the sampled areas, in table order
        parts.append(pd.DataFrame({
            "indicator": ind, "area": keys.to_numpy(), "area_label": labels, "district": district,
            "n": np.where(sampled, d["n"].to_numpy(float), 0).astype(np.int64),
            "direct": t["direct"].to_numpy(float),
            "direct_se": np.where(sampled, d["se"].to_numpy(float), np.nan),
            "eblup": est, "rmse": rmse, "cv": cv, "gamma": t["gamma"].to_numpy(float),
            "method": t["method"].to_numpy(), "residual": residual,
        }))
        fits[ind] = _fit_summary(fit, sampled, psi, gvf, sae.get("variance", "gvf"), bench)
        fits[ind]["clipped_to_0_1"] = clipped
        fits[ind]["transform"] = transform or "none"
    return SmallAreaResult(pd.concat(parts, ignore_index=True)[SAE_COLUMNS], fits)


def _benchmark(estimates, sae, ind, data, est, mse):
    """Ratio-benchmark the areas of each group to the group's direct estimate."""
    for key in ("group", "benchmark_weight"):
        if key not in sae:
            raise _err(sae, key, "benchmarking needs this key")
    rows = estimates[(estimates["domain"] == sae["benchmark"]) & (estimates["indicator"] == ind)]
    if rows.empty:
        raise _err(sae, "benchmark", f"expected estimates of {ind!r} for domain {sae['benchmark']!r}, got none")
    target = pd.Series(rows["estimate"].to_numpy(float), index=rows["domain_value"].map(code_text).to_numpy())
    group = data[sae["group"]].map(code_text).to_numpy()
    missing = sorted(set(group) - set(target.index))
    if missing:
        raise _err(sae, "benchmark", f"expected a direct estimate of {ind!r} for every group, "
                   f"got none for {', '.join(missing)}")
    w = pd.to_numeric(data[sae["benchmark_weight"]], errors="coerce").to_numpy(float)
    try:
        b = ratio_benchmark(est, mse, group, w, target)
    except SurveyError as e:
        raise _err(sae, "benchmark", f"{ind!r}: {e}") from None
    info = {"domain": sae["benchmark"], "factor": {str(k): float(f) for k, f in
                                                   zip(b.groups.index, b.groups["factor"])}}
    return b.estimate, b.mse, info


def _fit_summary(fit, sampled, psi, gvf, variance, bench) -> dict:
    model = fit.model or fit  # the model's own scale (arcsin(sqrt(p)) with transform = "arcsin")
    y, syn = model.direct, model.synthetic
    r = fit.standardized_residuals  # (y - x'beta) / sqrt(sigma2_u + psi), both on that scale
    r2 = float(np.corrcoef(y, syn)[0, 1] ** 2) if np.std(syn) > 0 else 0.0
    return {
        "method": fit.method, "sigma2_u": float(fit.sigma2_u), "sigma2_u_zero": bool(fit.sigma2_u_zero),
        "converged": bool(fit.converged), "iterations": int(fit.iterations),
        "beta": {name: {"estimate": float(b), "se": float(s)}
                 for name, b, s in zip(fit.covariates, fit.beta, fit.beta_se)},
        "areas_sampled": int(sampled.sum()), "areas_synthetic": int((~sampled).sum()),
        "variance": variance, "gvf": gvf, "r2_synthetic": r2,
        "residuals": {"mean": float(r.mean()), "sd": float(r.std(ddof=1)),
                      "share_abs_over_2": float(np.mean(np.abs(r) > 2))},
        "benchmark": bench,
    }


def survey_small_areas(data: dict, cfg: dict, codebook: dict, spec: dict, steps: dict, survey,
                       frame: pd.DataFrame | None = None, bootstrap: int | None = None,
                       seed: int | None = None) -> SmallAreaResult:
    """Fay-Herriot estimates of every area of the ``[sae]`` frame from the weighted data of a survey.

    The estimate stage's small-area step, shared with the coverage study
    (:mod:`pipeline.validate`), so both run the same code: the direct
    estimates of the ``[sae]`` indicators by ``sae.by`` inside the full design
    (:func:`pipeline.indicators.area_estimates`), the benchmark domain's
    direct estimates if ``[sae] benchmark`` is set, then
    :func:`small_area_estimates`.

    Parameters
    ----------
    data : the weighted tables by unit (the weight stage's outputs).
    cfg : the survey config (with ``[sae]``).
    codebook : the ingest stage's codebook.
    spec : the design spec (``design.json``).
    steps : calibration steps by unit (:func:`pipeline.calibration.calibration_steps`).
    survey : the survey folder (the area frame ``[sae] frame`` is read from it when *frame* is None).
    frame : the area frame, if already read.
    bootstrap : number of parametric-bootstrap samples of the arcsine MSE, instead of ``[sae] bootstrap``.
    seed : seed of that bootstrap, instead of ``[sae] seed``.
    """
    direct = area_estimates(data, cfg, codebook, spec, steps)
    sae = cfg["sae"]
    bench = sae.get("benchmark")
    if bench:  # the group-level direct estimates the areas are benchmarked to
        direct = pd.concat([direct, pd.DataFrame(
            [r for unit, df in data.items() for r in estimate_unit(
                df, {**cfg, "domains": [d for d in cfg["domains"] if d["id"] == bench],
                     "indicators": [i for i in cfg["indicators"] if i["id"] in set(sae["indicators"])]},
                unit, codebook, spec, steps=steps.get(unit, ()))])], ignore_index=True)
    if frame is None:
        frame = io.read_table(survey / sae["frame"])
    opts = {**sae, "domain": AREA_DOMAIN, "_path": cfg["_path"]}
    if bootstrap is not None:
        opts["bootstrap"] = int(bootstrap)
    if seed is not None:
        opts["seed"] = int(seed)
    return small_area_estimates(direct, frame, opts)
