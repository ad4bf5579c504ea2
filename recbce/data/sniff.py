"""What a delimited file's first lines say: whether the first one is a header (`data.header:
auto`) and, in a header, which column is which (`data.columns` left out).

The first line is a header when its id fields do not parse as the rest of their columns do
(integer ids under "customer_id"); where the ids are text throughout, when the other columns
of numbers say so in the same way; where no column tells, when its user and item fields are
common column names. A header's columns
are found by common names (COMMON_NAMES, compared without case, '_', '-' or spaces); a rating
or timestamp column whose values are not numbers (nor, for a timestamp, ISO 8601 dates) is left
out. Nothing here raises for a file
that does not parse: the reader then says what is wrong, naming the line.
"""

from __future__ import annotations

import io
import itertools
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recbce.config import ColumnsConfig, DataConfig
from recbce.errors import DataError

HEAD_LINES = 1000  # enough rows to see a column's type; cheap on any file
UNIT_SEPARATOR = "\x1f"  # ASCII field separator: stands in for multi-character data.sep
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
COMMON_NAMES = {
    "user": ("user", "userid", "uid", "customer", "customerid", "client", "clientid", "member",
             "memberid", "reviewer", "reviewerid", "visitor", "visitorid", "account", "accountid",
             "buyer", "buyerid", "person", "personid", "usermbid", "username"),
    "item": ("item", "itemid", "iid", "product", "productid", "movie", "movieid", "asin", "sku",
             "artist", "artistid", "artistmbid", "artistname", "track", "trackid", "song", "songid",
             "book", "bookid", "isbn", "business", "businessid", "article", "articleid", "video",
             "videoid", "venue", "venueid", "location", "locationid", "poi", "poiid", "game", "gameid",
             "anime", "animeid", "recipe", "recipeid", "news", "newsid", "content", "contentid"),
    "rating": ("rating", "ratings", "score", "stars", "star", "overall", "plays", "playcount", "weight"),
    "timestamp": ("timestamp", "ts", "time", "unixtime", "unixreviewtime", "epoch", "timestamps", "date",
                  "datetime", "createdat", "eventtime"),
}
KINDS = ("int", "number", "text")  # each accepts the ones before it


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name == "ratings.csv":  # MovieLens' name, and everyone else's: its header tells them apart
        return "movielens" if movielens_header(path) else "csv"
    if name in ("u.data", "ratings.dat"):
        return "movielens"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".data")):
        return "tsv"
    if name.endswith(".txt"):
        return "adjacency"
    if name.endswith(JSON_SUFFIXES):
        raise DataError(json_refusal(path))
    raise DataError(f"{path}: cannot tell the format from the name; set data.format")


def movielens_header(path: Path) -> bool:
    """Whether the file starts as MovieLens' ratings.csv does (userId,movieId,...); true where
    it cannot be read (the reader then says why)."""
    try:
        with path.open("rb") as handle:
            return handle.readline().lstrip(b"\xef\xbb\xbf").startswith(b"userId,movieId")
    except OSError:
        return True


def json_refusal(path: Path) -> str:
    return (f"{path}: JSON lines are not read; write the interactions as CSV first (e.g. pandas: "
            "pd.read_json(path, lines=True).to_csv('interactions.csv', index=False)), then "
            "recbce init --data interactions.csv")


def separator(fmt: str, config: DataConfig) -> str | None:
    """The field separator of a text format other than movielens and adjacency."""
    return config.sep or {"csv": ",", "tsv": "\t"}.get(fmt)


def head_rows(path: Path, sep: str, lines: int = HEAD_LINES) -> pd.DataFrame | None:
    """The first lines as strings, one column per field ('' where missing); None if they do
    not parse (the reader says why)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            text = "".join(itertools.islice(handle, lines))
        if len(sep) > 1:
            text, sep = text.replace(sep, UNIT_SEPARATOR), UNIT_SEPARATOR
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
                               skip_blank_lines=True, engine="c")
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    return rows if len(rows) else None


def kind(values: pd.Series) -> str:
    """'int', 'number' or 'text': the narrowest that every non-empty value parses as."""
    values = values[values.str.strip() != ""].str.strip()
    if values.str.fullmatch(r"[+-]?\d+").all():
        return "int"
    if pd.to_numeric(values, errors="coerce").notna().all():
        return "number"
    return "text"


def iso_seconds(values: pd.Series) -> pd.Series:
    """Seconds since 1970 (UTC, float) of ISO 8601 dates and times ('2015-01-02',
    '2016-03-04T10:00:00Z'; no zone: UTC), NaN where a value is not one."""
    try:
        times = pd.to_datetime(values.astype(str).str.strip(), format="ISO8601", utc=True, errors="coerce")
        return (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    except (ValueError, OverflowError):  # e.g. a year past 2262, out of pandas' range
        return pd.Series(np.nan, index=values.index)


def are_dates(values: pd.Series) -> bool:
    """Every value an ISO 8601 date, and not all numbers (a column of years is numbers)."""
    return len(values) > 0 and kind(values.astype(str)) == "text" and bool(iso_seconds(values).notna().all())


def normalised(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def first_line_is_header(rows: pd.DataFrame, columns: ColumnsConfig) -> bool:
    if isinstance(columns.user, str) or isinstance(columns.item, str):
        return True  # the config names its columns: they are in a header
    ids = [p for p in (columns.user, columns.item) if p < rows.shape[1]]
    others = [p for p in range(rows.shape[1]) if p not in ids]
    for positions in (ids, others):  # the id fields first; where they do not tell, the others
        verdicts = [fits for p in positions if (fits := _first_fits(rows, p)) is not None]
        if verdicts:
            return not any(verdicts)
    first = [normalised(field) for field in rows.iloc[0]]
    return all(any(name in COMMON_NAMES[f] for name in first) for f in ("user", "item"))


def _first_fits(rows: pd.DataFrame, position: int) -> bool | None:
    """Whether the first field parses as the rest of its column does; None where the column
    does not tell (its values are text, or there is no rest)."""
    if len(rows) < 2:
        return None
    rest = kind(rows.iloc[1:, position])
    if rest == "text":
        return None
    return KINDS.index(kind(rows.iloc[:1, position])) <= KINDS.index(rest)


def named_columns(names: list, rows: pd.DataFrame | None, columns: ColumnsConfig) -> dict:
    """{field: column name} for the fields left out of `columns` that a common name finds;
    rows (the header first), if given, keep a rating or timestamp that is not numbers out."""
    found, taken = {}, {columns.model_dump()[f] for f in columns.model_fields_set}
    keys = [normalised(name) for name in names]
    for field, common in COMMON_NAMES.items():
        if field in columns.model_fields_set:
            continue
        for name in common:
            if name not in keys:
                continue
            position = keys.index(name)
            if names[position] in taken or position in taken:
                continue
            values = rows.iloc[1:, position] if rows is not None else None
            numeric = (rows is None or field in ("user", "item") or kind(values) != "text"
                       or (field == "timestamp" and are_dates(values[values != ""])))
            if numeric:
                found[field] = names[position]
                taken.add(names[position])
            break
    return found


def unnamed_columns(rows: pd.DataFrame, columns: ColumnsConfig) -> dict:
    """Without a header, rating and timestamp left out take positions 2 and 3; where the
    first row holds text there (an artist's name), the rating is the first column of numbers
    after the ids instead (a play count), and the reader gives a column to one field only.
    Where column 1 holds dates, it is the timestamp and the item is column 2."""
    left_out = [f for f in ("rating", "timestamp") if f not in columns.model_fields_set]
    found = {}
    # Dates where the item would be (Last.fm 1K: user, time, artist id, ...): the timestamp,
    # and the item is the column after it.
    if {"item", "timestamp"}.isdisjoint(columns.model_fields_set) and rows.shape[1] > 2 \
            and are_dates(rows.iloc[:, 1]):
        found = {"timestamp": 1, "item": 2}
    if "rating" not in left_out or rows.shape[1] <= 2 or kind(rows.iloc[:1, 2]) != "text":
        return found
    numbers = [p for p in range(3, rows.shape[1])
               if kind(rows.iloc[:, p]) != "text" and (rows.iloc[:, p].str.strip() != "").all()]
    return found | ({"rating": numbers[0]} if numbers else {})


def positions_left(names: list, found: dict, columns: ColumnsConfig) -> dict:
    """User or item not found by name stays at its position (0, 1) unless another field took
    that column; then it takes the leftmost column no field took."""
    written = columns.model_dump()
    taken = set(found.values()) | {_name(names, written[f]) for f in columns.model_fields_set}
    placed = {}
    for field, position in (("user", 0), ("item", 1)):
        if field in found or field in columns.model_fields_set or position >= len(names):
            continue
        if names[position] in taken:
            free = [name for name in names if name not in taken]
            if free:
                placed[field] = free[0]
                taken.add(free[0])
        else:
            taken.add(names[position])
    return placed


def _name(names: list, column):
    return names[column] if isinstance(column, int) and column < len(names) else column
