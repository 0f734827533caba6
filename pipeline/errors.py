"""Known pipeline errors and the stage runner that reports them in one line.

A stage's ``main`` raises :class:`PipelineError` for anything wrong with the
inputs or the config.  :func:`run` turns it into a single stderr line::

    error: <file>: <key or column>: <problem>

and exit status 2, never a traceback.  Unexpected exceptions (bugs) give one
line too, with exit status 3; set ``PIPELINE_DEBUG=1`` to see the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path


class PipelineError(Exception):
    """An input, config or data problem an operator can fix."""

    def __init__(self, file, key, problem):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.file] + ([str(self.key)] if self.key not in (None, "") else []) + [self.problem]
        return ": ".join(parts).replace("\n", " ")


def parse_args(stage: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m pipeline.{stage}")
    p.add_argument("--survey", default="surveys/qb2022", help="survey folder holding survey.toml")
    p.add_argument("--build", default=None, help="build folder (default build/<survey name>)")
    a = p.parse_args(argv)
    a.survey = Path(a.survey)
    a.build = Path(a.build) if a.build else Path("build") / a.survey.resolve().name
    return a


class Log:
    """Stage logging to stderr: what was read, written, counts, elapsed time."""

    def __init__(self, stage: str):
        self.stage, self.t0 = stage, time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{self.stage}] {msg}", file=sys.stderr, flush=True)

    def warnings(self, caught) -> None:
        """Log each distinct warning raised by the library (e.g. a lonely PSU) once."""
        for msg in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
            self(f"warning: {msg}")

    def done(self) -> None:
        self(f"done in {time.perf_counter() - self.t0:.2f} s")


def run(main, argv=None) -> None:
    """Run a stage's ``main(argv)`` and exit with a one-line error on failure."""
    try:
        main(argv)
    except PipelineError as e:
        print(f"error: {e.line()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # a bug, not a bad input: still one line unless debugging
        if os.environ.get("PIPELINE_DEBUG"):
            traceback.print_exc()
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"error: internal: {type(e).__name__}: {msg} (set PIPELINE_DEBUG=1 for details)", file=sys.stderr)
        sys.exit(3)
    sys.exit(0)
