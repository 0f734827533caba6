"""Stage validate: a coverage study of the whole weighting-and-estimation chain.

Draws R samples from the demo survey's synthetic population with the survey's
own design and nonresponse model (the survey's generator module:
``build_population``, ``draw_sample`` and the defect-free CAPI tables of a
sample), and runs each one through the pipeline's own code: the clean stage's
rules and derivations (:func:`pipeline.cleaning.apply_rules`, :func:`pipeline.cleaning.derive`),
the weight stage's chain (:func:`pipeline.weighting.weigh`: base weights, nonresponse,
raking/integrated calibration, trimming) and the estimate stage's
(:func:`pipeline.indicators.estimate_unit` with :func:`pipeline.calibration.calibration_steps`).  The truth is the same indicator
expressions evaluated on the whole population (every household, every person),
so estimates and truth share one definition.

For every indicator x domain value x CI method (proportions: ``logit``,
``beta``, ``wilson``, ``mean``; means: ``t``) it reports the relative bias, the
empirical SE (SD of the estimates over replicates) against the mean estimated
SE, and the share of replicates whose 95% CI holds the truth.  Replicates
where an estimate or an interval is missing count as not covering
(``n_missing`` says how many).  Replicate ``r`` draws from
``numpy.random.default_rng([seed, r])``, so the results do not depend on the
number of worker processes.

    python -m pipeline.validate --survey surveys/qb2022 --replicates 1000 [--jobs 2] [--seed 1]

Writes ``build/<survey>/validation/coverage.csv`` and ``coverage.png``.

Small areas.  When the config has ``[sae]``, every replicate also runs the
estimate stage's small-area step (:func:`pipeline.small_area.survey_small_areas`,
the same code path) and keeps, per indicator x area of the frame, the direct
estimate (NaN where the sample has no household of the area), the EBLUP (or
synthetic estimate) and its rmse.  The truth is each ``[sae]`` indicator's
expression evaluated on every household/person of each area.  Per indicator x
area (:func:`summarise_sae`, ``coverage_sae.csv``, columns ``SAE_COLUMNS``):
bias and empirical MSE of the direct estimate over the replicates where the
area was sampled, and of the EBLUP over all replicates (and over the sampled
ones, ``eblup_mse_sampled``, so that ``mse_gain`` = direct MSE / EBLUP MSE
compares like with like), the mean estimated MSE (rmse²) over the empirical
MSE of the EBLUP (``mse_ratio``; Rao and Molina 2015, sec. 6.2), and the share
of replicates whose EBLUP ± 1.96·rmse holds the truth.  The arcsine
transformation's MSE is a parametric bootstrap (``[sae] bootstrap``, 200
samples); ``--sae-bootstrap B`` uses B samples in the study instead (each
replicate's bootstrap seed is drawn from ``default_rng([seed, r, 1])``): the
MSE estimate of one replicate is then noisier, but its mean over the
replicates, the coverage and the EBLUPs themselves (which do not use the
bootstrap) are hardly affected.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import cleaning, config, io
from .calibration import calibration_steps
from .errors import Log, PipelineError, run
from .expr import evaluate_bool
from .formats import code_text
from .indicators import AREA_DOMAIN, estimate_unit, expression, prepare
from .small_area import survey_small_areas
from .units import HOUSEHOLD, PERSON, inherit, person_link
from .weighting import weigh

CI_METHODS = ("logit", "beta", "wilson", "mean")
COLUMNS = ["indicator", "domain", "level", "ci_method", "replicates", "truth", "mean_estimate", "relative_bias",
           "empirical_se", "mean_se", "coverage",
           # extras: SE ratio, Monte-Carlo SE of the coverage, missing estimates, unit, kind, mean sample size
           "se_ratio", "coverage_mc_se", "n_missing", "unit", "kind", "level_label", "mean_n"]
DEFAULT_SEED = 20260101
SAE_COLUMNS = ["indicator", "area", "area_label", "district", "replicates", "truth", "n_sampled", "mean_n",
               "direct_bias", "direct_mse", "eblup_bias", "eblup_mse", "eblup_mse_sampled", "mse_gain",
               "mean_mse_estimate", "mse_ratio", "coverage", "coverage_sampled", "coverage_unsampled"]
SAE_MIN_SAMPLED = 5  # an area's MSE gain needs the area sampled in this many replicates at least

_CTX: dict = {}  # the study's context, set before the worker processes fork


# --- the survey's generator ------------------------------------------------------
def load_generator(cfg: dict, survey: Path):
    """Import the survey's ``[raw] generator`` module by path; it must define the simulation hooks."""
    name = cfg.get("raw", {}).get("generator")
    if not name:
        raise PipelineError(cfg["_path"], "raw.generator", "the coverage study needs the survey's generator module "
                            "(build_population, draw_sample); this survey has none")
    path = survey / name
    if not path.is_file():
        raise PipelineError(path, None, "generator module not found")
    import hashlib
    modname = f"_survey_generator_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod  # dataclasses look their module up while the module runs
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        del sys.modules[modname]
        raise PipelineError(path, None, f"cannot import the generator ({type(e).__name__}: {e})") from None
    for fn in ("build_population", "draw_sample"):
        if not callable(getattr(mod, fn, None)):
            raise PipelineError(path, fn, "the coverage study needs this function in the generator module")
    if not callable(_tables_fn(mod)):
        raise PipelineError(path, "raw_tables", "the coverage study needs the defect-free raw tables of a sample "
                            "(raw_tables(sample, rng) -> household, person)")
    return mod


def _tables_fn(gen):
    return getattr(gen, "raw_tables", None) or getattr(gen, "_raw_tables", None)


def _typed(df: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """The raw table as the ingest stage types it (dtypes recorded in codebook.json)."""
    out = {}
    for c in df.columns:
        s, dtype = df[c], meta.get(c, {}).get("dtype")
        if dtype and str(s.dtype) != dtype:
            s = pd.to_datetime(s).astype(dtype) if dtype.startswith("datetime") else s.astype(dtype)
        out[c] = s
    return pd.DataFrame(out)


def _clean(hh: pd.DataFrame, person: pd.DataFrame, cfg: dict, codebook: dict, ea_ids, survey) -> tuple[dict, dict]:
    """The clean stage's rules and derivations, in memory (as pipeline.clean.main does): tables and accounting."""
    names = list(cfg["files"])
    raw = {names[0]: _typed(hh, codebook.get(names[0], {}))}
    if len(names) > 1:
        raw[names[1]] = _typed(person, codebook.get(names[1], {}))
    ledgers = cleaning.apply_rules(cfg, raw, codebook, ea_ids, survey)
    cleaning.derive(cfg, ledgers)
    return {n: L.live.reset_index(drop=True) for n, L in ledgers.items()}, {n: L.accounting() for n, L in ledgers.items()}


# --- truth -----------------------------------------------------------------------
def _census_tables(gen, pop):
    """Every household and person of the population as defect-free raw tables (all interviewed)."""
    hhs = pop.households.copy()
    hhs["result"] = 1
    eas = pop.frame.copy()
    census = gen.Sample(eas=eas, households=hhs, persons=pop.persons, population=pop)
    return _tables_fn(gen)(census, np.random.default_rng(0))


def domain_cells(data: pd.DataFrame, cfg: dict):
    """(domain id, level, mask) for every domain value present in *data*, as the estimate stage names them."""
    for j, dom in enumerate(cfg["domains"]):
        if not set(dom["by"]) <= set(data.columns):
            continue
        inside = (expression(evaluate_bool, dom["where"], data, cfg["_path"], f"domains[{j}].where").fillna(False).to_numpy(bool)
                  if "where" in dom else np.ones(len(data), bool))
        if not dom["by"]:
            yield dom["id"], "all", inside
            continue
        keys = data[dom["by"]]
        by = dom["by"] if len(dom["by"]) > 1 else dom["by"][0]
        for values, idx in keys[inside].groupby(by, sort=True).groups.items():
            values = values if isinstance(values, tuple) else (values,)
            m = np.zeros(len(data), bool)
            m[data.index.get_indexer(idx)] = True
            yield dom["id"], " x ".join(code_text(v) for v in values), m


def population_truth(cfg: dict, tables: dict) -> pd.DataFrame:
    """Each indicator's value in the population: the config's expressions on every household/person."""
    rows = []
    for unit, df in tables.items():
        data, inds, universes = prepare(df, cfg, unit)
        for _, ind in inds:
            y = data[f"y_{ind['id']}"].to_numpy(float)
            ok = universes[ind["id"]] & ~np.isnan(y)
            for dom, level, m in domain_cells(data, cfg):
                sel = ok & m
                rows.append({"indicator": ind["id"], "unit": unit, "kind": ind["kind"], "domain": dom, "level": level,
                             "truth": y[sel].mean() if sel.any() else np.nan})
    return pd.DataFrame(rows)


# --- one replicate ---------------------------------------------------------------
def replicate(r: int) -> dict[str, np.ndarray]:
    """Draw sample *r*, run clean -> weight -> estimate; return arrays aligned with the truth rows."""
    c = _CTX
    cfg, gen, survey = c["cfg"], c["gen"], c["survey"]
    rng = np.random.default_rng([c["seed"], r])
    sample = gen.draw_sample(c["pop"], rng)
    hh, person = _tables_fn(gen)(sample, rng)
    ea_ids = sample.eas[cfg["frame"]["key"]] if "frame" in cfg else None
    tables, accounting = _clean(hh, person, cfg, c["codebook"], ea_ids, survey)
    w = weigh(tables, cfg, survey, _quiet, c["frame"], c["frame_path"])
    data = w["tables"]
    steps = calibration_steps(data, cfg, survey, w["spec"])  # as the estimate stage does (main)
    rows = []
    for unit, df in data.items():
        rows += estimate_unit(df, cfg, unit, c["codebook"], w["spec"], ci_methods=c["methods"], steps=steps.get(unit, ()))
    est = pd.DataFrame(rows)
    sae = _small_areas(r, data, w["spec"], steps) if c.get("sae_cfg") is not None else {}
    pos = c["index"].get_indexer(pd.MultiIndex.from_arrays([est["indicator"], est["domain"], est["domain_value"]]))
    keep = pos >= 0
    out = {"quarantined": np.array([sum(a["quarantined"] for a in accounting.values())], float)}
    for col in ["estimate", "se", "n"] + [f"ci_{s}_{m}" for m in c["methods"] for s in ("low", "high")]:
        a = np.full(len(c["index"]), np.nan)
        a[pos[keep]] = est[col].to_numpy(float)[keep]
        out[col] = a
    out.update(sae)
    return out


def _small_areas(r: int, data: dict, spec: dict, steps: dict) -> dict[str, np.ndarray]:
    """The estimate stage's small-area estimates of replicate *r*, aligned with the area truth rows."""
    c = _CTX
    t0 = time.perf_counter()
    seed = int(np.random.default_rng([c["seed"], r, 1]).integers(2**31)) if c["sae_bootstrap"] else None
    res = survey_small_areas(data, c["sae_cfg"], c["codebook"], spec, steps, c["survey"], frame=c["sae_frame"],
                             bootstrap=c["sae_bootstrap"], seed=seed)
    t = res.table
    pos = c["sae_index"].get_indexer(pd.MultiIndex.from_arrays([t["indicator"], t["area"]]))
    keep = pos >= 0
    out = {"sae_seconds": np.array([time.perf_counter() - t0])}
    for col in ("direct", "eblup", "rmse", "n"):
        a = np.full(len(c["sae_index"]), np.nan)
        a[pos[keep]] = t[col].to_numpy(float)[keep]
        out[f"sae_{col}"] = a
    return out


def _quiet(msg: str) -> None:
    pass


_quiet.warnings = lambda caught: None


def _chunk(reps: list[int]) -> list[dict]:
    from threadpoolctl import threadpool_limits
    # One BLAS thread per worker: with one worker per core, OpenBLAS threads contending for the
    # same cores made the calibration residuals' small matrix products up to 30 times slower.
    # Also with one worker, so that the bytes do not depend on the number of processes.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        return [replicate(r) for r in reps]


# --- the study -------------------------------------------------------------------
def coverage_study(survey_dir, replicates: int = 1000, seed: int = DEFAULT_SEED, jobs: int = 2, indicators=None,
                   build=None, log=None, sae_bootstrap: int | None = None, small_areas: bool = False):
    """Coverage, relative bias and SE ratio of every indicator x domain value x CI method.

    Parameters
    ----------
    survey_dir : path of the survey folder (its survey.toml names the generator).
    replicates : number of samples drawn.
    seed : study seed; replicate r uses ``default_rng([seed, r])``.
    jobs : worker processes.
    indicators : indicator ids to study (default: all).
    build : build folder holding ``ingest/codebook.json`` (default ``build/<survey name>``).
    sae_bootstrap : bootstrap samples of the arcsine MSE in each replicate's small-area
        estimates (default: the config's ``[sae] bootstrap``).
    small_areas : also return the small-area summary.

    Returns
    -------
    pandas.DataFrame
        The coverage table (``COLUMNS``); with ``small_areas=True`` a pair
        ``(coverage, coverage_sae)``, the second None when the config has no
        ``[sae]`` (or none of its indicators is studied).
    """
    log = log or _quiet
    survey = Path(survey_dir)
    cfg = config.load(survey)
    if indicators is not None:
        known = {i["id"] for i in cfg["indicators"]}
        bad = [i for i in indicators if i not in known]
        if bad:
            raise PipelineError(cfg["_path"], "indicators", f"unknown indicator {bad[0]!r}")
        cfg = copy.copy(cfg)
        cfg["indicators"] = [i for i in cfg["indicators"] if i["id"] in set(indicators)]
    build = Path(build) if build else Path("build") / survey.resolve().name
    if not cfg.get("weighting"):
        raise PipelineError(cfg["_path"], "weighting", "a [weighting] table is required for the coverage study")
    gen = load_generator(cfg, survey)
    codebook = io.read_json(build / "ingest" / "codebook.json")
    frame_path = survey / cfg["frame"]["path"]
    frame = io.read_table(frame_path)

    t0 = time.perf_counter()
    sae_cfg = _sae_config(cfg)
    pop, truth, sae_truth = _population(gen, cfg, codebook, survey, sae_cfg)
    log(f"population: {len(pop.households):,} households, {len(pop.persons):,} persons; truth of "
        f"{truth['indicator'].nunique()} indicators x {len(truth) // max(truth['indicator'].nunique(), 1)} domain values "
        f"({time.perf_counter() - t0:.1f} s)")

    _CTX.clear()
    _CTX.update(cfg=cfg, gen=gen, pop=pop, survey=survey, codebook=codebook, frame=frame, frame_path=frame_path,
                seed=seed, methods=CI_METHODS,
                index=pd.MultiIndex.from_arrays([truth["indicator"], truth["domain"], truth["level"]]),
                sae_cfg=sae_cfg, sae_bootstrap=sae_bootstrap)
    if sae_cfg is not None:
        sae_frame = io.read_table(survey / sae_cfg["sae"]["frame"])
        _CTX.update(sae_frame=sae_frame, sae_index=pd.MultiIndex.from_arrays([sae_truth["indicator"], sae_truth["area"]]))
    t1 = time.perf_counter()
    reps = list(range(replicates))
    jobs = max(1, min(jobs, replicates))
    if jobs == 1:
        results = _chunk(reps)
    else:
        import multiprocessing as mp
        size = max(1, min(25, -(-replicates // (4 * jobs))))
        chunks = [reps[i:i + size] for i in range(0, replicates, size)]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as ex:
            results = [res for part in ex.map(_chunk, chunks) for res in part]
    elapsed = time.perf_counter() - t1
    log(f"{replicates} replicates in {elapsed:.1f} s ({jobs} process(es), {elapsed * jobs / replicates:.2f} s per "
        "replicate per process)")
    if sae_cfg is not None:
        sae_s = np.array([res["sae_seconds"][0] for res in results])
        log(f"small areas: {sae_s.mean():.2f} s per replicate (median {np.median(sae_s):.2f} s) of the above, "
            f"{len(sae_cfg['sae']['indicators'])} indicators x {len(sae_truth) // len(sae_cfg['sae']['indicators'])} areas"
            + (f", {sae_bootstrap} bootstrap samples" if sae_bootstrap else ""))
    _CTX.clear()
    quarantined = int(sum(res["quarantined"][0] for res in results))
    if quarantined:  # the generator's samples are defect-free: the clean rules should keep every record
        log(f"warning: the clean rules quarantined {quarantined} records over the {replicates} samples")
    table = summarise(truth, results, CI_METHODS)
    if not small_areas:
        return table
    if sae_cfg is None:
        return table, None
    s = sae_cfg["sae"]
    keys = sae_frame[s["area"]].map(code_text)
    group = s.get("group_label", s.get("group"))
    labels = pd.DataFrame({"area": keys.to_numpy(),
                           "area_label": sae_frame[s["label"]].astype(str).to_numpy() if "label" in s else keys.to_numpy(),
                           "district": sae_frame[group].map(code_text).to_numpy() if group else ""})
    sae = summarise_sae(sae_truth, results).merge(labels, on="area", how="left")
    return table, sae[SAE_COLUMNS]


def _sae_config(cfg: dict) -> dict | None:
    """The config with its ``[sae]`` indicators restricted to the studied ones (None: no small areas)."""
    if not cfg.get("sae"):
        return None
    studied = {i["id"] for i in cfg["indicators"]}
    inds = [i for i in cfg["sae"]["indicators"] if i in studied]
    return {**cfg, "sae": {**cfg["sae"], "indicators": inds}} if inds else None


_CACHE: dict = {}  # population and truth of the last survey studied in this process (tests run several studies)


def _population(gen, cfg, codebook, survey, sae_cfg=None):
    key = (str(Path(survey).resolve()), id(gen), tuple(i["id"] for i in cfg["indicators"]),
           Path(cfg["_path"]).stat().st_mtime_ns, None if sae_cfg is None else tuple(sae_cfg["sae"]["indicators"]))
    if _CACHE.get("key") != key:
        _CACHE.clear()
        pop = gen.build_population()
        hh, person = _census_tables(gen, pop)
        tables, _ = _clean(hh, person, cfg, codebook, None, survey)
        if PERSON in tables and HOUSEHOLD in tables:
            tables[PERSON] = inherit(tables[PERSON], tables[HOUSEHOLD], *person_link(cfg))
        _CACHE.update(key=key, pop=pop, truth=population_truth(cfg, tables),
                      sae_truth=None if sae_cfg is None else area_truth(sae_cfg, tables))
    return _CACHE["pop"], _CACHE["truth"], _CACHE["sae_truth"]


def area_truth(cfg: dict, tables: dict) -> pd.DataFrame:
    """Each ``[sae]`` indicator's value in each area (``sae.by``) of the population: ``indicator, area, truth``."""
    sae = cfg["sae"]
    sub = {**cfg, "domains": [{"id": AREA_DOMAIN, "by": [sae["by"]]}],
           "indicators": [i for i in cfg["indicators"] if i["id"] in set(sae["indicators"])]}
    t = population_truth(sub, tables)
    t = t[t["domain"] == AREA_DOMAIN]
    order = {k: i for i, k in enumerate(sae["indicators"])}
    t = t.assign(_i=t["indicator"].map(order)).sort_values("_i", kind="stable")
    return pd.DataFrame({"indicator": t["indicator"].to_numpy(), "area": t["level"].to_numpy(),
                         "truth": t["truth"].to_numpy(float)})


def summarise_sae(truth: pd.DataFrame, results: list[dict]) -> pd.DataFrame:
    """Bias, empirical MSE, MSE ratio and coverage of the direct and EBLUP estimates per indicator x area.

    Direct estimates are summarised over the replicates where the area was
    sampled (``n_sampled``); the EBLUP over all replicates
    (``eblup_*``) and over the sampled ones (``eblup_mse_sampled``).
    ``mse_gain`` = ``direct_mse / eblup_mse_sampled`` where the area was
    sampled in ``SAE_MIN_SAMPLED`` replicates or more (NaN otherwise).
    Coverage: share of replicates with ``|eblup - truth| <= 1.96 rmse`` (a
    missing EBLUP or rmse covers nothing), overall and split by whether the
    area was sampled.
    """
    R = len(results)
    d, e, rmse, n = (np.vstack([res[f"sae_{k}"] for res in results]) for k in ("direct", "eblup", "rmse", "n"))
    t = truth["truth"].to_numpy(float)
    sampled = np.isfinite(d)
    ns = sampled.sum(axis=0)
    covered = np.abs(e - t) <= 1.96 * rmse
    with np.errstate(invalid="ignore", divide="ignore"):
        ed, ee = d - t, e - t
        direct_bias = np.where(ns > 0, np.nansum(ed, axis=0) / ns, np.nan)
        direct_mse = np.where(ns > 0, np.nansum(ed ** 2, axis=0) / ns, np.nan)
        eblup_mse = np.nanmean(ee ** 2, axis=0)
        eblup_mse_s = np.where(ns > 0, np.where(sampled, ee ** 2, 0.0).sum(axis=0) / ns, np.nan)
        gain = np.where(ns >= SAE_MIN_SAMPLED, direct_mse / eblup_mse_s, np.nan)
        mean_mse = np.nanmean(rmse ** 2, axis=0)
        cov_s = np.where(ns > 0, (covered & sampled).sum(axis=0) / ns, np.nan)
        cov_u = np.where(ns < R, (covered & ~sampled).sum(axis=0) / (R - ns), np.nan)
        mean_n = np.where(ns > 0, np.where(sampled, n, 0.0).sum(axis=0) / ns, 0.0)
    out = truth.assign(replicates=R, n_sampled=ns, mean_n=mean_n, direct_bias=direct_bias, direct_mse=direct_mse,
                       eblup_bias=np.nanmean(ee, axis=0), eblup_mse=eblup_mse, eblup_mse_sampled=eblup_mse_s,
                       mse_gain=gain, mean_mse_estimate=mean_mse, mse_ratio=mean_mse / eblup_mse,
                       coverage=covered.mean(axis=0), coverage_sampled=cov_s, coverage_unsampled=cov_u)
    return out


def sae_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per indicator: MSE gain (median direct/EBLUP MSE over sampled areas), mean and 5th-95th percentile coverage."""
    g = table.groupby("indicator", sort=False)
    return pd.DataFrame({"areas": g.size(), "areas_gain": g["mse_gain"].count(), "mse_gain": g["mse_gain"].median(),
                         "coverage_mean": g["coverage"].mean(), "coverage_p05": g["coverage"].quantile(0.05),
                         "coverage_p95": g["coverage"].quantile(0.95),
                         "mse_ratio_median": g["mse_ratio"].median()}).reset_index()



def summarise(truth: pd.DataFrame, results: list[dict], methods) -> pd.DataFrame:
    R = len(results)
    stack = {k: np.vstack([res[k] for res in results]) for k in results[0]
             if k != "quarantined" and not k.startswith("sae_")}  # (R, rows)
    est, se = stack["estimate"], stack["se"]
    t = truth["truth"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_est = np.nanmean(est, axis=0)
        emp_se = np.nanstd(est, axis=0, ddof=1)
        mean_se = np.nanmean(se, axis=0)
        rel_bias = (mean_est - t) / t
    n_missing = np.isnan(est).sum(axis=0)
    base = truth.assign(replicates=R, mean_estimate=mean_est, relative_bias=rel_bias, empirical_se=emp_se,
                        mean_se=mean_se, se_ratio=mean_se / emp_se, n_missing=n_missing,
                        mean_n=np.nanmean(stack["n"], axis=0), level_label=truth["level"])
    parts = []
    for m in methods:
        lo, hi = stack[f"ci_low_{m}"], stack[f"ci_high_{m}"]
        covered = (lo <= t) & (t <= hi)  # a missing interval covers nothing
        part = base.assign(ci_method=m, coverage=covered.mean(axis=0),
                           n_missing=np.maximum(n_missing, (np.isnan(lo) | np.isnan(hi)).sum(axis=0)))
        parts.append(part[part["kind"] == "proportion"] if m != "mean" else part)
    out = pd.concat(parts, ignore_index=True)
    out.loc[out["kind"] != "proportion", "ci_method"] = "t"
    out["coverage_mc_se"] = np.sqrt(0.95 * 0.05 / R)
    order = {k: i for i, k in enumerate(truth["indicator"].drop_duplicates())}
    dorder = {k: i for i, k in enumerate(truth["domain"].drop_duplicates())}
    morder = {m: i for i, m in enumerate(list(methods) + ["t"])}
    out = out.assign(_i=out["indicator"].map(order), _d=out["domain"].map(dorder), _m=out["ci_method"].map(morder),
                     _r=out.groupby(["indicator", "domain", "ci_method"]).cumcount())
    out = out.sort_values(["_i", "_d", "_r", "_m"], kind="stable").reset_index(drop=True)
    return out[COLUMNS]


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m pipeline.validate", description=__doc__.splitlines()[0])
    p.add_argument("--survey", default="surveys/qb2022", help="survey folder holding survey.toml")
    p.add_argument("--build", default=None, help="build folder (default build/<survey name>)")
    p.add_argument("--replicates", type=int, default=1000, help="samples drawn (default 1000)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="study seed")
    p.add_argument("--indicators", default=None, help="comma-separated indicator ids (default: all)")
    p.add_argument("--no-figure", action="store_true", help="write the CSV only")
    p.add_argument("--sae-bootstrap", type=int, default=None,
                   help="bootstrap samples of the small areas' arcsine MSE in each replicate (default: [sae] bootstrap)")
    a = p.parse_args(argv)
    a.survey = Path(a.survey)
    a.build = Path(a.build) if a.build else Path("build") / a.survey.resolve().name
    if a.replicates < 2:
        p.error("--replicates must be at least 2")
    if a.sae_bootstrap is not None and a.sae_bootstrap < 10:
        p.error(f"--sae-bootstrap: expected at least 10 samples, got {a.sae_bootstrap}")
    return a


def main(argv=None) -> None:
    args, log = _args(argv), Log("validate")
    inds = [s.strip() for s in args.indicators.split(",")] if args.indicators else None
    table, sae = coverage_study(args.survey, args.replicates, args.seed, args.jobs, inds, args.build, log,
                                sae_bootstrap=args.sae_bootstrap, small_areas=True)
    out_dir = args.build / "validation"
    with io.Outputs(out_dir) as out:
        out.csv(table, "coverage.csv")
        if sae is not None:
            out.csv(sae, "coverage_sae.csv")
        if not args.no_figure:
            from .validation_plot import coverage_figure
            out._tmp("coverage.png").write_bytes(coverage_figure(table, config.load(args.survey)))
    prov = table[(table["domain"] == table["domain"].iloc[0])]
    for m, g in prov.groupby("ci_method", sort=False):
        log(f"{g['domain'].iloc[0]}: coverage ({m}) {g['coverage'].min():.3f}-{g['coverage'].max():.3f} over "
            f"{len(g)} indicators; max |relative bias| {g['relative_bias'].abs().max():.4f}")
    if sae is not None:
        for _, s in sae_summary(sae).iterrows():
            log(f"small areas, {s['indicator']}: MSE gain (median direct/EBLUP MSE over {s['areas_gain']} sampled "
                f"areas) {s['mse_gain']:.2f}; EBLUP ± 1.96 rmse coverage {s['coverage_mean']:.3f} on average over "
                f"{s['areas']} areas (5-95%: {s['coverage_p05']:.3f}-{s['coverage_p95']:.3f})")
    else:  # a survey that no longer has [sae] keeps no stale small-area file
        (out_dir / "coverage_sae.csv").unlink(missing_ok=True)
    log(f"wrote {out_dir}/coverage.csv" + (" and coverage_sae.csv" if sae is not None else ""))
    log.done()



if __name__ == "__main__":
    run(main)
