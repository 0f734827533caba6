"""Stage 6, report: one self-contained HTML file from the estimates, weights, cleaning and figures.

Reads what the figures stage reads (:mod:`pipeline.stage_outputs`) plus its two
manifests (``figures/<survey>/manifest_estimates.json``,
``manifest_diagnostics.json``: each figure's section and caption, and the kinds
left out with the reason) and the PNGs they list (embedded as ``data:`` URIs),
and renders ``pipeline/templates/report.html.j2`` (Jinja2) to
``figures/<survey>/report.html``: summary of the key indicators against their
targets, the estimates table of every indicator with its domain rows
(suppressed estimates shown as "—" with the reason), the figures, a methods
section describing this run (design, weights computed or delivered, weighting
steps and their diagnostics, variance and CI methods, reliability rules), data
quality and, when ``build/<survey>/validation/coverage.csv`` exists, a
validation section.  No dates, no external resources.

    python -m pipeline.report --survey surveys/qb2022 --build build/qb2022 --out figures/qb2022
"""
from __future__ import annotations

import base64
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import chart_data as C
from . import config, io
from . import formats as F
from .errors import Log, PipelineError, run
from .plots import ci_text, level_text, source_text
from .stage_outputs import PARTS, load_inputs, manifest_name, out_args
from .text import FILE_NAMES, LONELY, REPORT, VALIDATION, area_words, label_text, table, with_words

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"


def data_uri(path: Path) -> str:
    if not path.is_file():
        raise PipelineError(path, None, "figure listed in the manifest is missing (run: make all)")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def estimate_rows(est: pd.DataFrame, cfg: dict, lang: str) -> list[dict]:
    """Every indicator with its domain rows, formatted as printed."""
    labels = C.indicator_labels(cfg, lang)
    out = []
    for ind, e in est.groupby("indicator", sort=False):
        first = e.iloc[0]
        rows = []
        for r in e.to_dict("records"):  # not iterrows: a Series per row is most of the report's table time
            review = F.review_flags(r["flags"], r["suppress"])
            rows.append({"domain": r["domain"], "value": r["domain_value"], "label": C.domain_label(r, cfg, lang),
                         "suppress": bool(r["suppress"]), "flags": r["flags"], "review": review,
                         "flag_text": F.flag_text(r["flags"], lang), "review_text": F.flag_text(review, lang),
                         "estimate": "—" if r["suppress"] else F.fmt_value(r["estimate"], r["kind"], lang),
                         "ci": "—" if r["suppress"] else F.fmt_ci(r["ci_low"], r["ci_high"], r["kind"], lang),
                         "n": F.fmt_num(r["n"], lang), "n_eff": F.fmt_num(r["n_eff"], lang),
                         "deff": F.fmt_num(r["deff"], lang, 2)})
        text = {k: (first[k] if k in first and isinstance(first[k], str) else "") for k in ("universe", "numerator")}
        out.append({"id": ind, "label": labels.get(ind, ind), "unit": first["unit"], "kind": first["kind"],
                    **text, "rows": rows})
    return out


def summary_rows(est: pd.DataFrame, cfg: dict, lang: str) -> list[dict]:
    """The key indicators' overall estimates, in their groups (unit or universe), with their targets."""
    T, labels = table(REPORT, lang), C.indicator_labels(cfg, lang)
    dom = C.overall_domain(cfg)
    prov = est[est["domain_value"].eq("all") & est["domain"].eq(dom["id"] if dom else est["domain"].iloc[0])]
    inds = {ind["id"]: ind for ind in cfg["indicators"]}
    out = []
    for k in C.key_indicators(est, cfg):
        r = prov[prov["indicator"] == k]
        if not len(r):
            continue
        r = r.iloc[0]
        targets = []
        for tg in cfg["report"]["targets"]:
            if tg["indicator"] != k:
                continue
            gap = None if r["suppress"] else tg["value"] - r["estimate"]
            targets.append({"label": label_text(tg.get("label"), lang), "reference": tg.get("reference", ""),
                            "value": F.fmt_pct(tg["value"], lang, 0), "year": tg.get("year", ""),
                            "gap": None if gap is None else (T["reached"] if gap <= 0 else
                                                             F.fmt_num(100 * gap, lang, 1) + " " + T["pp"])})
        out.append({"id": k, "label": labels.get(k, k), "group": C.group_label(cfg, inds[k], lang),
                    "suppress": bool(r["suppress"]),
                    "estimate": "—" if r["suppress"] else F.fmt_value(r["estimate"], r["kind"], lang),
                    "ci": "—" if r["suppress"] else F.fmt_ci(r["ci_low"], r["ci_high"], r["kind"], lang),
                    "n": F.fmt_num(r["n"], lang), "targets": targets, "flags": F.flag_text(r["flags"], lang)})
    return out


def methods(cfg: dict, inputs: dict, lang: str) -> dict:
    """What this run did: the design, how the weights came about, the variance, CI and reliability rules."""
    T, f = table(REPORT, lang), (lambda x, d=0: F.fmt_num(x, lang, d))
    d, est, design, diag = cfg["design"], inputs["estimates"], inputs["design"], inputs["diagnostics"]
    m = {"design": [], "steps": [], "variance": [], "ci": [], "rules": [], "controls": [], "weights": []}
    data, unit = inputs["weighted"], diag.get("unit", "household")
    delivered = diag.get("weights") == "delivered"
    counts = diag.get("counts", {})
    pairs = design.get("variance") if not design.get("replicates") else None
    if not design.get("replicates") or not delivered:
        strata = data[d["strata"]].nunique() if d.get("strata") else 1
        psus = data[d["psu"]].nunique() if d.get("psu") else len(data)
        m["design"] = [(T["strata_col"], d.get("strata") or T["none"]), (T["psu_col"], d.get("psu") or T["none"]),
                       (T["strata"], f(strata)), (T["psus"], f(psus)), (T["design_df"], f(psus - strata))]
        if pairs and design.get("strata") in data.columns:
            v_strata = data[design["strata"]].nunique()
            m["design"] += [(T["var_strata"], f(v_strata)), (T["var_df"], f(psus - v_strata))]
    raw = inputs["ingest"].get("records", {})
    if delivered:
        ulabel = C.unit_label(cfg, unit, lang)
        m["design"] += [(T["n_raw"].format(unit=ulabel), f(raw.get(unit, np.nan))),
                        (T["n_used"].format(unit=ulabel), f(counts.get("respondents", np.nan)))]
        for u, df in inputs["units"].items():
            if u != unit:
                m["design"].append((T["n_used"].format(unit=C.unit_label(cfg, u, lang)), f(len(df))))
        m["weights"].append(T["delivered"].format(col=d["weights"]))
        for u, col in design.get("own_weights", {}).items():
            m["weights"].append(T["delivered_unit"].format(unit=C.unit_label(cfg, u, lang).lower(), col=col))
    else:
        rrw = diag.get("steps", {}).get("nonresponse", {}).get("details", {}).get("response_rate_weighted")
        m["design"] += [(T["hh_raw"], f(raw.get("household", np.nan))), (T["hh_clean"], f(counts.get("records", np.nan))),
                        (T["hh_eligible"], f(counts.get("eligible", np.nan))),
                        (T["hh_resp"], f(counts.get("respondents", np.nan))),
                        (T["persons"], f(len(inputs["units"]["person"])) if "person" in inputs["units"] else "—"),
                        (T["rr_unweighted"], F.fmt_pct(counts["respondents"] / counts["eligible"], lang)
                         if counts.get("eligible") else "—")]
        if rrw is not None:
            m["design"].append((T["rr_weighted"], F.fmt_pct(rrw, lang)))
    first = "w_base" if "w_base" in data.columns else ("w_delivered" if "w_delivered" in data.columns else None)
    if first or delivered:
        w = data[first or "weight"].to_numpy(float)
        m["steps"].append({"step": T["base"] if first == "w_base" else T["steps_names"]["delivered"],
                           "method": "1/π" if first == "w_base" else d["weights"], "iterations": "", "converged": "",
                           "max_disc": "", "n_trimmed": "", "n": f(len(w)), "sum_w": f(w.sum()), "min": f(w.min(), 1),
                           "median": f(np.median(w), 1), "max": f(w.max(), 1), "ratio": f(w.max() / w.min(), 2),
                           "kish": f(len(w) * (w ** 2).sum() / w.sum() ** 2, 3)})
    for name, s in diag.get("steps", {}).items():
        if name == "delivered":
            continue
        m["steps"].append({"step": T["steps_names"].get(name, name), "method": s.get("method", ""),
                           "iterations": f(s.get("iterations", np.nan)),
                           "converged": T["yes"] if s.get("converged") else T["no"],
                           "max_disc": F.sci(s.get("max_discrepancy"), lang),
                           "n_trimmed": f(s.get("n_trimmed", np.nan)), "n": f(s.get("n", np.nan)),
                           "sum_w": f(s.get("sum_weights", np.nan)), "min": f(s.get("min_weight", np.nan), 1),
                           "median": f(s.get("median_weight", np.nan), 1), "max": f(s.get("max_weight", np.nan), 1),
                           "ratio": f(s.get("ratio_max_min", np.nan), 2), "kish": f(s.get("kish_deff", np.nan), 3)})
    files = table(FILE_NAMES, lang)
    m["controls"] = [f"{c['path']} ({files.get(c['unit'], c['unit']).lower()})"
                     for c in (cfg.get("weighting") or {}).get("controls", [])]
    rep = design.get("replicates")
    if rep and delivered:
        m["variance"].append(T["delivered_reps"].format(type=rep["type"], n=len(rep["columns"])))
    elif rep:
        m["variance"].append(T["replicate"].format(method=rep.get("type", "?"), n=len(rep.get("columns", []))))
    else:
        m["variance"].append(T["taylor"])
        lonely = table(LONELY, lang).get(d["lonely_psu"], d["lonely_psu"])
        if pairs:
            m["variance"].append(T["pairs"].format(order=pairs["order"], within=T["pairs_within"].format(
                within=pairs["within"]) if pairs.get("within") else ""))
        fpc = T["fpc_fraction"].format(col=d["fpc"]) if pairs and d.get("fpc") else d.get("fpc") or T["none"]
        m["variance"] += [f"{T['lonely']}: {lonely}", f"{T['fpc']}: {fpc}"]
    m["ci"] = [ci_text(est["ci_method"], cfg["reporting"]["level"], lang)]
    r = cfg["reporting"]
    m["rules"] = [T["rule_min_n_eff"].format(v=f(r["min_n_eff"])),
                  T["rule_max_ci_width"].format(v=f(100 * r["max_ci_width"])),
                  T["rule_rel"].format(v=F.fmt_pct(r["max_rel_ci_width"], lang, 0), w=f(100 * r["rel_width_from"])),
                  T["rule_min_df"].format(v=f(r["min_df"]))]
    return m


def quality(cfg: dict, inputs: dict, lang: str) -> dict:
    T, f = table(REPORT, lang), (lambda x: F.fmt_num(x, lang))
    acc = inputs["clean"].get("accounting", {})
    rules = C.rules_data(inputs["validation"], lang)
    q = C.quarantine_data(inputs["quarantine"], lang)
    resp = inputs.get("response")
    return {"accounting": [{"file": table(FILE_NAMES, lang).get(k, k), "raw": f(v.get("raw")), "clean": f(v.get("clean")),
                            "quarantined": f(v.get("quarantined"))} for k, v in acc.items()],
            "rules": [{"label": r["label"], "rule": r["rule"], "action": T["quarantine_a"] if r["action"] == "quarantine"
                       else T["fix_a"], "records": f(r["records"])} for _, r in rules.iterrows()],
            "quarantine": [{"label": r["label"], "reason": r["reason"], "records": f(r["records"])} for _, r in q.iterrows()],
            "fixes": f(len(inputs["fixes"])),
            "response": [] if resp is None else [
                {"label": r["label"], "eligible": f(r["eligible"]), "respondents": f(r["respondents"]),
                 "rate": F.fmt_pct(r["rate"], lang)} for _, r in resp.iterrows()]}


def validation(build: Path, out: Path, cfg: dict, est: pd.DataFrame, lang: str) -> dict | None:
    """A summary of the coverage study (issue 7), and its figures, when ``validation/coverage.csv`` exists."""
    path = build / "validation" / "coverage.csv"
    if not path.is_file():
        return None
    t, V = pd.read_csv(path, dtype={"level": str}), with_words(table(VALIDATION, lang), area_words(cfg.get("sae"), lang))
    figs = sorted(set(out.glob("coverage*.png")) | set((build / "validation").glob("*.png")))
    num = lambda v, d=3: F.fmt_num(v, lang, d) if isinstance(v, (int, float, np.number)) else str(v)  # noqa: E731
    tables = []
    if {"indicator", "domain", "coverage"} <= set(t.columns):
        methods = list(dict.fromkeys(t["ci_method"])) if "ci_method" in t.columns else [None]
        m = cfg["reporting"]["ci_method"] if cfg["reporting"]["ci_method"] in methods else methods[0]
        sub = t if m is None else t[t["ci_method"] == m]
        dlabels = {d["id"]: label_text(d["label"], lang, d["id"]) for d in cfg["domains"]}
        g = sub.groupby("domain", sort=False)["coverage"].agg(["size", "mean", "min"]).reset_index()
        reps = f"; {V['replicates'].lower()}: {F.fmt_num(sub['replicates'].max(), lang)}" if "replicates" in t.columns else ""
        tables.append({"title": V["by_domain"].format(m=m + reps), "columns": [V["domain"], V["cells"], V["mean_cov"], V["min_cov"]],
                       "rows": [[dlabels.get(r["domain"], r["domain"]), F.fmt_num(r["size"], lang), F.fmt_pct(r["mean"], lang),
                                 F.fmt_pct(r["min"], lang)] for _, r in g.iterrows()]})
        first = sub[sub["domain"] == sub["domain"].iloc[0]]
        labels = C.indicator_labels(cfg, lang)
        cols = [c for c in ("truth", "mean_estimate", "relative_bias", "coverage", "se_ratio") if c in t.columns]
        reps = f"; {V['replicates'].lower()}: {F.fmt_num(sub['replicates'].max(), lang)}" if "replicates" in t.columns else ""
        fmt = {"relative_bias": lambda v: F.fmt_pct(v, lang, 2), "coverage": lambda v: F.fmt_pct(v, lang),
               "replicates": lambda v: F.fmt_num(v, lang), "se_ratio": lambda v: num(v, 2)}
        tables.append({"title": V["province"].format(m=m + reps, overall=dlabels.get(sub["domain"].iloc[0], sub["domain"].iloc[0])), "columns": [V["indicator"]] + [V[c] for c in cols],
                       "rows": [[labels.get(r["indicator"], r["indicator"])] + [fmt.get(c, num)(r[c]) for c in cols]
                                for _, r in first.iterrows()]})
    else:
        tables.append({"title": V["rows"], "columns": list(t.columns),
                       "rows": [[num(v) for v in row] for row in t.head(40).itertuples(index=False)]})
    sae_path = build / "validation" / "coverage_sae.csv"
    if sae_path.is_file():  # the small areas: MSE gain and EBLUP interval coverage per indicator
        q = pd.read_csv(sae_path, dtype={"area": str}).groupby("indicator", sort=False)
        q = pd.DataFrame({"areas": q.size(), "mse_gain": q["mse_gain"].median(), "coverage_mean": q["coverage"].mean(),
                          "coverage_p05": q["coverage"].quantile(0.05), "coverage_p95": q["coverage"].quantile(0.95),
                          "replicates": q["replicates"].max()}).reset_index()
        labels = C.indicator_labels(cfg, lang)
        tables.append({"title": V["sae"].format(R=F.fmt_num(q["replicates"].max(), lang)),
                       "columns": [V["indicator"], V["sae_areas"], V["sae_gain"], V["mean_cov"], V["sae_cov_range"]],
                       "rows": [[labels.get(r["indicator"], r["indicator"]), F.fmt_num(r["areas"], lang),
                                 num(r["mse_gain"], 2), F.fmt_pct(r["coverage_mean"], lang),
                                 f"{F.fmt_pct(r['coverage_p05'], lang)}–{F.fmt_pct(r['coverage_p95'], lang)}"]
                                for _, r in q.iterrows()]})
    uris = list(dict.fromkeys(data_uri(p) for p in figs))  # the same figure in both places is shown once
    return {"tables": tables, "figures": uris}


def model_tables(cfg: dict, inputs: dict, lang: str) -> list[dict]:
    """Each model's coefficients (but the intercept) as printed: odds/rate ratio or coefficient, CI, p."""
    T, out = table(REPORT, lang), []
    for m, rows in C.model_data(inputs["models"], cfg, inputs["codebook"], lang):
        ratio = rows["ratio"].iloc[0] if isinstance(rows["ratio"].iloc[0], str) else ""
        cols = ("exp_estimate", "exp_ci_low", "exp_ci_high") if ratio else ("estimate", "ci_low", "ci_high")
        out.append({"id": m["id"], "label": label_text(m["label"], lang), "formula": m["formula"],
                    "family": m["family"], "value_name": T["ratio_col"][ratio],
                    "n": F.fmt_num(rows["n"].iloc[0], lang), "df": F.fmt_num(rows["df"].iloc[0], lang),
                    "rows": [{"term": r["term"], "label": r["label"], "value": F.fmt_coef(r[cols[0]], lang),
                              "ci": f"{F.fmt_coef(r[cols[1]], lang)}–{F.fmt_coef(r[cols[2]], lang)}",
                              "p": F.fmt_p(r["p"], lang)} for _, r in rows.iterrows()]})
    return out


def comparison_rows(cfg: dict, inputs: dict, lang: str) -> list[dict]:
    """Each pair of each comparison as printed: the two values, the gap (pp for proportions), CI, p, adjusted p."""
    c = C.comparison_rows(inputs["comparisons"], cfg, inputs["codebook"], lang)
    est = inputs["estimates"]
    hidden = set(zip(est.loc[est["suppress"], "indicator"], est.loc[est["suppress"], "domain"],
                     est.loc[est["suppress"], "domain_value"]))

    def value(r, side):  # a domain estimate the estimates table suppresses is not shown here either
        if (r["indicator"], r["domain"], str(r[side])) in hidden:
            return "—"
        return F.fmt_value(r[f"estimate_{side}"], r["kind"], lang)

    return [{"id": r["comparison"], "indicator": r["indicator"], "label": r["label"], "a": r["a_label"],
             "b": r["b_label"], "estimate_a": value(r, "a"), "estimate_b": value(r, "b"),
             "difference": F.fmt_gap(r["difference"], r["kind"], lang),
             "ci": F.fmt_gap_ci(r["ci_low"], r["ci_high"], r["kind"], lang), "p": F.fmt_p(r["p"], lang),
             "p_adjusted": F.fmt_p(r["p_adjusted"], lang) if r["adjust"] != "none" else "",
             "significant": bool(r["p_adjusted"] < 1 - cfg["reporting"]["level"])} for _, r in c.iterrows()]


def small_areas(cfg: dict, inputs: dict, lang: str) -> dict | None:
    """The small-area section (only with ``[sae]``): per indicator its model fit as printed (sigma2_u, the
    R²-like squared correlation of direct and synthetic estimates, residual summaries, areas sampled and
    synthetic) and the 10 areas with the lowest EBLUP; the full table stays in ``sae.csv``."""
    sae = inputs.get("sae")
    if not sae:
        return None
    T, labels, t = with_words(table(REPORT, lang), area_words(cfg["sae"], lang)), C.indicator_labels(cfg, lang), sae["table"]
    f = lambda x, d=0: F.fmt_num(x, lang, d)  # noqa: E731
    out = []
    for ind in cfg["sae"]["indicators"]:
        fit = sae["fits"].get(ind)
        if fit is None:
            continue
        res = fit.get("residuals", {})
        rows = [(T["sae_method_row"], fit["method"]), (T["sae_transform"], fit.get("transform", "none")),
                (T["sae_sigma2"], f(fit["sigma2_u"], 4)), (T["sae_r2"], f(fit["r2_synthetic"], 3)),
                (T["sae_resid_sd"], f(res.get("sd", np.nan), 2)),
                (T["sae_resid_out"], F.fmt_pct(res.get("share_abs_over_2", np.nan), lang)),
                (T["sae_sampled"], f(fit["areas_sampled"])), (T["sae_synthetic_n"], f(fit["areas_synthetic"]))]
        d = t[t["indicator"] == ind].sort_values("eblup", kind="stable").head(10)
        lowest = [{"area": r["area"], "label": r["area_label"] if isinstance(r["area_label"], str) else r["area"],
                   "district": r["district"] if isinstance(r["district"], str) else "",
                   "eblup": F.fmt_pct(r["eblup"], lang), "rmse": F.fmt_num(100 * r["rmse"], lang, 1),
                   "direct": F.fmt_pct(r["direct"], lang) if np.isfinite(r["direct"]) else "—",
                   "n": f(r["n"]), "synthetic": r["method"] == "synthetic"} for _, r in d.iterrows()]
        out.append({"id": ind, "label": labels.get(ind, ind), "fit": rows, "lowest": lowest})
    return {"indicators": out,
            "csv": T["sae_csv"].format(n=F.fmt_num(t["area"].nunique(), lang),
                                       k=F.fmt_num(t["indicator"].nunique(), lang), file="sae.csv")}


def context(cfg: dict, inputs: dict, manifest: dict, build: Path, out: Path) -> dict:
    lang = cfg["report"]["language"]
    T, est = with_words(table(REPORT, lang), area_words(cfg.get("sae"), lang)), inputs["estimates"]
    figs = {"headline": [], "areas": [], "models": [], "small_areas": [], "weights": [], "quality": []}
    for fg in manifest["figures"]:
        figs[fg["group"]].append({"name": fg["name"], "caption": fg["caption"], "src": data_uri(out / fg["png"]),
                                  "svg": fg["svg"]})
    skipped = {g: [T["not_drawn"].format(why=s["why"]) for s in manifest["skipped"] if s["group"] == g] for g in figs}
    title = label_text(cfg["survey"].get("title"), lang) or cfg["survey"]["name"]
    groups = list(dict.fromkeys(r["group"] for r in summary_rows(est, cfg, lang)))
    return {"T": T, "lang": lang, "title": title, "source": source_text(cfg, lang),
            "summary": summary_rows(est, cfg, lang), "groups": groups, "indicators": estimate_rows(est, cfg, lang),
            "ci_text": ci_text(est["ci_method"], cfg["reporting"]["level"], lang), "level": level_text(cfg, lang),
            "figs": figs, "skipped": skipped, "methods": methods(cfg, inputs, lang), "quality": quality(cfg, inputs, lang),
            "validation": validation(build, out, cfg, est, lang), "name": cfg["survey"]["name"],
            "has_models": bool(cfg["models"] or cfg["comparisons"]), "models": model_tables(cfg, inputs, lang),
            "comparisons": comparison_rows(cfg, inputs, lang), "small_areas": small_areas(cfg, inputs, lang)}


def render(ctx: dict) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    return env.get_template(TEMPLATE.name).render(**ctx)


def main(argv=None) -> None:
    args, log = out_args("report", argv), Log("report")
    cfg = config.load(args.survey)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = load_inputs(cfg, args.build, args.survey)
        manifest = {"figures": [], "skipped": []}
        for part in PARTS:
            path = args.out / manifest_name(part)
            if not path.is_file():
                raise PipelineError(path, None, "missing stage input (run the figures stage first: make all)")
            m = io.read_json(path)
            manifest["figures"] += m["figures"]
            manifest["skipped"] += m.get("skipped", [])
        html = render(context(cfg, inputs, manifest, args.build, args.out))
    log.warnings(caught)
    with io.Outputs(args.out) as out:
        out.text(html, "report.html")
    log(f"{len(inputs['estimates'])} estimates, {len(manifest['figures'])} figures; "
        f"wrote {args.out / 'report.html'} ({len(html.encode()) / 1e6:.1f} MB)")
    log.done()


if __name__ == "__main__":
    run(main)
