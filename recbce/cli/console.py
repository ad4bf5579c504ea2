"""What the command line prints, and when: the console, its tables, quiet and verbose; and the
small option parsers several commands share."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from recbce.errors import RecbceError

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
        table.add_row(metric, *(cell(values[metric]) for values in columns.values()))
    console.print(table)


def cell(value) -> str:
    """A count (such as calibration's pairs) as an integer, a metric to 4 decimals."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else f"{value:.4f}"


def print_wide(table: Table) -> None:
    """A table at its natural width even when piped (rich would squeeze it to 80 columns)."""
    natural = console.measure(table, options=console.options.update_width(1000)).maximum
    Console(width=max(console.width, natural)).print(table)
def print_sweep(outcomes, metric: str, best=None) -> None:
    """One row per grid cell: its grid values, best validation and test `metric` (± its standard
    error over test users), training seconds, and status and error if any failed; `best` (the
    run validation picks) marked *.
    Narrow enough for an 80-column terminal with two grid keys (sweep.md has every column)."""
    from recbce.training.sweep import short_keys

    keys = short_keys(list(outcomes[0].values) if outcomes else [])
    selection = best.selection if best is not None else metric
    failed = any(o.status != "finished" for o in outcomes)
    table = Table(title=f"sweep: {metric}, best validation and test",
                  caption=f"* validation's pick (best valid {selection})" if best is not None else None)
    table.add_column("")
    for name in keys.values():
        table.add_column(name, no_wrap=True)
    valid = [metric] if selection == metric else [metric, selection]
    for column in [*(f"valid\n{m}" if len(valid) > 1 else "valid" for m in valid), "test", "train s"]:
        table.add_column(column, justify="right", no_wrap=True)
    for column in ["status", "error"] if failed else []:
        table.add_column(column)
    for o in outcomes:
        state = [o.status, o.error] if failed else []
        table.add_row("*" if o is best else "", *(str(o.values[k]) for k in keys),
                      *(number(o.valid.get(m)) for m in valid),
                      number(o.test.get(metric), o.test_se.get(metric)),
                      "" if o.train_seconds is None else f"{o.train_seconds:.1f}", *state)
    console.print(table)


def number(value: float | None, error: float | None = None) -> str:
    """A metric, with its standard error over users when there is one."""
    if value is None:
        return ""
    return f"{value:.4f}" if error is None or error != error else f"{value:.4f} ±{error:.4f}"


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",")]
    except ValueError:
        raise RecbceError(f"--k must be comma-separated integers, not {text!r}") from None
    if min(ks) < 1:
        raise RecbceError("--k: every K must be >= 1")
    return sorted(set(ks))
