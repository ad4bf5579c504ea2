"""The command line: each command parses, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from recbce.errors import RecbceError


class _Group(TyperGroup):
    """Catches the errors a user can cause, once for every command: one line, exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecbceError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=True,
                  help="Train implicit-feedback recommenders with sigmoid BCE and negative sampling.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect and generate interaction data.")
app.add_typer(data_app, name="data")
console = Console()


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
):
    ctx.obj = {"debug": debug}


# --- training -------------------------------------------------------------


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: train.lr=0.01")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue this run folder.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
):
    """Train a model and evaluate it on the test split.

    Example: recbce train --config configs/quickstart.yaml --set sampler.ratio=8

    Several processes: torchrun --nproc_per_node=2 -m recbce train --config C (see the README).
    """
    from recbce.config import load_config
    from recbce.train import train as run_training

    if (config is None) == (resume is None):
        raise RecbceError("give exactly one of --config FILE or --resume RUN_DIR")
    if resume is not None and set_:
        raise RecbceError("--set cannot change a run being resumed")
    loaded = load_config(config or resume / "config.yaml", set_ or [])
    if resume is not None and loaded.run_dir.resolve() != resume.resolve():
        loaded = loaded.model_copy(update={"run": loaded.run.model_copy(
            update={"dir": str(resume.parent), "name": resume.name})})
    summary = run_training(loaded, overwrite=overwrite, resume=resume is not None,
                           progress=not quiet, log=console.print)
    if summary is None:
        return  # a torchrun rank other than 0: rank 0 prints the results
    print_metrics({"model": summary["test"], "popularity": summary["popularity"]},
                  title=f"test metrics, {summary['run_dir']}")
    console.print(f"trained {summary['epochs']} epochs in {summary['train_seconds']:.1f} s; "
                  f"run saved to {summary['run_dir']}")


# --- evaluation and recommendations ----------------------------------------


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", "-r", help="A run folder written by `recbce train`.")],
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    k: Annotated[str | None, typer.Option("--k", help="Comma-separated cut-offs, e.g. 10,20,50.")] = None,
    per_user: Annotated[Path | None, typer.Option("--per-user", help="Per-user rows (CSV).")] = None,
):
    """Reload a trained model and print its ranking metrics (also saved as eval-<split>.json).

    Example: recbce evaluate --run runs/quickstart --k 10,20,50 --per-user users.csv
    """
    from recbce.evaluate import evaluate_run
    from recbce.sampled import WARNING

    if split not in ("test", "valid"):
        raise RecbceError(f"--split must be test or valid, not {split!r}")
    metrics = evaluate_run(run, split, parse_ks(k) if k else None, per_user)
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


# --- runs, configs and plots -------------------------------------------------


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

    path = fetch(name, cache, mirror or GROUPLENS, progress=not quiet)
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


def main() -> None:
    app()
