"""`recbce compare` (registered in recbce.cli.app): parse, call recbce.evaluation.compare, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recbce.cli.console import console, parse_ks, print_wide, show_progress, verbosity
from recbce.errors import RecbceError


def compare(
    ctx: typer.Context,
    run_dirs: Annotated[list[Path] | None, typer.Argument(help="Run folders; the first is the baseline "
                                                          "unless --baseline names one.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="NAME=GLOB: a group of runs (seeds), "
                                                    "e.g. --group A='runs/a-*'; repeat.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="The run (or group name) every "
                                                 "other is compared with.")] = None,
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="recall@20, or recall for "
                                                     "every --k; repeat (default: eval.metric).")] = None,
    k: Annotated[str | None, typer.Option("--k", help="Comma-separated cut-offs for metrics named "
                                          "without @K.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for compare.json and "
                                             "compare.csv.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples of users.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
):
    """Is one run really better than another? Paired tests over the same users, Holm-adjusted.

    Example: recbce compare runs/a runs/b --metric recall@20 --metric ndcg@20 --out runs/cmp

    Seeds: recbce compare --group A='runs/a-*' --group B='runs/b-*' --metric hr@10
    """
    from recbce.evaluation.compare import compare as compare_runs

    groups = parse_groups(group) if group else None
    table = compare_runs(run_dirs or None, groups, baseline,
                         split, metric, parse_ks(k) if k else None, resamples, seed, out,
                         progress=show_progress(verbosity(ctx, quiet, False)[0]))
    print_wide(compare_table(table, f"{split}: each against {table['baseline'].iloc[0]}"))
    if out is not None:
        console.print(f"wrote {out / 'compare.json'} and {out / 'compare.csv'}", highlight=False)


def parse_groups(options: list[str]) -> dict[str, str]:
    groups: dict[str, str] = {}
    for option in options:
        name, sep, pattern = option.partition("=")
        if not sep or not name.strip() or not pattern.strip():
            raise RecbceError(f"--group must be NAME=GLOB, not {option!r}")
        if name.strip() in groups:
            raise RecbceError(f"--group {name.strip()} is given twice")
        groups[name.strip()] = pattern.strip()
    return groups


def compare_table(frame, title: str) -> Table:
    """One row per metric and run: mean (95% interval or ± standard error), the difference
    from the baseline, and the two tests' Holm-adjusted p-values."""
    by_group = "se" in frame
    table = Table(title=title, caption=caption(frame))
    for column in ("metric", "run", "n", "mean ± se" if by_group else "mean [95% CI]",
                   "diff" if by_group else "diff [95% CI]", "p t (Holm)", "p rank (Holm)"):
        table.add_column(column, justify="left" if column in ("metric", "run") else "right")
    for row in frame.to_dict(orient="records"):
        base = row["run"] == row["baseline"]
        mean = (f"{row['mean']:.4f} ± {row['se']:.4f}" if by_group
                else f"{row['mean']:.4f} [{row['mean_low']:.4f}, {row['mean_high']:.4f}]")
        diff = "" if base else (f"{row['diff']:+.4f}" if by_group else
                                f"{row['diff']:+.4f} [{row['diff_low']:+.4f}, {row['diff_high']:+.4f}]")
        table.add_row(row["metric"], row["run"], str(row["n"]), mean, diff,
                      "" if base else p_value(row["p_t_holm"]), "" if base else p_value(row["p_rank_holm"]))
    return table


def caption(frame) -> str:
    tests = sorted({t for t in frame.get("tests", []) if isinstance(t, str)})
    return "; ".join(tests) + "; p adjusted by Holm over every comparison shown" if tests else ""


def p_value(p: float) -> str:
    return "nan" if p != p else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")
