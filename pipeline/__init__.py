"""The Make-driven survey pipeline: ingest -> clean -> weight -> estimate.

Each stage is a short module run as ``python -m pipeline.<stage> --survey
surveys/<name> [--build build/<name>]``.  Shared pieces: :mod:`pipeline.config`
(survey.toml loading and schema), :mod:`pipeline.expr` (the whitelisting
expression evaluator), :mod:`pipeline.io` (readers, atomic writes, manifests)
and :mod:`pipeline.errors` (one-line errors, stage runner).
"""
