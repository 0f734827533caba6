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

# numpy and pandas are imported by the first evaluation (_import_pandas): parsing and
# whitelisting, all that `python -m pipeline.config --make-deps` runs for Make, need only ast.
np = pd = None

MAX_LENGTH = 2000
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
        super().__init__(f"expression {expression!r}: {problem}")


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
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(expression, f"syntax error: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(expression, "too deeply nested or malformed") from None
    try:
        _check(tree.body, expression)
    except RecursionError:
        raise ExpressionError(expression, "too deeply nested") from None
    return tree


def _check(node, expr) -> None:
    if isinstance(node, ast.Name):
        if node.id.startswith("__") or node.id.endswith("__"):
            raise ExpressionError(expr, f"dunder name {node.id!r} not allowed")
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)):
            return
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
        if isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub) and isinstance(elt.operand, ast.Constant):
            elt = ast.Constant(-elt.operand.value)
        if not (isinstance(elt, ast.Constant) and isinstance(elt.value, (int, float, str)) and not isinstance(elt.value, bool)):
            raise ExpressionError(expr, "isin()/in needs a list of constants, e.g. [1, 2]")
        out.append(elt.value)
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
        self._numeric(v)
        return -v if isinstance(node.op, ast.USub) else +v

    def v_BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        self._numeric(left)
        self._numeric(right)
        return _ARITH[type(node.op)](left, right)

    def v_Compare(self, node):
        out, left = None, self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                r = self._isin(left, _constant_list(comp, self.expr))
                r = ~r if isinstance(op, ast.NotIn) else r
                right = None
            else:
                right = self.visit(comp)
                self._comparable(left, right)
                r = _CMP[type(op)](left, right)
                if isinstance(r, pd.Series):
                    r = r.astype("boolean")
            out = r if out is None else out & r
            left = right
        return out

    def v_Call(self, node):
        name, arg = node.func.id, self.visit(node.args[0])
        if name == "isin":
            return self._isin(arg, _constant_list(node.args[1], self.expr))
        na = arg.isna().astype("boolean") if isinstance(arg, pd.Series) else pd.isna(arg)
        return na if name == "isna" else ~na

    def _isin(self, v, values):
        if not isinstance(v, pd.Series):
            return v in values
        r = v.isin(values).astype("boolean")
        r[v.isna()] = pd.NA
        return r

    def _numeric(self, v):
        if isinstance(v, str) or (isinstance(v, pd.Series) and pd.api.types.is_string_dtype(v)):
            raise ExpressionError(self.expr, "arithmetic on text is not allowed")

    def _comparable(self, a, b):
        def kind(v):
            if isinstance(v, pd.Series):
                return "text" if pd.api.types.is_string_dtype(v) else "number"
            return "text" if isinstance(v, str) else "number"
        if kind(a) != kind(b):
            raise ExpressionError(self.expr, "compares text with a number")
