"""Readers: any supported interaction file -> a frame with columns user, item[, rating, timestamp].

Formats (`data.format`): `csv`, `tsv` and `delimited` (any `data.sep`), `movielens`
(u.data, ratings.dat with `::`, ratings.csv with a header), `adjacency` (the
LightGCN/NGCF `user item item ...` lines), `parquet`; `auto` picks one from the
file name. Every problem is a one-line `DataError` naming the file and, where
it applies, the line.
"""

from __future__ import annotations

import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recbce.config import DataConfig
from recbce.data.layout import resolved
from recbce.data.sniff import UNIT_SEPARATOR, detect_format, iso_seconds, json_refusal, separator
from recbce.errors import DataError, MixedIds

FIELDS = ("user", "item", "rating", "timestamp")


def read_interactions(path: str | Path, config: DataConfig, rows: int | None = None) -> pd.DataFrame:
    """Columns user, item and, where present, rating and timestamp; validated. `rows`: only
    the first rows (lines, in the adjacency format), to check that a file reads."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        return _read(path, resolved(config, path), rows)
    except OSError as err:  # permission denied, an I/O error: pandas and pyarrow raise these too
        raise DataError(f"{path}: cannot read: {err.strerror or str(err).splitlines()[0]}") from None


def _read(path: Path, config: DataConfig, rows: int | None) -> pd.DataFrame:
    fmt = detect_format(path) if config.format == "auto" else config.format
    if fmt == "parquet":
        frame, first_line = _read_parquet(path, config), 1
        frame = frame if rows is None else frame.head(rows)
    else:
        _check_text(path)
        if fmt == "adjacency":
            return _read_adjacency(path, rows)
        frame, first_line = _read_delimited(path, fmt, config, rows)
    return _validate(frame, path, first_line, config.ids == "text")


def _check_text(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head.strip():
        raise DataError(f"{path}: the file is empty")
    if b"\0" in head:
        raise DataError(f"{path}: a binary file, not delimited text")
    if head.lstrip().startswith(b"{"):
        raise DataError(json_refusal(path))


def _delimited_options(path: Path, fmt: str, config: DataConfig) -> tuple[str, bool, dict]:
    """(separator, has header, column -> name or position) for a text format."""
    columns = config.columns.model_dump()
    if fmt == "movielens":
        name = path.name.lower()
        if name.endswith(".dat"):  # "1::2::5::978300760": split on ':' and skip the empty fields
            return ":", False, {"user": 0, "item": 2, "rating": 4, "timestamp": 6}
        if name.endswith(".csv"):
            return ",", True, {"user": "userId", "item": "movieId", "rating": "rating",
                               "timestamp": "timestamp"}
        return "\t", False, {"user": 0, "item": 1, "rating": 2, "timestamp": 3}
    sep = separator(fmt, config)
    if sep is None:
        raise DataError(f"{path}: data.format delimited needs data.sep")
    return sep, config.header, columns


def _read_delimited(path: Path, fmt: str, config: DataConfig, rows: int | None) -> tuple[pd.DataFrame, int]:
    sep, header, columns = _delimited_options(path, fmt, config)
    text = {columns[field]: str for field in ("user", "item")} if config.ids == "text" else None
    raw = _parse_delimited(path, sep, header, rows, text)
    if len(raw) == 0:
        raise DataError(f"{path}: no interactions (only a header)")
    wanted = _wanted(columns, raw.shape[1], header)
    frame = pd.DataFrame({field: _column(raw, col, path, field) for field, col in wanted.items()})
    return frame, 2 if header else 1


def _parse_delimited(path: Path, sep: str, header: bool, rows: int | None,
                     dtype: dict | None = None) -> pd.DataFrame:
    """pandas' C parser; a separator longer than one character is first swapped for a unit
    separator (the C parser takes one character, the Python one is many times slower).
    `dtype`: {column: str} for the columns read as written (data.ids: text)."""
    source = path
    try:
        if len(sep) > 1:
            text = path.read_text()
            if UNIT_SEPARATOR in text:
                raise DataError(f"{path}: data.sep {sep!r} needs a file without \\x1f characters")
            source, sep = io.StringIO(text.replace(sep, UNIT_SEPARATOR)), UNIT_SEPARATOR
        # Chunk by chunk (low_memory): the tokenizer's buffers stay small. A column whose
        # chunks came out as different types (mixed ids) is caught by _validate, row named.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(source, sep=sep, header=0 if header else None, skip_blank_lines=False,
                               engine="c", low_memory=True, keep_default_na=True, nrows=rows, dtype=dtype)
    except pd.errors.EmptyDataError:  # the text is not empty (_check_text): its first line is
        raise DataError(f"{path}: line 1: a blank line (no fields)") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: ragged rows: {_parser_message(err)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except ValueError as err:  # e.g. a separator the parser refuses, such as a newline
        raise DataError(f"{path}: cannot split with data.sep {sep!r}: {_parser_message(err)}") from None


def _wanted(columns: dict, n_columns: int, named: bool) -> dict:
    """Columns to read: rating and timestamp left unset mean positions 2 and 3 when present
    and no other field reads them, in files without a header (in a file with one, name them)."""
    wanted = {"user": columns["user"], "item": columns["item"]}
    wanted |= {field: columns[field] for field in ("rating", "timestamp") if columns[field] is not None}
    for field, position in (("rating", 2), ("timestamp", 3)):
        if field not in wanted and n_columns > position and not named and position not in wanted.values():
            wanted[field] = position
    return wanted


def _parser_message(err: Exception) -> str:
    text = str(err).strip().splitlines()[-1]
    return text.replace("Error tokenizing data. C error: ", "")


def _column(raw: pd.DataFrame, col, path: Path, field: str) -> pd.Series:
    if isinstance(col, int):
        if col >= raw.shape[1]:
            raise DataError(f"{path}: no column {col} for {field}: the file has {raw.shape[1]} columns")
        return raw.iloc[:, col]
    if col not in raw.columns:
        names = ", ".join(map(str, raw.columns))
        raise DataError(f"{path}: no column {col!r} for {field} (columns: {names})")
    return raw[col]


def _read_parquet(path: Path, config: DataConfig) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install 'recbce[parquet]'") from None
    except Exception as err:  # pyarrow raises its own error types for broken files
        raise DataError(f"{path}: cannot read as Parquet: {str(err).splitlines()[0]}") from None
    wanted = _wanted(config.columns.model_dump(), raw.shape[1], True)
    names = {f: (raw.columns[c] if isinstance(c, int) and c < raw.shape[1] else c)
             for f, c in wanted.items()}
    return pd.DataFrame({field: _column(raw, col, path, field) for field, col in names.items()})


def _validate(frame: pd.DataFrame, path: Path, first_line: int, text_ids: bool = False) -> pd.DataFrame:
    """Ids: all integers or all strings (all strings with `text_ids`); rating and timestamp:
    numbers; nothing missing."""
    for field in frame.columns:
        values = frame[field]
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing):
            raise DataError(f"{path}: line {missing[0] + first_line}: {field} is missing")
        if field in ("user", "item"):
            frame[field] = values.astype(str) if text_ids else _ids(values, path, field, first_line)
        elif not pd.api.types.is_numeric_dtype(values):
            frame[field] = _numbers(values, path, field, first_line)
    return frame


def _numbers(values: pd.Series, path: Path, field: str, first_line: int) -> pd.Series:
    """A rating or timestamp column as numbers; a timestamp may be ISO 8601 dates (as seconds)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if field == "timestamp" and numbers.isna().any():
        seconds = iso_seconds(values)
        if seconds.notna().all():
            return seconds
        numbers = numbers.where(numbers.notna(), seconds)  # neither: NaN, reported below
        also = " nor an ISO 8601 date"
    else:
        also = ""
    bad = np.flatnonzero(numbers.isna().to_numpy())
    if len(bad):
        raise DataError(f"{path}: line {bad[0] + first_line}: {field} {values.iloc[bad[0]]!r} "
                        f"is not a number{also}")
    return numbers


def _ids(values: pd.Series, path: Path, field: str, first_line: int) -> pd.Series:
    """Integer ids as int64 (each checked to be whole and to fit), or else all as strings."""
    def fail(row: int, why: str, error=DataError):
        raise error(f"{path}: line {row + first_line}: {field} id {values.iloc[row]!r} {why}")

    if values.dtype.kind == "i":  # whole and within 64 bits by construction
        return values.astype(np.int64)
    if values.dtype.kind in "uf":
        numbers = values.to_numpy()
        fractional = np.flatnonzero(np.mod(numbers, 1) != 0)
        if len(fractional):
            fail(fractional[0], "is not an integer")
        too_big = np.flatnonzero((numbers >= 2**63) | (numbers < -(2**63)))
        if len(too_big):
            fail(too_big[0], "does not fit in 64 bits")
        return values.astype(np.int64)
    text = values.astype(str)
    numeric = text.str.fullmatch(r"-?\d+").to_numpy()
    if numeric.any() and not numeric.all():
        fail(np.flatnonzero(~numeric)[0], "is not a number while other ids are (mixed id types; if the "
             "ids are codes such as Amazon's ASINs, set data.ids: text)", MixedIds)
    if not numeric.all():
        return text
    for row in np.flatnonzero(text.str.len().to_numpy() > 18):  # the only ones that may not fit
        if not _fits_int64(text.iloc[row]):
            fail(row, "does not fit in 64 bits")
    return text.astype(np.int64)


def _fits_int64(token: str) -> bool:
    try:
        return -(2**63) <= int(token) < 2**63
    except ValueError:
        return False


def _read_adjacency(path: Path, rows: int | None = None) -> pd.DataFrame:
    """LightGCN/NGCF form: one line per user, `user item item ...` (integer ids)."""
    try:
        with path.open() as handle:
            text = handle.read() if rows is None else "".join(itertools.islice(handle, rows))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    lines = text.splitlines()
    lengths = np.fromiter((line.count(" ") + 1 if line.strip() else 0 for line in lines),
                          dtype=np.int64, count=len(lines))
    try:
        tokens = np.array(text.split(), dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next((n for n, line in enumerate(lines, 1)
                    if not all(_fits_int64(t) for t in line.split())), "?")
        raise DataError(f"{path}: line {bad}: expected integer ids (64-bit)") from None
    if len(tokens) != lengths.sum():  # tabs or repeated spaces: count tokens per line instead
        lengths = np.array([len(line.split()) for line in lines], dtype=np.int64)
    lengths = lengths[lengths > 0]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    users = np.repeat(tokens[starts], lengths - 1)
    mask = np.ones(len(tokens), dtype=bool)
    mask[starts] = False
    if len(users) == 0:
        raise DataError(f"{path}: no interactions")
    return pd.DataFrame({"user": users, "item": tokens[mask]})
