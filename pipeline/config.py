"""Load ``survey.toml`` and validate it against the schema before any stage runs.

The schema is written as code below (:data:`SCHEMA`); errors give the key
path and the problem, e.g. ``survey.toml: indicators[3].numerator: expected
string, got integer``.  Expressions are checked by :mod:`pipeline.expr` here
(syntax and whitelist); whether their columns exist is checked by the stages
that have the data.  Only the standard library is imported so that Make can
run ``python -m pipeline.config --make-deps`` cheaply; patsy is imported only
to parse the formulas of a config with ``[[models]]``.

Run ``python -m pipeline.config --make-deps SURVEY [--out FILE]`` to print
(or atomically write) the Make variables (inputs of each stage) derived from a
survey's config; ``--generate SURVEY`` runs its ``[raw] generator`` without a
shell; ``--clean SURVEY --build B --figs F`` is ``make clean``, which checks
what each folder resolves to before removing it.  Every input path must be
Make-safe and resolve inside the survey folder (see :func:`_check_paths`).
"""
from __future__ import annotations

import math
import os
import re
import sys
import tomllib
from pathlib import Path

from .errors import PipelineError

FORMATS = ("sav", "dta", "csv", "parquet")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
# as analysis.ReplicateDesign (R svrepdesign's types; a test keeps the two lists equal)
REPLICATE_TYPES = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap", "successive-difference", "ACS", "SDR",
                   "JK2", "other")
SDR_TYPES = ("successive-difference", "ACS", "SDR")   # scale 4/R and rscales 1, fixed as in R


# --- schema primitives --------------------------------------------------------
class T:
    """A schema node: ``check(value, path)`` returns the value with defaults filled."""
    def __init__(self, doc=""):
        self.doc = doc


def _tname(v) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


class Str(T):
    def __init__(self, choices=None, nonempty=True, doc=""):
        super().__init__(doc)
        self.choices, self.nonempty = choices, nonempty

    def check(self, v, path, err):
        if not isinstance(v, str):
            err(path, f"expected string, got {_tname(v)}")
        if self.nonempty and not v.strip():
            err(path, "must not be empty")
        if self.choices and v not in self.choices:
            err(path, f"expected one of {', '.join(self.choices)}, got {v!r}")
        return v


class Num(T):
    def __init__(self, integer=False, lo=None, hi=None, doc=""):
        super().__init__(doc)
        self.integer, self.lo, self.hi = integer, lo, hi

    def check(self, v, path, err):
        ok = (int,) if self.integer else (int, float)
        if isinstance(v, bool) or not isinstance(v, ok):
            err(path, f"expected {'integer' if self.integer else 'number'}, got {_tname(v)}")
        _finite(v, path, err)
        if self.lo is not None and v < self.lo:
            err(path, f"must be >= {self.lo}, got {v}")
        if self.hi is not None and v > self.hi:
            err(path, f"must be <= {self.hi}, got {v}")
        return v


class Bool(T):
    def check(self, v, path, err):
        if not isinstance(v, bool):
            err(path, f"expected boolean, got {_tname(v)}")
        return v


class Scalar(T):
    """A code value: number or string."""
    def check(self, v, path, err):
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            err(path, f"expected number or string, got {_tname(v)}")
        if not isinstance(v, str):
            _finite(v, path, err)
        return v


INT_LIMIT = 2 ** 53   # integers beyond this are not exact as float64, the type of numeric data columns


def _finite(v, path, err) -> None:
    """Numbers in the config are finite (no nan/inf, which TOML allows) and exact as float64."""
    if isinstance(v, float) and not math.isfinite(v):
        err(path, f"must be a finite number, got {v}")
    if isinstance(v, int) and abs(v) > INT_LIMIT:
        err(path, f"integer out of range (at most {INT_LIMIT} in absolute value), got {str(v)[:30]}"
                  f"{'...' if len(str(v)) > 30 else ''}")


class Expr(Str):
    def check(self, v, path, err):
        from .expr import ExpressionError, parse, shorten
        super().check(v, path, err)
        try:
            parse(v)
        except ExpressionError as e:
            err(path, e.problem + f" in {shorten(v)}")
        return v


class List(T):
    def __init__(self, item, min_len=0, unique=False, doc=""):
        super().__init__(doc)
        self.item, self.min_len, self.unique = item, min_len, unique

    def check(self, v, path, err):
        if not isinstance(v, list):
            err(path, f"expected array, got {_tname(v)}")
        if len(v) < self.min_len:
            err(path, f"needs at least {self.min_len} item(s)")
        out = [self.item.check(x, f"{path}[{i}]", err) for i, x in enumerate(v)]
        if self.unique and len(set(map(repr, out))) < len(out):
            dup = next(x for i, x in enumerate(out) if x in out[:i])
            err(path, f"duplicate entry {dup!r}")
        return out


class Map(T):
    """A table with free keys (e.g. file names) whose values follow one schema."""
    def __init__(self, value, keys=None, min_len=0, doc=""):
        super().__init__(doc)
        self.value, self.keys, self.min_len = value, keys, min_len

    def check(self, v, path, err):
        if not isinstance(v, dict):
            err(path, f"expected table, got {_tname(v)}")
        if len(v) < self.min_len:
            err(path, f"needs at least {self.min_len} entr{'y' if self.min_len == 1 else 'ies'}")
        for k in v:
            if self.keys and k not in self.keys:
                err(f"{path}.{k}", f"unknown key (expected one of {', '.join(self.keys)})")
        return {k: self.value.check(x, f"{path}.{k}", err) for k, x in v.items()}


class Table(T):
    def __init__(self, fields: dict, required=(), doc=""):
        super().__init__(doc)
        self.fields, self.required = fields, set(required)

    def check(self, v, path, err):
        if not isinstance(v, dict):
            err(path, f"expected table, got {_tname(v)}")
        for k in v:
            if k not in self.fields:
                err(_join(path, k), f"unknown key (valid keys: {', '.join(self.fields)})" + suggest(k, self.fields))
        for k in sorted(self.required - set(v)):
            err(_join(path, k), "required key is missing")
        out = {}
        for k, spec in self.fields.items():
            if k in v:
                out[k] = spec.check(v[k], _join(path, k), err)
            elif isinstance(spec, Default):
                out[k] = spec.default
        return out


class Default(T):
    """Wraps a node with a default value used when the key is absent."""
    def __init__(self, node, default, doc=""):
        super().__init__(doc or node.doc)
        self.node, self.default = node, default

    def check(self, v, path, err):
        return self.node.check(v, path, err)


def _join(path, k):
    return f"{path}.{k}" if path else k


def suggest(name, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of *choices* to *name*, or ''."""
    import difflib
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Label(T):
    """A text shown to readers: a plain string, or a table of language codes (``{ vi = "...", en = "..." }``)."""
    def check(self, v, path, err):
        if isinstance(v, str):
            if not v.strip():
                err(path, "must not be empty")
            return v
        if not isinstance(v, dict):
            err(path, f"expected a string or a table of languages (e.g. {{ en = \"...\" }}), got {_tname(v)}")
        if not v:
            err(path, "needs at least one language")
        for k, x in v.items():
            if not LANGUAGE_CODE.fullmatch(k):
                err(f"{path}.{k}", "expected a language code such as en, vi, fr or pt-BR")
            if not isinstance(x, str) or not x.strip():
                err(f"{path}.{k}", f"expected a non-empty string, got {_tname(x)}")
        return v


class Language(Str):
    def check(self, v, path, err):
        super().check(v, path, err)
        if not LANGUAGE_CODE.fullmatch(v):
            err(path, f"expected a language code such as en, vi, fr or pt-BR, got {v!r}")
        return v


class OneOf(T):
    """A value that may take one of several forms (the first that fits is used)."""
    def __init__(self, *nodes, expected="", doc=""):
        super().__init__(doc)
        self.nodes, self.expected = nodes, expected

    def check(self, v, path, err):
        for node in self.nodes:
            try:
                return node.check(v, path, _raise)
            except _Stop:
                continue
        err(path, f"expected {self.expected}, got {_tname(v)}")


class _Stop(Exception):
    pass


def _raise(key, problem):
    raise _Stop(key, problem)


# --- the survey.toml schema -----------------------------------------------------
# Each node's doc string goes into the generated reference docs/survey-config.md
# (python -m pipeline.config_doc > docs/survey-config.md; tests/test_config_doc.py checks it).
NAME = Str()
NAMES = List(Str(), unique=True)
LABELS = Label(doc="a text shown to readers: a plain string (`\"Households\"`) or a table of language codes "
                   "(`{ vi = \"Hộ\", en = \"Households\" }`)")

FILE = Table({
    "path": Str(doc="input file, relative to the survey folder"),
    "format": Str(choices=FORMATS, doc="default: from the file extension"),
    "key": List(Str(), min_len=1, unique=True, doc="columns that identify a record"),
    "parent": Str(doc="file whose key this file's records must link to (e.g. person -> household)"),
    "parent_key": List(Str(), min_len=1, doc="columns linking to the parent's key"),
    "require_children": Expr(doc="parent records matching this need at least one child record"),
    "missing_codes": Map(List(Scalar()), doc="extra user-missing codes per column (e.g. for CSV)"),
    "text_columns": Default(NAMES, [], doc="CSV: columns read as text even when they look numeric (e.g. codes with "
                                           "leading zeros)"),
    "duplicate_keys": Default(Str(choices=("error", "quarantine"), doc="error: stop on a repeated key; "
                                  "quarantine: keep the first record (e.g. CAPI double submissions)"), "error"),
    "weight": Str(doc="column: this file's own delivered weight (e.g. a person weight); without it, "
                      "persons carry their household's weight"),
    "label": Label(doc="what one record is, for figure and report headings (default: Households / Persons)")},
    required=("path", "key"), doc="one raw input file; the name is the file's unit (`household`, `person`)")

RULE = Table({
    "id": Str(doc="name of the rule in the clean stage's outputs (unique)"),
    "file": Str(doc="the `[files.<name>]` it checks"),
    "check": Str(choices=("codes", "range", "when"), doc="codes: allowed values; range: min/max; when: expression that flags a violation"),
    "variable": Str(doc="codes, range: the column checked"),
    "allowed": List(Scalar(), min_len=1, doc="codes: the valid codes (missing values pass)"),
    "min": Num(doc="range: smallest valid value"), "max": Num(doc="range: largest valid value"),
    "when": Expr(doc="when: records for which this is true violate the rule"),
    "action": Str(choices=("quarantine", "set_missing", "set"), doc="what to do with a violating record"),
    "variables": List(Str(), min_len=1, doc="set_missing: columns to blank (default: variable)"),
    "set": Map(Scalar(), min_len=1, doc="set: column = value")},
    required=("id", "file", "check", "action"),
    doc="a cleaning rule, applied in order; a quarantined record is out for later rules")

BINS = Table({"column": Str(doc="numeric column to classify"),
              "breaks": List(Num(), min_len=1, doc="lower bounds of the 2nd, 3rd, ... class"),
              "labels": List(Scalar(), min_len=2, doc="value of each class (one more than breaks)")},
             required=("column", "breaks", "labels"), doc="classes of a numeric column (e.g. census age groups)")

DERIVE = Table({"file": Str(doc="the `[files.<name>]` that gets the column"), "name": Str(doc="name of the new column"),
                "expr": Expr(doc="value of the new column"),
                "bins": BINS, "label": LABELS},
               required=("file", "name"), doc="an analysis variable added by the clean stage: give expr or bins")

CONTROL = Table({"path": Str(doc="CSV of control totals: margin columns plus `count`, relative to the survey folder"),
                 "unit": Default(Str(choices=("household", "person"), doc="household: raked to; person: met by "
                                      "integrated weighting (household weights whose members add up to it)"),
                                 "household")},
                required=("path",), doc="a table of population control totals")

FAMILIES = ("gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson")  # as analysis glm
ADJUST = ("none", "holm", "bonferroni")

MODEL = Table({
    "id": Str(doc="name of the model in models.csv (unique)"),
    "label": LABELS,
    "unit": Str(choices=("household", "person"), doc="the file whose records are modelled"),
    "universe": Expr(doc="the records modelled, estimated inside the full design (default: everyone)"),
    "formula": Str(doc="R/patsy formula over the unit's columns (derived columns included), e.g. "
                       "`fiber ~ C(urban) + C(district) + hh_size`; `C(x)`: x as a factor, first level the reference"),
    "family": Default(Str(choices=FAMILIES, doc="as R's svyglm: gaussian (identity link), binomial or "
                                                "quasibinomial (logit link: odds ratios; quasibinomial is R's usual "
                                                "choice for survey data, same estimates and SEs), poisson or "
                                                "quasipoisson (log link: rate ratios); default gaussian, as R"),
                      "gaussian")},
    required=("id", "label", "unit", "formula"),
    doc="a design-based generalised linear model (R's svyglm), one row per term in models.csv")

COMPARISON = Table({
    "id": Str(doc="name of the comparison in comparisons.csv (default: `<indicator>_<domain>`)"),
    "indicator": Str(doc="indicator id"),
    "domain": Str(doc="id of a [[domains]] entry with exactly one by variable"),
    "pairs": Default(OneOf(Str(choices=("all",)), List(List(Scalar(), min_len=2), min_len=1),
                           expected='"all" or a list of [a, b] pairs of domain values'),
                     "all", doc='"all" (every pair of the domain\'s values) or a list of [a, b] pairs of values: '
                                "the difference a - b is estimated"),
    "adjust": Default(Str(choices=ADJUST, doc="multiple-comparison adjustment of the p-values of this comparison's "
                                              "pairs (as R's p.adjust)"), "holm")},
    required=("indicator", "domain"),
    doc="differences of an indicator between values of a domain, estimated inside the full design, with t tests "
        "on the design df")

SCHEMA = Table({
    "survey": Table({"name": Str(doc="short name (the build folders are named after the survey folder)"),
                     "title": LABELS}, required=("name",), doc="the survey's name and title"),
    "raw": Table({"generator": Str(doc="script in the survey folder that writes the raw files"),
                  "args": Default(List(Str()), [], doc="its arguments; `{survey}` stands for the survey folder")},
                 doc="a script Make runs to produce the raw files (the demo's synthetic data)"),
    "files": Map(FILE, min_len=1, doc="the raw files, one table per file"),
    "frame": Table({"path": Str(doc="CSV of the sampling frame (one row per EA), relative to the survey folder"),
                    "key": Str(doc="EA column shared with the household file"),
                    "prob": Str(doc="column: selection probability of the EA"),
                    "prob_within": Str(doc="column: probability of a household within its EA"),
                    "sample": Str(doc="CSV listing the sampled EAs (key column); each must be in the frame"),
                    "listed": Str(doc="column: households listed in the EA"),
                    "sampled": Str(doc="column: households sampled in the EA (default: counted)")},
                   required=("path", "key", "prob"),
                   doc="the sampling frame of enumeration areas (EAs), needed when the weights are computed: "
                       "selection probabilities for the base weights; with prob_within or listed for the household "
                       "stage (without either, every household of a sampled EA is in the sample)"),
    "design": Table({"psu": Str(doc="column: primary sampling unit (cluster, e.g. the EA; default: each record is its "
                                    "own PSU)"),
                     "strata": Str(doc="column: stratum (default: no strata)"),
                     "weights": Str(doc="column: final weights delivered with the data; then [frame] and "
                                        "[weighting] are optional and the weight stage checks and passes them through"),
                     "replicate_weights": OneOf(Str(), List(Str(), min_len=2, unique=True),
                                                expected="a regular expression or a list of column names",
                                                doc="replicate weight columns delivered with the data: a regular "
                                                    "expression matched against whole column names, or a list"),
                     "replicate_type": Str(choices=REPLICATE_TYPES, doc="how the replicate weights were made "
                                                                        "(R svrepdesign's type)"),
                     "scale": Num(lo=0, doc="replicate variance scale (default: from the type, as R)"),
                     "rscales": List(Num(lo=0), min_len=2, doc="per-replicate scales (JKn, other)"),
                     "fay_rho": Num(lo=0, hi=0.99, doc="Fay's rho of Fay replicate weights"),
                     "mse": Default(Bool(doc="variances around the full-sample estimate (R: mse = TRUE)"), False),
                     "combined_weights": Default(Bool(doc="the replicate columns are full weights (true) or "
                                                          "multipliers of the final weight (false)"), True),
                     "fpc": Str(doc="column: PSUs in the stratum's population (or the sampling fraction)"),
                     "lonely_psu": Default(Str(choices=("fail", "adjust", "remove", "certainty", "average"),
                                               doc="strata with one PSU, as R's `survey.lonely.psu`"), "fail"),
                     "pseudo_strata": Table({
                         "order": Str(doc="column: the PSUs' selection order (the sorted frame's key)"),
                         "within": Str(doc="column: implicit stratum (e.g. commune); its PSUs are paired together"),
                         "size": Default(Num(integer=True, lo=2, doc="PSUs per variance stratum"), 2)},
                         required=("order",), doc="variance strata of PSUs paired in selection order "
                                                  "(systematic selection along a sorted frame)")},
                    doc="the sample design used for variances (Taylor linearisation or replicates)"),
    "clean": Table({"rules": Default(List(RULE), [], doc="checks of the raw records, in order"),
                    "derive": Default(List(DERIVE), [], doc="analysis variables, in order")},
                   doc="the clean stage: validation rules and derived variables (optional)"),
    "weighting": Table({
        "eligible": Expr(doc="households in scope (default: all)"),
        "respondent": Expr(doc="households that responded (required when the weights are computed)"),
        "nonresponse_classes": Default(NAMES, [], doc="columns whose classes get their own nonresponse adjustment "
                                                      "(default: one class)"),
        "controls": Default(List(CONTROL), [], doc="control totals to calibrate to"),
        "rake": Table({"tol": Default(Num(lo=1e-15, doc="convergence tolerance of raking"), 1e-10),
                       "max_iter": Default(Num(integer=True, lo=1, hi=10_000, doc="most raking iterations"), 100),
                       "max_seconds": Default(Num(lo=0.000001, hi=86_400, doc="wall-clock limit of the calibration "
                                                                             "and trimming, in seconds"), 600)},
                      doc="raking settings"),
        "trim": Table({"upper": Num(lo=1, doc="largest weight, in multiples of relative_to"),
                       "lower": Num(lo=0, doc="smallest weight, in multiples of relative_to"),
                       "relative_to": Default(Str(choices=("median", "mean"), doc="the weights' statistic the bounds "
                                                  "multiply"), "median")},
                      doc="weight trimming after calibration (re-calibrated after trimming)"),
        "checks": Table({
            "totals_tolerance": Num(lo=0, hi=1, doc="relative difference allowed between the grand totals of one "
                                                    "unit's control tables (default 0.01)"),
            "household_size_ratio": Num(lo=1, doc="persons per household implied by the controls may differ from the "
                                                  "sample's by this factor (default 1.5)"),
            "factor_range": List(Num(lo=0), min_len=2, doc="calibration factors (and control / sample cell totals) "
                                                           "allowed, [low, high] (default [0.1, 10])"),
            "max_weight_ratio": Num(lo=1, doc="largest / smallest computed final weight allowed (default 1000)"),
            "accept": Bool(doc="accept weights that fail these checks (say why in the survey's README)")},
            doc="sanity checks of the control tables and the weights; a failure stops the weight stage"),
        "replicates": Table({"method": Str(choices=("auto", "JK1", "JKn", "BRR", "Fay", "bootstrap"),
                                           doc="replicate type, as R's `as.svrepdesign` (auto: JKn with strata, "
                                               "JK1 without)"),
                             "n": Default(Num(integer=True, lo=2, hi=10_000, doc="bootstrap: number of replicates"), 50),
                             "fay_rho": Default(Num(lo=0, hi=0.99, doc="Fay: the rho of Fay's BRR"), 0.0),
                             "seed": Default(Num(integer=True, lo=0, doc="bootstrap: random seed"), 20220714)},
                            required=("method",), doc="replicate weights, each re-adjusted and re-calibrated")},
        doc="weights computed from the frame (base weights, nonresponse adjustment, calibration, trimming), or "
            "calibration on top of delivered weights (controls, rake, trim, checks)"),
    "sae": Table({
        "by": Str(doc="column of the area code in the unit data (e.g. the commune); the direct estimates of the "
                      "sae indicators are estimated by it inside the full design"),
        "frame": Str(doc="CSV in the survey folder: one row per area of the population, with its covariates"),
        "area": Str(doc="frame column matching the values of by"),
        "label": Str(doc="frame column of the area names (default: the area code)"),
        "group": Str(doc="frame column of the area's group (e.g. district code)"),
        "group_label": Str(doc="frame column written as sae.csv's district (default: group)"),
        "area_noun": Label(doc="what one area is, in the figure and report texts, e.g. "
                               "`{ vi = \"xã\", en = \"commune\" }` (default: area)"),
        "area_noun_plural": Label(doc="plural of area_noun (default: area_noun + s in English; "
                                      "Vietnamese nouns do not change)"),
        "group_noun": Label(doc="what one group is, e.g. `{ vi = \"huyện\", en = \"district\" }` (default: group)"),
        "group_noun_plural": Label(doc="plural of group_noun (default as area_noun_plural)"),
        "indicators": List(Str(), min_len=1, unique=True, doc="indicator ids to estimate for every area"),
        "covariates": List(Str(), min_len=1, unique=True, doc="frame columns of the model (log(col) allowed)"),
        "categorical": Default(NAMES, [], doc="frame columns entered as categories (R factors)"),
        "method": Default(Str(choices=("REML", "ML", "FH", "AMRL"),
                              doc="how sigma2_u is estimated: R sae::eblupFH's REML, ML, FH, or AMRL (Li-Lahiri "
                                  "adjusted REML, never 0: for sigma2_u small against the sampling variances)"),
                          "REML"),
        "variance": Default(Str(choices=("gvf", "direct"), doc="sampling variances of the model: a generalised "
                                                              "variance function (default) or the direct ones"), "gvf"),
        "gvf_model": Default(Str(choices=("deff", "loglinear"), doc="form of the GVF"), "deff"),
        "gvf_min_df": Default(Num(integer=True, lo=0, hi=1000, doc="areas with this df or more fit the GVF"), 1),
        "transform": Str(choices=("none", "arcsin"), doc="arcsin: model arcsin(sqrt(p)) (proportions near 0 or 1)"),
        "bootstrap": Num(integer=True, lo=10, hi=10_000, doc="arcsin: bootstrap samples of the MSE (default 200)"),
        "seed": Num(integer=True, lo=0, doc="arcsin: bootstrap seed (default 0)"),
        "benchmark": Str(doc="domain id whose direct estimates the areas of a group are made to add up to"),
        "benchmark_weight": Str(doc="frame column of area sizes for benchmarking")},
        required=("by", "frame", "area", "indicators", "covariates"),
        doc="small-area (Fay-Herriot) estimates of every area of a frame, written to build/<survey>/sae.csv"),
    "domains": List(Table({"id": Str(doc="name of the domain in the estimates table (unique)"),
                           "by": Default(NAMES, [], doc="columns whose values make the domains (default: none, "
                                                        "the whole population)"),
                           "where": Expr(doc="subpopulation estimated inside the full design"),
                           "label": LABELS,
                           "chart": Bool(doc="draw a by-area chart of each key indicator over this domain's "
                                             "values (default: true for a domain with one by variable)")},
                          required=("id", "label"), doc="a set of domains (subpopulations) every indicator is "
                                                        "estimated for"), min_len=1, unique=False),
    "indicators": List(Table({
        "id": Str(doc="name of the indicator (unique)"),
        "unit": Str(choices=("household", "person"), doc="the file whose records it is about"),
        "label": LABELS,
        "kind": Default(Str(choices=("proportion", "mean"), doc="what is estimated"), "proportion"),
        "universe": Expr(doc="who the indicator is about (default: everyone)"),
        "universe_label": Label(doc="who the indicator is about, in words, for headings (default: the unit's label)"),
        "numerator": Expr(doc="proportion: the condition counted; mean: the value averaged")},
        required=("id", "unit", "label", "numerator"), doc="an estimated indicator"), min_len=1),
    "reporting": Default(Table({
        "ci_method": Default(Str(choices=("beta", "logit", "xlogit", "wilson", "asin", "mean", "normal"),
                                 doc="interval of proportions (beta: Korn-Graubard); means use t on the design df"),
                             "beta"),
        "level": Default(Num(lo=0.5, hi=0.999, doc="confidence level"), 0.95),
        "min_n_eff": Default(Num(lo=0, doc="suppress when the effective sample size is smaller"), 30),
        "max_ci_width": Default(Num(lo=0, doc="suppress a proportion whose CI is this wide or wider"), 0.30),
        "max_rel_ci_width": Default(Num(lo=0, doc="... or wider than this times the estimate"), 1.30),
        "rel_width_from": Default(Num(lo=0, doc="(the relative rule applies above this CI width)"), 0.05),
        "min_df": Default(Num(lo=0, doc="flag for review when the design df is smaller"), 8)},
        doc="intervals and the NCHS reliability rules for proportions (Parker et al. 2017)"), None),
    "models": Default(List(MODEL), [], doc="survey regression models, fitted by the estimate stage "
                                           "(models.csv)"),
    "comparisons": Default(List(COMPARISON), [], doc="differences between domains of an indicator, tested by the "
                                                     "estimate stage (comparisons.csv)"),
    # [report]: figures and report stages (optional; English, no targets by default)
    "report": Default(Table({
        "language": Default(Language(doc="language of figure labels and the report (a language code; built-in "
                                         "text exists in vi and en, others get English headings)"), "en"),
        "source": LABELS,
        "key_indicators": Default(NAMES, [], doc="indicator ids of the headline and by-area charts "
                                                 "(default: all proportions)"),
        "targets": Default(List(Table({
            "indicator": Str(doc="indicator id"), "value": Num(lo=0, doc="target proportion"),
            "year": Num(integer=True, doc="year the target is due"), "label": LABELS,
            "reference": Str(doc="where the target is set (e.g. a decision)")},
            required=("indicator", "value"), doc="a national target drawn beside the estimates")), [],
            doc="national targets the indicators answer to")},
        doc="figures and report: language, source note, key indicators, targets"), None),
}, required=("survey", "files", "design", "domains", "indicators"))


def _cross_checks(c: dict, err, parse_formulas: bool = True) -> None:
    files = c["files"]
    for name in files:
        if name not in UNITS:
            err(f"files.{name}", "expected [files.household] and/or [files.person] (the survey's units)")
    for name, f in files.items():
        fmt = f.get("format") or Path(f["path"]).suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            err(f"files.{name}.path", f"unknown format {fmt!r} (expected {', '.join(FORMATS)}; or set format)")
        f["format"] = fmt
        if "parent" in f:
            if f["parent"] not in files:
                err(f"files.{name}.parent", f"no file named {f['parent']!r}")
            if "parent_key" not in f:
                err(f"files.{name}.parent_key", "required key is missing (parent is set)")
    seen = set()
    for i, r in enumerate(c["clean"]["rules"]):
        p = f"clean.rules[{i}]"
        if r["id"] in seen:
            err(f"{p}.id", f"duplicate rule id {r['id']!r}")
        seen.add(r["id"])
        if r["file"] not in files:
            err(f"{p}.file", f"no file named {r['file']!r}")
        need = {"codes": ("variable", "allowed"), "range": ("variable",), "when": ("when",)}[r["check"]]
        for k in need:
            if k not in r:
                err(f"{p}.{k}", f"required for check = {r['check']!r}")
        if r["check"] == "range" and "min" not in r and "max" not in r:
            err(p, "a range rule needs min or max")
        if r["action"] == "set" and "set" not in r:
            err(f"{p}.set", "required for action = 'set'")
        if r["action"] == "set_missing" and "variable" not in r and "variables" not in r:
            err(f"{p}.variables", "required for action = 'set_missing' (or give variable)")
    for i, d in enumerate(c["clean"]["derive"]):
        if ("expr" in d) == ("bins" in d):
            err(f"clean.derive[{i}]", "give exactly one of expr or bins")
        if "bins" in d:
            b = d["bins"]
            if len(b["labels"]) != len(b["breaks"]) + 1:
                err(f"clean.derive[{i}].bins.labels", f"expected {len(b['breaks']) + 1} labels for "
                    f"{len(b['breaks'])} breaks, got {len(b['labels'])}")
            if sorted(b["breaks"]) != b["breaks"]:
                err(f"clean.derive[{i}].bins.breaks", "must be increasing")
        if d["file"] not in files:
            err(f"clean.derive[{i}].file", f"no file named {d['file']!r}")
    for i, ind in enumerate(c["indicators"]):
        if ind["unit"] not in files:
            err(f"indicators[{i}].unit", f"no [files.{ind['unit']}] table")
    for key in ("domains", "indicators"):
        ids = [x["id"] for x in c[key]]
        for i, x in enumerate(ids):
            if x in ids[:i]:
                err(f"{key}[{i}].id", f"duplicate id {x!r}")
    _check_design(c, err)
    sae = c.get("sae")
    if sae:
        ids = {ind["id"]: ind for ind in c["indicators"]}
        for i, k in enumerate(sae["indicators"]):
            if k not in ids:
                err(f"sae.indicators[{i}]", f"no indicator with id {k!r}")
        if sae.get("benchmark") and sae["benchmark"] not in {d["id"] for d in c["domains"]}:
            err("sae.benchmark", f"no domain with id {sae['benchmark']!r}")
        if "benchmark_weight" in sae and not sae.get("benchmark"):
            err("sae.benchmark_weight", "needs sae.benchmark")
    for i, d in enumerate(c["domains"]):
        if d.get("chart") and len(d["by"]) != 1:
            err(f"domains[{i}].chart", f"a by-area chart needs exactly one by variable, got {len(d['by'])}")
    _check_models(c, err, parse_formulas)


def _check_models(c: dict, err, parse_formulas: bool = True) -> None:
    """[[models]] and [[comparisons]]: units, ids, formulas (parsed here, columns checked by the estimate stage)."""
    ids = [m["id"] for m in c["models"]]
    for i, m in enumerate(c["models"]):
        if m["id"] in ids[:i]:
            err(f"models[{i}].id", f"duplicate id {m['id']!r}")
        if m["unit"] not in c["files"]:
            err(f"models[{i}].unit", f"no [files.{m['unit']}] table")
        problem = formula_problem(m["formula"], parse=parse_formulas)
        if problem:
            err(f"models[{i}].formula", problem)
    inds = {x["id"]: x for x in c["indicators"]}
    doms = {x["id"]: x for x in c["domains"]}
    seen = []
    for i, k in enumerate(c["comparisons"]):
        p = f"comparisons[{i}]"
        if k["indicator"] not in inds:
            err(f"{p}.indicator", f"no indicator with id {k['indicator']!r}" + suggest(k["indicator"], inds))
        if k["domain"] not in doms:
            err(f"{p}.domain", f"no domain with id {k['domain']!r}" + suggest(k["domain"], doms))
        if len(doms[k["domain"]]["by"]) != 1:
            err(f"{p}.domain", f"expected a domain with exactly one by variable, got {k['domain']!r} with "
                               f"{len(doms[k['domain']]['by'])}")
        if k["pairs"] != "all":
            for j, pair in enumerate(k["pairs"]):
                if len(pair) != 2:
                    err(f"{p}.pairs[{j}]", f"expected a pair [a, b], got {len(pair)} values")
                if pair[0] == pair[1]:
                    err(f"{p}.pairs[{j}]", f"expected two different values, got {pair!r}")
        k.setdefault("id", f"{k['indicator']}_{k['domain']}")
        if k["id"] in seen:
            err(f"{p}.id", f"duplicate id {k['id']!r}")
        seen.append(k["id"])


def formula_problem(formula: str, parse: bool = True) -> str | None:
    """Why *formula* is not a model formula ``response ~ terms`` (patsy's syntax), or None."""
    if formula.count("~") != 1 or not formula.split("~")[0].strip():
        return f"expected 'response ~ terms', got {formula!r}"
    if not parse:
        return None
    try:
        from patsy import ModelDesc, PatsyError
    except ImportError:  # the formula is parsed again when the model is fitted
        return None
    try:
        ModelDesc.from_formula(formula)
    except PatsyError as e:
        return f"not a valid formula: {str(e).splitlines()[0]} in {formula!r}"
    return None


def _check_design(c: dict, err) -> None:
    """How the weights come about: computed from [frame] + [weighting], or delivered with the data."""
    files, d, w = c["files"], c["design"], c.get("weighting")
    if "person" in files and "household" in files and "parent" not in files["person"]:
        err("files.person.parent", 'required with a household file: parent = "household" and parent_key')
    if "person" in files and files["person"].get("parent", "household") != "household":
        err("files.person.parent", f"expected 'household', got {files['person']['parent']!r}")
    if "household" in files and "parent" in files["household"]:
        err("files.household.parent", "the household file has no parent")
    if d.get("weights"):
        for k in ("nonresponse_classes", "replicates"):
            if w and w.get(k):
                err(f"weighting.{k}", "not used with delivered weights (design.weights): remove it")
    else:
        for k, what in (("replicate_weights", "replicate weights"), ("replicate_type", "replicate weights")):
            if k in d:
                err(f"design.{k}", f"delivered {what} need the delivered final weights too (design.weights)")
        if "household" not in files:
            err("design.weights", "required without a household file (weights can only be computed for households)")
        if not w:
            err("weighting", "required unless the data deliver their weights (design.weights = \"<column>\")")
        if "respondent" not in w:
            err("weighting.respondent", "required when the weights are computed (no design.weights)")
        if "frame" not in c:
            err("frame", "required when the weights are computed (no design.weights)")
        if "psu" not in d:
            err("design.psu", "required when the weights are computed (no design.weights)")
    if d.get("replicate_weights"):
        if "replicate_type" not in d:
            err("design.replicate_type", f"required with replicate_weights (one of {', '.join(REPLICATE_TYPES)})")
        if d["replicate_type"] == "Fay" and "fay_rho" not in d:
            err("design.fay_rho", "required with replicate_type = 'Fay'")
        if d["replicate_type"] == "JKn" and "rscales" not in d:
            err("design.rscales", "required with replicate_type = 'JKn': the factor (n_h - 1)/n_h of each "
                                  "replicate's stratum, one per replicate column")
        for key in ("scale", "rscales"):
            if d["replicate_type"] in SDR_TYPES and key in d:
                err(f"design.{key}", f"not used with replicate_type = {d['replicate_type']!r}: its variance is "
                                     f"4/R times the sum of squares, as R's svrepdesign: remove it")
        if d.get("pseudo_strata"):
            err("design.pseudo_strata", "not used with replicate weights: remove it")
        if files.get("person", {}).get("weight"):
            err("files.person.weight", "a person weight with household replicate weights is not supported; "
                                       "deliver person replicate weights in a person-only survey")
    if d.get("pseudo_strata") and "psu" not in d:
        err("design.pseudo_strata", "needs design.psu")
    for i, ctl in enumerate((w or {}).get("controls", [])):
        if ctl["unit"] not in files:
            err(f"weighting.controls[{i}].unit", f"no [files.{ctl['unit']}] table")
        if ctl["unit"] == "person" and "household" in files and files["person"].get("weight"):
            err(f"weighting.controls[{i}].unit", "person controls calibrate the household weight that persons carry; "
                                                  "this survey's persons have their own weight (files.person.weight)")
    if "household" not in files and files["person"].get("parent"):
        err("files.person.parent", "no household file to link to")


UNITS = ("household", "person")


def _check_report(c: dict, err) -> None:
    """Fill [report] defaults; its indicator ids must be configured indicators."""
    if c.get("report") is None:
        c["report"] = SCHEMA.fields["report"].node.check({}, "report", err)
    ids = {ind["id"] for ind in c["indicators"]}
    for i, k in enumerate(c["report"]["key_indicators"]):
        if k not in ids:
            err(f"report.key_indicators[{i}]", f"no indicator with id {k!r}")
    for i, t in enumerate(c["report"]["targets"]):
        if t["indicator"] not in ids:
            err(f"report.targets[{i}].indicator", f"no indicator with id {t['indicator']!r}")


def load(survey_dir, *, parse_formulas: bool = True) -> dict:
    """Read and validate ``<survey_dir>/survey.toml``; raise PipelineError on the first problem.

    ``parse_formulas=False`` skips parsing the ``[[models]]`` formulas with patsy (which imports
    pandas, 0.8 s): for ``--make-deps`` only, as every stage loads the config again in full.
    """
    survey_dir = Path(survey_dir)
    path = survey_dir / "survey.toml"
    label = str(path)
    if not path.is_file():
        raise PipelineError(label, None, "file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PipelineError(label, None, f"not valid TOML: {e}") from None
    except (RecursionError, MemoryError):
        raise PipelineError(label, None, "not valid TOML: tables or arrays nested too deeply") from None
    except OSError as e:
        raise PipelineError(label, None, f"cannot read ({e.strerror})") from None

    return validate(raw, survey_dir, label, parse_formulas=parse_formulas)


def validate(raw: dict, survey_dir, label: str = "survey.toml", *, parse_formulas: bool = True) -> dict:
    """Check a parsed survey.toml against the schema and the cross-checks; fill the defaults."""
    def err(key, problem):
        raise PipelineError(label, key, problem)

    c = SCHEMA.check(raw, "", err)
    c.setdefault("weighting", None)
    if "clean" not in c:
        c["clean"] = SCHEMA.fields["clean"].check({}, "clean", err)
    if c["reporting"] is None:
        c["reporting"] = SCHEMA.fields["reporting"].node.check({}, "reporting", err)
    _check_paths(c, survey_dir, err)
    _check_output_names(c, err)
    _cross_checks(c, err, parse_formulas)
    _check_report(c, err)
    c["_dir"], c["_path"] = Path(survey_dir), label
    return c


# --- input paths, Make and the survey folder -----------------------------------
# A path that reaches Make (a target or prerequisite in build/<name>/inputs.mk, a
# recipe argument) may hold letters, digits, spaces and . _ - + @ , / only: every
# other character ($ # % : ; = * ? [ ] ( ) quotes, backslash, control characters)
# means something to Make or the shell, so it is refused here, with the key, before
# Make runs anything.  Spaces are escaped ("\ ") in inputs.mk and quoted in recipes.
SAFE_PATH = re.compile(r"[\w .,+@/-]+")


def _path_items(c: dict) -> list[tuple[str, str, str]]:
    """(stage, key, path relative to the survey folder) of every input file the config names."""
    items = [("ingest", f"files.{n}.path", f["path"]) for n, f in c["files"].items()]
    items += [(stage, f"frame.{k}", c["frame"][k]) for k in ("path", "sample") if k in c.get("frame", {})
              for stage in ("clean", "weight")]
    w = c.get("weighting") or {}
    items += [("weight", f"weighting.controls[{i}].path", x["path"]) for i, x in enumerate(w.get("controls", []))]
    if c.get("sae"):
        items.append(("estimate", "sae.frame", c["sae"]["frame"]))
    if (c.get("raw") or {}).get("generator"):
        items.append(("generator", "raw.generator", c["raw"]["generator"]))
    return items


def unsafe_path_problem(path: str) -> str | None:
    """Why *path* cannot be handed to Make and the shell safely (None: it can)."""
    if not SAFE_PATH.fullmatch(path):
        bad = next((ch for ch in path if not SAFE_PATH.fullmatch(ch)), "")
        return (f"character {bad!r} not allowed in a path (Make and the shell give it a meaning); "
                f"use letters, digits, spaces and . _ - + @ , / only")
    if any(part != part.strip() for part in path.split("/")):
        return "a path part may not begin or end with a space"
    return None


DATA_ROOTS_ENV = "HHSURVEY_DATA_ROOTS"


def data_roots() -> list[Path]:
    """Folders outside the survey folder that the operator allows data inputs from.

    Set in the environment, never in survey.toml: ``HHSURVEY_DATA_ROOTS=/data/census:/data/frames``
    (``os.pathsep``-separated).  The generator, which is code, must be in the survey folder.
    """
    return [Path(x).resolve() for x in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if x.strip()]


def _check_paths(c: dict, survey_dir: Path, err) -> None:
    """Every input path (and the generator) is Make-safe and resolves inside the survey folder.

    Symbolic links are followed, so a link to a file outside the folder is refused too.
    Data inputs (not the generator) may also resolve inside a folder of :func:`data_roots`.
    """
    root = survey_dir.resolve()
    extra = data_roots()
    for stage, key, rel in _path_items(c):
        problem = unsafe_path_problem(rel)
        if problem:
            err(key, f"{problem}, got {rel!r}")
        if Path(rel).is_absolute():
            err(key, f"must be a path relative to the survey folder, got {rel!r}")
        real = (survey_dir / rel).resolve()
        allowed = [root] + (extra if stage != "generator" else [])
        if not any(real.is_relative_to(r) for r in allowed):
            hint = "" if stage == "generator" else f" (or allow a data folder in {DATA_ROOTS_ENV})"
            err(key, f"{rel!r} resolves to {real}, outside the survey folder {root}{hint}")


PLAIN_NAME = re.compile(r"\w[\w.-]*")


def _check_output_names(c: dict, err) -> None:
    """Names that become output file names (file tables, indicator and domain ids) are plain names.

    ``[files."../../x"]`` would otherwise write ``build/<name>/ingest/../../x.parquet``.
    """
    for name in c["files"]:
        if not PLAIN_NAME.fullmatch(name) or ".." in name:
            err(f"files.{name}", "a file table's name becomes an output file name: use letters, digits, "
                                 "_ - . only (no / or ..)")
    for section in ("indicators", "domains"):
        for i, x in enumerate(c[section]):
            if not PLAIN_NAME.fullmatch(x["id"]) or ".." in x["id"]:
                err(f"{section}[{i}].id", f"an id becomes an output file name: use letters, digits, _ - . only "
                                          f"(no / or ..), got {x['id']!r}")


def inputs(c: dict) -> dict[str, list[Path]]:
    """Input files of each stage, as paths under the survey folder (checked by :func:`load`)."""
    d = c["_dir"]
    out: dict[str, list[Path]] = {"ingest": [], "clean": [], "weight": [], "estimate": [], "generator": []}
    for stage, _, rel in _path_items(c):
        out[stage].append(d / rel)
    # the generator with the Python modules it may import from sub-folders of its folder (a package)
    gen = out["generator"]
    mods = sorted(p for p in gen[0].parent.glob("*/*.py") if not unsafe_path_problem(str(p))) if gen else []
    out["generator_files"] = gen + [p for p in mods if p.resolve().is_relative_to(d.resolve())]
    return out


def make_word(path) -> str:
    """*path* as one word of a Make target or prerequisite list (spaces escaped); unsafe paths refused."""
    s = str(path)
    problem = unsafe_path_problem(s)
    if problem:
        raise PipelineError(s, None, problem)
    return s.replace(" ", "\\ ")


STAGES = ("ingest", "clean", "weight", "estimate", "figures", "report", "validate")


def _module_imports(name: str) -> tuple[list[str], bool]:
    """The pipeline modules that ``pipeline/<name>.py`` imports (anywhere in it), and whether it imports ``analysis``."""
    import ast
    path = Path(__file__).resolve().parent / f"{name}.py"
    key = (path, path.stat().st_mtime_ns)
    if key in _IMPORTS:  # each file is parsed once, however many stages import it
        return _IMPORTS[key]
    deps, uses_analysis = [], False
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:
                deps += [mod.split(".")[0]] if mod else [a.name for a in node.names]
            elif mod.startswith("pipeline"):
                deps += [mod.split(".")[1]] if "." in mod else [a.name for a in node.names]
            uses_analysis |= node.level == 0 and mod.split(".")[0] == "analysis"
        elif isinstance(node, ast.Import):
            uses_analysis |= any(a.name.split(".")[0] == "analysis" for a in node.names)
    _IMPORTS[key] = deps, uses_analysis
    return deps, uses_analysis


_IMPORTS: dict = {}


def stage_modules(stage: str) -> tuple[list[str], bool]:
    """The pipeline modules a stage imports, directly or not (its own script first), and whether it uses ``analysis``.

    Read from the import statements (including those inside functions), so that the
    Makefile's prerequisites of a stage follow the code without a hand-kept list.
    """
    root = Path(__file__).resolve().parent
    seen, todo, uses_analysis = [], [stage], False
    while todo:
        name = todo.pop(0)
        if name in seen or not (root / f"{name}.py").is_file():
            continue
        seen.append(name)
        deps, uses = _module_imports(name)
        todo += deps
        uses_analysis |= uses
    return [f"pipeline/{m}.py" for m in seen] + ["pipeline/__init__.py"], uses_analysis


def make_deps(survey_dir) -> str:
    """The Make variables of *survey_dir* (``build/<name>/inputs.mk``): each stage's modules and inputs.

    Every value is a list of :func:`make_word` paths, so no ``$``, ``#``, newline or
    other Make metacharacter from survey.toml reaches Make.  The generator's arguments
    are not written here: ``python -m pipeline.config --generate`` runs it without a shell.
    """
    make_word(survey_dir)
    c = load(survey_dir, parse_formulas=False)
    ins = inputs(c)
    names = {"ingest": "INGEST_INPUTS", "clean": "CLEAN_INPUTS", "weight": "WEIGHT_INPUTS", "estimate": "ESTIMATE_INPUTS",
             "generator": "GENERATOR", "generator_files": "GENERATOR_FILES"}
    lines = []
    for stage in STAGES:
        mods, uses = stage_modules(stage)
        lines.append(f"{stage.upper()}_MODULES := {' '.join(make_word(m) for m in mods)}{' $(ANALYSIS)' if uses else ''}\n")
    return "".join(lines) + "".join(f"{var} := {' '.join(make_word(p) for p in ins[stage])}\n"
                                    for stage, var in names.items())


def generate(survey_dir) -> int:
    """Run the survey's ``[raw] generator`` with its ``args`` (no shell); return its exit status."""
    import subprocess
    c = load(survey_dir, parse_formulas=False)  # the models' formulas play no part here (patsy costs 0.5 s)
    gen = inputs(c)["generator"]
    if not gen:
        raise PipelineError(c["_path"], "raw.generator", "no generator configured")
    args = [a.replace("{survey}", str(survey_dir)) for a in c["raw"]["args"]]
    return subprocess.run([sys.executable, str(gen[0]), *args]).returncode


ROOT = Path(__file__).resolve().parents[1]


def clean(survey_dir, build, figs, root: Path = ROOT) -> list[Path]:
    """Remove a survey's build and figures folders (``make clean``) after checking what they are.

    A folder inside the repository is removed only if it resolves to ``build/<name>`` or
    ``figures/<name>`` (``<name>``: the survey folder's name); one outside it (``BUILD=`` /
    ``FIGS=`` given to Make) only if it is not the file-system root, the home folder, a
    folder holding the repository, the survey folder or the working folder, nor inside the
    survey folder.  A symbolic link is removed, never followed.  Returns what was removed.
    """
    import shutil
    root = root.resolve()
    survey = Path(survey_dir).resolve()
    allowed = {root / "build" / survey.name, root / "figures" / survey.name}
    removed = []
    for target in (Path(build), Path(figs)):
        if not target.exists() and not target.is_symlink():
            continue
        real = target.parent.resolve() / target.name if target.is_symlink() else target.resolve()
        if real.is_relative_to(root):
            ok = real in allowed
        else:
            ok = not (real == Path(real.anchor) or real == _home() or root.is_relative_to(real)
                      or survey.is_relative_to(real) or real.is_relative_to(survey)
                      or Path.cwd().resolve().is_relative_to(real))
        if not ok:
            raise PipelineError(target, None, f"refusing to remove {real}: make clean removes only "
                                f"build/{survey.name} and figures/{survey.name} (or a separate BUILD/FIGS folder)")
        if target.is_symlink() or not target.is_dir():
            target.unlink()
        else:
            shutil.rmtree(target)
        removed.append(target)
    return removed


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    """Write *text* to *path* through a temporary file of this process, renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> None:
    import argparse
    p = argparse.ArgumentParser(prog="python -m pipeline.config", description="validate a survey.toml")
    p.add_argument("survey", help="survey folder")
    p.add_argument("--make-deps", action="store_true", help="print the Make variables for this survey")
    p.add_argument("--out", help="with --make-deps: write them to this file (atomically) instead")
    p.add_argument("--generate", action="store_true", help="run the survey's [raw] generator")
    p.add_argument("--clean", action="store_true", help="remove the survey's --build and --figs folders")
    p.add_argument("--build", help="with --clean: the build folder")
    p.add_argument("--figs", help="with --clean: the figures folder")
    a = p.parse_args(argv)
    if a.clean:
        if not (a.build and a.figs):
            p.error("--clean needs --build and --figs")
        for path in clean(a.survey, a.build, a.figs):
            print(f"removed {path}")
    elif a.generate:
        status = generate(a.survey)
        if status:
            raise SystemExit(status)
    elif a.make_deps:
        deps = make_deps(a.survey)
        if a.out:
            make_word(a.out)
            _write_atomic(Path(a.out), deps)
        else:
            sys.stdout.write(deps)
    else:
        make_word(a.survey)
        load(a.survey)
        print(f"{a.survey}/survey.toml: ok", file=sys.stderr)


if __name__ == "__main__":
    from .errors import run
    run(main)
