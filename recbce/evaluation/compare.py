"""Is run A really better than run B? Runs evaluated user by user on the same users, each
against a baseline: means with bootstrap intervals, the paired difference with its interval,
the paired t-test and Wilcoxon signed-rank test, Holm-adjusted over every comparison made.
Groups of runs (seeds) are compared by their per-run means. Formulas: README "Comparing runs".

    import recbce
    table = recbce.compare(["runs/a", "runs/b"], metrics=["recall@20"], out="runs/cmp")
"""

from __future__ import annotations

import glob
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recbce import runs
from recbce.config import RANKING_METRICS
from recbce.errors import ArgumentError, RecbceError, RunError
from recbce.evaluation import catalogue, stats
from recbce.evaluation.per_user import RunUsers, evaluate_users, recorded_data
from recbce.runs.folder import DATA_FILE

PER_USER = (*RANKING_METRICS, *catalogue.PER_LIST)
METRIC = re.compile(r"^([a-z]+)(?:@(\d+))?$")


def compare(run_dirs: list | None = None, groups: dict[str, str | list] | None = None, baseline=None,
            split: str = "test", metrics: list[str] | None = None, ks: list[int] | None = None,
            resamples: int = 2000, seed: int = 0, out=None, progress: bool = False) -> pd.DataFrame:
    """One row per (metric, run or group): runs compared user by user against `baseline`
    (default the first), or `groups` {name: glob or list of run folders} by their per-run means.
    With `out`, also writes compare.json and compare.csv there."""
    stats.require_scipy()
    check_arguments(run_dirs, groups, split, metrics, ks, resamples, seed)
    if groups is not None:
        table = compare_groups(groups, baseline, split, metrics, ks, progress)
    else:
        table = compare_runs(run_dirs, baseline, split, metrics, ks, resamples, seed, progress)
    if out is not None:
        write(table, Path(out), {"split": split, "resamples": resamples, "seed": seed})
    return table


def check_arguments(run_dirs, groups, split, metrics, ks, resamples, seed) -> None:
    """ArgumentError naming the first argument of the wrong type or value."""
    if (run_dirs is None) == (groups is None):
        raise ArgumentError("compare: give run folders or groups of runs, not both or neither")
    if run_dirs is not None and (isinstance(run_dirs, str | Path) or not isinstance(run_dirs, list | tuple)):
        raise ArgumentError(f"compare: run_dirs must be a list of run folders, not {run_dirs!r}")
    if groups is not None and not (isinstance(groups, dict) and all(isinstance(n, str) for n in groups)):
        raise ArgumentError(f"compare: groups must be {{name: glob or list of run folders}}, not {groups!r}")
    if split not in ("test", "valid"):
        raise ArgumentError(f"compare: split must be test or valid, not {split!r}")
    if metrics is not None and not (isinstance(metrics, list | tuple)
                                    and all(isinstance(m, str) for m in metrics)):
        raise ArgumentError(f"compare: metrics must be a list of names such as 'recall@20', not {metrics!r}")
    if ks is not None and not (isinstance(ks, list | tuple) and ks and all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks)):
        raise ArgumentError(f"compare: ks must be a list of integers >= 1, not {ks!r}")
    for name, value, least in (("resamples", resamples, 100), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ArgumentError(f"compare: {name} must be an integer >= {least}, not {value!r}")


def compare_runs(paths: list, baseline, split, wanted, ks, resamples, seed, progress) -> pd.DataFrame:
    paths = ordered(paths, baseline)
    if len(paths) < 2:
        raise RecbceError("compare: give at least two runs (or one run and --baseline)")
    same_data(paths)
    chosen, ks = metric_names(paths[0], wanted, ks, PER_USER)
    evaluated = [evaluate_users(p, split, ks, name=str(p))
                 for p in tqdm(paths, desc="evaluating runs", disable=not progress)]
    same_users(evaluated)
    rows = []
    for metric in chosen:
        values = np.column_stack([column(run, metric).to_numpy(dtype=float) for run in evaluated])
        replicates = stats.bootstrap_means(values, resamples, seed)
        low, high = stats.percentile_interval(replicates)
        diff_low, diff_high = stats.percentile_interval(replicates - replicates[:, :1])
        for i, run in enumerate(evaluated):
            row = {"metric": metric, "run": run.name, "n": len(values), "mean": float(values[:, i].mean()),
                   "mean_low": low[i], "mean_high": high[i], "baseline": evaluated[0].name}
            if i:
                p_t, p_rank = stats.paired_tests(values[:, i], values[:, 0])
                row |= {"diff": float(values[:, i].mean() - values[:, 0].mean()), "diff_low": diff_low[i],
                        "diff_high": diff_high[i], "p_t": p_t, "p_rank": p_rank,
                        "tests": "paired t, Wilcoxon signed-rank over users"}
            rows.append(row)
    return adjusted(pd.DataFrame(rows))


def compare_groups(groups: dict, baseline, split, wanted, ks, progress) -> pd.DataFrame:
    members = {name: group_paths(name, pattern) for name, pattern in groups.items()}
    names = ordered(list(members), baseline, "group")
    if len(names) < 2:
        raise RecbceError("compare: give at least two groups")
    same_data([path for name in names for path in members[name]])
    chosen, ks = metric_names(members[names[0]][0], wanted, ks, PER_USER + catalogue.OVER_LISTS)
    evaluated = {name: [evaluate_users(p, split, ks, per_user=False, name=str(p))
                        for p in tqdm(members[name], desc=f"evaluating {name}", disable=not progress)]
                 for name in names}
    rows = []
    for metric in chosen:
        base = evaluated[names[0]]
        for name in names:
            group = evaluated[name]
            mean, error = stats.mean_and_error([run.means[metric] for run in group])
            row = {"metric": metric, "run": name, "n": len(group), "mean": mean, "se": error,
                   "baseline": names[0]}
            if name != names[0]:
                row |= group_test(group, base, metric)
            rows.append(row)
    return adjusted(pd.DataFrame(rows))


def group_test(group: list[RunUsers], base: list[RunUsers], metric: str) -> dict:
    """Paired over seeds when both groups hold one run per seed, the same seeds, and same-seed
    runs held out the same pairs; Welch's t-test and Mann-Whitney U otherwise."""
    a = {run.seed: run for run in group}
    b = {run.seed: run for run in base}
    paired = (len(a) == len(group) and len(b) == len(base) and a.keys() == b.keys()
              and all(a[s].heldout == b[s].heldout for s in a))
    if paired:
        seeds = sorted(a)
        x, y = (np.array([side[s].means[metric] for s in seeds]) for side in (a, b))
        p_t, p_rank = stats.paired_tests(x, y)
        tests = "paired t, Wilcoxon signed-rank over seeds"
    else:
        x, y = (np.array([run.means[metric] for run in side]) for side in (group, base))
        p_t, p_rank = stats.unpaired_tests(x, y)
        tests = "Welch t, Mann-Whitney U over runs"
    return {"diff": float(x.mean() - y.mean()), "p_t": p_t, "p_rank": p_rank, "tests": tests}


def adjusted(table: pd.DataFrame) -> pd.DataFrame:
    """Holm over every comparison in the table, for each test separately."""
    for test in ("p_t", "p_rank"):
        if test not in table:
            table[test] = float("nan")
        table[f"{test}_holm"] = stats.holm(table[test].tolist())
    return table


def ordered(items: list, baseline, kind: str = "run") -> list:
    """The items with the baseline first (added if it is not among them)."""
    items = [Path(i) if kind == "run" else i for i in items]
    if baseline is None:
        return items
    key = (lambda i: Path(i).resolve()) if kind == "run" else (lambda i: i)
    base = Path(baseline) if kind == "run" else baseline
    if kind == "group" and base not in items:
        raise RecbceError(f"compare: --baseline {baseline} is not one of the groups ({', '.join(items)})")
    return [base] + [i for i in items if key(i) != key(base)]


def group_paths(name: str, pattern) -> list[Path]:
    """The run folders of a group: a glob pattern's matching folders, or a list of folders."""
    found = (sorted(glob.glob(pattern)) if isinstance(pattern, str) else list(pattern))
    paths = [Path(p) for p in found if Path(p).is_dir()]
    if not paths:
        raise RecbceError(f"compare: group {name} ({pattern}) matches no run folder")
    return paths


def metric_names(first_run: Path, wanted: list[str] | None, ks: list[int] | None,
                 allowed: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """(metric@K names compared, cut-offs to evaluate). A name without @K is taken at every K
    of `ks` (default: the first run's eval.k); default name: the first run's eval.metric."""
    config, _ = runs.RunFolder(first_run).load()
    ks_given = sorted(set(ks or config.eval.k))
    chosen = []
    for name in wanted or [config.eval.metric if ks is None else config.eval.metric.split("@")[0]]:
        match = METRIC.match(name.strip().lower())
        if not match or match.group(1) not in allowed:
            raise RecbceError(f"compare: unknown metric {name!r} (one of {', '.join(allowed)}, "
                              "with @K or alone for every --k)")
        base, k = match.groups()
        chosen += [f"{base}@{k}"] if k else [f"{base}@{cut}" for cut in ks_given]
    if any(int(name.split("@")[1]) < 1 for name in chosen):
        raise RecbceError("compare: every K must be >= 1")
    chosen = list(dict.fromkeys(chosen))
    return chosen, sorted({int(name.split("@")[1]) for name in chosen})


def column(run: RunUsers, metric: str) -> pd.Series:
    if metric not in run.table:
        raise RunError(f"{run.path}: no per-user {metric} from this run's evaluation")
    return run.table[metric]


def same_data(paths: list[Path]) -> None:
    """Before any evaluation: RunError for a missing run folder, or naming two runs' data.json
    if they record different data files (older runs without one are left to the pair check)."""
    recorded = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"run directory not found: {path}")
        recorded.append((path, recorded_data(path)))
    first = next(((path, data) for path, data in recorded if data), None)
    for path, data in recorded:
        if first is not None and data and data != first[1]:
            raise RunError(f"{path / DATA_FILE} and {first[0] / DATA_FILE} record different data "
                           "files (their fingerprints differ): compare runs trained on the same data")


def same_users(evaluated: list[RunUsers]) -> None:
    """RunError unless every run held out the same (user, item) pairs as the first."""
    first = evaluated[0]
    for run in evaluated[1:]:
        if run.heldout != first.heldout or not run.table.index.equals(first.table.index):
            raise RunError(f"{run.path} and {first.path} hold out different pairs (another seed or "
                           "split): a paired comparison needs the same users; use groups for seeds")


def write(table: pd.DataFrame, out: Path, settings: dict) -> None:
    """compare.csv (the table) and compare.json (settings and rows; NaN as null) in `out`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot write {out}: {err.strerror or err}") from None
    runs.write_text(out / "compare.csv", table.to_csv(index=False))
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]
    runs.write_json(out / "compare.json", settings | {"rows": rows})
