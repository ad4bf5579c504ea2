"""A data config made definite for its file: `data.header: auto` decided and the columns it
leaves out found by name in a header (recbce.data.sniff). The reader and the data loading
resolve it before reading; a run's config.yaml records the result, so that it reads the same
file the same way whatever changes in the guessing."""

from __future__ import annotations

from pathlib import Path

from recbce.config import ColumnsConfig, DataConfig
from recbce.data import sniff


def resolved(config: DataConfig, path: str | Path | None = None) -> DataConfig:
    """`config` for the file at `path` (default data.path): header true or false, the columns
    found by name. Unchanged where the file is missing or its first lines do not parse (the
    reader then says why); a header written true or false is kept."""
    path = Path(config.path if path is None else path)
    if not path.is_file():
        return config
    fmt = sniff.detect_format(path) if config.format == "auto" else config.format
    if fmt in ("movielens", "adjacency"):  # fixed layouts: only ratings.csv has a header
        return _with(config, fmt == "movielens" and path.name.lower().endswith(".csv"), {})
    if fmt == "parquet":  # its columns always have names
        names = _parquet_names(path)
        return _with(config, True, _found(names, None, config.columns) if names else {})
    sep = sniff.separator(fmt, config)
    rows = sniff.head_rows(path, sep) if sep else None
    if rows is None:
        return _with(config, False, {})
    header = sniff.first_line_is_header(rows, config.columns) if config.header == "auto" else config.header
    if not header:
        return _with(config, False, sniff.unnamed_columns(rows, config.columns))
    return _with(config, True, _found(list(rows.iloc[0]), rows, config.columns))


def _found(names: list, rows, columns: ColumnsConfig) -> dict:
    found = sniff.named_columns(names, rows, columns)
    return found | sniff.positions_left(names, found, columns)


def _with(config: DataConfig, header: bool, found: dict) -> DataConfig:
    """A copy with the header decided (if auto) and the columns found written in."""
    if config.header != "auto":
        header = config.header
    columns = config.columns
    if found:
        written = {field: getattr(columns, field) for field in columns.model_fields_set}
        columns = ColumnsConfig(**written, **found)
    return config.model_copy(update={"header": header, "columns": columns})


def _parquet_names(path: Path) -> list | None:
    try:
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except Exception:  # no pyarrow or not Parquet: the reader says which, in one line
        return None
