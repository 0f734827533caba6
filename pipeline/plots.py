"""Drawing the figures: style, layout, saving, and one function per chart.

Each ``*_figure`` function draws one table of :mod:`pipeline.chart_data` and
returns a matplotlib Figure; texts come from :mod:`pipeline.text`, numbers
from :mod:`pipeline.formats`.  Each drawn estimate is a group with id
``est:<indicator>:<domain>:<domain value>`` in the SVG, so a reader (or a
test) can see which estimates a chart shows.

Style: Okabe-Ito colours with distinct marker shapes and line styles (readable
in grey-scale and by colour-blind readers), DejaVu Sans (bundled with
matplotlib, full Vietnamese diacritics), a footnote with the source and the CI
method on every figure.  Labels from the config reach matplotlib as plain
text (:func:`plain`: no mathtext).  Output is byte-identical across runs: no
dates in the metadata, a fixed SVG hash salt, SVG text as text (searchable), PNGs without an alpha channel.
"""
from __future__ import annotations

import functools
import textwrap

import numpy as np
import pandas as pd

from .formats import fmt_coef, fmt_num, fmt_pct, fmt_value, review_flags, tick_pct
from .text import CI_METHODS, area_words, label_text, t, table

# matplotlib is imported by the drawing functions (pyplot()), not with this module: the import takes about 0.5 s.

# Okabe-Ito palette
BLUE, ORANGE, VERMILLION, SKY, GREEN, PURPLE, GREY = "#0072B2", "#E69F00", "#D55E00", "#56B4E9", "#009E73", "#CC79A7", "#666666"

LABEL_BOX = dict(boxstyle="square,pad=0.12", facecolor="white", edgecolor="none", alpha=0.9)

# SVG text stays text ("svg.fonttype": "none"): searchable and editable, a third of the size, and no
# glyph outlines to compute (about a fifth of the drawing time); viewers draw it in DejaVu Sans or a sans-serif
RC = {
    "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10.5, "axes.titleweight": "bold",
    "axes.titlelocation": "left", "axes.spines.top": False, "axes.spines.right": False,
    "axes.edgecolor": "#444444", "axes.labelcolor": "#222222", "xtick.color": "#333333", "ytick.color": "#222222",
    "svg.hashsalt": "hhsurvey-figures", "svg.fonttype": "none", "figure.dpi": 100, "savefig.dpi": 150,
    "path.simplify": False,
    "figure.autolayout": False, "figure.constrained_layout.use": False,  # save() relies on no default engine
}


def plain(s) -> str:
    """A label as matplotlib shows it literally: ``$`` would start mathtext."""
    return str(s).replace("$", r"\$")


def level_text(cfg: dict, lang: str) -> str:
    """The confidence level as a percentage, e.g. ``95%``."""
    level = 100 * cfg["reporting"]["level"]
    return fmt_num(level, lang, 0 if float(level).is_integer() else 1) + "%"


def source_text(cfg: dict, lang: str) -> str:
    rep = cfg["report"]
    if rep.get("source"):
        return label_text(rep["source"], lang)
    return label_text(cfg["survey"].get("title"), lang) or cfg["survey"]["name"]


def ci_text(methods, level: float, lang: str) -> str:
    methods = [m for m in dict.fromkeys(methods) if isinstance(m, str)]
    if not methods:
        return t(lang, "ci_none")
    names = "; ".join(table(CI_METHODS, lang).get(m, m) for m in methods)
    lv = fmt_num(100 * level, lang, 0 if float(100 * level).is_integer() else 1) + "%"
    s = t(lang, "ci_method", level=lv, methods=names)
    return s[0].upper() + s[1:]


def footnote(cfg: dict, lang: str, methods, notes=()) -> str:
    """Notes, the source and the CI methods of *methods* (None: a figure whose intervals the notes explain)."""
    parts = [t(lang, "source", source=source_text(cfg, lang))]
    if methods is not None:
        parts.append(ci_text(methods, cfg["reporting"]["level"], lang))
    return plain("\n".join(textwrap.fill(p, 150) for p in list(notes) + parts))


def wrap(s: str, width: int = 38) -> str:
    return plain("\n".join(textwrap.wrap(str(s), width)) or str(s))


def lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


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
    write_png(fig, png_path)
    fig.savefig(svg_path, format="svg", metadata={"Date": None, "Creator": None})
    pyplot().close(fig)


def write_png(fig, path) -> None:
    """*fig* drawn by Agg at its dpi, written as an RGB PNG (*path*: a file name or a binary file object).

    The pixels are savefig's, without its alpha channel (the figures are opaque): the files are 8% smaller
    and encode faster.  zlib level 1: the PNG holds a few flat colours, so it costs little size (the
    files are still smaller than savefig's RGBA at level 3) for a third of the encoding time.
    """
    from PIL import Image
    canvas = fig.canvas  # Agg: pyplot() selects it
    canvas.draw()
    img = Image.frombuffer("RGBA", canvas.get_width_height(physical=True), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    img.convert("RGB").save(path, format="png", compress_level=1, dpi=(fig.dpi, fig.dpi))


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


# --- headline ----------------------------------------------------------------------
def headline_figure(data: pd.DataFrame, cfg: dict, lang: str, notes=()):
    """Key indicators of the overall domain, one panel per indicator group (unit or universe)."""
    from matplotlib.lines import Line2D
    groups = list(dict.fromkeys(data["group"])) or [""]
    counts = [max(1, int((data["group"] == g).sum())) for g in groups]
    level = level_text(cfg, lang)
    note = footnote(cfg, lang, data["ci_method"], notes)
    fig = new_figure(9.5, 1.6 + 0.55 * sum(counts) + 0.5 * len(groups), note)
    grid = fig.subplots(len(groups) + 1, 1, gridspec_kw={"height_ratios": [0.5] + counts})
    grid[0].axis("off")
    for ax, group in zip(grid[1:], groups):
        d = data[data["group"] == group].reset_index(drop=True)
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
        ax.set_yticks(ys, [wrap(r["label"], 44) for _, r in d.iterrows()])
        ax.set_ylim(-0.7, len(d) - 0.3)
        pct_axis(ax, lang)
        ax.set_title(plain(group))
        ax.tick_params(axis="y", length=0)
    handles = [Line2D([], [], color=BLUE, marker="o", markersize=6, linewidth=1.8,
                      label=f"{t(lang, 'estimate')} ({lower_first(t(lang, 'ci', level=level))})")]
    has_targets = any(len(x) for x in data["targets"])
    if has_targets:
        handles.append(Line2D([], [], linestyle="none", marker="D", markersize=7, markerfacecolor="white",
                              markeredgecolor=VERMILLION, markeredgewidth=1.8, label=t(lang, "target")))
    grid[0].legend(handles=handles, loc="center left", ncol=2, frameon=False, fontsize=8.5, borderaxespad=0)
    overall = data.attrs.get("overall_label", "")
    fig.suptitle(plain(t(lang, "headline" if has_targets else "headline_plain", overall=overall, level=level)),
                 x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


# --- by area ---------------------------------------------------------------------------
MARKERS = ("o", "s", "^", "D")


def area_figure(data: dict, cfg: dict, lang: str, notes=()):
    """One indicator over the values of one or two domains (a panel each), with the overall line and targets."""
    from matplotlib.lines import Line2D
    prov, panels = data["overall"], data["panels"]
    allrows = pd.concat([p["rows"] for p in panels] + [prov])
    kind = allrows["kind"].iloc[0]
    note = footnote(cfg, lang, allrows["ci_method"], notes)
    sizes = [max(len(p["rows"]), 1) for p in panels]
    height = 0.36 * max(sizes[0], *(2 * s for s in sizes[1:])) if len(sizes) > 1 else 0.36 * max(sizes[0], 2)
    fig = new_figure(9.5, 1.9 + height + 0.55, note)
    names = [f"p{i}" for i in range(len(panels))]
    grid = fig.subplot_mosaic([["legend"] * len(panels), names],
                              gridspec_kw={"width_ratios": [1.6] + [1] * (len(panels) - 1), "height_ratios": [0.3, height]})
    grid["legend"].axis("off")
    drawn = allrows[~allrows["suppress"]]
    ind = data["indicator"]
    targets = [tg for tg in cfg["report"]["targets"] if tg["indicator"] == ind]
    marks = np.r_[prov["estimate"].to_numpy(float), [tg["value"] for tg in targets]]
    lo = np.nanmin(np.r_[drawn["ci_low"].to_numpy(float), marks]) if len(drawn) else 0
    hi = np.nanmax(np.r_[drawn["ci_high"].to_numpy(float), marks]) if len(drawn) else 1
    pad = 0.08 * (hi - lo if hi > lo else 1)
    lo, hi = lo - pad, hi + pad
    if kind == "proportion":
        lo, hi = max(0.0, lo), min(1.0, hi)
    show_overall = len(prov) and not prov["suppress"].iloc[0]
    for k, (name, panel) in enumerate(zip(names, panels)):
        ax, d = grid[name], panel["rows"]
        ys = np.arange(len(d))[::-1]
        marker = MARKERS[k % len(MARKERS)]
        for y, (_, row) in zip(ys, d.iterrows()):
            if row["drawn"]:
                draw_estimate(ax, y, row, color=BLUE, marker=marker,
                              hollow=bool(review_flags(row["flags"], row["suppress"])))
                ax.annotate(fmt_value(row["estimate"], kind, lang), (row["estimate"], y), xytext=(0, 5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5, color="#111111",
                            bbox=LABEL_BOX, zorder=5)
            else:
                ax.text(0.02, y, "— " + t(lang, "suppressed"), transform=ax.get_yaxis_transform(), va="center",
                        fontsize=7.5, color=GREY)
        if show_overall:
            ax.axvline(prov["estimate"].iloc[0], color="#222222", linestyle=(0, (4, 3)), linewidth=1, zorder=1,
                       gid=f"ref:{ind}")
        for tg in targets:
            ax.axvline(tg["value"], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8, zorder=1,
                       gid=f"target:{ind}:{tg['value']}")
        ax.set_yticks(ys, [plain(x) for x in d["label"]] if len(d) else [])
        ax.set_ylim(-0.7, max(len(d), 2) - 0.2)
        if kind == "proportion":
            pct_axis(ax, lang, lo, hi)
        else:
            ax.set_xlim(lo, hi)
            num_axis(ax, lang, 0 if hi - lo > 20 else 1)
        ax.set_title(plain(panel["title"]))
        ax.tick_params(axis="y", length=0)
    level = level_text(cfg, lang)
    handles = [Line2D([], [], color=BLUE, marker="o", markersize=6, linewidth=1.8,
                      label=f"{t(lang, 'estimate')}, {lower_first(t(lang, 'ci', level=level))}")]
    if show_overall:
        handles.append(Line2D([], [], color="#222222", linestyle=(0, (4, 3)), linewidth=1,
                              label=plain(f"{data['overall_label']}: {fmt_value(prov['estimate'].iloc[0], kind, lang)}")))
    for tg in targets:
        handles.append(Line2D([], [], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8,
                              label=plain(t(lang, "target_short", year=tg.get("year", ""), value=fmt_pct(tg["value"], lang, 0))
                                          + (f" — {tg['reference']}" if tg.get("reference") else ""))))
    if (allrows["flags"].ne("") & ~allrows["suppress"]).any():
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=6, markerfacecolor="white",
                              markeredgecolor=BLUE, label=t(lang, "flagged")))
    grid["legend"].legend(handles=handles, loc="center left", ncol=len(handles), frameon=False, fontsize=8,
                          borderaxespad=0, handlelength=2.2, columnspacing=1.5)
    fig.suptitle(wrap(data["label"], 95), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


# --- weighting -------------------------------------------------------------------------
def weights_figure(data: pd.DataFrame, cfg: dict, lang: str):
    note = footnote(cfg, lang, [])
    fig = new_figure(9.5, 4.8, note)
    ax = fig.subplots()
    cols = [c for c in ("w_base", "w_delivered", "w_final") if c in data.columns]
    vals = data[cols].to_numpy(float)
    bins = np.histogram_bin_edges(vals[np.isfinite(vals)], bins=40)
    styles = {"w_base": dict(color=ORANGE, linestyle="--", linewidth=1.8, hatch="///", alpha=1.0),
              "w_delivered": dict(color=ORANGE, linestyle="--", linewidth=1.8, hatch="///", alpha=1.0),
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
    fig.suptitle(t(lang, "weights" if "w_base" in data.columns else "weights_plain"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


def controls_figure(data: pd.DataFrame, cfg: dict, lang: str):
    note = footnote(cfg, lang, [])
    n = max(len(data), 1)
    fig = new_figure(9.5, 1.8 + 0.3 * n, note)
    ax = fig.subplots()
    ys = np.arange(len(data))[::-1]
    steps = [("w_base", ORANGE, "^", "none"), ("w_nonresponse", GREEN, "s", "none"), ("w_delivered", ORANGE, "^", "none"),
             ("w_final", BLUE, "o", BLUE)]
    for col, color, marker, face in steps:
        if col not in data.columns:
            continue
        rel = (data[col] / data["control"] - 1).to_numpy(float)
        ax.plot(rel, ys, linestyle="none", marker=marker, markersize=6.5, markerfacecolor=face if face != "none" else "white",
                markeredgecolor=color, markeredgewidth=1.5, label=t(lang, col), gid=f"controls:{col}", zorder=3)
    ax.axvline(0, color="#222222", linewidth=1)
    for y in ys[1:][data["table"].to_numpy()[1:] != data["table"].to_numpy()[:-1]]:
        ax.axhline(y + 0.5, color="#999999", linewidth=0.8, linestyle="-")
    ax.set_yticks(ys, [plain(f"{c} ({fmt_num(v, lang, 0)})") for c, v in zip(data["cell"], data["control"])])
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
    ax.set_yticks(ys, [plain(x) for x in labels])
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


def quarantine_figure(data: pd.DataFrame, cfg: dict, lang: str):
    fig = new_figure(9.5, 1.8 + 0.34 * max(len(data), 1), footnote(cfg, lang, []))
    ax = fig.subplots()
    hh = data["file"].eq("household").to_numpy()
    _barh(ax, list(data["label"]), data["records"].tolist(), [VERMILLION if x else ORANGE for x in hh],
          ["////" if x else "...." for x in hh], lang, [f"quarantine:{f}:{r}" for f, r in zip(data["file"], data["rule"])])
    ax.set_xlabel(t(lang, "quarantine_x"))
    fig.suptitle(t(lang, "quarantine"), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig


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
    ax.set_yticks(ys, [plain(x) for x in data["label"]])
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


# --- models ------------------------------------------------------------------------------
def model_figure(data: dict, cfg: dict, lang: str):
    """A forest plot of one model: each coefficient but the intercept with its CI, as odds or rate ratios
    on a log axis (reference line at 1) for logit/log links, else as coefficients (reference line at 0)."""
    rows, m = data["rows"], data["model"]
    ratio = rows["ratio"].iloc[0] if isinstance(rows["ratio"].iloc[0], str) else ""
    level = level_text(cfg, lang)
    note = plain("\n".join(textwrap.fill(p, 150) for p in (
        t(lang, "model_note", level=level, family=m["family"], n=fmt_num(rows["n"].iloc[0], lang),
          df=fmt_num(rows["df"].iloc[0], lang)), t(lang, "source", source=source_text(cfg, lang)))))
    fig = new_figure(9.5, 1.5 + 0.34 * len(rows), note)
    ax = fig.subplots()
    cols = ("exp_estimate", "exp_ci_low", "exp_ci_high") if ratio else ("estimate", "ci_low", "ci_high")
    ys = np.arange(len(rows))[::-1]
    for y, (_, r) in zip(ys, rows.iterrows()):
        est, lo, hi = (float(r[c]) for c in cols)
        gid = f"term:{m['id']}:{r['term']}"
        ax.plot([lo, hi], [y, y], color=BLUE, linewidth=1.8, solid_capstyle="butt", zorder=2, gid=gid + ":ci")
        ax.plot([est], [y], linestyle="none", marker="s", markersize=6, color=BLUE, zorder=3, gid=gid)
        ax.annotate(fmt_coef(est, lang), (est, y), xytext=(0, 5), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7.5, bbox=LABEL_BOX, zorder=5)
    ax.axvline(1.0 if ratio else 0.0, color=GREY, linewidth=1, linestyle="--", zorder=1)
    if ratio:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(formatter(lambda v: fmt_coef(v, lang)))
        ax.xaxis.set_minor_formatter(formatter(lambda v: ""))
    else:
        ax.xaxis.set_major_formatter(formatter(lambda v: fmt_coef(v, lang)))
    ax.set_yticks(ys, [wrap(x, 46) for x in rows["label"]])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(t(lang, ratio) if ratio else t(lang, "coefficient"))
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6, zorder=0)
    fig.suptitle(plain(t(lang, "model_title", label=data["label"])), x=0.01, ha="left", fontsize=11.5,
                 fontweight="bold")
    return fig


# --- small areas -------------------------------------------------------------------------
def sae_figure(data: pd.DataFrame, cfg: dict, lang: str, label: str):
    """One indicator's EBLUP of every area (:func:`pipeline.chart_data.sae_data`): a tall chart, one row per
    area, districts as blocks (a band each) and the areas ranked within them; the interval as a line, the
    EBLUP as a filled circle (sampled area) or a hollow square (synthetic), the direct estimate as an orange
    cross beside it, the national targets of the indicator as vertical lines.  Each EBLUP point has the SVG
    id ``est:<indicator>:<sae.by>:<area>``."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    ind, by = data["indicator"].iloc[0], cfg["sae"]["by"]
    words = area_words(cfg["sae"], lang)
    level = level_text(cfg, lang)
    note = footnote(cfg, lang, None, [t(lang, "sae_note", **words)])  # EBLUP ± 1.96·RMSE, not a CI
    n = max(len(data), 1)
    fig = new_figure(9.5, 2.2 + 0.15 * n, note)
    grid = fig.subplots(2, 1, gridspec_kw={"height_ratios": [0.35, 0.15 * n]})
    grid[0].axis("off")
    ax = grid[1]
    ys = np.arange(len(data))[::-1].astype(float)
    dist = data["district"].to_numpy()
    starts = np.flatnonzero(np.r_[True, dist[1:] != dist[:-1]])
    ends = np.r_[starts[1:], len(data)]
    for k, (a, b) in enumerate(zip(starts, ends)):
        if k % 2 == 0:
            ax.axhspan(ys[b - 1] - 0.5, ys[a] + 0.5, color="#f0f0f0", zorder=0, linewidth=0)
        ax.text(1.0, (ys[a] + ys[b - 1]) / 2, " " + plain(dist[a]), transform=ax.get_yaxis_transform(),
                ha="left", va="center", fontsize=8, fontweight="bold", color="#222222", clip_on=False)
    syn = data["synthetic"].to_numpy(bool)
    segs = np.stack([np.c_[data["ci_low"], ys], np.c_[data["ci_high"], ys]], axis=1)
    ax.add_collection(LineCollection(segs[~syn], colors=BLUE, linewidths=1.2, zorder=2, gid=f"sae-ci:{ind}:eblup"))
    ax.add_collection(LineCollection(segs[syn], colors=GREY, linewidths=1.2, linestyles=(0, (2, 1)), zorder=2,
                                     gid=f"sae-ci:{ind}:synthetic"))
    for y, area, est, s in zip(ys, data["area"], data["eblup"], syn):
        ax.plot([est], [y], linestyle="none", marker="s" if s else "o", markersize=4.2 if s else 4.5, zorder=4,
                markerfacecolor="white" if s else BLUE, markeredgecolor=GREY if s else BLUE, markeredgewidth=1.1,
                gid=f"est:{ind}:{by}:{area}")
    has_direct = np.isfinite(data["direct"].to_numpy(float))
    ax.plot(data["direct"].to_numpy(float)[has_direct], ys[has_direct] - 0.28, linestyle="none", marker="x",
            markersize=4, color=ORANGE, markeredgewidth=1.2, zorder=3, gid=f"direct:{ind}")
    targets = [tg for tg in cfg["report"]["targets"] if tg["indicator"] == ind]
    for tg in targets:
        ax.axvline(tg["value"], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8, zorder=1,
                   gid=f"target:{ind}:{tg['value']}")
    # the area names as texts at the rows, not as y tick labels: 151 ticks would each carry a copied
    # tick (two lines, two texts) that every layout pass and both savefigs update (40% of the chart's time)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    names = ax.get_yaxis_transform()
    for y, name in zip(ys, data["area_label"]):
        ax.text(-0.008, y, plain(name), transform=names, ha="right", va="center", fontsize=6.5, color="#222222",
                clip_on=False)
    ax.set_ylim(-0.6, len(data) - 0.4)
    pct_axis(ax, lang)
    ax.xaxis.set_tick_params(labeltop=True, top=True)
    handles = [Line2D([], [], color=BLUE, marker="o", markersize=5, linewidth=1.2,
                      label=f"{t(lang, 'sae_eblup', **words)}, {t(lang, 'sae_interval', **words)}"),
               Line2D([], [], color=GREY, marker="s", markersize=5, markerfacecolor="white", linewidth=1.2,
                      linestyle=(0, (2, 1)), label=t(lang, "sae_synthetic", **words)),
               Line2D([], [], color=ORANGE, marker="x", markersize=5, linestyle="none", markeredgewidth=1.2,
                      label=t(lang, "sae_direct", **words))]
    for tg in targets:
        handles.append(Line2D([], [], color=VERMILLION, linestyle=(0, (1, 1.5)), linewidth=1.8,
                              label=plain(t(lang, "target_short", year=tg.get("year", ""),
                                            value=fmt_pct(tg["value"], lang, 0)))))
    grid[0].legend(handles=handles, loc="center left", ncol=2, frameon=False, fontsize=8, borderaxespad=0)
    fig.suptitle(wrap(t(lang, "sae_title", **words, label=label, level=level), 95), x=0.01, ha="left", fontsize=11.5,
                 fontweight="bold")
    return fig


def sae_diagnostics_figure(panels: list[dict], cfg: dict, lang: str):
    """Per indicator (a row): the standardised residuals of the sampled areas against their sample size (lines
    at 0 and ±2), and the direct estimate against the EBLUP with the 45° line (shrinkage towards the model)."""
    words = area_words(cfg["sae"], lang)
    note = footnote(cfg, lang, None, [t(lang, "sae_diag_note", **words)])
    fig = new_figure(9.5, 1.2 + 3.0 * len(panels), note)
    axes = np.atleast_2d(fig.subplots(len(panels), 2))
    for (left, right), p in zip(axes, panels):
        d, ind = p["rows"], p["indicator"]
        size = 6 + 30 * np.sqrt(d["n"].to_numpy(float) / max(d["n"].max(), 1))
        left.scatter(d["n"], d["residual"], s=size, color=BLUE, alpha=0.7, edgecolors="white", linewidths=0.4,
                     gid=f"sae-residual:{ind}")
        left.axhline(0, color="#222222", linewidth=0.8)
        for v in (-2, 2):
            left.axhline(v, color=VERMILLION, linestyle=(0, (3, 2)), linewidth=1)
        left.set_xlabel(t(lang, "sae_areas", **words))
        left.set_ylabel(t(lang, "sae_residual", **words))
        left.set_title(wrap(p["label"], 50), fontsize=9.5)
        left.grid(color="#e5e5e5", linewidth=0.6)
        right.scatter(d["eblup"], d["direct"], s=size, color=GREEN, alpha=0.7, edgecolors="white", linewidths=0.4,
                      gid=f"sae-scatter:{ind}")
        right.plot([0, 1], [0, 1], color="#222222", linewidth=0.9, linestyle="--", gid=f"sae-45:{ind}")
        lo = max(0.0, min(d["eblup"].min(), d["direct"].min()) - 0.05) if len(d) else 0.0
        hi = min(1.0, max(d["eblup"].max(), d["direct"].max()) + 0.05) if len(d) else 1.0
        right.set_xlim(lo, hi)
        right.set_ylim(lo, hi)
        right.set_aspect("equal", adjustable="box")
        for axis in (right.xaxis, right.yaxis):
            axis.set_major_formatter(formatter(lambda v: tick_pct(v, lang)))
        right.set_xlabel(t(lang, "sae_model_axis", **words))
        right.set_ylabel(t(lang, "sae_direct_axis", **words))
        right.grid(color="#e5e5e5", linewidth=0.6)
    fig.suptitle(wrap(t(lang, "sae_diag_title", **words), 95), x=0.01, ha="left", fontsize=11.5, fontweight="bold")
    return fig
