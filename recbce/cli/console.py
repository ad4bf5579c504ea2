"""What the command line prints, and when: the console, its tables, quiet and verbose."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

console = Console()


def verbosity(ctx, quiet: bool, verbose: bool) -> tuple[bool, bool]:
    """(quiet, verbose) from the command's flags and the global ones; quiet wins."""
    options = (ctx.obj if ctx is not None else None) or {}
    quiet = quiet or options.get("quiet", False)
    return quiet, not quiet and (verbose or options.get("verbose", False))


def show_progress(quiet: bool) -> bool:
    """tqdm's disable=None rule (bars only when stderr is a terminal), but --quiet always wins."""
    return not quiet and sys.stderr.isatty()


def important_only(message: str) -> None:
    """The log under --quiet: warnings and notes still print, per-epoch progress lines do not."""
    if message.startswith(("warning", "note", "early stop", "resuming")):
        console.print(message, highlight=False, markup=False)




def print_metrics(columns: dict[str, dict[str, float]], title: str) -> None:
    """One row per metric, one column per model."""
    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for metric in next(iter(columns.values())):
        table.add_row(metric, *(f"{values[metric]:.4f}" for values in columns.values()))
    console.print(table)


def print_wide(table: Table) -> None:
    """A table at its natural width even when piped (rich would squeeze it to 80 columns)."""
    natural = console.measure(table, options=console.options.update_width(1000)).maximum
    Console(width=max(console.width, natural)).print(table)
def print_sweep(outcomes, metric: str) -> None:
    """One row per grid point: status, the chosen metric, time, throughput, error."""
    table = Table(title=f"sweep, test {metric}")
    for column in ("run", "status", metric, "train s", "examples/s", "error"):
        table.add_column(column, justify="right" if column in (metric, "train s", "examples/s") else "left")
    for o in outcomes:
        value = o.test.get(metric)
        table.add_row(o.name, o.status, "" if value is None else f"{value:.4f}",
                      "" if o.train_seconds is None else f"{o.train_seconds:.1f}",
                      "" if o.examples_per_s is None else f"{o.examples_per_s:,.0f}", o.error)
    console.print(table)
