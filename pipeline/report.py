"""Stage 6, report: one self-contained HTML file from the estimates, weights, cleaning and figures.

Reads what the figures stage reads plus its two manifests
(``figures/<survey>/manifest_estimates.json``, ``manifest_diagnostics.json``) and
the PNGs they list (embedded as ``data:`` URIs), and renders
``pipeline/templates/report.html.j2`` (Jinja2) to ``figures/<survey>/report.html``:
summary of the key indicators against their national targets, the estimates
table of every indicator with its domain rows (suppressed estimates shown as
"—" with the reason), the figures, a methods section from this run (design,
response, weighting steps and their diagnostics, variance and CI methods,
reliability rules), data quality and, when ``build/<survey>/validation/coverage.csv``
exists, a validation section.  No dates, no external resources.

    python -m pipeline.report --survey surveys/qb2022 --build build/qb2022 --out figures/qb2022
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, io
from . import plots as P
from .errors import Log, PipelineError, run
from .figures import PARTS, load_inputs, manifest_name, parse

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"

TEXT = {
    "vi": {
        "lang": "vi", "report": "Báo cáo kết quả", "contents": "Nội dung", "summary": "Tóm tắt các chỉ tiêu chính",
        "synthetic": "Số liệu trong báo cáo này là số liệu mô phỏng.", "indicator": "Chỉ tiêu", "estimate": "Ước lượng",
        "ci": "KTC 95%", "n": "n", "n_eff": "n hiệu dụng", "deff": "deff", "cv": "CV", "flags": "Ghi chú", "domain": "Nhóm",
        "target": "Mục tiêu quốc gia", "gap": "Khoảng cách đến mục tiêu", "pp": "điểm %", "reached": "đã đạt",
        "estimates": "Bảng ước lượng", "figures": "Biểu đồ", "methods": "Phương pháp", "quality": "Chất lượng dữ liệu",
        "validation": "Kiểm định", "household": "Hộ gia đình", "person": "Người từ 15 tuổi trở lên",
        "proportion": "tỷ lệ", "mean": "bình quân", "universe": "Phạm vi", "numerator": "Định nghĩa",
        "everyone": "tất cả", "suppressed": "ẩn", "review": "cần xem xét",
        "estimates_note": "Ước lượng bị ẩn (—) không đạt quy tắc độ tin cậy; lý do ghi ở cột Ghi chú. "
                          "Ước lượng có đánh dấu ⚑ cần xem xét thống kê.",
        "design": "Thiết kế mẫu", "strata": "Số tầng", "psus": "Số đơn vị mẫu cấp 1 (địa bàn)",
        "design_df": "Bậc tự do của thiết kế (PSU − tầng)", "sample": "Cỡ mẫu",
        "var_strata": "Số tầng tính phương sai (cặp địa bàn)",
        "var_df": "Bậc tự do của phương sai (PSU − tầng tính phương sai)",
        "pairs": "Tầng tính phương sai: các PSU được ghép cặp theo thứ tự chọn ({order}) trong mỗi tầng{within} "
                 "(chọn hệ thống tạo phân tầng ngầm; Wolter 2007, §8.3)",
        "pairs_within": ", các PSU cùng {within} được ghép với nhau",
        "fpc_fraction": "{col} (tỷ lệ chọn PSU của tầng, n_h/N_h)",
        "hh_raw": "Hộ trong tệp thu thập", "hh_clean": "Hộ sau làm sạch", "hh_eligible": "Hộ thuộc phạm vi",
        "hh_resp": "Hộ trả lời", "persons": "Nhân khẩu của hộ trả lời", "rr_unweighted": "Tỷ lệ trả lời (không quyền số)",
        "rr_weighted": "Tỷ lệ trả lời (có quyền số thiết kế)", "strata_col": "Biến tầng", "psu_col": "Biến PSU",
        "weighting": "Các bước gia quyền", "step": "Bước", "method": "Phương pháp", "iterations": "Số vòng lặp",
        "converged": "Hội tụ", "max_disc": "Sai lệch tối đa", "n_trimmed": "Số bị cắt",
        "sum_w": "Tổng quyền số", "w_min": "Nhỏ nhất", "w_median": "Trung vị", "w_max": "Lớn nhất",
        "w_ratio": "Lớn nhất/nhỏ nhất", "kish": "deff Kish", "base": "Quyền số thiết kế (1/xác suất chọn)",
        "yes": "có", "no": "không", "variance": "Phương pháp tính phương sai", "ci_method": "Khoảng tin cậy",
        "reliability": "Quy tắc độ tin cậy (NCHS)", "controls": "Tổng kiểm soát",
        "taylor": "Tuyến tính hóa Taylor (phương sai giữa các PSU trong tầng)",
        "replicate": "Quyền số lặp lại: {method}, {n} bộ (mỗi bộ được gia quyền lại như quyền số chính)",
        "lonely": "Tầng chỉ có một PSU", "fpc": "Hiệu chỉnh quần thể hữu hạn", "none": "không",
        "rule_min_n_eff": "Ẩn khi cỡ mẫu hiệu dụng nhỏ hơn {v}",
        "rule_max_ci_width": "Ẩn khi độ rộng khoảng tin cậy ≥ {v} điểm %",
        "rule_rel": "Ẩn khi độ rộng tương đối > {v} (áp dụng khi độ rộng > {w} điểm %)",
        "rule_min_df": "Cần xem xét khi bậc tự do < {v}; hoặc ước lượng bằng 0 hoặc 100%",
        "accounting": "Số bản ghi", "file": "Tệp", "raw": "Thu thập", "clean": "Sau làm sạch", "quarantined": "Bị cách ly",
        "rules": "Số bản ghi theo quy tắc", "rule": "Quy tắc", "action": "Xử lý", "records": "Số bản ghi",
        "reason": "Lý do", "fixes": "Số giá trị đã sửa", "response": "Tỷ lệ trả lời theo tầng",
        "stratum": "Tầng", "eligible": "Thuộc phạm vi", "respondents": "Trả lời", "rate": "Tỷ lệ",
        "quarantine_a": "cách ly", "fix_a": "sửa giá trị", "validation_intro": "Kết quả nghiên cứu độ phủ của khoảng tin cậy "
        "(tệp validation/coverage.csv).", "footer": "Tạo bởi pipeline (python -m pipeline.report) từ các tệp trong build/{name}/.",
        "fig_weights": "Phân phối quyền số thiết kế và quyền số cuối cùng.",
        "fig_controls": "Tổng đạt được theo từng bước gia quyền so với tổng kiểm soát.",
        "fig_rules": "Số bản ghi bị cách ly hoặc được sửa theo từng quy tắc làm sạch.",
        "fig_quarantine": "Bản ghi bị cách ly theo lý do.", "fig_response": "Tỷ lệ trả lời theo tầng.",
        "fig_headline": "Các chỉ tiêu chính toàn tỉnh với khoảng tin cậy 95% và mục tiêu quốc gia.",
        "fig_headline_plain": "Các chỉ tiêu chính toàn tỉnh với khoảng tin cậy 95%.",
        "fig_district": "{label}: theo huyện/thị xã/thành phố và thành thị/nông thôn.",
        "district_figures": "Chỉ tiêu chính theo địa bàn", "weight_figures": "Chẩn đoán quyền số",
        "w_range": "Nhỏ nhất / trung vị / lớn nhất",
        "steps_names": {"nonresponse": "Điều chỉnh không trả lời", "rake": "Cân chỉnh theo tổng kiểm soát (raking)",
                        "calibrate": "Cân chỉnh theo tổng kiểm soát", "trim": "Cắt quyền số lớn, cân chỉnh lại"},
    },
    "en": {
        "lang": "en", "report": "Results report", "contents": "Contents", "summary": "Summary of key indicators",
        "synthetic": "The figures in this report are synthetic.", "indicator": "Indicator", "estimate": "Estimate",
        "ci": "95% CI", "n": "n", "n_eff": "effective n", "deff": "deff", "cv": "CV", "flags": "Notes", "domain": "Domain",
        "target": "National target", "gap": "Gap to target", "pp": "pp", "reached": "reached",
        "estimates": "Estimates", "figures": "Figures", "methods": "Methods", "quality": "Data quality",
        "validation": "Validation", "household": "Households", "person": "Persons aged 15 and over",
        "proportion": "proportion", "mean": "mean", "universe": "Universe", "numerator": "Definition",
        "everyone": "all", "suppressed": "suppressed", "review": "review",
        "estimates_note": "Suppressed estimates (—) fail the reliability rules; the reason is in the Notes column. "
                          "Estimates marked ⚑ are flagged for statistical review.",
        "design": "Sample design", "strata": "Strata", "psus": "Primary sampling units (EAs)",
        "design_df": "Design degrees of freedom (PSUs − strata)", "sample": "Sample size",
        "var_strata": "Variance strata (pairs of EAs)",
        "var_df": "Variance degrees of freedom (PSUs − variance strata)",
        "pairs": "Variance strata: PSUs paired in selection order ({order}) within each stratum{within} "
                 "(systematic selection stratifies implicitly; Wolter 2007, §8.3)",
        "pairs_within": ", those of one {within} together",
        "fpc_fraction": "{col} (the stratum's PSU sampling fraction, n_h/N_h)",
        "hh_raw": "Households in the collected file", "hh_clean": "Households after cleaning",
        "hh_eligible": "Eligible households", "hh_resp": "Responding households",
        "persons": "Persons in responding households", "rr_unweighted": "Response rate (unweighted)",
        "rr_weighted": "Response rate (design-weighted)", "strata_col": "Stratum variable", "psu_col": "PSU variable",
        "weighting": "Weighting steps", "step": "Step", "method": "Method", "iterations": "Iterations",
        "converged": "Converged", "max_disc": "Max. discrepancy", "n_trimmed": "Weights trimmed",
        "sum_w": "Sum of weights", "w_min": "Min", "w_median": "Median", "w_max": "Max", "w_ratio": "Max/min",
        "kish": "Kish deff", "base": "Design weight (1/selection probability)", "yes": "yes", "no": "no",
        "variance": "Variance estimation", "ci_method": "Confidence intervals", "reliability": "Reliability rules (NCHS)",
        "controls": "Control totals",
        "taylor": "Taylor linearisation (variance between PSUs within strata)",
        "replicate": "Replicate weights: {method}, {n} replicates (each re-weighted like the full-sample weights)",
        "lonely": "Strata with a single PSU", "fpc": "Finite population correction", "none": "none",
        "rule_min_n_eff": "Suppressed when the effective sample size is below {v}",
        "rule_max_ci_width": "Suppressed when the CI is {v} percentage points wide or wider",
        "rule_rel": "Suppressed when the relative CI width exceeds {v} (applies when the width exceeds {w} pp)",
        "rule_min_df": "Flagged for review when the design df is below {v}, or the estimate is 0 or 100%",
        "accounting": "Records", "file": "File", "raw": "Collected", "clean": "Clean", "quarantined": "Quarantined",
        "rules": "Records per rule", "rule": "Rule", "action": "Action", "records": "Records", "reason": "Reason",
        "fixes": "Values fixed", "response": "Response rates by stratum", "stratum": "Stratum", "eligible": "Eligible",
        "respondents": "Respondents", "rate": "Rate", "quarantine_a": "quarantine", "fix_a": "fix value",
        "validation_intro": "Results of the confidence-interval coverage study (validation/coverage.csv).",
        "footer": "Made by the pipeline (python -m pipeline.report) from the files in build/{name}/.",
        "fig_weights": "Distribution of design (base) and final weights.",
        "fig_controls": "Achieved totals after each weighting step against the control totals.",
        "fig_rules": "Records quarantined or fixed by each cleaning rule.",
        "fig_quarantine": "Quarantined records by reason.", "fig_response": "Response rates by stratum.",
        "fig_headline": "Key indicators for the province with 95% confidence intervals and national targets.",
        "fig_headline_plain": "Key indicators for the province with 95% confidence intervals.",
        "fig_district": "{label}: by district and urban/rural.",
        "district_figures": "Key indicators by area", "weight_figures": "Weighting diagnostics",
        "w_range": "Min / median / max",
        "steps_names": {"nonresponse": "Nonresponse adjustment", "rake": "Raking to the control totals",
                        "calibrate": "Calibration to the control totals", "trim": "Trimming, re-calibrated"},
    },
}


LONELY = {
    "vi": {"adjust": "adjust — độ lệch so với trung bình toàn bộ", "fail": "fail — báo lỗi", "remove": "remove — bỏ qua",
           "certainty": "certainty — coi như chọn chắc chắn", "average": "average — lấy trung bình các tầng khác"},
    "en": {"adjust": "adjust — deviation from the grand mean", "fail": "fail — stop with an error",
           "remove": "remove — left out", "certainty": "certainty — treated as certainty units",
           "average": "average — average of the other strata"},
}


def data_uri(path: Path) -> str:
    if not path.is_file():
        raise PipelineError(path, None, "figure listed in the manifest is missing (run: make all)")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def sci(x, lang: str) -> str:
    """A small discrepancy in scientific notation with the language's decimal mark."""
    if x is None or pd.isna(x):
        return "—"
    if x == 0:
        return "0"
    s = f"{x:.1e}".replace("e-0", "e-").replace("e+0", "e+")
    return s.replace(".", ",") if lang == "vi" else s


def estimate_rows(est: pd.DataFrame, lang: str) -> list[dict]:
    """Every indicator with its domain rows, formatted as printed."""
    out = []
    for ind, e in est.groupby("indicator", sort=False):
        first = e.iloc[0]
        rows = []
        for _, r in e.iterrows():
            review = P.review_flags(r["flags"], r["suppress"])
            rows.append({"domain": r["domain"], "value": r["domain_value"], "label": P.domain_label(r, lang),
                         "suppress": bool(r["suppress"]), "flags": r["flags"], "review": review,
                         "flag_text": P.flag_text(r["flags"], lang), "review_text": P.flag_text(review, lang),
                         "estimate": "—" if r["suppress"] else P.fmt_value(r["estimate"], r["kind"], lang),
                         "ci": "—" if r["suppress"] else P.fmt_ci(r["ci_low"], r["ci_high"], r["kind"], lang),
                         "n": P.fmt_num(r["n"], lang), "n_eff": P.fmt_num(r["n_eff"], lang),
                         "deff": P.fmt_num(r["deff"], lang, 2)})
        text = {k: (first[k] if k in first and isinstance(first[k], str) else "") for k in ("universe", "numerator")}
        out.append({"id": ind, "label": P.label(first, lang), "unit": first["unit"], "kind": first["kind"],
                    **text, "rows": rows})
    return out


def summary_rows(est: pd.DataFrame, cfg: dict, lang: str) -> list[dict]:
    keys = P.key_indicators(est, cfg)
    prov = est[est["domain_value"].eq("all") & est["domain"].eq(est["domain"].iloc[0])]
    out = []
    for k in keys:
        r = prov[prov["indicator"] == k]
        if not len(r):
            continue
        r = r.iloc[0]
        targets = []
        for tg in cfg["report"]["targets"]:
            if tg["indicator"] != k:
                continue
            gap = None if r["suppress"] else tg["value"] - r["estimate"]
            targets.append({"label": tg.get("label", {}).get(lang, ""), "reference": tg.get("reference", ""),
                            "value": P.fmt_pct(tg["value"], lang, 0), "year": tg.get("year", ""),
                            "gap": None if gap is None else (TEXT[lang]["reached"] if gap <= 0 else
                                                             P.fmt_num(100 * gap, lang, 1) + " " + TEXT[lang]["pp"])})
        out.append({"id": k, "label": P.label(r, lang), "unit": r["unit"], "suppress": bool(r["suppress"]),
                    "estimate": "—" if r["suppress"] else P.fmt_value(r["estimate"], r["kind"], lang),
                    "ci": "—" if r["suppress"] else P.fmt_ci(r["ci_low"], r["ci_high"], r["kind"], lang),
                    "n": P.fmt_num(r["n"], lang), "targets": targets, "flags": P.flag_text(r["flags"], lang)})
    return out


def methods(cfg: dict, inputs: dict, build: Path, lang: str) -> dict:
    T, f = TEXT[lang], (lambda x, d=0: P.fmt_num(x, lang, d))
    d, est = cfg["design"], inputs["estimates"]
    m = {"design": [], "steps": [], "variance": [], "ci": [], "rules": [], "controls": []}
    hh = inputs["weighted"]
    djson = build / "weight" / "design.json"
    design = io.read_json(djson) if djson.is_file() else {}
    pairs = design.get("variance") if not design.get("replicates") else None
    if hh is not None:
        strata = hh[d["strata"]].nunique() if d.get("strata") else 1
        psus = hh[d["psu"]].nunique()
        diag = inputs["diagnostics"]
        n = diag.get("households", {})
        rrw = diag.get("steps", {}).get("nonresponse", {}).get("details", {}).get("response_rate_weighted")
        m["design"] = [(T["strata_col"], d.get("strata") or T["none"]), (T["psu_col"], d["psu"]),
                       (T["strata"], f(strata)), (T["psus"], f(psus)), (T["design_df"], f(psus - strata)),
                       (T["hh_raw"], f(inputs["ingest"].get("records", {}).get("household", np.nan))),
                       (T["hh_clean"], f(n.get("clean", np.nan))), (T["hh_eligible"], f(n.get("eligible", np.nan))),
                       (T["hh_resp"], f(n.get("respondents", np.nan))),
                       (T["persons"], f(len(inputs["units"]["person"])) if "person" in inputs["units"] else "—"),
                       (T["rr_unweighted"], P.fmt_pct(n["respondents"] / n["eligible"], lang) if n.get("eligible") else "—")]
        if rrw is not None:
            m["design"].append((T["rr_weighted"], P.fmt_pct(rrw, lang)))
        if pairs and design.get("strata") in hh.columns:
            v_strata = hh[design["strata"]].nunique()
            m["design"][5:5] = [(T["var_strata"], f(v_strata)), (T["var_df"], f(psus - v_strata))]
        w = hh["w_base"].to_numpy(float) if "w_base" in hh.columns else None
        if w is not None:
            m["steps"].append({"step": T["base"], "method": "1/π", "iterations": "", "converged": "", "max_disc": "",
                               "n_trimmed": "", "n": f(len(w)), "sum_w": f(w.sum()), "min": f(w.min(), 1),
                               "median": f(np.median(w), 1), "max": f(w.max(), 1), "ratio": f(w.max() / w.min(), 2),
                               "kish": f(len(w) * (w ** 2).sum() / w.sum() ** 2, 3)})
        for name, s in diag.get("steps", {}).items():
            m["steps"].append({"step": T["steps_names"].get(name, name), "method": s.get("method", ""), "iterations": f(s.get("iterations", np.nan)),
                               "converged": T["yes"] if s.get("converged") else T["no"],
                               "max_disc": sci(s.get("max_discrepancy"), lang),
                               "n_trimmed": f(s.get("n_trimmed", np.nan)), "n": f(s.get("n", np.nan)),
                               "sum_w": f(s.get("sum_weights", np.nan)), "min": f(s.get("min_weight", np.nan), 1),
                               "median": f(s.get("median_weight", np.nan), 1), "max": f(s.get("max_weight", np.nan), 1),
                               "ratio": f(s.get("ratio_max_min", np.nan), 2), "kish": f(s.get("kish_deff", np.nan), 3)})
        m["controls"] = [f"{c['path']} ({P.FILE_NAMES[lang].get(c['unit'], c['unit']).lower()})"
                         for c in cfg["weighting"]["controls"]]
    rep = design.get("replicates") or (cfg.get("weighting") or {}).get("replicates")
    if rep:
        m["variance"].append(T["replicate"].format(method=rep.get("method", "?") if isinstance(rep, dict) else rep,
                                                   n=rep.get("n", "?") if isinstance(rep, dict) else "?"))
    else:
        m["variance"].append(T["taylor"])
    lonely = LONELY[lang].get(d["lonely_psu"], d["lonely_psu"])
    if pairs:
        m["variance"].append(T["pairs"].format(order=pairs["order"], within=T["pairs_within"].format(
            within=pairs["within"]) if pairs.get("within") else ""))
    fpc = T["fpc_fraction"].format(col=d["fpc"]) if pairs and d.get("fpc") else d.get("fpc") or T["none"]
    m["variance"] += [f"{T['lonely']}: {lonely}", f"{T['fpc']}: {fpc}"]
    m["ci"] = [P.ci_text(est["ci_method"], cfg["reporting"]["level"], lang)]
    r = cfg["reporting"]
    m["rules"] = [T["rule_min_n_eff"].format(v=f(r["min_n_eff"])),
                  T["rule_max_ci_width"].format(v=f(100 * r["max_ci_width"])),
                  T["rule_rel"].format(v=P.fmt_pct(r["max_rel_ci_width"], lang, 0), w=f(100 * r["rel_width_from"])),
                  T["rule_min_df"].format(v=f(r["min_df"]))]
    return m


def quality(cfg: dict, inputs: dict, lang: str) -> dict:
    T, f = TEXT[lang], (lambda x: P.fmt_num(x, lang))
    acc = inputs["clean"].get("accounting", {})
    rules = P.rules_data(inputs["validation"], lang)
    q = P.quarantine_data(inputs["quarantine"], lang)
    resp = inputs.get("response")
    return {"accounting": [{"file": P.FILE_NAMES[lang].get(k, k), "raw": f(v.get("raw")), "clean": f(v.get("clean")),
                            "quarantined": f(v.get("quarantined"))} for k, v in acc.items()],
            "rules": [{"label": r["label"], "rule": r["rule"], "action": T["quarantine_a"] if r["action"] == "quarantine"
                       else T["fix_a"], "records": f(r["records"])} for _, r in rules.iterrows()],
            "quarantine": [{"label": r["label"], "reason": r["reason"], "records": f(r["records"])} for _, r in q.iterrows()],
            "fixes": f(len(inputs["fixes"])),
            "response": [] if resp is None else [
                {"label": r["label"], "eligible": f(r["eligible"]), "respondents": f(r["respondents"]),
                 "rate": P.fmt_pct(r["rate"], lang)} for _, r in resp.iterrows()]}


VALIDATION_TEXT = {
    "vi": {"indicator": "Chỉ tiêu", "truth": "Giá trị thật", "mean_estimate": "Ước lượng bình quân",
           "relative_bias": "Độ chệch tương đối", "coverage": "Độ phủ KTC", "se_ratio": "SE ước lượng / SE thực nghiệm",
           "replicates": "Số lần lặp", "domain": "Nhóm", "cells": "Số ô", "mean_cov": "Độ phủ trung bình",
           "min_cov": "Độ phủ thấp nhất", "by_domain": "Độ phủ theo loại nhóm (phương pháp KTC: {m})",
           "province": "Chỉ tiêu toàn tỉnh (phương pháp KTC: {m})", "rows": "Các dòng đầu của tệp"},
    "en": {"indicator": "Indicator", "truth": "True value", "mean_estimate": "Mean estimate",
           "relative_bias": "Relative bias", "coverage": "CI coverage", "se_ratio": "Estimated SE / empirical SE",
           "replicates": "Replicates", "domain": "Domain", "cells": "Cells", "mean_cov": "Mean coverage",
           "min_cov": "Lowest coverage", "by_domain": "Coverage by domain type (CI method: {m})",
           "province": "Province indicators (CI method: {m})", "rows": "First rows of the file"},
}


def validation(build: Path, out: Path, cfg: dict, est: pd.DataFrame, lang: str) -> dict | None:
    """A summary of the coverage study (issue 7), and its figures, when ``validation/coverage.csv`` exists."""
    path = build / "validation" / "coverage.csv"
    if not path.is_file():
        return None
    t, V = pd.read_csv(path, dtype={"level": str}), VALIDATION_TEXT[lang]
    figs = sorted(set(out.glob("coverage*.png")) | set((build / "validation").glob("*.png")))
    num = lambda v, d=3: P.fmt_num(v, lang, d) if isinstance(v, (int, float, np.number)) else str(v)  # noqa: E731
    tables = []
    if {"indicator", "domain", "coverage"} <= set(t.columns):
        methods = list(dict.fromkeys(t["ci_method"])) if "ci_method" in t.columns else [None]
        m = cfg["reporting"]["ci_method"] if cfg["reporting"]["ci_method"] in methods else methods[0]
        sub = t if m is None else t[t["ci_method"] == m]
        dlabels = {d["id"]: d["label"][lang] for d in cfg["domains"]}
        g = sub.groupby("domain", sort=False)["coverage"].agg(["size", "mean", "min"]).reset_index()
        reps = f"; {V['replicates'].lower()}: {P.fmt_num(sub['replicates'].max(), lang)}" if "replicates" in t.columns else ""
        tables.append({"title": V["by_domain"].format(m=m + reps), "columns": [V["domain"], V["cells"], V["mean_cov"], V["min_cov"]],
                       "rows": [[dlabels.get(r["domain"], r["domain"]), P.fmt_num(r["size"], lang), P.fmt_pct(r["mean"], lang),
                                 P.fmt_pct(r["min"], lang)] for _, r in g.iterrows()]})
        first = sub[sub["domain"] == sub["domain"].iloc[0]]
        labels = {r["indicator"]: P.label(r, lang) for _, r in est.drop_duplicates("indicator").iterrows()}
        cols = [c for c in ("truth", "mean_estimate", "relative_bias", "coverage", "se_ratio") if c in t.columns]
        reps = f"; {V['replicates'].lower()}: {P.fmt_num(sub['replicates'].max(), lang)}" if "replicates" in t.columns else ""
        fmt = {"relative_bias": lambda v: P.fmt_pct(v, lang, 2), "coverage": lambda v: P.fmt_pct(v, lang),
               "replicates": lambda v: P.fmt_num(v, lang), "se_ratio": lambda v: num(v, 2)}
        tables.append({"title": V["province"].format(m=m + reps), "columns": [V["indicator"]] + [V[c] for c in cols],
                       "rows": [[labels.get(r["indicator"], r["indicator"])] + [fmt.get(c, num)(r[c]) for c in cols]
                                for _, r in first.iterrows()]})
    else:
        tables.append({"title": V["rows"], "columns": list(t.columns),
                       "rows": [[num(v) for v in row] for row in t.head(40).itertuples(index=False)]})
    uris = list(dict.fromkeys(data_uri(p) for p in figs))  # the same figure in both places is shown once
    return {"tables": tables, "figures": uris}


def context(cfg: dict, inputs: dict, manifest: dict, build: Path, out: Path) -> dict:
    lang = cfg["report"]["language"]
    T, est = TEXT[lang], inputs["estimates"]
    labels = {r["indicator"]: P.label(r, lang) for _, r in est.drop_duplicates("indicator").iterrows()}
    figs = {"headline": [], "districts": [], "weights": [], "quality": []}
    captions = {"headline": T["fig_headline" if cfg["report"]["targets"] else "fig_headline_plain"], "weights": T["fig_weights"], "controls": T["fig_controls"],
                "quality_rules": T["fig_rules"], "quality_quarantine": T["fig_quarantine"], "response_rates": T["fig_response"]}
    for fg in manifest["figures"]:
        name = fg["name"]
        if name.startswith("districts_"):
            group, cap = "districts", T["fig_district"].format(label=labels.get(name[len("districts_"):], name))
        else:
            group = {"headline": "headline", "weights": "weights", "controls": "weights"}.get(name, "quality")
            cap = captions.get(name, name)
        figs[group].append({"name": name, "caption": cap, "src": data_uri(out / fg["png"]), "svg": fg["svg"]})
    title = cfg["survey"].get("title", {}).get(lang, cfg["survey"]["name"])
    return {"T": T, "lang": lang, "title": title, "source": P.source_text(cfg, lang),
            "summary": summary_rows(est, cfg, lang), "indicators": estimate_rows(est, lang),
            "ci_text": P.ci_text(est["ci_method"], cfg["reporting"]["level"], lang),
            "figs": figs, "methods": methods(cfg, inputs, build, lang), "quality": quality(cfg, inputs, lang),
            "validation": validation(build, out, cfg, est, lang), "name": cfg["survey"]["name"]}


def render(ctx: dict) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    return env.get_template(TEMPLATE.name).render(**ctx)


def main(argv=None) -> None:
    args, log = parse("report", argv), Log("report")
    cfg = config.load(args.survey)
    inputs = load_inputs(cfg, args.build, args.survey)
    figures = []
    for part in PARTS:
        path = args.out / manifest_name(part)
        if not path.is_file():
            raise PipelineError(path, None, "missing stage input (run the figures stage first: make all)")
        figures += io.read_json(path)["figures"]
    manifest = {"figures": figures}
    html = render(context(cfg, inputs, manifest, args.build, args.out))
    with io.Outputs(args.out) as out:
        out.text(html, "report.html")
    log(f"{len(inputs['estimates'])} estimates, {len(manifest['figures'])} figures; "
        f"wrote {args.out / 'report.html'} ({len(html.encode()) / 1e6:.1f} MB)")
    log.done()


if __name__ == "__main__":
    run(main)
