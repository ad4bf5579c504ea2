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
):
    """Top-K items per user, in the data's own ids, items the user has seen excluded.

    Needs the run folder only, not the data.

    Example: recbce recommend --run runs/quickstart --users 1,2 --k 5
    """
    from recbce.recommender import Recommender
    from recbce.recommender.export import write_frame

    if (users is None) == (not all_users):
        raise RecbceError("give --users ID[,ID...] or --all")
    frame = Recommender.load(run).recommend(None if all_users else split_ids(users, "--users"), k,
                                            exclude_seen=not include_seen,
                                            popular_fallback=popular_fallback)
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
