"""Rich tables for runs, shared by `recbce runs list` and `recbce runs show` (printing only)."""

from __future__ import annotations

from rich.table import Table

from recbce.config.kinds import SAMPLER_KINDS
from recbce.runs.registry import RunRecord, metric_value

STATUS_STYLE = {"finished": "green", "interrupted": "yellow", "failed": "red", "running": "cyan",
                "pruned": "yellow"}
RUN_COLUMNS = ("name", "status", "loss", "ratio", "metric", "best valid", "test", "epochs", "time")
NUMERIC = {"ratio", "best valid", "test", "epochs", "time"}


def runs_table(records: list[RunRecord], title: str, extra_metric: str | None = None) -> Table:
    """One row per run; `extra_metric` adds a column for a metric other than each run's own."""
    table = Table(title=title)
    for column in RUN_COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    if extra_metric:
        table.add_column(extra_metric, justify="right")
    for record in records:
        cells = [record.name, status(record), loss_name(record.config), ratio(record.config),
                 record.metric, fmt(record.best_valid()), fmt(record.test()),
                 str(len(record.epoch_log)), fmt_seconds(record.seconds)]
        if extra_metric:
            cells.append(fmt(metric_value(record, extra_metric)))
        table.add_row(*cells)
    return table


def epochs_table(record: RunRecord, key: str) -> Table:
    """Per epoch: loss, throughput, seconds and the selection metric (epoch log key `key`)."""
    table = Table(title="epochs")
    for column in ("epoch", "loss", "examples/s", "seconds", key):
        table.add_column(column, justify="right")
    for row in record.epoch_log:
        table.add_row(str(row["epoch"]), f"{row['loss']:.4f}", f"{row['examples_per_s']:,.0f}",
                      f"{row['seconds']:.2f}", fmt(row.get(key)))
    return table


def status(record: RunRecord) -> str:
    style = STATUS_STYLE.get(record.status.split(" ")[0], "magenta")  # "interrupted (process ended)"
    return f"[{style}]{record.status}[/]"


def loss_name(config: dict) -> str:
    return str((config.get("loss") or {}).get("name", "?"))


def ratio(config: dict) -> str:
    sampler = config.get("sampler") or {}
    kind = SAMPLER_KINDS.get(sampler.get("kind"))
    return str(sampler.get("ratio", "?")) if kind is None or kind.ratio else "in-batch"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def trials_table(frame, title: str) -> Table:
    """A study's trials (recbce.tuning.report.trials_frame), best first."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column in ("state", "error") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell(value) for value in row))
    return table


def cell(value) -> str:
    if value is None or str(value) in ("nan", "<NA>"):  # no value, NaN, pandas' NA
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)
