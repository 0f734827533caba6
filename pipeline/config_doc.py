"""Write the reference of every ``survey.toml`` key, generated from the schema.

``python -m pipeline.config_doc > docs/survey-config.md`` walks
:data:`pipeline.config.SCHEMA` (whatever nodes it holds) and prints one
Markdown section per table: each key with its type, whether it is required,
its default, its allowed values and the node's ``doc`` string.  A table or
value type used at several places (e.g. a label) is described once, in the
section "Shared value types", under its name in :mod:`pipeline.config`.

The output is deterministic (schema order, no dates), so
``tests/test_config_doc.py`` can regenerate it and fail when the committed
file differs from the schema.
"""
from __future__ import annotations

import json
import re
import sys

from . import config
from .config import T

COMMAND = "python -m pipeline.config_doc > docs/survey-config.md"

# how the schema's node classes read in the reference; a node class not listed
# here is described by its class name, its ``choices`` and the nodes it wraps
_KIND = {"Str": ("string", "strings"), "Expr": ("expression (string)", "expressions (strings)"),
         "Bool": ("boolean", "booleans"), "Scalar": ("number or string", "numbers or strings")}


def _children(node) -> list[T]:
    """Schema nodes held by *node* that the reference walks into (in attribute order)."""
    out = []
    for v in vars(node).values():
        if isinstance(v, T):
            out.append(v)
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, T) for x in v):
            out.extend(v)
        elif isinstance(v, dict) and v and all(isinstance(x, T) for x in v.values()):
            out.extend(v.values())
    return out


def _unwrap(node):
    """``(node, default, has_default)`` with :class:`config.Default` wrappers removed."""
    if isinstance(node, config.Default):
        inner, _, _ = _unwrap(node.node)
        return inner, node.default, True
    return node, None, False


def _doc(node) -> str:
    """The node's doc string, or that of the node it wraps."""
    while True:
        if getattr(node, "doc", ""):
            return " ".join(node.doc.split())
        if isinstance(node, config.Default):
            node = node.node
        else:
            return ""


def _toml(v) -> str:
    """A default value as it would be written in survey.toml."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }" if v else "{}"
    return repr(v)


def _anchor(name: str) -> str:
    return "t-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


class _Reference:
    def __init__(self, schema, names: dict[int, str]):
        self.schema, self.names = schema, names
        self.uses: dict[int, int] = {}
        self._count(schema)
        self.shared: dict[int, tuple[str, T]] = {}

    # --- which composite nodes are used more than once (described once) -------
    def _count(self, node) -> None:
        node, _, _ = _unwrap(node)
        self.uses[id(node)] = self.uses.get(id(node), 0) + 1
        if self.uses[id(node)] == 1:
            for ch in _children(node):
                self._count(ch)

    def _is_shared(self, node) -> bool:
        return (node is not self.schema and self.uses.get(id(node), 0) > 1 and id(node) in self.names
                and (not _is_leaf(node) or bool(_doc(node))))

    # --- type and allowed-values columns --------------------------------------
    def type_of(self, node, path: str, plural=False) -> str:
        node, _, _ = _unwrap(node)
        if self._is_shared(node):
            name = self.names[id(node)]
            self.shared.setdefault(id(node), (name, node))
            return f"[{name}](#{_anchor(name)})"
        if isinstance(node, config.Table):
            return f"table ([`{path}`](#{_anchor(path)}))"
        if isinstance(node, config.List):
            item, _, _ = _unwrap(node.item)
            if isinstance(item, config.Table) and not self._is_shared(item):
                return f"array of tables ([`{path}[]`](#{_anchor(path + '[]')}))"
            return "array of " + self.type_of(node.item, path + "[]", plural=True)
        if isinstance(node, config.Map):
            value, _, _ = _unwrap(node.value)
            if isinstance(value, config.Table) and not self._is_shared(value):
                return f"tables by name ([`{path}.<name>`](#{_anchor(path + '.<name>')}))"
            return "table of `<name> = " + self.type_of(node.value, path + ".<name>") + "`"
        if isinstance(node, config.Num):
            kinds = ("integer", "integers") if node.integer else ("number", "numbers")
        else:
            kinds = _kinds(node)
            if kinds is None:
                alts = _children(node)
                return " or ".join(self.type_of(a, path, plural) for a in alts) if alts else type(node).__name__.lower()
        return kinds[plural]

    def allowed(self, node) -> str:
        node, _, _ = _unwrap(node)
        if self._is_shared(node):
            return ""
        parts = []
        choices = getattr(node, "choices", None)
        if choices:
            parts.append("one of " + ", ".join(f"`{_toml(c)}`" for c in choices))
        if isinstance(node, config.Num):
            if node.lo is not None and node.hi is not None:
                parts.append(f"{node.lo} to {node.hi}")
            elif node.lo is not None:
                parts.append(f">= {node.lo}")
            elif node.hi is not None:
                parts.append(f"<= {node.hi}")
        if isinstance(node, config.List):
            if node.min_len:
                parts.append(f"at least {node.min_len} item{'s' if node.min_len > 1 else ''}")
            if node.unique:
                parts.append("no repeats")
            inner = self.allowed(node.item)
            if inner:
                parts.append("each " + inner)
        if isinstance(node, config.Map):
            if node.keys:
                parts.append("keys: " + ", ".join(f"`{k}`" for k in node.keys))
            if node.min_len:
                parts.append(f"at least {node.min_len} entr{'ies' if node.min_len > 1 else 'y'}")
            inner = self.allowed(node.value)
            if inner:
                parts.append("each " + inner)
        if _kinds(node) is None and not isinstance(node, (config.Num, config.List, config.Map, config.Table)):
            alts = [self.allowed(a) for a in _children(node)]
            parts += [a for a in alts if a]
        if isinstance(node, config.Str) and not getattr(node, "nonempty", True):
            parts.append("may be empty")
        return "; ".join(parts)

    # --- sections ---------------------------------------------------------------
    def table_rows(self, table, path: str) -> list[str]:
        rows = ["| key | type | required | default | allowed | description |",
                "|---|---|---|---|---|---|"]
        required = getattr(table, "required", set())
        for key, spec in table.fields.items():
            sub = f"{path}.{key}" if path else key
            inner, default, has_default = _unwrap(spec)
            req = "required" if key in required else "optional"
            if not has_default:
                d = ""
            elif default is None and isinstance(inner, config.Table):
                d = "its keys' defaults"
            else:
                d = f"`{_toml(default)}`"
            doc = "" if spec is inner and self._is_shared(inner) else _doc(spec)   # shared: in its own section
            rows.append("| " + " | ".join(_cell(x) for x in (
                f"`{key}`", self.type_of(spec, sub), req, d, self.allowed(spec), doc)) + " |")
        return rows

    def visit(self, node, path: str, written_as: str, out: list[str]) -> None:
        """Add to *out* the section of the table *node* at *path*, then of the tables inside it."""
        node, _, _ = _unwrap(node)
        if self._is_shared(node):
            self.shared.setdefault(id(node), (self.names[id(node)], node))
            return
        if isinstance(node, config.Table):
            text = [f'<a id="{_anchor(path or "top level")}"></a>', "", f"## `{path}`" if path else "## Top level", ""]
            if _doc(node):
                text += [_sentence(_doc(node)), ""]
            if written_as:
                text += [f"Written as {written_as}.", ""]
            out.append("\n".join(text + self.table_rows(node, path)))
            in_array = "[]" in path
            for key, spec in node.fields.items():
                sub = f"{path}.{key}" if path else key
                self.visit(spec, sub, _written_as(sub, spec, in_array), out)
        elif isinstance(node, config.List):
            self.visit(node.item, path + "[]", written_as, out)
        elif isinstance(node, config.Map):
            self.visit(node.value, path + ".<name>", written_as, out)
        else:
            for ch in _children(node):
                self.visit(ch, path, written_as, out)

    def shared_sections(self) -> list[str]:
        """One section per shared value type, in name order (describing one may reveal another)."""
        out, done = [], set()
        while len(done) < len(self.shared):
            key, (name, node) = min(((k, v) for k, v in self.shared.items() if k not in done), key=lambda kv: kv[1][0])
            done.add(key)
            uses, self.uses[key] = self.uses[key], 1          # describe the node itself, not a link to it
            try:
                if isinstance(node, config.Table):
                    self.visit(node, name, "", out)
                    continue
                text = [f'<a id="{_anchor(name)}"></a>', "", f"## `{name}`", ""]
                if _doc(node):
                    text += [_sentence(_doc(node)), ""]
                kind, allowed = self.type_of(node, name), self.allowed(node)
                if kind != type(node).__name__.lower():       # a node class of its own: its doc says it
                    text += [f"Type: {kind}."]
                if allowed:
                    text += [f"Allowed: {allowed}."]
                out.append("\n".join(text).rstrip("\n"))
            finally:
                self.uses[key] = uses
        return out


def _kinds(node):
    """``(singular, plural)`` name of a leaf node's type, from its class or the nearest base in _KIND."""
    for klass in type(node).__mro__:
        if klass.__name__ in _KIND:
            return _KIND[klass.__name__]
    return None


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:] + ("" if s.endswith(".") else ".")


def _is_leaf(node) -> bool:
    node, _, _ = _unwrap(node)
    if isinstance(node, (config.Table, config.Map)):
        return False
    if isinstance(node, config.List):
        return _is_leaf(node.item)
    return all(_is_leaf(ch) for ch in _children(node))


def _written_as(path: str, spec, in_array: bool) -> str:
    """How the table at *path* is written in survey.toml (TOML header or inline table)."""
    node, _, _ = _unwrap(spec)
    key = path.rsplit(".", 1)[-1]
    header = path.replace("[]", "")
    if isinstance(node, config.List) and isinstance(_unwrap(node.item)[0], config.Table):
        return f"`[[{header}]]` (one per item)" if not in_array else f"an array of inline tables, `{key} = [{{ ... }}]`"
    if isinstance(node, config.Map) and isinstance(_unwrap(node.value)[0], config.Table):
        return f"`[{header}.<name>]` (one table per name you choose)" if not in_array else \
            f"an inline table of inline tables, `{key} = {{ <name> = {{ ... }} }}`"
    if isinstance(node, config.Table):
        return f"`[{header}]`" if not in_array else f"an inline table, `{key} = {{ ... }}`"
    return ""


def render(schema=None) -> str:
    """The Markdown reference of *schema* (default :data:`pipeline.config.SCHEMA`)."""
    schema = config.SCHEMA if schema is None else schema
    names = {}
    for name, v in sorted(vars(config).items()):
        if isinstance(v, T) and name.isupper() and name != "SCHEMA":
            names.setdefault(id(v), name)
    ref = _Reference(schema, names)
    sections: list[str] = []
    ref.visit(schema, "", "", sections)
    shared = ref.shared_sections()
    head = [
        "# `survey.toml` reference",
        "",
        f"<!-- Generated from the schema in pipeline/config.py by `{COMMAND}`. Do not edit by hand: "
        "tests/test_config_doc.py fails when this file differs from the schema. -->",
        "",
        "Every key of a survey's `survey.toml`, as `python -m pipeline.config surveys/<name>` checks it. "
        "Keys are written as in the config check's error messages: `design.psu` is the key `psu` of the "
        "table `[design]`; `files.<name>.path` is a key of a table whose name you choose (`[files.household]`); "
        "`indicators[].id` is a key of each table of an array (`[[indicators]]`). A key marked optional may be "
        "left out; where it has a default, the stages use that. Expressions use the small language of "
        "`pipeline/expr.py` described in the README. Beyond each key's own type, the config check also "
        "checks how keys fit together (for example that the files, units and indicator ids named elsewhere "
        "exist); its error names the key.",
        "",
        "Sections: " + ", ".join([f"[{s}](#{a})" for s, a in _toc(sections)]
                                 + [f"shared value types: [{name}](#{_anchor(name)})"
                                    for name, _ in sorted(ref.shared.values(), key=lambda x: x[0])]) + ".",
        "",
    ]
    body = sections + (["# Shared value types\n\nValue types used by several keys, described once.", *shared]
                       if shared else [])
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n"


def _toc(sections):
    for s in sections:
        m = re.match(r'<a id="([^"]+)"></a>\n\n## (.*)', s)
        yield m.group(2), m.group(1)


def main(argv=None) -> None:
    import argparse
    p = argparse.ArgumentParser(prog="python -m pipeline.config_doc",
                                description="print the survey.toml reference (Markdown) generated from the schema")
    p.parse_args(argv)
    sys.stdout.write(render())


if __name__ == "__main__":
    from .errors import run
    run(main)
