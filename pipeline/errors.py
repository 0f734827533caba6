"""Known pipeline errors and the stage runner that reports them in one line.

A stage's ``main`` raises :class:`PipelineError` for anything wrong with the
inputs or the config.  :func:`run` turns it into a single stderr line::

    error: <file>: <key or column>: <problem>

and exit status 2, never a traceback.  Unexpected exceptions (bugs) give one
line too, with exit status 3; set ``PIPELINE_DEBUG=1`` to see the traceback.
SIGTERM (and SIGHUP) end a stage like an error (exit 143, 129) so that its temporary files are
removed; warnings (e.g. :class:`pipeline.expr.ExpressionWarning`) are one
line each, ``warning: ...``.

Two runs of the same stage command on the same build folder (two ``make all``
at once) are serialised: :func:`parse_args` takes a lock under
``<build>/.locks/`` that the second run waits for, saying so.  The lock is
released when the process ends, however it ends.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path


class PipelineError(Exception):
    """An input, config or data problem an operator can fix."""

    def __init__(self, file, key, problem):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.file] + ([str(self.key)] if self.key not in (None, "") else []) + [self.problem]
        return ": ".join(parts).replace("\n", " ")


class Terminated(BaseException):
    """Raised in a stage when it receives SIGTERM or SIGHUP (so ``with`` blocks clean up)."""

    def __init__(self, signum: int = signal.SIGTERM):
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


def parse_args(stage: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m pipeline.{stage}")
    p.add_argument("--survey", default="surveys/qb2022", help="survey folder holding survey.toml")
    p.add_argument("--build", default=None, help="build folder (default build/<survey name>)")
    a = p.parse_args(argv)
    a.survey = Path(a.survey)
    a.build = Path(a.build) if a.build else Path("build") / a.survey.resolve().name
    lock(a.build, stage)
    return a


_HELD: dict[Path, int] = {}


def lock(build: Path, stage: str, command=None) -> Path:
    """Hold an exclusive lock for *stage* on *build* until this process ends.

    The lock file is ``<build>/.locks/<stage>[-<hash>].lock``, the hash being that of
    the options of *command* (default: this process's command line) other than the
    folders (``--survey``, ``--build``, ``--out``), so the two figure parts of one run
    (``--part``) do not wait for each other but the same command run twice does.  A
    second run says it waits and then waits; an unwritable build folder is an
    operator error naming the folder.
    """
    import fcntl
    words, skip = [], False
    for w in (sys.argv[1:] if command is None else command):
        if skip or w.split("=")[0] in ("--survey", "--build", "--out"):
            skip = not skip and "=" not in w
            continue
        words.append(w)
    key = "-" + hashlib.sha256("\0".join(words).encode()).hexdigest()[:12] if words else ""
    path = Path(build) / ".locks" / f"{stage}{key}.lock"
    if path in _HELD:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise PipelineError(path.parent, None, f"cannot create the lock of this run ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"[{stage}] another run of this stage on {build} is in progress; waiting for it ({path})",
              file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[path] = fd
    return path


def release_locks() -> None:
    """Release the locks :func:`lock` took (the end of :func:`run`; a process's end does it too)."""
    while _HELD:
        os.close(_HELD.popitem()[1])


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


def _terminate(signum, frame):
    raise Terminated(signum)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}", file=sys.stderr)


def run(main, argv=None) -> None:
    """Run a stage's ``main(argv)`` and exit with a one-line error on failure."""
    handlers = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        sys.exit(_status(main, argv))
    finally:   # run in-process (tests): give the caller its handlers back
        release_locks()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        warnings.showwarning = shown


def _status(main, argv) -> int:
    from .expr import ExpressionError
    try:
        main(argv)
    except PipelineError as e:
        print(f"error: {e.line()}", file=sys.stderr)
        return 2
    except ExpressionError as e:   # a stage that did not name the key: still the config's expression
        print(f"error: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated as e:
        print(f"error: terminated ({e.name}); temporary files removed", file=sys.stderr)
        return 128 + getattr(signal, e.name)
    except Exception as e:  # a bug, not a bad input: still one line unless debugging
        if os.environ.get("PIPELINE_DEBUG"):
            traceback.print_exc()
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"error: internal: {type(e).__name__}: {msg} (set PIPELINE_DEBUG=1 for details)", file=sys.stderr)
        return 3
    return 0
