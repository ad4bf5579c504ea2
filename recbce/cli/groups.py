"""The command groups `recbce runs`, `recbce config` and `recbce data` (registered in recbce.cli.app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from recbce.cli.console import console, print_metrics, print_wide, show_progress, verbosity

# Plain help (no rich markup): flags show no type, and text such as "recbce[plot]" prints as written.
runs_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="List and inspect run folders.\n\n"
                       "Example: recbce runs list runs --sort recall@20")
config_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Show and check configs (`recbce init` starts one).\n\n"
                         "Example: recbce config validate configs/quickstart.yaml")
data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Inspect, fetch and generate interaction data.\n\n"
                       "Example: recbce data stats --config configs/quickstart.yaml")


@runs_app.command("list")
def runs_list(
    folder: Annotated[Path, typer.Argument(help="Folder holding run folders.")] = Path("runs"),
    sort: Annotated[str, typer.Option("--sort", help="name, time, or a metric such as recall@20 "
                                      "(best first: test value, else best validation).")] = "name",
):
    """A table of the runs in a folder (or, if it holds none, in the folders inside it): loss,
    ratio, metrics, time and status.

    Example: recbce runs list runs --sort ndcg@20
    """
    from recbce.cli import views
    from recbce.runs import registry

    records = registry.sort_runs(registry.list_runs(folder), sort)
    if not records:
        console.print(f"no runs in {folder} nor in the folders inside it", highlight=False)
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

    from recbce.cli import views
    from recbce.runs.folder import RunFolder
    from recbce.runs.plots import metric_key

    record = RunFolder(run_dir).record()
    note = f": {escape(record.message)}" if record.message else ""
    updated = record.updated or "no run.json"
    console.print(f"{escape(str(record.path))}: {views.status(record)}{note} ({updated})", highlight=False)
    console.print(yaml.safe_dump(record.config, sort_keys=False).rstrip(), highlight=False, markup=False)
    if record.epoch_log:
        print_wide(views.epochs_table(record, metric_key(record)))
    if record.summary and "test" in record.summary:
        print_metrics({"model": record.summary["test"], "popularity": record.summary["popularity"]},
                      title="test metrics")


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
    no_data_check: Annotated[bool, typer.Option("--no-data-check", help="Do not require the data files "
                             "it names to exist and read.")] = False,
):
    """Check a config without training: exit 0 if valid and its data files exist (read from the
    current folder) and their first 1,000 rows read with its data settings; else one line naming
    the key, or the file and its line with the settings that read it, and exit 2.

    Example: recbce config validate configs/quickstart.yaml
    """
    from recbce.config import load_config
    from recbce.data.survey import check_data

    loaded = load_config(config, set_ or [])
    if not no_data_check:
        check_data(loaded, str(config), "pass --no-data-check")
    console.print(f"ok: {config} is valid (run folder {loaded.run_dir}, {loaded.train.epochs} epochs, "
                  f"loss {loaded.loss.name}, {loaded.sampler.kind} sampler)", highlight=False, soft_wrap=True)


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
    from recbce.data.dataset import describe

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
    name: Annotated[str, typer.Argument(help="ml-100k, ml-1m, ml-20m, ml-latest-small (GroupLens), or "
                                        "gowalla, yelp2018, amazon-book (the LightGCN splits).")],
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder (default $RECBCE_DATA "
                                               "or ~/.cache/recbce).")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Base URL serving the files.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Download a public data set, verify it, and print how to use it.

    GroupLens archives: the MD5 checked, unpacked safely; prints the ratings path.
    LightGCN splits: each line's shape and the published counts checked; prints the
    --set options that point configs/gowalla.yaml (or a copy) at the files.

    Example: recbce data fetch gowalla --cache data/cache
    """
    from recbce.data import fetch_splits
    from recbce.data.fetch import DATASETS, GROUPLENS, FetchError, fetch

    progress = show_progress(verbosity(ctx, quiet, False)[0])
    if name not in DATASETS and name not in fetch_splits.SPLITS:
        raise FetchError(f"unknown data set {name!r}; known: {', '.join(fetch_splits.known_names())}")
    if name in fetch_splits.SPLITS:
        train, test = fetch_splits.fetch_split(name, cache, mirror or fetch_splits.LIGHTGCN, progress)
        console.print(f"{train}\n{test}\nuse with: --set data.path={train} --set data.split.test_path={test}"
                      " (data.format adjacency, data.split.method predefined, as in configs/gowalla.yaml)",
                      highlight=False, soft_wrap=True, markup=False)
        return
    path = fetch(name, cache, mirror or GROUPLENS, progress=progress)
    console.print(f"{path}\nuse with: --set data.path={path}", highlight=False, soft_wrap=True, markup=False)


@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option("--out", help="Where to write the TSV.")] = Path("data/quickstart.tsv"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    users: Annotated[int, typer.Option("--users", min=1)] = 2000,
    items: Annotated[int, typer.Option("--items", min=2)] = 1000,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
):
    """Write the synthetic quickstart data set (planted tastes plus long-tail popularity).

    Example: recbce data generate --out data/quickstart.tsv --seed 0
    """
    from recbce import runs
    from recbce.data import synth
    from recbce.errors import DataError

    if out.exists() and not force:
        raise DataError(f"{out} exists: pass --force to replace it, or --out another file")
    frame = synth.generate(n_users=users, n_items=items, seed=seed)
    runs.write_text(out, frame.to_csv(sep="\t", header=False, index=False))
    console.print(f"wrote {len(frame):,} interactions to {out}")
