"""A small whitelisting evaluator for the expressions in survey.toml.

Expressions such as ``"n_smartphones > 0"``, ``"age >= 15 and sex == 2"`` or
``"isin(district, [1, 2]) and not isna(q_fiber)"`` are parsed with :mod:`ast`
and evaluated node by node over the columns of a DataFrame.  Allowed:

* column names and constants (numbers, strings, ``True``/``False``);
* comparisons, chained too (``15 <= age < 65``), and ``in`` / ``not in`` a
  list of constants;
* ``and``, ``or``, ``not`` (elementwise, with missing-value (Kleene) logic);
* arithmetic ``+ - * / // %`` and unary ``-``/``+``;
* the calls ``isin(x, [..])``, ``isna(x)`` and ``notna(x)``, nothing else.

What the operators mean, so that an expression computes what it says:

* In arithmetic a true/false value counts: true is 1, false is 0, so
  ``(a == 1) + (b == 1)`` is the number of conditions met (0, 1 or 2) and
  ``1 + (age >= 15) + (age >= 60)`` an age group.  Unary minus of a true/false
  value is refused (``-(a == 1)`` is not "not"; write ``not``).
* Comparing text with a number, or ``isin``/``in`` of text values on a numeric
  column (or numbers on a text column), is an error naming the column and its
  type: ``q == '1'`` on a numeric column would otherwise be false everywhere.
* Division (``/``, ``//``, ``%``) by zero gives a missing value, never ``inf``,
  and is reported as an :class:`ExpressionWarning` with the number of rows; so
  is any other result too large to be a finite number.
* A name must be written exactly as the column is named: Python would read the
  full-width ``ｑ_mobile`` as ``q_mobile`` (Unicode NFKC normalisation), so the
  source text of each name is checked.
* Number literals are finite (integers at most 2**53 in absolute value); expressions
  are at most 2,000 characters and nested at most 100 levels deep.

Everything else -- attribute access, subscripts, other calls, lambdas,
comprehensions, imports, dunder names, ``**`` -- raises
:class:`ExpressionError` naming the expression and the offending part.  No
``eval``/``exec`` is ever used.  Missing values propagate: a comparison with
a missing operand is missing (``pd.NA``), so an indicator over a missing
answer stays missing and drops out of the estimation domain.
"""
from __future__ import annotations

import ast
import operator
import warnings

# numpy and pandas are imported by the first evaluation (_import_pandas): parsing and
# whitelisting, all that `python -m pipeline.config --make-deps` runs for Make, need only ast.
np = pd = None

MAX_LENGTH = 2000
MAX_DEPTH = 100
MAX_INT = 2 ** 53       # larger integers are not exact as float64, the type of numeric columns
FUNCTIONS = {"isin": 2, "isna": 1, "notna": 1}

_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
        ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_NODE_NAMES = {ast.Attribute: "attribute access", ast.Subscript: "subscripts",
               ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
               ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
               ast.NamedExpr: "assignment (:=)", ast.Starred: "starred arguments",
               ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
               ast.IfExp: "conditional expressions", ast.JoinedStr: "f-strings",
               ast.Dict: "dict literals", ast.Set: "set literals"}


class ExpressionError(ValueError):
    """An expression is malformed, not allowed, or names an unknown column."""

    def __init__(self, expression, problem):
        self.expression, self.problem = expression, problem
        super().__init__(f"expression {shorten(expression)}: {problem}")


def shorten(expression, limit: int = 100) -> str:
    """repr() of an expression for a message, cut to about *limit* characters."""
    text = repr(expression)
    return text if len(text) <= limit else text[:limit - 20] + "...' (" + f"{len(str(expression)):,} characters)"


class ExpressionWarning(UserWarning):
    """An expression gave missing values where it could not compute one (e.g. division by zero)."""


def _describe(node) -> str:
    what = _NODE_NAMES.get(type(node), f"'{type(node).__name__}' nodes")
    if isinstance(node, ast.Attribute):
        what += f" (.{node.attr})"
    return f"{what} not allowed"


def parse(expression: str) -> ast.Expression:
    """Parse and whitelist-check *expression*; return its AST."""
    if not isinstance(expression, str):
        raise ExpressionError(expression, f"expected a string, got {type(expression).__name__}")
    if not expression.strip():
        raise ExpressionError(expression, "empty expression")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(expression[:40] + "...", f"longer than {MAX_LENGTH} characters")
    source = expression.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(expression, f"syntax error: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(expression, "too deeply nested or malformed") from None
    try:
        _check(tree.body, expression)
    except RecursionError:
        raise ExpressionError(expression, f"nested more than {MAX_DEPTH} levels deep") from None
    _check_names(tree, source, expression)
    return tree


def _depth(node) -> int:
    """Nesting depth of an (already size-limited) expression tree, without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(n))
    return deepest


def _check_names(tree, source: str, expr: str) -> None:
    """Each name as written in the source must be the name Python reads (no NFKC folding)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            written = ast.get_source_segment(source, node)
            if written != node.id:
                raise ExpressionError(expr, f"name {written!r} is not written as a plain column name "
                                            f"(Python would read it as {node.id!r}); write the column name exactly")


def _check(node, expr, top=True) -> None:
    if top and _depth(node) > MAX_DEPTH:
        raise ExpressionError(expr, f"nested more than {MAX_DEPTH} levels deep")
    _check_node(node, expr)


def _check_constant(value, expr) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if value != value or value in (float("inf"), float("-inf")):
        raise ExpressionError(expr, f"number {value!r} is not finite")
    if isinstance(value, int) and abs(value) > MAX_INT:
        text = repr(value)
        raise ExpressionError(expr, f"number {text[:20]}{'...' if len(text) > 20 else ''} is too large "
                                    f"(at most 2**53 in absolute value)")


def _check_node(node, expr) -> None:
    _check = _check_node
    if isinstance(node, ast.Name):
        if node.id.startswith("__") or node.id.endswith("__"):
            raise ExpressionError(expr, f"dunder name {node.id!r} not allowed")
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)):
            return _check_constant(node.value, expr)
        raise ExpressionError(expr, f"constant {node.value!r} not allowed")
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, expr)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            raise ExpressionError(expr, f"operator {type(node.op).__name__} not allowed")
        return _check(node.operand, expr)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ExpressionError(expr, f"operator {type(node.op).__name__} not allowed")
        _check(node.left, expr)
        return _check(node.right, expr)
    if isinstance(node, ast.Compare):
        _check(node.left, expr)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                _constant_list(right, expr)
            elif type(op) in _CMP:
                _check(right, expr)
            else:
                raise ExpressionError(expr, f"comparison {type(op).__name__} not allowed")
        return
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name is None:
            raise ExpressionError(expr, f"calls are not allowed ({_describe(node.func)}); only isin, isna, notna")
        if name.startswith("__"):
            raise ExpressionError(expr, f"dunder name {name!r} not allowed")
        if name not in FUNCTIONS:
            raise ExpressionError(expr, f"call of {name}() not allowed (only isin, isna, notna)")
        if node.keywords or len(node.args) != FUNCTIONS[name]:
            raise ExpressionError(expr, f"{name}() takes {FUNCTIONS[name]} positional argument(s)")
        _check(node.args[0], expr)
        if name == "isin":
            _constant_list(node.args[1], expr)
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        raise ExpressionError(expr, "a list is only allowed as the second argument of isin() or after 'in'")
    raise ExpressionError(expr, _describe(node))


def _constant_list(node, expr) -> list:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise ExpressionError(expr, "isin()/in needs a list of constants, e.g. [1, 2]")
    out = []
    for elt in node.elts:
        if (isinstance(elt, ast.UnaryOp) and isinstance(elt.op, (ast.USub, ast.UAdd)) and isinstance(elt.operand, ast.Constant)
                and isinstance(elt.operand.value, (int, float)) and not isinstance(elt.operand.value, bool)):
            elt = ast.Constant(-elt.operand.value if isinstance(elt.op, ast.USub) else elt.operand.value)
        if not (isinstance(elt, ast.Constant) and isinstance(elt.value, (int, float, str)) and not isinstance(elt.value, bool)):
            raise ExpressionError(expr, "isin()/in needs a list of constants, e.g. [1, 2]")
        _check_constant(elt.value, expr)
        out.append(elt.value)
    if out and len({isinstance(v, str) for v in out}) > 1:
        raise ExpressionError(expr, f"isin()/in list mixes numbers and text: {out!r}")
    return out


def columns(expression: str) -> set[str]:
    """The column names an expression uses (after checking it is allowed)."""
    tree = parse(expression)
    funcs = {id(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


def check_columns(expression: str, available) -> None:
    """Raise ExpressionError if *expression* names a column not in *available*."""
    missing = sorted(columns(expression) - set(available))
    if missing:
        raise ExpressionError(expression, f"unknown column {missing[0]!r}")


def _import_pandas() -> None:
    global np, pd
    if pd is None:
        import numpy as np
        import pandas as pd


def evaluate(expression: str, df: pd.DataFrame) -> pd.Series:
    """Evaluate *expression* over *df*; a Series (nullable boolean or Float64) on df.index."""
    _import_pandas()
    tree = parse(expression)
    check_columns(expression, df.columns)
    try:
        out = _Eval(df, expression).visit(tree.body)
    except ExpressionError:
        raise
    except Exception as e:  # e.g. pyarrow/numpy type errors: still the expression's fault
        raise ExpressionError(expression, f"cannot evaluate: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not isinstance(out, pd.Series):
        dtype = ("boolean" if isinstance(out, (bool, np.bool_)) else "string" if isinstance(out, str) else "Float64")
        out = pd.Series([out] * len(df), index=df.index, dtype=dtype)
    return out


def evaluate_bool(expression: str, df: pd.DataFrame) -> pd.Series:
    """Evaluate to a nullable boolean Series (numbers: non-zero is true)."""
    return _truth(evaluate(expression, df), expression)


def _column(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("Float64")
    return s.astype("string")


def _truth(v, expr):
    if isinstance(v, pd.Series):
        if pd.api.types.is_bool_dtype(v):
            return v.astype("boolean")
        if pd.api.types.is_numeric_dtype(v):
            return v != 0
        raise ExpressionError(expr, "text used where a true/false value is needed")
    if isinstance(v, str):
        raise ExpressionError(expr, "text used where a true/false value is needed")
    return bool(v)


class _Eval:
    def __init__(self, df, expr):
        self.df, self.expr, self.cache = df, expr, {}

    def visit(self, node):
        return getattr(self, "v_" + type(node).__name__)(node)

    def v_Name(self, node):
        if node.id not in self.cache:
            self.cache[node.id] = _column(self.df[node.id])
        return self.cache[node.id]

    def v_Constant(self, node):
        return node.value

    def v_BoolOp(self, node):
        vals = [_truth(self.visit(v), self.expr) for v in node.values]
        op = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        out = vals[0]
        for v in vals[1:]:
            out = op(out, v) if isinstance(out, pd.Series) or isinstance(v, pd.Series) else (out and v if op is operator.and_ else out or v)
        return out

    def v_UnaryOp(self, node):
        v = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            t = _truth(v, self.expr)
            return ~t if isinstance(t, pd.Series) else not t
        self._numeric(v, node.operand)
        if isinstance(node.op, ast.USub) and _kind(v) == "true/false":
            raise ExpressionError(self.expr, f"unary minus of a true/false value ({self._what(node.operand, v)}) "
                                             "is not allowed; write 'not' for the opposite")
        v = _as_number(v)
        return -v if isinstance(node.op, ast.USub) else +v

    def v_BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        self._numeric(left, node.left)
        self._numeric(right, node.right)
        left, right = _as_number(left), _as_number(right)
        op = _ARITH[type(node.op)]
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            if not isinstance(right, pd.Series):
                if right == 0:
                    rows = len(self.df) if isinstance(left, pd.Series) else 0
                    self._warn(f"division by zero in {rows} row(s) gives missing values" if rows
                               else "division by zero gives a missing value")
                    return pd.Series(pd.NA, index=self.df.index, dtype="Float64") if rows else pd.NA
            else:
                zero = (right == 0).fillna(False).to_numpy(bool)
                if zero.any():
                    self._warn(f"division by zero in {int(zero.sum())} row(s) gives missing values")
                    return self._finite(op(left, right.mask(zero, 1)).mask(zero, pd.NA))
        return self._finite(op(left, right))

    def _finite(self, v):
        """Results too large for a float (inf) become missing, with a warning."""
        if isinstance(v, pd.Series):
            if pd.api.types.is_float_dtype(v):
                bad = ~np.isfinite(v.to_numpy(dtype="float64", na_value=0.0))   # inf, and NaN that is not NA
                if bad.any():
                    self._warn(f"{int(bad.sum())} result(s) too large to be a number give missing values")
                    v = v.mask(bad, pd.NA)
            return v
        if isinstance(v, float) and not np.isfinite(v):
            self._warn("a result too large to be a number gives a missing value")
            return pd.NA
        return v

    def _warn(self, message: str) -> None:
        warnings.warn(f"expression {self.expr!r}: {message}", ExpressionWarning, stacklevel=4)

    def _what(self, node, v) -> str:
        """How an operand is named in an error: the column and its type, or the value."""
        if isinstance(node, ast.Name):
            return f"column {node.id!r} is {_kind(v)} ({self.df[node.id].dtype})"
        if isinstance(node, ast.Constant):
            return f"{node.value!r} is {_kind(v)}"
        return f"{ast.unparse(node)!r} is {_kind(v)}"

    def v_Compare(self, node):
        out, left, left_node = None, self.visit(node.left), node.left
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                r = self._isin(left, _constant_list(comp, self.expr), left_node)
                r = ~r if isinstance(op, ast.NotIn) else r
                right = None
            else:
                right = self.visit(comp)
                self._comparable(left, right, left_node, comp)
                r = _CMP[type(op)](left, right)
                if isinstance(r, pd.Series):
                    r = r.astype("boolean")
            out = r if out is None else out & r
            left, left_node = right, comp
        return out

    def v_Call(self, node):
        name, arg = node.func.id, self.visit(node.args[0])
        if name == "isin":
            return self._isin(arg, _constant_list(node.args[1], self.expr), node.args[0])
        na = arg.isna().astype("boolean") if isinstance(arg, pd.Series) else pd.isna(arg)
        return na if name == "isna" else ~na

    def _isin(self, v, values, node):
        if values and (_kind(v) == "text") != isinstance(values[0], str):
            raise ExpressionError(self.expr, f"isin()/in of {'text' if isinstance(values[0], str) else 'numbers'} "
                                             f"{values!r}, but {self._what(node, v)}")
        if not isinstance(v, pd.Series):
            return v in values
        r = v.isin(values).astype("boolean")
        r[v.isna()] = pd.NA
        return r

    def _numeric(self, v, node):
        if _kind(v) == "text":
            raise ExpressionError(self.expr, f"arithmetic on text is not allowed ({self._what(node, v)})")

    def _comparable(self, a, b, node_a, node_b):
        if (_kind(a) == "text") != (_kind(b) == "text"):
            raise ExpressionError(self.expr, f"compares text with a number: {self._what(node_a, a)}, "
                                             f"{self._what(node_b, b)}")


def _kind(v) -> str:
    """'text', 'true/false' or 'numeric' (a missing scalar counts as numeric)."""
    if isinstance(v, pd.Series):
        if pd.api.types.is_bool_dtype(v):
            return "true/false"
        return "numeric" if pd.api.types.is_numeric_dtype(v) else "text"
    if isinstance(v, str):
        return "text"
    return "true/false" if isinstance(v, (bool, np.bool_)) else "numeric"


def _as_number(v):
    """True/false values count in arithmetic: true is 1, false 0 (missing stays missing)."""
    if isinstance(v, pd.Series) and pd.api.types.is_bool_dtype(v):
        return v.astype("Float64")
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    return v
