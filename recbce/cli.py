"""The command line: each command parses, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from recbce.errors import MissingExtra, RecbceError


class _Group(TyperGroup):
    """Catches the errors a user can cause, once for every command: one line, exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecbceError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False,
                                       soft_wrap=True)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=True,
                  help="Train implicit-feedback recommenders with sigmoid BCE and negative sampling."
                  "\n\nExample: recbce init my.yaml && recbce train --config my.yaml")
data_app = typer.Typer(no_args_is_help=True, help="Inspect and generate interaction data.\n\n"
                       "Example: recbce data stats --config configs/quickstart.yaml")
app.add_typer(data_app, name="data")
console = Console()


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
    from recbce.plots import INSTALL_HINT as INSTALL_PLOT
    from recbce.train import train as run_training

    if (config is None) == (resume is None):
        raise RecbceError("give exactly one of --config FILE or --resume RUN_DIR")
    if resume is not None and set_:
        raise RecbceError("--set cannot change a run being resumed")
    loaded = load_config(config or resume / "config.yaml", set_ or [])
    if resume is not None and loaded.run_dir.resolve() != resume.resolve():
        loaded = loaded.model_copy(update={"run": loaded.run.model_copy(
            update={"dir": str(resume.parent), "name": resume.name})})
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


# --- evaluation and recommendations ----------------------------------------


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", "-r", help="A run folder written by `recbce train`.")],
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    k: Annotated[str | None, typer.Option("--k", help="Comma-separated cut-offs, e.g. 10,20,50.")] = None,
    per_user: Annotated[Path | None, typer.Option("--per-user", help="Per-user rows (CSV).")] = None,
    calibration: Annotated[bool, typer.Option("--calibration", help="Also log loss, ECE and a "
                           "reliability diagram of σ(score) (needs recbce[plot]).")] = False,
):
    """Reload a trained model and print its ranking metrics (also saved as eval-<split>.json).

    Example: recbce evaluate --run runs/quickstart --k 10,20,50 --per-user users.csv --calibration
    """
    from recbce.evaluate import evaluate_run
    from recbce.sampled import WARNING

    if split not in ("test", "valid"):
        raise RecbceError(f"--split must be test or valid, not {split!r}")
    metrics = evaluate_run(run, split, parse_ks(k) if k else None, per_user, calibration, log=console.print)
    if any(name.startswith("sampled_") for name in metrics):
        console.print(f"note: {WARNING}")
    print_metrics({"model": metrics}, title=f"{split} metrics, {run}")


@app.command()
def recommend(
    run: Annotated[Path, typer.Option("--run", "-r", help="A run folder written by `recbce train`.")],
    users: Annotated[str | None, typer.Option("--users", help="Comma-separated user ids.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every known user.")] = False,
    k: Annotated[int, typer.Option("--k", min=1, help="Items per user.")] = 10,
    out: Annotated[Path | None, typer.Option("--out", help="Write .csv, .tsv or .parquet.")] = None,
    popular_fallback: Annotated[bool, typer.Option("--popular-fallback",
                                help="Unknown users get the most popular items.")] = False,
):
    """Top-K items per user, in the data's own ids, items the user has seen excluded.

    Example: recbce recommend --run runs/quickstart --users 1,2,3 --k 5
    """
    from recbce import recommend as rec

    if (users is None) == (not all_users):
        raise RecbceError("give --users ID[,ID...] or --all")
    wanted = None if all_users else [u.strip() for u in users.split(",") if u.strip()]
    frame = rec.recommend(run, wanted, k, popular_fallback)
    if out is not None:
        rec.write(frame, out)
        console.print(f"wrote {len(frame):,} recommendations to {out}")
        return
    table = Table(title=f"top {k}, {run}")
    for column in frame.columns:
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(str(row.user), str(row.rank), str(row.item), f"{row.score:.4f}")
    console.print(table)


# --- sweeps ------------------------------------------------------------------


@app.command()
def sweep(
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
    from recbce import sweep as sw

    grid_values = sw.parse_grid(grid)
    overrides = set_ or []
    chosen = sw.plot_metric(config, overrides, metric)
    folder = out or Path("runs") / f"sweep-{config.stem}"
    outcomes = sw.run_sweep(config, grid_values, overrides, folder, overwrite, not quiet, console.print)
    markdown, table_csv = sw.write_tables(outcomes, folder)
    print_sweep(outcomes, chosen)
    console.print(f"wrote {markdown} and {table_csv}")
    try:
        console.print(f"wrote {sw.plot(outcomes, grid_values, chosen, folder / 'sweep.png')}")
    except MissingExtra as err:  # no matplotlib: the tables stand on their own
        console.print(str(err), style="yellow", markup=False, highlight=False)
    failed = sum(o.status == "failed" for o in outcomes)
    console.print(f"{len(outcomes) - failed} of {len(outcomes)} runs finished, {failed} failed")


# --- runs, configs and plots -------------------------------------------------

runs_app = typer.Typer(no_args_is_help=True, help="List and inspect run folders.\n\n"
                       "Example: recbce runs list runs --sort recall@20")
config_app = typer.Typer(no_args_is_help=True, help="Show and check configs (`recbce init` starts one)."
                         "\n\nExample: recbce config validate configs/quickstart.yaml")
app.add_typer(runs_app, name="runs")
app.add_typer(config_app, name="config")


@runs_app.command("list")
def runs_list(
    folder: Annotated[Path, typer.Argument(help="Folder holding run folders.")] = Path("runs"),
    sort: Annotated[str, typer.Option("--sort", help="name, time, or a metric such as recall@20 "
                                      "(best first: test value, else best validation).")] = "name",
):
    """A table of the runs in a folder: loss, ratio, metrics, time and status.

    Example: recbce runs list runs --sort ndcg@20
    """
    from recbce import registry, views

    records = registry.sort_runs(registry.list_runs(folder), sort)
    if not records:
        console.print(f"no runs in {folder}", highlight=False)
        return
    extra = sort if sort not in ("name", "time") and any(r.metric != sort for r in records) else None
    title = f"runs in {folder}" + (f", by {sort}" if sort != "name" else "")
    print_wide(views.runs_table(records, title, extra))


@runs_app.command("show")
def runs_show(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]):
    """The run's status, resolved config, per-epoch record and test metrics.

    Example: recbce runs show runs/quickstart
    """
    import yaml

    from recbce import registry, views
    from recbce.plots import metric_key

    record = registry.read_run(run_dir)
    note = f": {escape(record.message)}" if record.message else ""
    updated = record.updated or "no run.json"
    console.print(f"{escape(str(record.path))}: {views.status(record)}{note} ({updated})", highlight=False)
    console.print(yaml.safe_dump(record.config, sort_keys=False).rstrip(), highlight=False, markup=False)
    if record.history:
        print_wide(views.epochs_table(record, metric_key(record)))
    if record.summary:
        print_metrics({"model": record.summary["test"], "popularity": record.summary["popularity"]},
                      title="test metrics")


@app.command()
def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write.")] = Path("curves.png"),
):
    """Overlay the training curves (loss, validation metric, examples/s) of runs in one PNG.

    Example: recbce plot runs/ratio1 runs/ratio4 runs/ratio16 --out ratios.png
    """
    from recbce.plots import plot_runs

    console.print(f"wrote {plot_runs(run_dirs, out)}", highlight=False)


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: train.lr=0.01")] = None,
):
    """Print the resolved config: the file, the overrides and every default, as YAML.

    Example: recbce config show --config configs/quickstart.yaml --set sampler.ratio=8
    """
    from recbce.config import load_config, to_yaml

    typer.echo(to_yaml(load_config(config, set_ or [])), nl=False)


@config_app.command("validate")
def config_validate(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: train.lr=0.01")] = None,
):
    """Check a config without training: exit 0 if valid, else one line naming the key and exit 2.

    Example: recbce config validate configs/quickstart.yaml
    """
    from recbce.config import load_config

    loaded = load_config(config, set_ or [])
    console.print(f"ok: {config} is valid (run folder {loaded.run_dir}, {loaded.train.epochs} epochs, "
                  f"loss {loaded.loss.name}, {loaded.sampler.kind} sampler)", highlight=False, soft_wrap=True)
    if not Path(loaded.data.path).exists():
        console.print(f"note: data file {loaded.data.path} not found from this folder", highlight=False,
                      soft_wrap=True)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("recbce.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
):
    """Write a commented starter config (it validates as written; edit, then train).

    Example: recbce init my.yaml && recbce train --config my.yaml
    """
    from recbce.starter import write_starter

    console.print(f"wrote {write_starter(path, force)}; next: recbce train --config {path}",
                  highlight=False)


# --- data ---------------------------------------------------------------------


@data_app.command("stats")
def data_stats(
    config: Annotated[Path, typer.Option("--config", "-c", help="A config whose data section to read.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: data.kcore=5")] = None,
):
    """Users, items, interactions, density, count quantiles and split sizes of a config's data.

    Example: recbce data stats --config configs/gowalla.yaml
    """
    from recbce.config import load_config
    from recbce.data import describe

    loaded = load_config(config, set_ or [])
    table = Table(title=f"data: {loaded.data.path}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for name, value in describe(loaded.data, loaded.seed).items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else f"{value:.6g}"
                      if isinstance(value, float) else str(value))
    console.print(table)


@data_app.command("fetch")
def data_fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="ml-100k, ml-1m, ml-20m or ml-latest-small.")],
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder (default $RECBCE_DATA "
                                               "or ~/.cache/recbce).")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Base URL serving the archives.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Download a public data set, verify its checksum, unpack it safely; print the ratings path.

    Example: recbce data fetch ml-100k --cache data/cache
    """
    from recbce.fetch import GROUPLENS, fetch

    path = fetch(name, cache, mirror or GROUPLENS, progress=show_progress(verbosity(ctx, quiet, False)[0]))
    console.print(str(path), highlight=False)


@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option("--out", help="Where to write the TSV.")] = Path("data/quickstart.tsv"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    users: Annotated[int, typer.Option("--users", min=1)] = 2000,
    items: Annotated[int, typer.Option("--items", min=2)] = 1000,
):
    """Write the synthetic quickstart data set (planted tastes plus long-tail popularity).

    Example: recbce data generate --out data/quickstart.tsv --seed 0
    """
    from recbce import runs, synth

    frame = synth.generate(n_users=users, n_items=items, seed=seed)
    runs.write_text(out, frame.to_csv(sep="\t", header=False, index=False))
    console.print(f"wrote {len(frame):,} interactions to {out}")


# --- helpers ------------------------------------------------------------------


def verbosity(ctx: typer.Context | None, quiet: bool, verbose: bool) -> tuple[bool, bool]:
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


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",")]
    except ValueError:
        raise RecbceError(f"--k must be comma-separated integers, not {text!r}") from None
    if min(ks) < 1:
        raise RecbceError("--k: every K must be >= 1")
    return sorted(set(ks))


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


def main() -> None:
    app(prog_name="recbce")  # the same name (help, completion) for `python -m recbce`
