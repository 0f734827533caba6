"""Numbers as people read them in the report language: ``79,1%`` in Vietnamese, ``79.1%`` in English.

Decimal and thousands marks come from :data:`NUMBER_MARKS` (CLDR's common
conventions for the languages statistics offices report in); a language not
listed uses the English marks.  Also the wording of the reliability flags
written by :mod:`pipeline.reliability`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# (decimal mark, thousands separator); U+202F is the narrow no-break space
_COMMA_DOT = (",", ".")
_COMMA_SPACE = (",", "\u202f")
NUMBER_MARKS = {"en": (".", ","), "vi": _COMMA_DOT, "id": _COMMA_DOT, "de": _COMMA_DOT, "es": _COMMA_DOT,
                "it": _COMMA_DOT, "pt": _COMMA_DOT, "nl": _COMMA_DOT, "tr": _COMMA_DOT, "da": _COMMA_DOT,
                "ro": _COMMA_DOT, "el": _COMMA_DOT, "fr": _COMMA_SPACE, "ru": _COMMA_SPACE, "uk": _COMMA_SPACE,
                "pl": _COMMA_SPACE, "cs": _COMMA_SPACE, "sk": _COMMA_SPACE, "sv": _COMMA_SPACE, "nb": _COMMA_SPACE,
                "fi": _COMMA_SPACE, "hu": _COMMA_SPACE}


def number_marks(lang: str) -> tuple[str, str]:
    """(decimal mark, thousands separator) of *lang* (its base code: ``pt-BR`` -> ``pt``)."""
    return NUMBER_MARKS.get(lang, NUMBER_MARKS.get(str(lang).split("-")[0].split("_")[0], NUMBER_MARKS["en"]))


def fmt_num(x, lang: str, digits: int = 0) -> str:
    """``1234.5`` -> ``1.234,5`` (vi) or ``1,234.5`` (en); missing -> an em dash."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or pd.isna(x):
        return "—"
    s = f"{float(x):,.{digits}f}"
    dec, thou = number_marks(lang)
    if (dec, thou) != (".", ","):
        s = s.replace(",", "\0").replace(".", dec).replace("\0", thou)
    return s.replace("-", "−")


def code_text(v) -> str:
    """A category code as text: integers without '.0' (codes read from SPSS are floats), missing as ''."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return ""
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and float(v).is_integer():
        return str(int(v))
    return str(v)


def code_series(s: pd.Series) -> pd.Series:
    """:func:`code_text` of every value (object dtype), vectorised for float64 and integer columns."""
    if s.dtype == np.float64:
        v = s.to_numpy()
        out = np.full(v.shape, "", dtype=object)
        whole = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 2.0 ** 53)
        out[whole] = v[whole].astype(np.int64).astype(str)
        other = ~whole & ~np.isnan(v)
        if other.any():
            out[other] = [code_text(x) for x in v[other]]
        return pd.Series(out, index=s.index, dtype=object)
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
        return pd.Series(s.to_numpy().astype(str), index=s.index, dtype=object)
    if isinstance(s.dtype, pd.StringDtype):
        return s.astype(object).where(s.notna(), "")
    return s.astype(object).map(code_text)


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


def tick_pct(v, lang: str) -> str:
    """Axis tick: whole percentages without decimals, others with one ("12,5%")."""
    return fmt_pct(v, lang, 0 if abs(round(100 * v, 6) - round(100 * v)) < 1e-6 else 1)


def sci(x, lang: str) -> str:
    """A small discrepancy in scientific notation with the language's decimal mark."""
    if x is None or pd.isna(x):
        return "—"
    if x == 0:
        return "0"
    s = f"{x:.1e}".replace("e-0", "e-").replace("e+0", "e+")
    return s.replace(".", number_marks(lang)[0])


FLAG_PATTERNS = (  # codes written by pipeline.reliability; their words are text.FLAG_WORDS
    ("n_eff", r"^n_eff<(.+)$"), ("ci_width", r"^ci_width>=(.+)$"), ("rel_ci_width", r"^rel_ci_width>(.+)$"),
    ("df", r"^df<(.+)$"), ("estimate_0_or_1", r"^estimate_0_or_1$"))


REVIEW_CODES = ("df<", "estimate_0_or_1")


def flag_text(flags: str, lang: str) -> str:
    """``'n_eff<30;df<8'`` -> ``'cỡ mẫu hiệu dụng < 30; bậc tự do < 8'`` (unknown codes kept as they are)."""
    import re
    from .text import FLAG_WORDS, table
    words = table(FLAG_WORDS, lang)
    out = []
    for code in [f for f in str(flags or "").split(";") if f]:
        for name, pat in FLAG_PATTERNS:
            m = re.match(pat, code)
            if m:
                g = [fmt_num(float(x), lang, 2).rstrip("0").rstrip(",.") if is_number(x) else x for x in m.groups()]
                code = words[name].format(*g)
                break
        out.append(code)
    return "; ".join(out)


def review_flags(flags: str, suppress: bool) -> str:
    """The ';'-joined flags of an estimate that is drawn but flagged for review."""
    return "" if suppress or not isinstance(flags, str) else flags


def is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def value_label(codebook: dict, col: str, v) -> str:
    """The value label of code *v* of column *col* in the ingest stage's codebook, or ''."""
    key = code_text(v)
    for table in codebook.values():
        labels = table.get(col, {}).get("values", {})
        if key in labels:
            return labels[key]
    return ""


def fmt_p(p, lang: str) -> str:
    """A p-value: three decimals, ``<0,001`` (vi) / ``<0.001`` (en) below that, ``—`` when missing."""
    if p is None or pd.isna(p):
        return "—"
    return "<" + fmt_num(0.001, lang, 3) if p < 0.001 else fmt_num(p, lang, 3)


def fmt_coef(x, lang: str) -> str:
    """A coefficient or an odds/rate ratio: two decimals (three below 0.1)."""
    if x is None or pd.isna(x):
        return "—"
    return fmt_num(x, lang, 3 if abs(x) < 0.1 else 2)


def fmt_gap(d, kind: str, lang: str) -> str:
    """A difference of two estimates: percentage points for proportions (signed), else the value's digits."""
    if d is None or pd.isna(d):
        return "—"
    if kind == "proportion":
        return ("+" if d > 0 else "") + fmt_num(100 * d, lang, 1)
    return ("+" if d > 0 else "") + fmt_num(d, lang, mean_digits(d))


def fmt_gap_ci(lo, hi, kind: str, lang: str) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "—"
    scale, d = (100, 1) if kind == "proportion" else (1, mean_digits(max(abs(lo), abs(hi))))
    return f"[{fmt_num(scale * lo, lang, d)}; {fmt_num(scale * hi, lang, d)}]"
