"""The commands that use a trained run from its folder alone: recommend, similar, export
(registered in recbce.cli.app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recbce.cli.console import console
from recbce.errors import RecbceError

RunOption = Annotated[Path, typer.Option("--run", "-r", help="A run folder written by `recbce train`.")]


def recommend(
    run: RunOption,
    users: Annotated[str | None, typer.Option("--users", help="Comma-separated user ids.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every known user.")] = False,
    k: Annotated[int, typer.Option("--k", min=1, help="Items per user.")] = 10,
    out: Annotated[Path | None, typer.Option("--out", help="Write .csv, .tsv or .parquet.")] = None,
    popular_fallback: Annotated[bool, typer.Option("--popular-fallback", help="Unknown users get the "
                                "most popular items (source 'popular', score = training count).")] = False,
    include_seen: Annotated[bool, typer.Option("--include-seen", help="Keep items the user already "
                            "had in the data.")] = False,
    history: Annotated[Path | None, typer.Option("--history", help="Users the run never trained: a CSV, "
                       "TSV or Parquet file of (user, item) rows, with a header; each user is folded "
                       "in from those items.")] = None,
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="--history: leave out items the "
                            "run never trained (a user left with none: --popular-fallback, else "
                            "refused).")] = False,
    steps: Annotated[int | None, typer.Option("--steps", min=0, help="--history: Adam steps per new "
                     "user (0: the mean of the items' vectors)  [default: 100]")] = None,
):
    """Top-K items per user, in the data's own ids, items the user has seen excluded.

    Needs the run folder only, not the data. With --history, users who arrived after
    training get the model's top-K from the items they had, without retraining.

    Example: recbce recommend --run runs/quickstart --users 1,2 --k 5
    Example: recbce recommend --run runs/quickstart --history new_users.csv --k 5
    """
    from recbce.recommender import Recommender
    from recbce.recommender.export import write_frame
    from recbce.recommender.fold_in import read_history_file

    if sum((users is not None, all_users, history is not None)) != 1:
        raise RecbceError("give one of --users ID[,ID...], --all or --history FILE")
    recommender = Recommender.load(run)
    if history is not None:
        options = {"exclude_given": not include_seen, "skip_unknown": skip_unknown,
                   "popular_fallback": popular_fallback} | ({} if steps is None else {"steps": steps})
        frame = recommender.recommend_for_history(read_history_file(history), k, **options)
    else:
        frame = recommender.recommend(None if all_users else split_ids(users, "--users"), k,
                                      exclude_seen=not include_seen, popular_fallback=popular_fallback)
    if out is not None:
        console.print(f"wrote {len(frame):,} recommendations to {write_frame(frame, out)}", highlight=False)
        return
    print_frame(frame, f"top {k}, {run}")


def similar(
    run: RunOption,
    items: Annotated[str, typer.Option("--items", help="Comma-separated item ids.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Similar items per item.")] = 10,
    out: Annotated[Path | None, typer.Option("--out", help="Write .csv, .tsv or .parquet.")] = None,
):
    """The items most like each given item: cosine of the exported item vectors.

    Example: recbce similar --run runs/quickstart --items 3,7 --k 5
    """
    from recbce.recommender import Recommender
    from recbce.recommender.export import write_frame

    frame = Recommender.load(run).similar_items(split_ids(items, "--items"), k)
    if out is not None:
        console.print(f"wrote {len(frame):,} rows to {write_frame(frame, out)}", highlight=False)
        return
    print_frame(frame, f"similar items, {run}")


def export(
    run: RunOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the vectors and ids into.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier export there.")] = False,
):
    """Write user and item vectors with their ids: user · item + item_bias reproduces recommend's scores.

    Example: recbce export --run runs/quickstart --out vectors/
    """
    from recbce.recommender import Recommender

    written = Recommender.load(run).export(out, overwrite)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if not any(path.suffix == ".parquet" for path in written):
        console.print("note: no Parquet files: pip install 'recbce\\[parquet]'", highlight=False)


def split_ids(text: str, option: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise RecbceError(f"{option}: give at least one id")
    return ids


def print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    score = list(frame.columns).index("score")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{value:.4f}" if i == score else str(value) for i, value in enumerate(row)))
    console.print(table)
