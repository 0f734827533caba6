"""Figure of the coverage study (pipeline.validate): CI coverage by indicator, domain and method.

One panel per domain (province, district, urban/rural), indicators down the
side, coverage along the bottom; one marker shape and colour per CI method
(Okabe-Ito, distinct shapes, readable in grey-scale), one point per domain
value.  The grey band is 95% +- 2 Monte-Carlo SEs (sqrt(0.95 x 0.05 / R)), the
range where a method holding nominal coverage falls in about 95% of studies.
"""
from __future__ import annotations

import io as _io

import numpy as np
import pandas as pd
from matplotlib.ticker import MultipleLocator

from . import plots as P
from .text import COVERAGE_FIGURE
from .text import table as text_table

STYLE = {"logit": (P.BLUE, "o"), "beta": (P.VERMILLION, "s"), "wilson": (P.GREEN, "^"), "mean": (P.PURPLE, "D"),
         "t": (P.ORANGE, "v")}


def coverage_figure(table: pd.DataFrame, cfg: dict) -> bytes:
    """PNG bytes of the coverage chart (byte-identical for the same table)."""
    lang = cfg.get("report", {}).get("language", "en")
    T = text_table(COVERAGE_FIGURE, lang)
    R = int(table["replicates"].iloc[0])
    mc = float(np.sqrt(0.95 * 0.05 / R))
    domains = list(dict.fromkeys(table["domain"]))
    inds = list(dict.fromkeys(table["indicator"]))
    methods = list(dict.fromkeys(table["ci_method"]))
    labels = {d["id"]: d["label"][lang] if lang in d.get("label", {}) else d["id"] for d in cfg["domains"]}
    lo = min(0.80, float(np.nanmin(table["coverage"])) - 0.01)
    height = 1.6 + 0.24 * len(inds)
    fig = P.new_figure(3.3 * len(domains) + 1.8, height, T["note"] + "\n" + P.source_text(cfg, lang))
    axes = fig.subplots(1, len(domains), sharey=True, squeeze=False)[0]
    offsets = {m: (k - (len(methods) - 1) / 2) * 0.16 for k, m in enumerate(methods)}
    for ax, dom in zip(axes, domains):
        ax.axvspan(0.95 - 2 * mc, 0.95 + 2 * mc, color="#dddddd", zorder=0, label=T["band"])
        ax.axvline(0.95, color=P.GREY, lw=0.8, zorder=1)
        sub = table[table["domain"] == dom]
        for m in methods:
            s = sub[sub["ci_method"] == m]
            y = s["indicator"].map({k: i for i, k in enumerate(inds)}).to_numpy(float) + offsets[m]
            color, marker = STYLE.get(m, (P.GREY, "x"))
            ax.scatter(np.clip(s["coverage"].to_numpy(float), lo, 1), y, s=14 if dom == domains[0] else 8,
                       color=color, marker=marker, alpha=1 if dom == domains[0] else 0.55, linewidths=0, label=m,
                       zorder=2)
        ax.set_title(labels.get(dom, dom))
        ax.set_xlim(lo, 1.006)
        ax.xaxis.set_major_locator(MultipleLocator(0.05))
        ax.xaxis.set_major_formatter(P.formatter(lambda v: P.tick_pct(v, lang)))
        ax.set_xlabel(T["x"])
        ax.grid(axis="x", color="#eeeeee", lw=0.6)
    axes[0].set_yticks(range(len(inds)))
    axes[0].set_yticklabels(inds)
    axes[0].set_ylim(len(inds) - 0.5, -0.5)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", bbox_to_anchor=(0.995, 0.999), ncol=len(names), frameon=False)
    fig.suptitle(T["title"].format(R=R), x=0.01, ha="left", fontweight="bold")
    buf = _io.BytesIO()
    fig.set_dpi(P.RC["savefig.dpi"])
    P.write_png(fig, buf)
    P.pyplot().close(fig)
    return buf.getvalue()
