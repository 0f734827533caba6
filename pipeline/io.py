"""File I/O for the stages: raw readers, atomic all-or-nothing writes, manifests.

* :func:`read_raw` reads ``.sav``/``.dta`` (pyreadstat, keeping user-missing
  codes so the clean stage sees them), ``.csv`` and ``.parquet``, and returns
  the table with its metadata (variable labels, value labels, missing codes).
* :class:`Outputs` writes every output of a stage to a temporary file in the
  same directory and renames them all only when the stage succeeds (the
  manifest last), so Make never sees a half-written target and a failing stage
  leaves no output behind.  Writers are deterministic: no timestamps, no
  absolute paths, fixed zip times in Excel files.
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import io as _io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PipelineError


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_entry(path, base) -> dict:
    path = Path(path)
    try:
        name = str(path.relative_to(base))
    except ValueError:
        name = path.name
    return {"path": name, "bytes": path.stat().st_size, "sha256": sha256(path)}


# --- readers ------------------------------------------------------------------
def _check_file(path: Path) -> None:
    if not path.exists():
        raise PipelineError(path, None, "file not found")
    if not path.is_file():
        raise PipelineError(path, None, "not a regular file")
    if path.stat().st_size == 0:
        raise PipelineError(path, None, "empty file (0 bytes)")


def read_raw(path, fmt: str, missing_codes=None, text_columns=()) -> tuple[pd.DataFrame, dict]:
    """Read one raw input; return ``(df, meta)`` with meta[column] = label, values, missing."""
    path = Path(path)
    _check_file(path)
    if fmt in ("sav", "dta"):
        df, meta = _read_stat(path, fmt)
    elif fmt == "csv":
        df, meta = _read_csv(path, text_columns)
    else:
        try:
            df = pd.read_parquet(path)
        except Exception as e:
            raise PipelineError(path, None, f"not a readable Parquet file ({_first_line(e)})") from None
        meta = {}
    if len(df.columns) == 0:
        raise PipelineError(path, None, "no columns")
    if len(df) == 0:
        raise PipelineError(path, None, "no records")
    check_column_names(path, list(df.columns))
    check_finite(path, df, "data row" if fmt == "csv" else "record")
    for c in df.columns:
        meta.setdefault(c, {"label": "", "values": {}, "missing": []})
    for col, codes in (missing_codes or {}).items():
        if col not in df.columns:
            raise PipelineError(path, col, "column named in missing_codes not found")
        meta[col]["missing"] = sorted(set(meta[col]["missing"]) | {float(x) if not isinstance(x, str) else x for x in codes}, key=str)
    return df, meta


def check_column_names(path, names) -> None:
    """Column names are non-blank and unique (case matters); the first offender is named."""
    seen = set()
    for i, name in enumerate(names, start=1):
        if not str(name).strip():
            raise PipelineError(path, f"column {i}", "blank column name")
        if name in seen:
            raise PipelineError(path, name, f"duplicate column name (columns {names.index(name) + 1} and {i})")
        seen.add(name)


def check_finite(path, df: pd.DataFrame, row_word: str = "data row") -> None:
    """Numbers are finite: inf, -Infinity or 1e400 (read as inf) stop with file, column and row."""
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_float_dtype(s):
            bad = np.isinf(s.to_numpy(dtype="float64", na_value=np.nan))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise PipelineError(path, col, f"non-finite number {s.iloc[i]} ({row_word} {i + 1}); "
                                               f"numbers must be finite (a missing value is left blank)")


def _csv_header(path) -> list[str]:
    """The header of a CSV file as written (pandas would rename a repeated name to 'x.1')."""
    import csv
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [c.strip() for c in next(csv.reader(f), [])]
    except UnicodeDecodeError as e:
        raise PipelineError(path, None, f"not a readable CSV file ({_first_line(e)})") from None
    except (csv.Error, OSError) as e:
        raise PipelineError(path, None, f"not a readable CSV file ({_first_line(e)})") from None


def _header_rows(path, fmt) -> int | None:
    """The record count a .sav/.dta header states (None: it does not state one, e.g. -1 in SPSS)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if fmt == "sav":
        if head[:4] not in (b"$FL2", b"$FL3") or len(head) < 84:
            return None
        order = "little" if int.from_bytes(head[64:68], "little") in (2, 3) else "big"
        n = int.from_bytes(head[80:84], order, signed=True)
        return n if n >= 0 else None
    if head.startswith(b"<stata_dta>"):
        i, j = head.find(b"<N>"), head.find(b"</N>")
        if i < 0 or j < 0:
            return None
        order = "big" if b"<byteorder>MSF" in head[:j] else "little"
        return int.from_bytes(head[i + 3:j], order)
    if len(head) >= 10 and head[1] in (1, 2):   # Stata 115 and older: nobs at bytes 6-9
        return int.from_bytes(head[6:10], "big" if head[1] == 1 else "little")
    return None


def _first_line(e) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:200] if s else type(e).__name__


def _read_stat(path, fmt):
    import pyreadstat
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    kind = "SPSS" if fmt == "sav" else "Stata"
    try:
        df, m = reader(str(path), user_missing=(fmt == "sav"), dates_as_pandas_datetime=True)
    except Exception as e:  # pyreadstat raises several types for corrupt files
        raise PipelineError(path, None, f"not a readable {kind} file ({_first_line(e)})") from None
    stated = _header_rows(path, fmt)
    if stated is None:
        raise PipelineError(path, None, f"the {kind} header does not state the number of records, so "
                                        f"the {len(df)} records read cannot be confirmed complete")
    if stated != len(df):
        raise PipelineError(path, None, f"the {kind} header states {stated} records but {len(df)} were read "
                                        f"(truncated or damaged file)")
    meta = {}
    for col in df.columns:
        missing = []
        for r in (getattr(m, "missing_ranges", None) or {}).get(col, []):
            lo, hi = r["lo"], r["hi"]
            if lo == hi:
                missing.append(lo)
            else:
                missing.append([lo, hi])
        for v in (getattr(m, "missing_user_values", None) or {}).get(col, []):
            missing.append(v)
        values = {str(_num(k)): v for k, v in (m.variable_value_labels or {}).get(col, {}).items()}
        meta[col] = {"label": (m.column_names_to_labels or {}).get(col) or "", "values": values, "missing": missing}
    for col in df.columns:
        if df[col].dtype == object:
            if df[col].map(lambda x: x is None or isinstance(x, str)).all():
                df[col] = df[col].astype("str")
    return df, meta


def _num(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _read_csv(path, text_columns):
    check_column_names(path, _csv_header(path))
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise PipelineError(path, None, "empty file (no header)") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise PipelineError(path, None, f"not a readable CSV file ({_first_line(e)})") from None
    out = {}
    for col in df.columns:
        s = df[col].str.strip()
        blank = s == ""
        num = pd.to_numeric(s.where(~blank), errors="coerce")
        bad = num.isna() & ~blank
        if col in text_columns or bad.sum() > (~blank).sum() / 2:
            out[col] = s.where(~blank).astype("str")
        elif bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PipelineError(path, col, f"non-numeric value {df[col].iloc[i]!r} in a numeric column (data row {i + 1})")
        elif np.isinf(num.to_numpy(dtype="float64", na_value=np.nan)).any():   # inf, -Infinity, 1e400
            i = int(np.flatnonzero(np.isinf(num.to_numpy(dtype="float64", na_value=np.nan)))[0])
            raise PipelineError(path, col, f"non-finite number {df[col].iloc[i]!r} (data row {i + 1}); "
                                           f"numbers must be finite (a missing value is left blank)")
        else:
            out[col] = num.astype("float64") if (num % 1).fillna(0).any() or num.isna().any() else num.astype("int64")
    return pd.DataFrame(out), {}


def read_table(path, what: str = "") -> pd.DataFrame:
    """Read a small CSV table (frame, control totals) with a one-line error if it fails."""
    path = Path(path)
    _check_file(path)
    check_column_names(path, _csv_header(path))
    try:
        df = pd.read_csv(path)
    except Exception as e:
        raise PipelineError(path, None, f"not a readable CSV file ({_first_line(e)})") from None
    if len(df) == 0:
        raise PipelineError(path, None, "no records")
    check_finite(path, df)
    return df


def read_parquet(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    return pd.read_parquet(path)


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(path, None, "missing stage input (run the earlier stage first: make all)")
    return json.loads(path.read_text(encoding="utf-8"))


# --- writers --------------------------------------------------------------------
FIXED_TIME = _dt.datetime(2000, 1, 1)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    if o is pd.NA or o is pd.NaT:
        return None
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n"


class Outputs:
    """All-or-nothing stage outputs under *directory*.

    >>> with Outputs(build / "clean") as out:          # doctest: +SKIP
    ...     out.parquet(df, "household.parquet")
    ...     out.json(manifest, "manifest.json")        # renamed last
    """

    def __init__(self, directory, base=None):
        self.dir = Path(directory)
        self.base = Path(base) if base else self.dir
        self.pending: list[tuple[Path, Path]] = []

    def __enter__(self):
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PipelineError(self.dir, None, f"cannot create the output folder ({e.strerror})") from None
        remove_stale_tmp(self.dir)
        return self

    def _tmp(self, name) -> Path:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts or any(ch in str(name) for ch in "\0\n\r"):
            raise PipelineError(self.dir, None, f"output name {str(name)!r} would leave the output folder")
        final = self.dir / name
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            open(tmp, "wb").close()
        except OSError as e:
            raise PipelineError(final.parent, None, f"cannot write the output {final.name} here ({e.strerror})") from None
        self.pending.append((tmp, final))
        return tmp

    def parquet(self, df: pd.DataFrame, name: str) -> None:
        df.to_parquet(self._tmp(name), index=False, engine="pyarrow", compression="snappy")

    def csv(self, df: pd.DataFrame, name: str) -> None:
        df.to_csv(self._tmp(name), index=False, lineterminator="\n", encoding="utf-8")

    def json(self, obj, name: str) -> None:
        self._tmp(name).write_text(dumps(obj), encoding="utf-8")

    def text(self, s: str, name: str) -> None:
        self._tmp(name).write_text(s, encoding="utf-8")

    def xlsx(self, sheets: dict[str, pd.DataFrame], name: str) -> None:
        self._tmp(name).write_bytes(xlsx_bytes(sheets))

    def entries(self) -> list[dict]:
        """Manifest entries (name, bytes, sha256) of what has been written so far."""
        return [{"path": str(final.relative_to(self.base)), "bytes": tmp.stat().st_size, "sha256": sha256(tmp)}
                for tmp, final in self.pending]

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                for tmp, final in self.pending:
                    os.replace(tmp, final)
                return False
            except OSError as e:
                exc = e
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        ours = {str(p) for pair in self.pending for p in pair}
        if isinstance(exc, OSError) and (exc.filename in ours or exc.errno in _WRITE_ERRNOS):
            # writing or renaming an output failed (a full disk, a read-only file): the operator's to fix
            where = exc.filename if exc.filename else self.dir
            raise PipelineError(where, None, f"cannot write the stage outputs ({exc.strerror or exc})") from None
        return False


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
STALE_TMP = re.compile(r"\.(.+)\.(\d+)\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_tmp(directory) -> list[Path]:
    """Remove ``.<name>.<pid>.tmp`` files left in *directory* by runs that were killed.

    Only files of processes that no longer exist are removed, so a run going on at the
    same time keeps its own.  Returns the removed paths.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = STALE_TMP.fullmatch(entry.name)
        if m and entry.is_file(follow_symlinks=False) and int(m.group(2)) != os.getpid() and not _alive(int(m.group(2))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _xlsx_cell(ws, v):
    """A value for the sheet; text that a spreadsheet could take for a formula is written as text.

    openpyxl writes a string beginning with ``=`` as a live formula.  Such text (and text
    beginning with ``+``, ``-``, ``@``, tab or carriage return: the OWASP CSV-injection
    list) goes in as an explicit text cell with Excel's quote prefix, so it is shown, never
    evaluated, and stays text when the cell is edited.
    """
    if isinstance(v, str) and v.startswith(FORMULA_START):
        from openpyxl.cell import WriteOnlyCell
        cell = WriteOnlyCell(ws, value=v)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell
    return v


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An Excel workbook with one sheet per table, byte-identical for equal input."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    for title, df in sheets.items():
        ws = wb.create_sheet(title[:31])
        for i, c in enumerate(df.columns, start=1):
            width = max([len(str(c))] + [len(str(v)) for v in df[c].head(200)])
            ws.column_dimensions[get_column_letter(i)].width = min(max(8, width + 2), 60)
        ws.freeze_panes = "A2"
        ws.append([_xlsx_cell(ws, str(c)) for c in df.columns])
        for row in df.itertuples(index=False):
            ws.append([None if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) else
                       _xlsx_cell(ws, v.item() if isinstance(v, np.generic) else v) for v in row])
    wb.properties.creator = "hhsurvey pipeline"
    wb.properties.created = wb.properties.modified = FIXED_TIME
    buf = _io.BytesIO()
    wb.save(buf)
    # re-pack with fixed member times so two runs give the same bytes
    src = zipfile.ZipFile(_io.BytesIO(buf.getvalue()))
    out = _io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re
                # openpyxl stamps the save time: keep the element (and its namespace declarations), fix the time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return out.getvalue()
