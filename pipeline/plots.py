"""Figure helpers of the figures and report stages: texts, number formats, plotted data, charts.

Every chart has a ``*_data`` function returning the table it draws (built from
the stage outputs, never from constants) and a ``*_figure`` function drawing
that table; tests check the first and the SVG ids of the second.  Each drawn
estimate is a group with id ``est:<indicator>:<domain>:<domain value>`` in the
SVG, so a reader (or a test) can see which estimates a chart shows.

Style: Okabe-Ito colours with distinct marker shapes and line styles (readable
in grey-scale and by colour-blind readers), DejaVu Sans (bundled with
matplotlib, full Vietnamese diacritics), percentages with the language's
decimal mark ("79,1%" in Vietnamese, "79.1%" in English), and a footnote with
the source and the CI method on every figure.  Output is byte-identical across
runs: no dates in the metadata, a fixed SVG hash salt, glyphs as paths.
"""
from __future__ import annotations

import functools
import textwrap

import numpy as np
import pandas as pd

# matplotlib is imported by the drawing functions (pyplot()), not with this module: the report
# stage uses only the texts, number formats and tables here, and the import takes about 0.5 s.

# Okabe-Ito palette
BLUE, ORANGE, VERMILLION, SKY, GREEN, PURPLE, GREY = "#0072B2", "#E69F00", "#D55E00", "#56B4E9", "#009E73", "#CC79A7", "#666666"

LABEL_BOX = dict(boxstyle="square,pad=0.12", facecolor="white", edgecolor="none", alpha=0.9)

RC = {
    "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10.5, "axes.titleweight": "bold",
    "axes.titlelocation": "left", "axes.spines.top": False, "axes.spines.right": False,
    "axes.edgecolor": "#444444", "axes.labelcolor": "#222222", "xtick.color": "#333333", "ytick.color": "#222222",
    "svg.hashsalt": "hhsurvey-figures", "svg.fonttype": "path", "figure.dpi": 100, "savefig.dpi": 150,
    "path.simplify": False,
    "figure.autolayout": False, "figure.constrained_layout.use": False,  # save() relies on no default engine
}

TEXT = {
    "vi": {
        "headline": "Các chỉ tiêu chính toàn tỉnh, với khoảng tin cậy 95% và mục tiêu quốc gia",
        "headline_plain": "Các chỉ tiêu chính toàn tỉnh, với khoảng tin cậy 95%",
        "household": "Hộ gia đình", "person": "Người từ 15 tuổi trở lên", "persons": "Nhân khẩu",
        "estimate": "Ước lượng", "ci": "Khoảng tin cậy 95%", "target": "Mục tiêu quốc gia",
        "target_short": "Mục tiêu {year}: {value}", "province": "Toàn tỉnh",
        "district": "Theo huyện/thị xã/thành phố", "urban": "Thành thị/nông thôn",
        "percent_of": "Tỷ lệ (%)", "value": "Giá trị",
        "suppressed": "ẩn (độ tin cậy thấp)", "flagged": "cần xem xét (xem ghi chú)",
        "note_suppressed": "Ước lượng ẩn: không đạt quy tắc độ tin cậy (NCHS): {rules}.",
        "note_flagged": "Điểm rỗng: ước lượng cần xem xét thống kê ({rules}).",
        "source": "Nguồn: {source}.",
        "ci_method": "Khoảng tin cậy {level}: {methods}.",
        "ci_none": "Hình này không có khoảng tin cậy.",
        "weights": "Phân phối quyền số: quyền số thiết kế và quyền số cuối cùng",
        "weights_x": "Quyền số (số hộ mà một hộ mẫu đại diện)", "weights_y": "Số hộ mẫu",
        "w_base": "Quyền số thiết kế", "w_nonresponse": "Sau điều chỉnh không trả lời", "w_final": "Quyền số cuối cùng",
        "weights_stats": "{name}: trung vị {median}; lớn nhất/nhỏ nhất {ratio}; deff Kish {deff}",
        "controls": "Tổng đạt được so với tổng kiểm soát ({unit})",
        "controls_x": "Chênh lệch so với tổng kiểm soát (%)",
        "rules": "Số bản ghi theo quy tắc làm sạch", "rules_x": "Số bản ghi",
        "quarantine_action": "Cách ly (loại khỏi phân tích)", "fix_action": "Sửa giá trị (giữ bản ghi)",
        "quarantine": "Bản ghi bị cách ly theo lý do", "quarantine_x": "Số bản ghi bị cách ly",
        "response": "Tỷ lệ trả lời theo tầng (không quyền số)", "response_x": "Tỷ lệ trả lời (%)",
        "overall": "Chung", "n_fmt": "{resp}/{elig}",
        "no_data": "Không có dữ liệu",
    },
    "en": {
        "headline": "Key indicators for the province, with 95% confidence intervals and national targets",
        "headline_plain": "Key indicators for the province, with 95% confidence intervals",
        "household": "Households", "person": "Persons aged 15 and over", "persons": "Persons",
        "estimate": "Estimate", "ci": "95% confidence interval", "target": "National target",
        "target_short": "Target {year}: {value}", "province": "Province",
        "district": "By district", "urban": "Urban/rural",
        "percent_of": "Percent", "value": "Value",
        "suppressed": "suppressed (unreliable)", "flagged": "flagged for review (see note)",
        "note_suppressed": "Suppressed estimate: fails the reliability rules (NCHS): {rules}.",
        "note_flagged": "Hollow marker: estimate flagged for statistical review ({rules}).",
        "source": "Source: {source}.",
        "ci_method": "{level} confidence intervals: {methods}.",
        "ci_none": "No confidence intervals in this figure.",
        "weights": "Distribution of weights: design (base) and final weights",
        "weights_x": "Weight (households represented by one sample household)", "weights_y": "Sample households",
        "w_base": "Design (base) weight", "w_nonresponse": "After nonresponse adjustment", "w_final": "Final weight",
        "weights_stats": "{name}: median {median}; max/min {ratio}; Kish deff {deff}",
        "controls": "Achieved vs control totals ({unit})",
        "controls_x": "Difference from the control total (%)",
        "rules": "Records per cleaning rule", "rules_x": "Records",
        "quarantine_action": "Quarantined (left out of the analysis)", "fix_action": "Value fixed (record kept)",
        "quarantine": "Quarantined records by reason", "quarantine_x": "Quarantined records",
        "response": "Response rates by stratum (unweighted)", "response_x": "Response rate (%)",
        "overall": "Overall", "n_fmt": "{resp}/{elig}",
        "no_data": "No data",
    },
}

CI_METHODS = {
    "vi": {"beta": "Korn–Graubard (beta) cho tỷ lệ", "logit": "logit cho tỷ lệ", "xlogit": "logit (xlogit) cho tỷ lệ",
           "wilson": "Wilson cho tỷ lệ", "asin": "arcsin cho tỷ lệ", "mean": "Wald (sai số chuẩn) cho tỷ lệ",
           "normal": "Wald (phân phối chuẩn) cho tỷ lệ", "t": "phân phối t (Student) cho giá trị bình quân"},
    "en": {"beta": "Korn–Graubard (beta) for proportions", "logit": "logit for proportions",
           "xlogit": "logit (xlogit) for proportions", "wilson": "Wilson for proportions",
           "asin": "arcsine for proportions", "mean": "Wald (standard error) for proportions",
           "normal": "Wald (normal) for proportions", "t": "Student t for means"},
}

# reasons and rules written by the clean stage itself (config rules keep their ids)
RULE_NAMES = {
    "vi": {"user_missing": "Mã thiếu (không biết/từ chối) → để trống", "unique_key": "Mã trùng lặp (giữ bản ghi đầu)",
           "frame_link": "Địa bàn không có trong dàn mẫu", "no_person": "Hộ hoàn thành không có nhân khẩu",
           "parent_link": "Không có hộ tương ứng"},
    "en": {"user_missing": "Missing code (don't know/refused) → blank", "unique_key": "Duplicate key (first kept)",
           "frame_link": "EA not in the sampling frame", "no_person": "Completed household without persons",
           "parent_link": "No matching household"},
}
FILE_NAMES = {"vi": {"household": "Hộ", "person": "Nhân khẩu"}, "en": {"household": "Household", "person": "Person"}}


def t(lang: str, key: str, **kw) -> str:
    s = TEXT[lang][key]
    return s.format(**kw) if kw else s


# --- number formats -------------------------------------------------------------
def fmt_num(x, lang: str, digits: int = 0) -> str:
    """``1234.5`` -> ``1.234,5`` (vi) or ``1,234.5`` (en)."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or pd.isna(x):
        return "—"
    s = f"{float(x):,.{digits}f}"
    if lang == "vi":
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s.replace("-", "−")


def fmt_pct(p, lang: str, digits: int = 1) -> str:
    """A proportion as people read it: ``0.7907`` -> ``79,1%`` (vi) or ``79.1%`` (en)."""
    if p is None or pd.isna(p):
        return "—"
    return fmt_num(100 * float(p), lang, digits) + "%"


def mean_digits(x) -> int:
    return 1 if abs(x) >= 100 else 2


def fmt_value(x, kind: str, lang: str) -> str:
    if kind == "proportion":
        return fmt_pct(x, lang)
    return "—" if pd.isna(x) else fmt_num(x, lang, mean_digits(x))


def fmt_ci(lo, hi, kind: str, lang: str) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "—"
    if kind == "proportion":
        return f"{fmt_num(100 * lo, lang, 1)}–{fmt_pct(hi, lang)}"
    d = mean_digits(max(abs(lo), abs(hi)))
    return f"{fmt_num(lo, lang, d)}–{fmt_num(hi, lang, d)}"


FLAG_PATTERNS = [  # codes written by pipeline.reliability -> words
    (r"^n_eff<(.+)$", {"vi": "cỡ mẫu hiệu dụng < {0}", "en": "effective n < {0}"}),
    (r"^ci_width>=(.+)$", {"vi": "độ rộng KTC ≥ {0}", "en": "CI width ≥ {0}"}),
    (r"^rel_ci_width>(.+)$", {"vi": "độ rộng tương đối của KTC > {0}", "en": "relative CI width > {0}"}),
    (r"^df<(.+)$", {"vi": "bậc tự do < {0}", "en": "df < {0}"}),
    (r"^estimate_0_or_1$", {"vi": "ước lượng bằng 0 hoặc 100%", "en": "estimate is 0 or 100%"}),
]


REVIEW_CODES = ("df<", "estimate_0_or_1")  # flagged for review, not suppressed


def flag_text(flags: str, lang: str) -> str:
    """``'n_eff<30;df<8'`` -> ``'cỡ mẫu hiệu dụng < 30; bậc tự do < 8'`` (unknown codes kept as they are)."""
    import re
    out = []
    for code in [f for f in str(flags or "").split(";") if f]:
        for pat, words in FLAG_PATTERNS:
            m = re.match(pat, code)
            if m:
                g = [fmt_num(float(x), lang, 2).rstrip("0").rstrip(",.") if _isnum(x) else x for x in m.groups()]
                code = words[lang].format(*g)
                break
        out.append(code)
    return "; ".join(out)


def review_flags(flags: str, suppress: bool) -> str:
    """The ';'-joined flags of an estimate that is drawn but flagged for review."""
    return "" if suppress or not isinstance(flags, str) else flags


def read_estimates(path) -> pd.DataFrame:
    e = pd.read_csv(path, dtype={"domain_value": str, "flags": str}, keep_default_na=True)
    e["flags"] = e["flags"].fillna("")
    e["suppress"] = e["suppress"].astype(str).str.lower().eq("true")
    return e


def label(row, lang: str) -> str:
    return row[f"label_{lang}"]


def domain_label(row, lang: str) -> str:
    if row["domain"] != "all" and row["domain_value"] == "all":
        return t(lang, "province") if row["domain"] == "province" else str(row["domain_value_label"])
    lab = row["domain_value_label"]
    return str(lab) if isinstance(lab, str) and lab.strip() else f"{row['domain']} = {row['domain_value']}"


# --- footnotes -------------------------------------------------------------------
def source_text(cfg: dict, lang: str) -> str:
    rep = cfg["report"]
    if rep.get("source"):
        return rep["source"][lang]
    title = cfg["survey"].get("title")
    return title[lang] if title else cfg["survey"]["name"]


def ci_text(methods, level: float, lang: str) -> str:
    methods = [m for m in dict.fromkeys(methods) if isinstance(m, str)]
    if not methods:
        return t(lang, "ci_none")
    names = "; ".join(CI_METHODS[lang].get(m, m) for m in methods)
    lv = fmt_num(100 * level, lang, 0 if float(100 * level).is_integer() else 1) + "%"
    s = t(lang, "ci_method", level=lv, methods=names)
    return s[0].upper() + s[1:]


def footnote(cfg: dict, lang: str, methods, notes=()) -> str:
    parts = [t(lang, "source", source=source_text(cfg, lang)), ci_text(methods, cfg["reporting"]["level"], lang)]
    return "\n".join(textwrap.fill(p, 150) for p in list(notes) + parts)


def wrap(s: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(str(s), width)) or str(s)


# --- figure plumbing ---------------------------------------------------------------
@functools.cache
def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def formatter(fmt):
    """A tick formatter calling ``fmt(value)``."""
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda v, _: fmt(v))


def new_figure(width: float, height: float, note: str, **gridspec):
    """A figure with constrained layout and *note* as a footnote strip along the bottom."""
    plt = pyplot()
    plt.rcParams.update(RC)
    fig = plt.figure(figsize=(width, height), layout="constrained")
    lines = note.count("\n") + 1
    foot = min(0.45, (0.2 + 0.15 * lines) / height)
    fig.get_layout_engine().set(rect=(0, foot, 1, 1 - foot), h_pad=0.06, w_pad=0.06)
    fig.text(0.01, 0.012, note, ha="left", va="bottom", fontsize=7.2, color="#333333", linespacing=1.35)
    return fig


def save(fig, png_path, svg_path) -> None:
    # Lay out once, then freeze the positions rounded: the layout's floats can differ in their last
    # bits between processes, and the SVG's clip-path ids hash them.  Only the layout engine runs
    # (it measures the texts but draws nothing); it is then removed with None, not "none", whose
    # placeholder engine would make savefig draw the whole figure once more before each file.
    fig.set_dpi(RC["savefig.dpi"])
    fig.get_layout_engine().execute(fig)
    fig.set_layout_engine(None)
    for ax in fig.axes:
        ax.set_position([round(v, 5) for v in ax.get_position().bounds])
    if fig._suptitle is not None:
        fig._suptitle.set_position([round(v, 5) for v in fig._suptitle.get_position()])
    # zlib level 3 instead of 6: the PNGs are about 6% larger and encode in half the time
    fig.savefig(png_path, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    fig.savefig(svg_path, format="svg", metadata={"Date": None, "Creator": None})
    pyplot().close(fig)


def tick_pct(v, lang: str) -> str:
    """Axis tick: whole percentages without decimals, others with one ("12,5%")."""
    return fmt_pct(v, lang, 0 if abs(round(100 * v, 6) - round(100 * v)) < 1e-6 else 1)


def pct_axis(ax, lang: str, lo: float = 0.0, hi: float = 1.0) -> None:
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(formatter(lambda v: tick_pct(v, lang)))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def num_axis(ax, lang: str, digits: int = 0) -> None:
    ax.xaxis.set_major_formatter(formatter(lambda v: fmt_num(v, lang, digits)))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def draw_estimate(ax, y, row, color=BLUE, marker="o", hollow=False, size=6.5):
    """One estimate: CI whisker and point, grouped under its SVG id."""
    gid = f"est:{row['indicator']}:{row['domain']}:{row['domain_value']}"
    line = ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=color, linewidth=1.8, solid_capstyle="butt",
                   zorder=2, gid=gid + ":ci")[0]
    caps = ax.plot([row["ci_low"], row["ci_high"]], [y, y], linestyle="none", marker="|", markersize=7,
                   color=color, zorder=2, gid=gid + ":caps")[0]
    pt = ax.plot([row["estimate"]], [y], linestyle="none", marker=marker, markersize=size, zorder=3,
                 markerfacecolor="white" if hollow else color, markeredgecolor=color, markeredgewidth=1.4,
                 gid=gid)[0]
    return line, caps, pt


def reliability_notes(rows: pd.DataFrame, cfg: dict, lang: str) -> list[str]:
    notes = []
    sup = rows[rows["suppress"]]
    if len(sup):
        rules = sorted({f for x in sup["flags"] for f in str(x).split(";") if f and not f.startswith(REVIEW_CODES)})
        notes.append(t(lang, "note_suppressed", rules=flag_text(";".join(rules), lang) or "—"))
    flg = rows[~rows["suppress"] & rows["flags"].ne("")]
    if len(flg):
        rules = sorted({f for x in flg["flags"] for f in str(x).split(";") if f})
        notes.append(t(lang, "note_flagged", rules=flag_text(";".join(rules), lang)))
    return notes


# --- headline ----------------------------------------------------------------------
def key_indicators(est: pd.DataFrame, cfg: dict) -> list[str]:
    keys = cfg["report"]["key_indicators"]
    if keys:
        return list(keys)
    return list(dict.fromkeys(est.loc[est["kind"].eq("proportion"), "indicator"]))


def headline_data(est: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Province estimates of the key proportion indicators, with their national targets."""
    keys = [k for k in key_indicators(est, cfg)]
    prov = est[est["domain"].eq(est["domain"].iloc[0]) & est["domain_value"].eq("all")]
    rows = prov[prov["indicator"].isin(keys) & prov["kind"].eq("proportion")].copy()
    rows["_o"] = rows["indicator"].map({k: i for i, k in enumerate(keys)})
    rows = rows.sort_values(["unit", "_o"], key=lambda s: s.map({"household": 0, "person": 1}) if s.name == "unit" else s,
                            kind="stable").drop(columns="_o")
    targets = {}
    for tg in cfg["report"]["targets"]:
        targets.setdefault(tg["indicator"], []).append(tg)
    rows["targets"] = [targets.get(i, []) for i in rows["indicator"]]
    rows["drawn"] = ~rows["suppress"]
    return rows.reset_index(drop=True)


def headline_figure(data: pd.DataFrame, cfg: dict, lang: str):
    from matplotlib.lines import Line2D
    units = [u for u in ("household", "person") if (data["unit"] == u).any()] or ["household"]
    counts = [max(1, int((data["unit"] == u).sum())) for u in units]
    note = footnote(cfg, lang, data["ci_method"], reliability_notes(data, cfg, lang))
    fig = new_figure(9.5, 1.6 + 0.55 * sum(counts) + 0.5 * len(units), note)
    grid = fig.subplots(len(units) + 1, 1, gridspec_kw={"height_ratios": [0.5] + counts})
    grid[0].axis("off")
    axes = grid[1:]
    for ax, unit in zip(axes, units):
        d = data[data["unit"] == unit].reset_index(drop=True)
        ys = np.arange(len(d))[::-1]
        for y, (_, row) in zip(ys, d.iterrows()):
            if row["drawn"]:
                draw_estimate(ax, y, row, hollow=bool(review_flags(row["flags"], row["suppress"])))
                ax.annotate(fmt_pct(row["estimate"], lang), (row["estimate"], y), xytext=(0, 6.5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8.5,
                            color="#111111", fontweight="bold", bbox=LABEL_BOX, zorder=5)
            else:
                ax.text(0.01, y, "— " + t(lang, "suppressed"), va="center", fontsize=8, color=GREY)
            for tg in row["targets"]:
                ax.plot([tg["value"]], [y], linestyle="none", marker="D", markersize=7, markerfacecolor="white",
                        markeredgecolor=VERMILLION, markeredgewidth=1.8, zorder=4,
                        gid=f"target:{row['indicator']}:{tg['value']}")
                ax.annotate(t(lang, "target_short", year=tg.get("year", ""), value=fmt_pct(tg["value"], lang, 0)),
                            (tg["value"], y), xytext=(0, -7), textcoords="offset points", ha="center", va="top",
                            fontsize=7.5, color=VERMILLION)
        ax.set_yticks(ys, [wrap(label(r, lang), 44) for _, r in d.iterrows()])
        ax.set_ylim(-0.7, len(d) - 0.3)
        pct_axis(ax, lang)
        ax.set_title(t(lang, unit))
        ax.tick_params(axis="y", length=0)
    handles = [Line2D([], [], color=BLUE, marker="o", markersize=6, linewidth=1.8, label=f"{t(lang, 'estimate')} "
                          f"({t(lang, 'ci').lower() if lang == 'en' else t(lang, 'ci')[0].lower() + t(lang, 'ci')[1:]})")]
    if any(len(x) for x in data["targets"]):
        handles.append(Line2D([], [], linestyle="none", marker="D", markersize=7, markerfacecolor="white",
                                  markeredgecolor=VERMILLION, markeredgewidth=1.8, label=t(lang, "target")))
    grid[0].legend(handles=handles, loc="center left", ncol=2, frameon=False, fontsize=8.5, borderaxespad=0)
    has_targets = any(len(x) for x in data["targets"])
    fig.suptitle(t(lang, "headline" if has_targets else "headline_plain"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


# --- districts ------------------------------------------------------------------------
def district_data(est: pd.DataFrame, indicator: str) -> dict:
    """Rows drawn in one indicator's district chart: 'province', 'district' and 'urban' tables."""
    e = est[est["indicator"] == indicator]
    prov = e[e["domain_value"].eq("all")].head(1)
    out = {"province": prov.reset_index(drop=True)}
    for dom in ("district", "urban"):
        d = e[e["domain"] == dom].copy()
        d["drawn"] = ~d["suppress"]
        # sorted by estimate, highest on top; suppressed rows at the bottom
        d["_k"] = d["estimate"].where(d["drawn"], -np.inf)
        out[dom] = d.sort_values("_k", ascending=False, kind="stable").drop(columns="_k").reset_index(drop=True)
    return out


def district_figure(data: dict, cfg: dict, lang: str):
    from matplotlib.lines import Line2D
    prov = data["province"]
    allrows = pd.concat([data["district"], data["urban"], prov])
    kind = allrows["kind"].iloc[0]
    note = footnote(cfg, lang, allrows["ci_method"], reliability_notes(allrows, cfg, lang))
    nd, nu = max(len(data["district"]), 1), max(len(data["urban"]), 1)
    fig = new_figure(9.5, 1.9 + 0.36 * max(nd, 2 * nu) + 0.55, note)
    grid = fig.subplot_mosaic([["legend", "legend"], ["district", "urban"]],
                              gridspec_kw={"width_ratios": [1.6, 1], "height_ratios": [0.3, 0.36 * max(nd, 2 * nu)]})
    axes = [grid["district"], grid["urban"]]
    grid["legend"].axis("off")
    drawn = allrows[~allrows["suppress"]]
    ind = allrows["indicator"].iloc[0]
    targets = [tg for tg in cfg["report"]["targets"] if tg["indicator"] == ind]
    marks = np.r_[prov["estimate"].to_numpy(float), [tg["value"] for tg in targets]]
    lo = np.nanmin(np.r_[drawn["ci_low"].to_numpy(float), marks]) if len(drawn) else 0
    hi = np.nanmax(np.r_[drawn["ci_high"].to_numpy(float), marks]) if len(drawn) else 1
    pad = 0.08 * (hi - lo if hi > lo else 1)
    lo, hi = lo - pad, hi + pad
    if kind == "proportion":
        lo, hi = max(0.0, lo), min(1.0, hi)
    styles = {"district": (BLUE, "o"), "urban": (BLUE, "s")}
    for ax, dom in zip(axes, ("district", "urban")):
        d = data[dom]
        ys = np.arange(len(d))[::-1]
        color, marker = styles[dom]
        for y, (_, row) in zip(ys, d.iterrows()):
            if row["drawn"]:
                draw_estimate(ax, y, row, color=color, marker=marker,
                              hollow=bool(review_flags(row["flags"], row["suppress"])))
                ax.annotate(fmt_value(row["estimate"], kind, lang), (row["estimate"], y), xytext=(0, 5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5, color="#111111",
                            bbox=LABEL_BOX, zorder=5)
            else:
                ax.text(0.02, y, "— " + t(lang, "suppressed"), transform=ax.get_yaxis_transform(), va="center",
                        fontsize=7.5, color=GREY)
        if len(prov) and not prov["suppress"].iloc[0]:
            ax.axvline(prov["estimate"].iloc[0], color="#222222", linestyle=(0, (4, 3)), linewidth=1, zorder=1,
                       gid=f"ref:{prov['indicator'].iloc[0]}")
        for tg in targets:
            ax.axvline(tg["value"], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8, zorder=1,
                       gid=f"target:{ind}:{tg['value']}")
        ax.set_yticks(ys, [domain_label(r, lang) for _, r in d.iterrows()])
        ax.set_ylim(-0.7, max(len(d), 2) - 0.2)
        if kind == "proportion":
            pct_axis(ax, lang, lo, hi)
        else:
            ax.set_xlim(lo, hi)
            num_axis(ax, lang, 0 if hi - lo > 20 else 1)
        ax.set_title(t(lang, dom))
        ax.tick_params(axis="y", length=0)
    handles = [Line2D([], [], color=BLUE, marker="o", markersize=6, linewidth=1.8,
                          label=f"{t(lang, 'estimate')}, {t(lang, 'ci').lower() if lang == 'en' else t(lang, 'ci')[0].lower() + t(lang, 'ci')[1:]}")]
    if len(prov) and not prov["suppress"].iloc[0]:
        handles.append(Line2D([], [], color="#222222", linestyle=(0, (4, 3)), linewidth=1,
                                  label=f"{t(lang, 'province')}: {fmt_value(prov['estimate'].iloc[0], kind, lang)}"))
    for tg in targets:
        handles.append(Line2D([], [], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8,
                                  label=t(lang, "target_short", year=tg.get("year", ""), value=fmt_pct(tg["value"], lang, 0))
                                  + (f" — {tg['reference']}" if tg.get("reference") else "")))
    if (allrows["flags"].ne("") & ~allrows["suppress"]).any():
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=6, markerfacecolor="white",
                                  markeredgecolor=BLUE, label=t(lang, "flagged")))
    grid["legend"].legend(handles=handles, loc="center left", ncol=len(handles), frameon=False, fontsize=8,
                          borderaxespad=0, handlelength=2.2, columnspacing=1.5)
    title = label(prov.iloc[0], lang) if len(prov) else label(allrows.iloc[0], lang)
    fig.suptitle(wrap(title, 95), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


# --- weighting -------------------------------------------------------------------------
def weights_data(hh: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("w_base", "w_nonresponse", "weight") if c in hh.columns]
    return hh[cols].rename(columns={"weight": "w_final"}).astype(float)


def weights_figure(data: pd.DataFrame, diagnostics: dict, cfg: dict, lang: str):
    note = footnote(cfg, lang, [])
    fig = new_figure(9.5, 4.8, note)
    ax = fig.subplots()
    cols = [c for c in ("w_base", "w_final") if c in data.columns]
    vals = data[cols].to_numpy(float)
    bins = np.histogram_bin_edges(vals[np.isfinite(vals)], bins=40)
    styles = {"w_base": dict(color=ORANGE, linestyle="--", linewidth=1.8, hatch="///", alpha=1.0),
              "w_final": dict(color=BLUE, linestyle="-", linewidth=1.8)}
    for c in cols:
        st = dict(styles[c])
        hatch = st.pop("hatch", None)
        if hatch:
            ax.hist(data[c], bins=bins, histtype="stepfilled", facecolor="none", edgecolor=st["color"], hatch=hatch,
                    linewidth=0, gid=f"hist-fill:{c}")
        ax.hist(data[c], bins=bins, histtype="step", label=t(lang, c), gid=f"hist:{c}", **st)
    stats = []
    for c in cols:
        w = data[c].to_numpy(float)
        deff = len(w) * np.sum(w ** 2) / np.sum(w) ** 2
        stats.append(t(lang, "weights_stats", name=t(lang, c), median=fmt_num(np.median(w), lang, 1),
                       ratio=fmt_num(w.max() / w.min(), lang, 2), deff=fmt_num(deff, lang, 3)))
    ax.text(0.99, 0.98, "\n".join(stats), transform=ax.transAxes, ha="right", va="top", fontsize=7.8,
            bbox=dict(facecolor="white", edgecolor="#cccccc", boxstyle="round,pad=0.4"))
    num_axis(ax, lang, 0)
    ax.yaxis.set_major_formatter(formatter(lambda v: fmt_num(v, lang, 0)))
    ax.set_xlabel(t(lang, "weights_x"))
    ax.set_ylabel(t(lang, "weights_y"))
    ax.legend(loc="upper left", frameon=False)
    fig.suptitle(t(lang, "weights"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


def control_data(units: dict, controls: list, codebook: dict) -> pd.DataFrame:
    """Per control cell: the control total and the weighted totals at each weighting step.

    *units* maps ``household``/``person`` to the weighted records of that unit."""
    rows = []
    for name, unit, table in controls:
        margins = [m for m in table.columns if m != "count"]
        hh = units.get(unit)
        if hh is None or not set(margins) <= set(hh.columns):
            continue
        codes = {}  # per margin: each record's position in the list of distinct codes, and that list
        for m in margins:
            pos, values = pd.factorize(hh[m], use_na_sentinel=False)
            codes[m] = pos, [_code(v) for v in values]
        weights = {w: hh[w].to_numpy(float) for w in ("w_base", "w_nonresponse", "weight") if w in hh.columns}
        for _, c in table.iterrows():
            inside = np.ones(len(hh), bool)
            for m in margins:
                pos, values = codes[m]
                inside &= np.isin(pos, [k for k, v in enumerate(values) if v == _code(c[m])])
            cell = " – ".join(_value_label(codebook, m, c[m]) for m in margins)
            row = {"table": name, "unit": unit, "cell": cell, "control": float(c["count"]),
                   "n": int(inside.sum())}
            for w, v in weights.items():
                row["w_final" if w == "weight" else w] = float(np.nansum(v[inside]))
            rows.append(row)
    return pd.DataFrame(rows)


def _code(v) -> str:
    """A code as a comparable string: 1, 1.0 and "1" are the same code."""
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def _value_label(codebook: dict, col: str, v) -> str:
    key = str(int(float(v))) if _isnum(v) and float(v).is_integer() else str(v)
    for table in codebook.values():
        labels = table.get(col, {}).get("values", {})
        if key in labels:
            return labels[key]
    return key if not _isnum(v) else f"{col}={key}"


def _isnum(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def controls_figure(data: pd.DataFrame, cfg: dict, lang: str):
    note = footnote(cfg, lang, [])
    n = max(len(data), 1)
    fig = new_figure(9.5, 1.8 + 0.3 * n, note)
    ax = fig.subplots()
    if not len(data):
        ax.text(0.5, 0.5, t(lang, "no_data"), ha="center", transform=ax.transAxes)
        return fig
    ys = np.arange(len(data))[::-1]
    steps = [("w_base", ORANGE, "^", "none"), ("w_nonresponse", GREEN, "s", "none"), ("w_final", BLUE, "o", BLUE)]
    for col, color, marker, face in steps:
        if col not in data.columns:
            continue
        rel = (data[col] / data["control"] - 1).to_numpy(float)
        ax.plot(rel, ys, linestyle="none", marker=marker, markersize=6.5, markerfacecolor=face if face != "none" else "white",
                markeredgecolor=color, markeredgewidth=1.5, label=t(lang, col), gid=f"controls:{col}", zorder=3)
    ax.axvline(0, color="#222222", linewidth=1)
    for y in ys[1:][data["table"].to_numpy()[1:] != data["table"].to_numpy()[:-1]]:
        ax.axhline(y + 0.5, color="#999999", linewidth=0.8, linestyle="-")
    ax.set_yticks(ys, [f"{c} ({fmt_num(v, lang, 0)})" for c, v in zip(data["cell"], data["control"])])
    ax.set_ylim(-0.7, len(data) - 0.3)
    ax.xaxis.set_major_formatter(formatter(lambda v: tick_pct(v, lang)))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(t(lang, "controls_x"))
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=3, frameon=False, fontsize=8.5, borderaxespad=0)
    units = sorted(set(data["unit"]))
    fig.suptitle(t(lang, "controls", unit=", ".join(t(lang, "household" if u == "household" else "persons").lower()
                                                   for u in units)),
                 x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


# --- data quality ------------------------------------------------------------------------
def rules_data(validation: pd.DataFrame, lang: str) -> pd.DataFrame:
    d = validation.copy()
    d["label"] = [f"{FILE_NAMES[lang].get(f, f)}: {RULE_NAMES[lang].get(r, r)}" for f, r in zip(d["file"], d["rule"])]
    return d.reset_index(drop=True)


def _barh(ax, labels, values, colors, hatches, lang, gids):
    ys = np.arange(len(labels))[::-1]
    bars = ax.barh(ys, values, color=colors, edgecolor="#222222", linewidth=0.6, height=0.65, zorder=2)
    for b, h, g in zip(bars, hatches, gids):
        if h:
            b.set_hatch(h)
        b.set_gid(g)
    vmax = max(values) if len(values) else 1
    for y, v in zip(ys, values):
        ax.text(v + 0.01 * max(vmax, 1), y, fmt_num(v, lang, 0), va="center", fontsize=8)
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_xlim(0, max(vmax, 1) * 1.12)
    num_axis(ax, lang, 0)
    ax.tick_params(axis="y", length=0)
    return ys


def rules_figure(data: pd.DataFrame, cfg: dict, lang: str):
    fig = new_figure(9.5, 1.9 + 0.3 * max(len(data), 1), footnote(cfg, lang, []))
    ax = fig.subplots()
    q = data["action"].eq("quarantine").to_numpy()
    _barh(ax, list(data["label"]), data["records"].astype(int).tolist(),
          [VERMILLION if x else SKY for x in q], ["////" if x else "" for x in q], lang,
          [f"rule:{f}:{r}" for f, r in zip(data["file"], data["rule"])])
    ax.set_xlabel(t(lang, "rules_x"))
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(facecolor=VERMILLION, edgecolor="#222222", hatch="////", label=t(lang, "quarantine_action")),
                       Patch(facecolor=SKY, edgecolor="#222222", label=t(lang, "fix_action"))],
              loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2, frameon=False, fontsize=8.5, borderaxespad=0)
    fig.suptitle(t(lang, "rules"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


def quarantine_data(quarantines: dict, lang: str) -> pd.DataFrame:
    rows = []
    for file, q in quarantines.items():
        if not len(q):
            continue
        g = q.groupby(["_rule", "_reason"], dropna=False, sort=False).size().reset_index(name="records")
        for _, r in g.iterrows():
            name = RULE_NAMES[lang].get(r["_rule"]) or f"{r['_rule']}: {r['_reason']}"
            rows.append({"file": file, "rule": r["_rule"], "reason": r["_reason"], "records": int(r["records"]),
                         "label": f"{FILE_NAMES[lang].get(file, file)}: {name}"})
    d = pd.DataFrame(rows, columns=["file", "rule", "reason", "records", "label"])
    return d.sort_values(["file", "records"], ascending=[True, False], kind="stable").reset_index(drop=True)


def quarantine_figure(data: pd.DataFrame, cfg: dict, lang: str):
    fig = new_figure(9.5, 1.8 + 0.34 * max(len(data), 1), footnote(cfg, lang, []))
    ax = fig.subplots()
    if len(data):
        hh = data["file"].eq("household").to_numpy()
        _barh(ax, list(data["label"]), data["records"].tolist(), [VERMILLION if x else ORANGE for x in hh],
              ["////" if x else "...." for x in hh], lang, [f"quarantine:{f}:{r}" for f, r in zip(data["file"], data["rule"])])
    else:
        ax.text(0.5, 0.5, t(lang, "no_data"), ha="center", transform=ax.transAxes)
    ax.set_xlabel(t(lang, "quarantine_x"))
    fig.suptitle(t(lang, "quarantine"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


def response_data(hh: pd.DataFrame, strata: str | None, eligible, respondent, codebook: dict,
                  label_by=()) -> pd.DataFrame:
    """Eligible and responding households per stratum (unweighted), from the clean household file."""
    d = pd.DataFrame({"stratum": hh[strata].astype(str) if strata else "all",
                      "eligible": np.asarray(eligible, bool), "respondent": np.asarray(respondent, bool) & np.asarray(eligible, bool)})
    for c in label_by:
        d[c] = hh[c].to_numpy()
    g = d.groupby("stratum", sort=True).agg(eligible=("eligible", "sum"), respondents=("respondent", "sum")).reset_index()
    labels = []
    for s in g["stratum"]:
        parts = []
        sub = d[d["stratum"] == s]
        for c in label_by:
            vals = sub[c].dropna().unique()
            if len(vals) == 1:
                parts.append(_value_label(codebook, c, vals[0]))
        labels.append(f"{s} · " + " – ".join(parts) if parts else str(s))
    g["label"] = labels
    g["rate"] = g["respondents"] / g["eligible"].where(g["eligible"] > 0)
    return g


def response_figure(data: pd.DataFrame, cfg: dict, lang: str):
    fig = new_figure(9.5, 1.9 + 0.3 * max(len(data), 1), footnote(cfg, lang, []))
    ax = fig.subplots()
    ys = np.arange(len(data))[::-1]
    overall = data["respondents"].sum() / max(data["eligible"].sum(), 1)
    for y, (_, r) in zip(ys, data.iterrows()):
        ax.plot([r["rate"]], [y], linestyle="none", marker="o", markersize=7, color=BLUE, zorder=3,
                gid=f"response:{r['stratum']}")
        ax.annotate(f"{fmt_pct(r['rate'], lang)}  ({t(lang, 'n_fmt', resp=fmt_num(r['respondents'], lang), elig=fmt_num(r['eligible'], lang))})",
                    (r["rate"], y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=7.8,
                    bbox=LABEL_BOX, zorder=5)
    ax.axvline(overall, color="#222222", linestyle=(0, (4, 3)), linewidth=1,
               label=f"{t(lang, 'overall')}: {fmt_pct(overall, lang)}")
    ax.set_yticks(ys, list(data["label"]))
    ax.set_ylim(-0.7, len(data) - 0.3)
    lo = max(0.0, np.floor((np.nanmin(data["rate"]) - 0.1) * 10) / 10) if len(data) else 0
    pct_axis(ax, lang, lo, 1.12)
    ax.set_xticks([x for x in np.arange(lo, 1.0001, 0.05 if lo >= 0.5 else 0.1)])
    ax.spines["bottom"].set_bounds(lo, 1.0)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_xlabel(t(lang, "response_x"))
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False, fontsize=8.5, borderaxespad=0)
    fig.suptitle(t(lang, "response"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig
