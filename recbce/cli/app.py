"""The command line: each command parses, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from recbce.cli import comparing, serving, tuning
from recbce.cli.console import (
    console,
    important_only,
    parse_ks,
    print_metrics,
    print_sweep,
    show_progress,
    verbosity,
)
from recbce.cli.groups import config_app, data_app, runs_app
from recbce.errors import MissingExtra, RecbceError


class _Group(TyperGroup):
    """Catches the errors a user can cause, once for every command: one line, exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecbceError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _error_line(str(err))
            raise typer.Exit(err.exit_code) from None

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Usage errors (a bad option value, a missing argument) as one line too, not click's
        boxed panel; the exit code stays click's (2)."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as err:  # typer's click: ClickException and UsageError
            where = f" (see {err.ctx.command_path} --help)" if getattr(err, "ctx", None) else ""
            _error_line(err.format_message() + where)
            sys.exit(err.exit_code)
        except typer.Abort:
            _error_line("aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _error_line(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=True, rich_markup_mode=None,
                  help="Train implicit-feedback recommenders with sigmoid BCE and negative sampling."
                  "\n\nExample: recbce init my.yaml && recbce train --config my.yaml")
app.add_typer(runs_app, name="runs")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, no per-epoch lines; "
                                        "wins over --verbose.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the resolved config "
                                          "and where outputs went.")] = False,
):
    # Progress bars show only on a terminal (tqdm's rule); --quiet always hides them.
    ctx.obj = {"debug": debug, "quiet": quiet, "verbose": verbose and not quiet}


# --- training -------------------------------------------------------------


@app.command()
def train(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: train.lr=0.01")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue this run folder.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the resolved config.")] = False,
):
    """Train a model and evaluate it on the test split.

    Example: recbce train --config configs/quickstart.yaml --set sampler.ratio=8

    Several processes: torchrun --nproc_per_node=2 -m recbce train --config C (see the README).
    """
    from recbce.config import load_config, to_yaml
    from recbce.runs.folder import RunFolder
    from recbce.runs.plots import INSTALL_HINT as INSTALL_PLOT
    from recbce.training.loop import train as run_training

    if (config is None) == (resume is None):
        raise RecbceError("give exactly one of --config FILE or --resume RUN_DIR")
    if resume is not None and set_:
        raise RecbceError("--set cannot change a run being resumed")
    loaded = RunFolder(resume).config_to_resume() if resume is not None else load_config(config, set_ or [])
    if resume is not None and RunFolder(resume).nothing_to_resume(loaded):  # not an error: nothing touched
        console.print(f"{resume}: already finished: nothing to resume (recbce runs show {resume})",
                      highlight=False, markup=False, soft_wrap=True)
        return
    quiet, verbose = verbosity(ctx, quiet, verbose)
    if verbose:
        console.print(f"resolved config:\n{to_yaml(loaded)}", highlight=False, markup=False)
    summary = run_training(loaded, overwrite=overwrite, resume=resume is not None,
                           progress=show_progress(quiet), log=important_only if quiet else console.print)
    if summary is None:
        return  # a torchrun rank other than 0: rank 0 prints the results
    print_metrics({"model": summary["test"], "popularity": summary["popularity"]},
                  title=f"test metrics, {summary['run_dir']}")
    console.print(f"trained {summary['epochs']} epochs in {summary['train_seconds']:.1f} s; "
                  f"run saved to {summary['run_dir']}")
    if summary.get("curves") is None:
        console.print(f"note: no curves.png: plots need matplotlib ({INSTALL_PLOT})", markup=False,
                      highlight=False, soft_wrap=True)
    elif verbose:
        console.print(f"training curves: {summary['curves']}", highlight=False)


# --- evaluation (recommend, similar and export: recbce.cli.serving) ----------


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", "-r", help="A run folder written by `recbce train`.")],
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    k: Annotated[str | None, typer.Option("--k", help="Comma-separated cut-offs, e.g. 10,20,50.")] = None,
    per_user: Annotated[Path | None, typer.Option("--per-user", help="Per-user rows (CSV).")] = None,
    calibration: Annotated[bool, typer.Option("--calibration", help="Also log loss, ECE and a "
                           "reliability diagram of σ(score) (needs recbce[plot]).")] = False,
    accept_data_change: Annotated[bool, typer.Option("--accept-data-change", help="Evaluate even if "
                                  "the data files differ from those the run trained on.")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="Where the run's data is now, if it moved: "
                    "the data file, or a folder holding its files (checked against data.json).")] = None,
    lists: Annotated[Path | None, typer.Option("--lists", help="Write the ranked top-K lists to this TREC "
                     "run file and the relevant items beside it (.qrels), for trec_eval or ranx.")] = None,
):
    """Reload a trained model and print its ranking metrics (also saved as eval-<split>.json).

    Example: recbce evaluate --run runs/quickstart --k 10,20,50 --per-user users.csv --calibration

    Check with another tool: recbce evaluate --run runs/quickstart --lists runs/quickstart/test.run
    """
    from recbce.evaluation.ranking import evaluate_run
    from recbce.evaluation.sampled import WARNING

    if split not in ("test", "valid"):
        raise RecbceError(f"--split must be test or valid, not {split!r}")
    metrics = evaluate_run(run, split, parse_ks(k) if k else None, per_user, calibration, log=console.print,
                           accept_data_change=accept_data_change, data=data, lists_path=lists)
    if any(name.startswith("sampled_") for name in metrics):
        console.print(f"note: {WARNING}")
    print_metrics({"model": metrics}, title=f"{split} metrics, {run}")


app.command()(serving.recommend)
app.command()(serving.similar)
app.command()(serving.export)
app.command()(comparing.compare)


# --- sweeps ------------------------------------------------------------------


@app.command()
def sweep(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", "-c", help="The base YAML config.")],
    grid: Annotated[list[str], typer.Option("--grid", help="KEY=V1,V2,...; repeat for more keys.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key in every run.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Sweep folder (default runs/sweep-<config>).")]
    = None,
    metric: Annotated[str | None, typer.Option("--metric", help="Metric to plot (default eval.metric).")]
    = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing run folders.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
):
    """Train every combination of the grid, then write sweep.md, sweep.csv and sweep.png.

    Example: recbce sweep -c configs/ml100k.yaml --grid loss.name=bce,bpr --grid sampler.ratio=1,4,16
    """
    from recbce.training import sweep as sw

    grid_values = sw.parse_grid(grid)
    overrides = set_ or []
    chosen = sw.plot_metric(config, overrides, metric)
    folder = out or Path("runs") / f"sweep-{config.stem}"
    quiet = verbosity(ctx, quiet, False)[0]
    outcomes = sw.run_sweep(config, grid_values, overrides, folder, overwrite, show_progress(quiet),
                            important_only if quiet else console.print)
    markdown, table_csv = sw.write_tables(outcomes, folder, chosen)
    print_sweep(outcomes, chosen, sw.picked(outcomes))
    console.print(f"wrote {markdown} and {table_csv}")
    failed = sum(o.status == "failed" for o in outcomes)
    try:
        if failed < len(outcomes):  # else an empty plot
            console.print(f"wrote {sw.plot(outcomes, grid_values, chosen, folder / 'sweep.png')}")
    except MissingExtra as err:  # no matplotlib: the tables stand on their own
        console.print(str(err), style="yellow", markup=False, highlight=False)
    console.print(f"{len(outcomes) - failed} of {len(outcomes)} runs finished, {failed} failed")
    if failed == len(outcomes):
        raise typer.Exit(1)  # nothing came out of it: a script must not read this as success


app.command()(tuning.tune)


# --- plots and starter configs -----------------------------------------------


@app.command()
def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write.")] = Path("curves.png"),
):
    """Overlay the training curves (loss, validation metric, examples/s) of runs in one PNG.

    Example: recbce plot runs/ratio1 runs/ratio4 runs/ratio16 --out ratios.png
    """
    from recbce.runs.plots import plot_runs

    console.print(f"wrote {plot_runs(run_dirs, out)}", highlight=False)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("recbce.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="Your interaction file: its format, separator, "
                    "header and columns are found and written into the data section.")] = None,
):
    """Write a commented starter config (it validates as written; edit, then train).

    Example: recbce init my.yaml --data interactions.csv && recbce train --config my.yaml
    """
    from recbce.starter import STARTER, data_starter, write_starter

    text, decided = data_starter(data) if data is not None else (STARTER, [])
    for line in decided:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"wrote {write_starter(path, force, text)}; next: recbce train --config {path}",
                  highlight=False)


def main() -> None:
    app(prog_name="recbce")  # the same name (help, completion) for `python -m recbce`
