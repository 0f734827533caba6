"""docs/survey-config.md is generated from the schema and must not drift from it."""
import subprocess
import sys
from pathlib import Path

from pipeline import config, config_doc

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "survey-config.md"


def test_committed_reference_matches_the_schema():
    p = subprocess.run([sys.executable, "-m", "pipeline.config_doc"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == config_doc.render(), "the command and render() must agree"
    assert DOC.read_text(encoding="utf-8") == p.stdout, (
        f"docs/survey-config.md is out of date with the schema in pipeline/config.py: run `{config_doc.COMMAND}`")


def _keys(node, path, out):
    """Every key path of the schema, in the reference's notation."""
    node, _, _ = config_doc._unwrap(node)
    if isinstance(node, config.Table):
        for k, spec in node.fields.items():
            sub = f"{path}.{k}" if path else k
            out.append((path, k))
            _keys(spec, sub, out)
    elif isinstance(node, config.List):
        _keys(node.item, path + "[]", out)
    elif isinstance(node, config.Map):
        _keys(node.value, path + ".<name>", out)
    return out


def test_every_key_of_the_schema_has_a_row_in_its_table_section():
    text = config_doc.render()
    sections = {}
    for part in text.split('<a id="')[1:]:
        anchor, body = part.split('"', 1)
        sections[anchor] = body
    keys = _keys(config.SCHEMA, "", [])
    assert len(keys) > 80
    for path, key in keys:
        anchor = config_doc._anchor(path or "top level")
        if anchor not in sections:      # a table used at several places is described once, under its name
            continue
        assert f"\n| `{key}` |" in sections[anchor], f"{path}.{key} missing from section {anchor}"
    # the shared label type is described once, with its doc, and the schema's choices and defaults appear
    assert "## `LABELS`" in text and config.LABELS.doc[1:40] in text
    assert '| `lonely_psu` | string | optional | `"fail"` | one of `"fail"`, `"adjust"`, `"remove"`, `"certainty"`, `"average"` |' in text
    assert "| `level` | number | optional | `0.95` | 0.5 to 0.999 | confidence level |" in text


def test_render_walks_any_schema_node():
    """New node types (e.g. a union of alternatives) are described from the nodes they hold."""
    class OneOf(config.T):
        def __init__(self, *alts, doc=""):
            super().__init__(doc)
            self.alts = alts

    class Code(config.Str):
        pass

    schema = config.Table({
        "a": OneOf(config.Str(choices=("x", "y")), config.Num(integer=True, lo=1), doc="either"),
        "f": Code(choices=("vi", "en"), doc="a subclass of a known node"),
        "b": config.Default(config.Table({"c": config.Bool(doc="a switch")}, doc="inner table"), None),
        "d": config.List(config.Table({"e": config.Scalar()}, required=("e",)), min_len=1)},
        required=("a",))
    text = config_doc.render(schema)
    assert '| `a` | string or integer | required |  | one of `"x"`, `"y"`; >= 1 | either |' in text
    assert '| `f` | string | optional |  | one of `"vi"`, `"en"` | a subclass of a known node |' in text
    assert "## `b`" in text and "Written as `[b]`." in text and "| `c` | boolean | optional |  |  | a switch |" in text
    assert "Written as `[[d]]` (one per item)." in text and "| `e` | number or string | required |" in text
    assert text == config_doc.render(schema)        # deterministic
