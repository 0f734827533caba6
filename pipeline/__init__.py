"""The Make-driven survey pipeline: ingest -> clean -> weight -> estimate -> figures -> report.

Each stage is a short module run as ``python -m pipeline.<stage> --survey
surveys/<name> [--build build/<name>]``.  Shared pieces: :mod:`pipeline.config`
(survey.toml loading and schema), :mod:`pipeline.expr` (the whitelisting
expression evaluator), :mod:`pipeline.io` (readers, atomic writes, manifests),
:mod:`pipeline.errors` (one-line errors, stage runner), :mod:`pipeline.rules`
(cleaning rules with record accounting) and :mod:`pipeline.reliability` (NCHS
suppression and review flags).  Statistics live in :mod:`analysis`.
"""
