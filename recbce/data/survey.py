"""`recbce init --data FILE`: what a file is (format, separator, header, which column is
which) found from the file itself, then checked by reading all of it with those settings; and
`recbce config validate`'s check that a config's data files read with its settings."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from recbce.config import Config, DataConfig, data_paths
from recbce.data import sniff
from recbce.data.fingerprint import data_files
from recbce.data.layout import resolved
from recbce.data.readers import read_interactions
from recbce.errors import DataError, MixedIds

SEPARATORS = ("\t", ",", "::", ";", "|", " ")  # tried in this order; the first that splits every line
NAMES = {"\t": "tab", ",": "comma", "::": "'::'", ";": "';'", "|": "'|'", " ": "space"}


@dataclass
class Survey:
    config: DataConfig  # the data section that reads the file
    rows: int
    users: int
    items: int
    notes: list[str] = field(default_factory=list)  # what was decided, one line each


def survey(path: str | Path, rows: int | None = None) -> Survey:
    """The data section that reads `path` (its first `rows` rows, if given), its sizes and what
    was decided; DataError naming the file if no settings read it."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder: give the interaction file inside it")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    config = resolved(DataConfig(path=str(path), **text_format(path)))
    try:
        frame = read_interactions(path, config, rows)
    except MixedIds:  # codes such as ASINs, some of them all digits: read every id as written
        config = config.model_copy(update={"ids": "text"})
        frame = read_interactions(path, config, rows)
    found = Survey(config, len(frame), frame["user"].nunique(), frame["item"].nunique())
    found.notes = notes(config, list(frame.columns), found)
    return found


def text_format(path: Path) -> dict:
    """{format[, sep]}: from the name where it says, else from the first lines."""
    try:
        fmt = sniff.detect_format(path)
    except DataError:
        if path.suffix.lower() in sniff.JSON_SUFFIXES:
            raise
        fmt = None
    if fmt in ("movielens", "parquet"):
        return {"format": fmt}
    lines = _head(path)
    if fmt in ("adjacency", None) and _adjacency(lines):
        return {"format": "adjacency"}
    sep = next((sep for sep in SEPARATORS if _splits(lines, sep)), None)
    if sep is None:
        raise DataError(f"{path}: cannot find a separator that splits every line into the same number "
                        f"of fields (tried {', '.join(NAMES.values())}); set data.format and data.sep")
    return {",": {"format": "csv"}, "\t": {"format": "tsv"}}.get(sep, {"format": "delimited", "sep": sep})


def _head(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [line for line in itertools.islice(handle, sniff.HEAD_LINES) if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def _adjacency(lines: list[str]) -> bool:
    """`user item item ...`: integers, lines of different lengths."""
    tokens = [line.split() for line in lines]
    integers = all(token.isdigit() for line in tokens for token in line)
    return integers and len({len(line) for line in tokens}) > 1


def _splits(lines: list[str], sep: str) -> bool:
    counts = {line.rstrip("\r\n").count(sep) for line in lines}
    return len(counts) == 1 and counts.pop() >= 1


def notes(config: DataConfig, fields: list[str], found: Survey) -> list[str]:
    sep = config.sep or {"csv": ",", "tsv": "\t"}.get(config.format)
    where = f"{config.format}" + (f", separated by {NAMES.get(sep, repr(sep))}" if sep else "")
    lines = [f"{config.path}: {where}; " + ("the first line is a header" if config.header
                                              else "no header (the first line is data)")]
    columns = config.columns.model_dump()
    default = {"user": 0, "item": 1, "rating": 2, "timestamp": 3}
    named = [f"{f} = {columns[f] if columns[f] is not None else default[f]!r}" for f in fields]
    if config.format in ("movielens", "adjacency"):
        named = [f"{', '.join(fields)} as {config.format} files lay them out"]
    lines.append("columns: " + ", ".join(named))
    if config.ids == "text":
        lines.append("ids: read as text, as written (some are numbers, some are not)")
    lines.append(f"read {found.rows:,} rows: {found.users:,} users, {found.items:,} items")
    if "rating" in fields:
        lines.append("every row counts as an interaction; set data.min_rating to keep only high ratings")
    if "timestamp" not in fields:
        lines.append("no timestamp: split.method leave_one_out and temporal need one")
    return lines


CHECK_ROWS = 1000  # what `config validate` reads of each data file: enough to meet a bad header


def check_data(config: Config, source: str, skip: str = "") -> None:
    """DataError naming `source` and the file if a data file the config names is missing or
    a folder, or if its first rows do not read with the config's settings (then with the line,
    and the settings that do read it). `skip`: how the caller goes without the files, if it can."""
    skip = f", or {skip}" if skip else ""
    for key, path in data_paths(config).items():
        if Path(path).is_dir():
            raise DataError(f"{source}: {key} {path} is a folder, not a file: name the data file inside "
                            f"it{skip}")
        if not Path(path).is_file():
            raise DataError(f"{source}: {key} {path} not found (from {Path.cwd()}); see the README's "
                            f"'Where the data comes from'{skip}")
    data = resolved(config.data)
    for path in data_files(config.data):
        try:
            read_interactions(path, data, CHECK_ROWS)
        except DataError as err:
            raise DataError(f"{source}: {err}; {fix(Path(path), data)}") from None


def fix(path: Path, data: DataConfig) -> str:
    """The settings that read the file where the config's do not, as the one-line fix."""
    generic = f"check data.format, data.sep, data.header and data.columns (recbce init --data {path})"
    try:
        found = survey(path, CHECK_ROWS).config
    except DataError:
        return generic
    mine, theirs = settings(data, path), settings(found, path)
    changes = [f"data.{key}: {value}" for key, value in theirs.items() if mine[key] != value]
    if not changes:
        return generic
    return f"it reads with {', '.join(changes)} (recbce init --data {path} writes such a data section)"


def settings(data: DataConfig, path: Path) -> dict:
    fmt = sniff.detect_format(path) if data.format == "auto" else data.format
    columns = {f: v for f, v in data.columns.model_dump().items() if f in data.columns.model_fields_set}
    shown = "{" + ", ".join(f"{f}: {v}" for f, v in columns.items()) + "}"
    return {"format": fmt, "sep": sniff.separator(fmt, data), "header": str(data.header).lower(),
            "columns": shown if columns else None}
