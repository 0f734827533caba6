"""Stage 1, ingest: raw files -> typed Parquet, a codebook and a manifest.

Reads every ``[files.<name>]`` of survey.toml (``.sav``/``.dta`` via
pyreadstat with variable labels, value labels and user-missing codes kept;
``.csv``; ``.parquet``) and writes ``build/<survey>/ingest/<name>.parquet``,
``codebook.json`` and ``manifest.json`` (input names, sizes, SHA-256).
"""
from __future__ import annotations

from . import config, io
from .errors import Log, PipelineError, parse_args, run


def main(argv=None) -> None:
    args, log = parse_args("ingest", argv), Log("ingest")
    cfg = config.load(args.survey)
    tables, codebook, inputs = {}, {}, []
    for name, spec in cfg["files"].items():
        path = args.survey / spec["path"]
        df, meta = io.read_raw(path, spec["format"], spec.get("missing_codes"), spec["text_columns"])
        for col in spec["key"] + spec.get("parent_key", []):
            if col not in df.columns:
                raise PipelineError(path, col, "key column not found" + _close(col, df.columns))
        for col in meta:
            meta[col]["dtype"] = str(df[col].dtype)
        tables[name], codebook[name] = df, meta
        inputs.append(io.file_entry(path, args.survey))
        log(f"read {path}: {len(df)} records, {len(df.columns)} columns")
    out_dir = args.build / "ingest"
    with io.Outputs(out_dir) as out:
        for name, df in tables.items():
            out.parquet(df, f"{name}.parquet")
        out.json(codebook, "codebook.json")
        manifest = {"stage": "ingest", "survey": cfg["survey"]["name"], "inputs": inputs,
                    "records": {n: len(df) for n, df in tables.items()}, "outputs": out.entries()}
        out.json(manifest, "manifest.json")
    log(f"wrote {out_dir}: {', '.join(f'{n}.parquet' for n in tables)}, codebook.json, manifest.json")
    log.done()


def _close(col, columns) -> str:
    import difflib
    m = difflib.get_close_matches(col, [str(c) for c in columns], n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""


if __name__ == "__main__":
    run(main)
