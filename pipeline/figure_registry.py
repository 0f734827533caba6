"""Every figure the pipeline can draw, as one registry: a new figure is one entry.

An entry (:class:`FigureKind`) names the figure kind, the part of the figures
stage that draws it (``estimates`` needs the estimates table, ``diagnostics``
only the clean and weight stages), the report section that shows it, how its
instances are found (name and data table, from :mod:`pipeline.chart_data`),
how one is drawn (:mod:`pipeline.plots`) and captioned.  A kind with nothing
to show returns no instances and a reason, which the manifest records and
the report prints, instead of an empty chart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from . import chart_data as C
from . import plots as P
from .text import REPORT, area_words, label_text, t, table


@dataclass(frozen=True)
class FigureKind:
    kind: str
    part: str                      # "estimates" | "diagnostics"
    group: str                     # report section: "headline" | "areas" | "models" | "small_areas" | "weights" | "quality"
    items: Callable[[dict, dict, str], list[tuple[str, Any]]]   # (cfg, inputs, lang) -> [(name, data)]
    draw: Callable[[Any, dict, str], Any]                        # (data, cfg, lang) -> matplotlib Figure
    caption: Callable[[Any, dict, str], str]                     # (data, cfg, lang) -> caption
    why_not: str                   # text key: why there is nothing to draw
    cost: int = 0                  # drawing order, slowest first


def _headline(cfg, inputs, lang):
    data = C.headline_data(inputs["estimates"], cfg, lang)
    dom = C.overall_domain(cfg)
    data.attrs["overall_label"] = label_text(dom["label"], lang) if dom else ""
    return [("headline", data)] if len(data) else []


def _areas(cfg, inputs, lang):
    est, domains = inputs["estimates"], C.chart_domains(cfg)
    out = []
    for ind in C.key_indicators(est, cfg):
        if not (est["indicator"] == ind).any():
            continue
        for k in range(0, len(domains), 2):  # at most two panels side by side
            chunk = domains[k:k + 2]
            data = C.area_data(est, cfg, ind, chunk, lang)
            if any(len(p["rows"]) for p in data["panels"]):
                ids = "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", d["id"]) for d in chunk)
                out.append((f"by-{ids}_{ind}", data))
    return out


def _models(cfg, inputs, lang):
    out = []
    for m, rows in C.model_data(inputs.get("models", pd.DataFrame(columns=["model", "term"])), cfg,
                                inputs.get("codebook") or {}, lang):
        out.append((f"model_{re.sub(r'[^A-Za-z0-9_]+', '_', m['id'])}",
                    {"model": m, "rows": rows, "label": label_text(m["label"], lang)}))
    return out


def _model_caption(d, cfg, lang):
    ratio = d["rows"]["ratio"].iloc[0] if isinstance(d["rows"]["ratio"].iloc[0], str) else ""
    return _report(lang, "fig_model", label=d["label"], ratio=table(REPORT, lang)["ratio_names"][ratio],
                   level=P.level_text(cfg, lang))


def _sae(cfg, inputs, lang):
    sae = inputs.get("sae")
    if not sae:
        return []
    labels = C.indicator_labels(cfg, lang)
    return [(f"sae_{ind}", {"rows": C.sae_data(sae, cfg, ind), "label": labels.get(ind, ind)})
            for ind in cfg["sae"]["indicators"] if (sae["table"]["indicator"] == ind).any()]


def _sae_diagnostics(cfg, inputs, lang):
    sae = inputs.get("sae")
    if not sae:
        return []
    labels = C.indicator_labels(cfg, lang)
    panels = [{"indicator": ind, "label": labels.get(ind, ind), "rows": C.sae_residuals(sae, ind)}
              for ind in cfg["sae"]["indicators"] if ind in sae["fits"]]
    return [("sae_diagnostics", panels)] if panels else []


def _weights(cfg, inputs, lang):
    return [("weights", C.weights_data(inputs["weighted"]))]


def _controls(cfg, inputs, lang):
    if not inputs["controls"]:
        return []
    data = C.control_data(inputs["units"], inputs["controls"], inputs["codebook"])
    return [("controls", data)] if len(data) else []


def _rules(cfg, inputs, lang):
    data = C.rules_data(inputs["validation"], lang)
    return [("quality_rules", data)] if len(data) and data["records"].astype(int).sum() > 0 else []


def _quarantine(cfg, inputs, lang):
    data = C.quarantine_data(inputs["quarantine"], lang)
    return [("quality_quarantine", data)] if len(data) else []


def _response(cfg, inputs, lang):
    return [("response_rates", inputs["response"])] if inputs.get("response") is not None else []


def _report(lang, key, cfg=None, **kw):
    s = table(REPORT, lang)[key]
    kw |= area_words(cfg.get("sae"), lang) if cfg else {}
    return s.format(**kw) if kw else s


# In report order.  cost: drawing rank, the slowest first (the tall small-area charts, 2-4 s, then about 1 s down to 0.3 s each on the demo), so
# that two workers finish together rather than one waiting for the other's last slow figure.
REGISTRY: tuple[FigureKind, ...] = (
    FigureKind("headline", "estimates", "headline", _headline,
               lambda d, cfg, lang: P.headline_figure(d, cfg, lang, C.reliability_notes(d, lang)),
               lambda d, cfg, lang: _report(lang, "fig_headline" if cfg["report"]["targets"] else "fig_headline_plain",
                                            overall=d.attrs["overall_label"], level=P.level_text(cfg, lang)),
               "why_no_headline", cost=0),
    FigureKind("areas", "estimates", "areas", _areas,
               lambda d, cfg, lang: P.area_figure(d, cfg, lang, C.reliability_notes(
                   pd.concat([p["rows"] for p in d["panels"]] + [d["overall"]]), lang)),
               lambda d, cfg, lang: _report(lang, "fig_district", label=d["label"], domains=_report(lang, "and").join(
                   P.lower_first(p["title"]) for p in d["panels"])),
               "why_no_areas", cost=3),
    FigureKind("models", "estimates", "models", _models, lambda d, cfg, lang: P.model_figure(d, cfg, lang),
               _model_caption, "why_no_models", cost=7),
    FigureKind("sae", "estimates", "small_areas", _sae,
               lambda d, cfg, lang: P.sae_figure(d["rows"], cfg, lang, d["label"]),
               lambda d, cfg, lang: _report(lang, "fig_sae", cfg, label=d["label"]), "why_no_sae", cost=-2),
    FigureKind("sae_diagnostics", "estimates", "small_areas", _sae_diagnostics,
               lambda d, cfg, lang: P.sae_diagnostics_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_sae_diag", cfg), "why_no_sae", cost=-1),
    FigureKind("weights", "diagnostics", "weights", _weights,
               lambda d, cfg, lang: P.weights_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_weights" if "w_base" in d.columns else "fig_weights_plain"),
               "why_no_weights", cost=4),
    FigureKind("controls", "diagnostics", "weights", _controls,
               lambda d, cfg, lang: P.controls_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_controls"), "why_no_controls", cost=1),
    FigureKind("quality_rules", "diagnostics", "quality", _rules,
               lambda d, cfg, lang: P.rules_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_rules"), "why_no_rules", cost=5),
    FigureKind("quality_quarantine", "diagnostics", "quality", _quarantine,
               lambda d, cfg, lang: P.quarantine_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_quarantine"), "why_no_quarantine", cost=6),
    FigureKind("response_rates", "diagnostics", "quality", _response,
               lambda d, cfg, lang: P.response_figure(d, cfg, lang),
               lambda d, cfg, lang: _report(lang, "fig_response"), "why_no_response", cost=2),
)


def figures(cfg: dict, inputs: dict, lang: str, part: str) -> tuple[list[dict], list[dict]]:
    """The figures of *part* for this survey, and the kinds left out with the reason.

    Each figure is a dict: ``name``, ``kind``, ``group``, ``caption`` and ``draw`` (a
    callable returning the matplotlib Figure); each left-out kind: ``kind``, ``why``.
    """
    out, skipped = [], []
    for k in REGISTRY:
        if k.part != part:
            continue
        items = k.items(cfg, inputs, lang)
        if not items:
            skipped.append({"kind": k.kind, "group": k.group, "why": _report(lang, k.why_not)})
        for name, data in items:
            out.append({"name": name, "kind": k.kind, "group": k.group, "cost": k.cost,
                        "caption": k.caption(data, cfg, lang),
                        "draw": (lambda k=k, data=data: k.draw(data, cfg, lang))})
    return out, skipped
