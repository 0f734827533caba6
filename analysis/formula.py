"""Model formulas in R/patsy style, turned into R's model matrices.

``y ~ x1 + C(x2) + x3``, ``y ~ a * b``, ``np.log(y) ~ I(x**2)``: the
formula language is patsy's (which follows R's), with four R conventions
added so that coefficients come out as R's ``model.matrix`` gives them:

* terms are ordered as R orders them: the intercept, then terms by their
  order (main effects, then two-way interactions, ...), each in the order
  written;
* string, boolean and categorical columns are factors with treatment
  coding, the first level (sorted, or the categorical's own order) being
  the reference; levels absent from the rows used are dropped, as R's
  ``model.frame(drop.unused.levels = TRUE)`` inside ``glm``;
* ``scale(x)`` is R's: centred and divided by the standard deviation
  with divisor ``n - 1`` (patsy's ``scale``/``standardize`` divide by
  ``n``; ``standardize(x)`` keeps patsy's meaning), over the rows of the
  model frame (R's ``model.frame`` evaluates it before ``na.omit``, and
  on every row of a calibrated design's domain subset, so with missing
  values or such domains R's centre and scale differ);
* column names are R's: ``(Intercept)``, ``x``, ``stypeH``,
  ``stypeH:x``; a column name with dots (``sch.wide``) can be written
  bare, as in R.

Where patsy's coding differs from R's (same fitted model, other names or
parameters):

* within an interaction, the factors come in the order written in that
  term; R orders them by their first appearance in the formula, so
  ``y ~ sex + grp + grp:sex`` gives ``grpq:sexm`` here and ``sexm:grpq`` in
  R (same coefficient; with two multi-level factors the columns of the
  term also come in another order: compare by name);
* an interaction of factors without its main effects (``y ~ x + a:b``) is
  coded by patsy's rule, which is full rank; R codes each factor there by
  all its indicators and reports the aliased coefficient as ``NA``, so a
  coefficient of the same name (``aq:bm``) is measured from another
  reference cell in R.  Write the main effects (``a * b``) to get R's
  coefficients.

patsy is imported on first use (it comes with statsmodels).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .validation import EstimationError

__all__ = ["ModelFrame", "model_frame", "clean_name"]

_IDENT = re.compile(r"(?<![\w.\"'])([A-Za-z_][\w.]*)(?![\w.]*\s*\()")
_KNOWN = {"C", "Q", "I", "np", "numpy", "log", "exp", "sqrt", "abs", "center", "standardize", "scale",
          "Treatment", "Sum", "Poly", "Diff", "Helmert", "True", "False", "None"}


def clean_name(code: str) -> str:
    """R's name of a patsy factor: ``C(x, ...)`` -> ``x``, ``Q("a.b")`` -> ``a.b``."""
    code = code.strip()
    m = re.fullmatch(r"C\((.*)\)", code, flags=re.S)
    if m:
        inner = m.group(1)
        depth, cut = 0, len(inner)
        for i, ch in enumerate(inner):  # first top-level comma ends the variable
            depth += ch in "([{"
            depth -= ch in ")]}"
            if ch == "," and depth == 0:
                cut = i
                break
        return clean_name(inner[:cut])
    m = re.fullmatch(r"Q\(\s*(['\"])(.*)\1\s*\)", code, flags=re.S)
    if m:
        return m.group(2)
    return code


def _quote_dotted(formula: str, columns) -> str:
    """Write bare column names with dots (R style) as ``Q("name")`` for patsy."""
    dotted = {c for c in columns if isinstance(c, str) and "." in c}
    if not dotted:
        return formula
    return _IDENT.sub(lambda m: f'Q("{m.group(1)}")' if m.group(1) in dotted else m.group(1), formula)


def _names_in(code: str) -> set[str]:
    """Variable names an expression reads (function names and ``np.`` attributes excluded)."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as e:
        raise EstimationError(f"formula: expected a valid term, got {code!r} ({e.msg})") from None
    names, calls = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                calls.add(node.func.id)
            if isinstance(node.func, ast.Name) and node.func.id == "Q" and node.args and \
                    isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
    return {n for n in names if n not in calls and n not in _KNOWN}


@dataclass
class ModelFrame:
    """The response, model matrix and bookkeeping of one formula on some rows.

    Attributes
    ----------
    y : (r,) float
    X : (r, p) float, columns in R's order
    names : list of str
        R's coefficient names.
    terms : list of str
        R's term labels (``term.labels``) in R's order.
    assign : (p,) int
        Term of each column (0 = intercept, i = ``terms[i-1]``), as R's ``assign``.
    factors : dict
        Categorical factor name -> its levels (for messages and new data).
    """

    y: np.ndarray
    X: np.ndarray
    names: list
    terms: list
    assign: np.ndarray
    factors: dict
    response: str
    design_info: object = field(repr=False, default=None)
    order: np.ndarray = field(repr=False, default=None)

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Model matrix of new data with this frame's levels and coding (R's ``xlevels``)."""
        import patsy

        try:
            (m,) = patsy.build_design_matrices([self.design_info], data, NA_action="raise")
        except patsy.PatsyError as e:
            raise EstimationError(f"new_data: expected the model's columns and known levels, got {_short(e)}") from None
        return np.asarray(m, dtype=float)[:, self.order]


_R_SCALE = None


def _r_scale():
    """R's ``scale(x, center = TRUE, scale = TRUE)`` as a patsy stateful transform.

    Centres at the mean and divides by the standard deviation with divisor
    ``n - 1``, as R's ``sd``; patsy's own ``scale`` (``standardize``)
    divides by ``n``, which gave coefficients of ``scale(x)`` off by
    ``sqrt(n / (n - 1))``.  The mean and SD are those of the rows of the
    model frame and are kept for new data, as R's ``makepredictcall``.
    """
    global _R_SCALE
    if _R_SCALE is None:
        import patsy
        from patsy.state import Standardize

        class RScale(Standardize):
            def memorize_chunk(self, x, center=True, scale=True):
                super().memorize_chunk(x)

            def transform(self, x, center=True, scale=True):
                return super().transform(x, center=bool(center), rescale=bool(scale), ddof=1)

        _R_SCALE = patsy.stateful_transform(RScale)
    return _R_SCALE


def _short(err) -> str:
    return str(err).splitlines()[0]


def model_frame(formula: str, data: pd.DataFrame, rows: np.ndarray, na_rm: bool = True,
                response: bool = True) -> tuple[ModelFrame, np.ndarray]:
    """Build the model frame of ``formula`` on ``data.iloc[rows]``.

    Rows with a missing value in a variable of the formula are dropped
    (``na_rm=True``, R's ``na.omit``) or make an error.  Returns the frame
    and the positions (into ``data``) of the rows it holds.
    """
    import patsy

    if not isinstance(formula, str) or (response and "~" not in formula):
        raise EstimationError(f"formula: expected a string 'y ~ x1 + x2', got {formula!r}")
    f = _quote_dotted(formula, data.columns)
    # C(column) -> the column as a pandas categorical: same coding and names, and patsy's fast path
    as_factor = set()

    def _plain_c(m):
        inner = m.group(1)
        name = clean_name(inner)
        if name in data.columns:
            as_factor.add(name)
            return inner
        return m.group(0)

    f = re.sub(r"\bC\(\s*(Q\(\s*\"[^\"]*\"\s*\)|Q\(\s*'[^']*'\s*\)|[A-Za-z_]\w*)\s*\)", _plain_c, f)
    try:
        desc = patsy.ModelDesc.from_formula(f)
    except patsy.PatsyError as e:
        raise EstimationError(f"formula: expected a valid formula, got {formula!r} ({_short(e)})") from None
    if response and (len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1):
        raise EstimationError(f"formula: expected one response on the left of '~', got {formula!r}")
    used = set()
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for fac in term.factors:
            used |= _names_in(fac.code)
    missing = sorted(n for n in used if n not in data.columns)
    if missing:
        raise EstimationError(
            f"formula: expected column(s) of the data, got unknown name(s) {missing} in {formula!r}"
        )
    cols = [c for c in data.columns if c in used]
    sub = data.iloc[rows]
    na = sub[cols].isna().any(axis=1).to_numpy() if cols else np.zeros(len(rows), dtype=bool)
    if na.any() and not na_rm:
        bad = [c for c in cols if sub[c].isna().any()]
        raise EstimationError(
            f"na_rm: expected no missing values with na_rm=False, got {int(na.sum())} row(s) missing in {bad}; "
            f"pass na_rm=True to leave them out of the model"
        )
    keep = rows[~na]
    frame = data.iloc[keep]
    if len(frame) == 0:
        raise EstimationError(f"where: expected a domain with rows, got no rows with values for {formula!r}")
    # Factors: string, boolean, categorical columns; drop levels absent from the rows used.
    frame = frame.copy(deep=False)
    for c in cols:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            frame[c] = s.cat.remove_unused_categories()
        elif c in as_factor:
            frame[c] = pd.Categorical(s)  # levels sorted, as R's factor()
        elif pd.api.types.is_bool_dtype(s.dtype):
            frame[c] = pd.Categorical(s, categories=[False, True]).remove_unused_categories()
        elif not pd.api.types.is_numeric_dtype(s.dtype):
            frame[c] = pd.Categorical(s)
    env = patsy.EvalEnvironment([{"np": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "scale": _r_scale()}])
    rhs_desc = patsy.ModelDesc([], desc.rhs_termlist)
    try:
        X = patsy.dmatrix(rhs_desc, frame, eval_env=env, NA_action="raise", return_type="matrix")
    except patsy.PatsyError as e:
        raise EstimationError(f"formula: could not build the model matrix of {formula!r}: {_short(e)}") from None
    info = X.design_info
    for fac, fi in info.factor_infos.items():
        if fi.type == "categorical" and len(fi.categories) < 2:
            raise EstimationError(
                f"formula: expected factor {clean_name(fac.code)!r} to have at least 2 levels in the rows used, "
                f"got {len(fi.categories)} ({list(fi.categories)})"
            )
    # R's term order: by order (number of factors), then as written.
    written = {t: i for i, t in enumerate(desc.rhs_termlist)}
    terms = sorted(info.terms, key=lambda t: (len(t.factors), written.get(t, 0)))
    order, names, assign, labels = [], [], [], []
    for t in terms:
        sl = info.term_slices[t]
        cols_t = list(range(sl.start, sl.stop))
        order += cols_t
        if not t.factors:
            names += ["(Intercept)"]
            assign += [0]
            continue
        labels.append(":".join(clean_name(fac.code) for fac in t.factors))
        assign += [len(labels)] * len(cols_t)
        names += _column_names(info, t)
    order = np.asarray(order, dtype=np.int64)
    Xm = np.asarray(X, dtype=float)[:, order]
    factors = {clean_name(fac.code): list(fi.categories) for fac, fi in info.factor_infos.items()
               if fi.type == "categorical"}
    y = np.empty(0)
    rname = ""
    if response:
        rcode = desc.lhs_termlist[0].factors[0].code
        rname = clean_name(rcode)
        y = _response(rcode, frame, env, formula)
    return ModelFrame(y=y, X=Xm, names=names, terms=labels, assign=np.asarray(assign), factors=factors,
                      response=rname, design_info=info, order=order), keep


def _column_names(info, term) -> list[str]:
    out = []
    for sub in info.term_codings[term]:
        per = []
        for fac in sub.factors:
            base = clean_name(fac.code)
            if fac in sub.contrast_matrices:
                sfx = [re.sub(r"^\[(?:T\.)?(.*)\]$", r"\1", s) for s in sub.contrast_matrices[fac].column_suffixes]
                cats = info.factor_infos[fac].categories
                if all(isinstance(c, (bool, np.bool_)) for c in cats):  # R writes logical levels TRUE/FALSE
                    sfx = [x.upper() if x in ("True", "False") else x for x in sfx]
                per.append([base + s for s in sfx])
            else:
                k = info.factor_infos[fac].num_columns
                per.append([base] if k == 1 else [f"{base}{j + 1}" for j in range(k)])
        # the first factor varies fastest (R and patsy alike)
        combos = [[]]
        for options in per:
            combos = [c + [o] for o in options for c in combos]
        out += [":".join(c) for c in combos]
    return out


def _response(code: str, frame: pd.DataFrame, env, formula: str) -> np.ndarray:
    import patsy

    name = clean_name(code)
    if name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            if len(s.cat.categories) != 2:
                raise EstimationError(
                    f"formula: expected a numeric, boolean or two-level response, got {name!r} with levels "
                    f"{list(s.cat.categories)[:8]}"
                )
            return (s.cat.codes.to_numpy() == 1).astype(float)  # R: first level = failure
        return s.to_numpy(dtype=float)
    try:
        y = patsy.dmatrix(code + " - 1", frame, eval_env=env, NA_action="raise", return_type="matrix")
    except patsy.PatsyError as e:
        raise EstimationError(f"formula: could not evaluate the response of {formula!r}: {_short(e)}") from None
    y = np.asarray(y, dtype=float)
    if y.shape[1] != 1:
        raise EstimationError(f"formula: expected a numeric response, got {y.shape[1]} columns from {code!r}")
    return y[:, 0]
