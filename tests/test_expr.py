"""The whitelisting expression evaluator: semantics and hostile inputs."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from pipeline.expr import ExpressionError, columns, evaluate, evaluate_bool, parse

DF = pd.DataFrame({"a": [1, 2, np.nan, 0], "b": ["x", "y", None, "x"], "c": [True, False, True, False]})


@pytest.mark.parametrize("expr, expected", [
    ("a > 0", [True, True, None, False]),
    ("a > 0 and c", [True, False, None, False]),
    ("not c", [False, True, False, True]),
    ("isin(a, [1, 0])", [True, False, None, True]),
    ("a in [1, 2]", [True, True, None, False]),
    ("a not in [1]", [False, True, None, True]),
    ("isna(a)", [False, False, True, False]),
    ("notna(a)", [True, True, False, True]),
    ("b == 'x'", [True, False, None, True]),
    ("1 <= a < 3", [True, True, None, False]),
    ("a > 0 or isna(a)", [True, True, True, False]),
    ("-a < 0", [True, True, None, False]),
    ("(a + 1) * 2 >= 4", [True, True, None, False]),
])
def test_semantics(expr, expected):
    got = evaluate(expr, DF).tolist()
    assert [None if v is pd.NA else bool(v) for v in got] == expected


def test_arithmetic_and_missing_propagate():
    assert evaluate("a + 1", DF).tolist()[:2] == [2.0, 3.0]
    assert evaluate("a + 1", DF).isna().tolist() == [False, False, True, False]
    assert evaluate("1 + (a >= 1) + (a >= 2)", DF).tolist()[:2] == [2.0, 3.0]


def test_numbers_are_truthy_in_boolean_context():
    assert evaluate_bool("a", DF).tolist()[:2] == [True, True]


def test_columns():
    assert columns("isin(a, [1]) and isna(b) or c") == {"a", "b", "c"}


@pytest.mark.parametrize("expr, word", [
    ("a.__class__", "attribute"),
    ("a.isin([1])", "attribute"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute"),
    ("__import__('os').system('echo hacked')", "__import__"),
    ("__builtins__", "dunder"),
    ("open('/etc/passwd')", "open"),
    ("eval('1')", "eval"),
    ("exec('import os')", "exec"),
    ("getattr(a, 'x')", "getattr"),
    ("a[0]", "subscript"),
    ("lambda: 1", "lambda"),
    ("[x for x in a]", "comprehension"),
    ("9 ** 9 ** 9", "Pow"),
    ("(x := 1)", "assignment"),
    ("f'{a}'", "f-string"),
    ("{'k': 1}", "dict"),
    ("1 if a else 2", "conditional"),
    ("isin(a, b)", "list of constants"),
    ("isin(a, [b])", "list of constants"),
    ("isna(a, b)", "argument"),
    ("isna(x=a)", "argument"),
    ("a ==", "syntax"),
    ("import os", "syntax"),
    ("a; b", "syntax"),
    ("", "empty"),
    ("nosuchcolumn > 1", "unknown column"),
    ("b + 1", "text"),
    ("b > 1", "text"),
    ("a > 0" + " and a > 0" * 2000, "longer"),
    ("(" * 500 + "a" + ")" * 500, ""),
    ("None", "constant"),
    ("b'x' == a", "constant"),
    ("a is None", "Is"),
    ("a @ a", "MatMult"),
    ("a & c", "BitAnd"),
])
def test_hostile_inputs_rejected(expr, word):
    with pytest.raises(ExpressionError) as e:
        evaluate(expr, DF)
    assert word.lower() in str(e.value).lower()


def test_non_string_rejected():
    with pytest.raises(ExpressionError, match="expected a string"):
        parse(42)


def test_no_side_effects(tmp_path):
    marker = tmp_path / "pwned"
    for expr in [f"open('{marker}', 'w')", f"__import__('pathlib').Path('{marker}').touch()"]:
        with pytest.raises(ExpressionError):
            evaluate(expr, DF)
    assert not marker.exists()


def test_parsing_imports_no_pandas():
    # Make runs `python -m pipeline.config --make-deps`, which only parses: it must start fast
    code = ("import sys; from pipeline.expr import columns, parse; parse('isna(a) or a > 1'); columns('b in [1]'); "
            "assert not {'numpy', 'pandas'} & set(sys.modules), 'imported'")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


try:
    from hypothesis import given, settings, strategies as st

    TOKENS = ["a", "b", "c", "1", "2.5", "'x'", "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "**", "==",
              "<", ">=", "and", "or", "not", "in", "isin", "isna", "open", "__class__", "lambda", ":", "if",
              "else", "import", "_", "x", "@", "%", "//", "!=", " "]

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12))
    def test_fuzz_only_results_or_expression_errors(tokens):
        expr = " ".join(tokens)
        try:
            out = evaluate(expr, DF)
        except ExpressionError:
            return
        assert isinstance(out, pd.Series) and len(out) == len(DF)
except ImportError:  # pragma: no cover
    pass
