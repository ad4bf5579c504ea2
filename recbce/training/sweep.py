"""Sweeps: train every combination of a grid of config values, then tabulate and plot them.

Each combination is a normal run (its own folder under the sweep folder, named
from its grid values). A combination that fails (an impossible config such as
bce_pos_only with negatives, a data error, a crash) becomes a row with its
one-line error: the sweep goes on, and the table shows what did not run.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from recbce import runs, yaml_loader
from recbce.config import Config, apply_override, load_config, metric_names, read_yaml, set_key, validate
from recbce.errors import ConfigError, RecbceError
from recbce.runs.contents import METRICS_FILE
from recbce.runs.plots import require_matplotlib, write_png
from recbce.training.checkpoint import Interrupted

PLOT_SIZE = (7.0, 4.5)  # inches, at PLOT_DPI: a 700 x 450 PNG
PLOT_DPI = 100
# `0.01:0.1` or `1:16` (which YAML would even read as the number 76): a range, not a value
RANGE = re.compile(r"^[-+]?[\d._]+(e[-+]?\d+)?(:[-+]?[\d._]+(e[-+]?\d+)?)+$", re.IGNORECASE)


@dataclass
class Outcome:
    """One grid point: its values, its run folder, and what came out."""

    values: dict[str, object]
    name: str
    status: str = "pending"  # finished | failed
    selection: str = ""  # the run's eval.metric, which picks its epoch and the sweep's run
    valid: dict[str, float] = field(default_factory=dict)  # each metric's best validation value
    test: dict[str, float] = field(default_factory=dict)
    test_se: dict[str, float] = field(default_factory=dict)  # standard error over test users
    train_seconds: float | None = None
    examples_per_s: float | None = None
    error: str = ""


def parse_grid(specs: list[str]) -> dict[str, list]:
    """`key=v1,v2,...` per spec into {key: [values]}, each value read as YAML (so 4 is an int)."""
    grid: dict[str, list] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"--grid {spec!r}: expected KEY=V1,V2,..., e.g. sampler.ratio=1,4,16")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice")
        texts = [v.strip() for v in values.split(",") if v.strip()]
        for text in texts:
            if RANGE.match(text):
                raise ConfigError(f"--grid {key}={text}: a grid takes a list of values, not a range; "
                                  f"list them, e.g. {key}={text.replace(':', ',')}")
        grid[key] = [_scalar(text) for text in texts]
    if not grid:
        raise ConfigError("give at least one --grid KEY=V1,V2,...")
    return grid


def _scalar(text: str):
    try:
        return yaml_loader.load(text)
    except yaml_loader.YamlError:
        return text


def expand(grid: dict[str, list]) -> list[dict[str, object]]:
    """Every combination, the last key varying fastest."""
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_name(values: dict[str, object]) -> str:
    """A folder name from the grid values: `loss.name=bpr, sampler.ratio=4` -> `name-bpr_ratio-4`."""
    parts = [f"{key.split('.')[-1]}-{value}" for key, value in values.items()]
    return re.sub(r"[^A-Za-z0-9._=-]", "_", "_".join(parts))


def run_sweep(base: Path, grid: dict[str, list], overrides: list[str], out: Path,
              overwrite: bool = False, progress: bool = True, log=print) -> list[Outcome]:
    """Train every grid point under `out`; a failing point is recorded, never raised."""
    from recbce.training.loop import train  # torch-heavy: imported when a sweep really runs

    outcomes = [Outcome(values, run_name(values)) for values in expand(grid)]
    configs = check_cells(base, overrides, outcomes, out)  # every cell before any trains
    existing = [o.name for o in outcomes if (out / o.name).exists()]
    if existing and not overwrite:
        raise RecbceError(f"run directory {out / existing[0]} exists: pass --overwrite to replace it")
    for index, (outcome, config) in enumerate(zip(outcomes, configs, strict=True), 1):
        log(f"[{index}/{len(outcomes)}] {cell_label(outcome)}")
        outcome.selection = config.eval.metric
        try:
            summary = train(config, overwrite=overwrite, progress=progress, log=log)
        except Interrupted:  # Ctrl-C or SIGTERM stops the whole sweep, not one run
            raise
        except Exception as err:  # a bad config or a crash in one run must not hide the others
            fail(outcome, err, log)
            continue
        record(outcome, summary, out / outcome.name)
        if config.eval.protocol == "full":  # a sampled protocol has no per-user ranking to spread
            from recbce.evaluation.per_user import mean_and_error

            outcome.test_se = {m: se for m, (_, se) in mean_and_error(out / outcome.name).items()}
    return outcomes


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each grid key by its last part (`sampler.ratio` -> `ratio`), in full where two would
    read the same."""
    last = [key.split(".")[-1] for key in keys]
    return {key: name if last.count(name) == 1 else key for key, name in zip(keys, last, strict=True)}


def cell_label(outcome: Outcome) -> str:
    return ", ".join(f"{key}={value}" for key, value in outcome.values.items())


def check_cells(base: Path, overrides: list[str], outcomes: list[Outcome], out: Path) -> list[Config]:
    """Every cell's config; the first invalid one stops the sweep before anything is trained."""
    configs = []
    for index, outcome in enumerate(outcomes, 1):
        try:
            configs.append(point_config(base, overrides, outcome, out))
        except ConfigError as err:
            raise ConfigError(f"grid cell {index}/{len(outcomes)} ({cell_label(outcome)}): {err}; "
                              "no run was started") from None
    return configs


def point_config(base: Path, overrides: list[str], outcome: Outcome, out: Path) -> Config:
    """The base config with the --set overrides, this point's values and its run folder;
    an error names the --set or --grid value it comes from."""
    raw = read_yaml(base)
    raw = raw if isinstance(raw, dict) else {}  # anything else failed in plot_metric already
    blame = {apply_override(raw, override): f"--set {override!r}" for override in overrides}
    for key, value in outcome.values.items():
        blame[key] = f"--grid {key}={value}"
        set_key(raw, key, value, blame[key])
    set_key(raw, "run.dir", str(out))
    set_key(raw, "run.name", outcome.name)
    return validate(raw, str(base), blame)


def fail(outcome: Outcome, err: Exception, log) -> None:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    outcome.status, outcome.error = "failed", text
    log(f"  failed: {text}")


def record(outcome: Outcome, summary: dict, run_dir: Path) -> None:
    """Test metrics from the summary; training time and throughput from the epoch log."""
    epochs = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    outcome.status, outcome.test = "finished", summary["test"]
    validated = dict.fromkeys(key for e in epochs for key in e if key.startswith("valid/"))
    outcome.valid = {key.removeprefix("valid/"): max(e[key] for e in epochs if key in e) for key in validated}
    outcome.train_seconds = round(sum(e["seconds"] for e in epochs), 3)
    # every epoch scores the same number of pairs, so the overall rate is the harmonic mean
    outcome.examples_per_s = round(len(epochs) / sum(1 / e["examples_per_s"] for e in epochs))


def picked(outcomes: list[Outcome]) -> Outcome | None:
    """The run validation picks: the best validation value of eval.metric among the finished
    runs (the first of equals); None without validation, or if the cells select on different
    metrics."""
    finished = [o for o in outcomes if o.status == "finished"]
    scored = [o for o in finished if o.selection in o.valid]
    if not scored or len({o.selection for o in finished}) > 1:
        return None
    return max(scored, key=lambda o: o.valid[o.selection])


def table_rows(outcomes: list[Outcome], metric: str | None = None) -> tuple[list[str], list[list]]:
    """Header and rows: grid values, status, validation's pick, the best validation value of
    eval.metric (and of `metric`), every test metric, the standard error over test users of
    `metric`, train seconds, examples/s, error."""
    keys = list(outcomes[0].values) if outcomes else []
    valid = list(dict.fromkeys([*(o.selection for o in outcomes if o.selection), *[metric] * bool(metric)]))
    metrics = list(dict.fromkeys(m for o in outcomes for m in o.test))
    best = picked(outcomes)
    spread = [metric] if metric and any(metric in o.test_se for o in outcomes) else []
    header = ["run", *keys, "status", "picked", *(f"valid/{m}" for m in valid), *metrics,
              *(f"{m}_se" for m in spread), "train_s", "examples_per_s", "error"]
    rows = [[o.name, *(o.values[k] for k in keys), o.status, "yes" if o is best else "",
             *(o.valid.get(m) for m in valid), *(o.test.get(m) for m in metrics),
             *(o.test_se.get(m) for m in spread), o.train_seconds, o.examples_per_s, o.error]
            for o in outcomes]
    return header, rows


def to_markdown(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):  # a weight decay of 1e-5 must not read 0.0000
            if 0 < abs(value) < 1e-3:
                return f"{value:.3g}"
            return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value).replace("|", "\\|")

    def line(cells) -> str:
        return "| " + " | ".join(map(cell, cells)) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)]) + "\n"


def to_csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def write_tables(outcomes: list[Outcome], out: Path, metric: str | None = None) -> tuple[Path, Path]:
    """sweep.md and sweep.csv in `out`, made if no run got as far as making it."""
    header, rows = table_rows(outcomes, metric)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RecbceError(f"cannot create the sweep folder {out}: {err.strerror or err}") from None
    runs.write_text(out / "sweep.md", to_markdown(header, rows))
    runs.write_text(out / "sweep.csv", to_csv(header, rows))
    return out / "sweep.md", out / "sweep.csv"


def plot_axes(grid: dict[str, list]) -> tuple[str, list[str]]:
    """The x key (the last key whose values are all numbers, else the last key) and the line keys."""
    numeric = [k for k, vs in grid.items() if all(_is_number(v) for v in vs)]
    x_key = numeric[-1] if numeric else list(grid)[-1]
    return x_key, [k for k in grid if k != x_key]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plot(outcomes: list[Outcome], grid: dict[str, list], metric: str, path: Path) -> Path:
    """PNG of `metric` against the varied numeric key, one line per value of the other keys."""
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    x_key, line_keys = plot_axes(grid)
    numeric_x = all(_is_number(v) for v in grid[x_key])
    figure = Figure(figsize=PLOT_SIZE, dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    lines: dict[str, list[tuple]] = {}
    for o in outcomes:
        if o.status == "finished" and metric in o.test:
            label = ", ".join(f"{k}={o.values[k]}" for k in line_keys) or metric
            x = o.values[x_key] if numeric_x else grid[x_key].index(o.values[x_key])
            lines.setdefault(label, []).append((x, o.test[metric]))
    for label, points in lines.items():
        points.sort()
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    xs = [v for v in grid[x_key] if _is_number(v) and v > 0]
    if numeric_x and xs and max(xs) >= 8 * min(xs):  # ratios like 1, 4, 16: spread them out
        axes.set_xscale("symlog", linthresh=min(xs))
    ticks = grid[x_key] if numeric_x else range(len(grid[x_key]))
    axes.set_xticks(list(ticks), [str(v) for v in grid[x_key]])  # the grid's own values, not 10^k
    axes.set_xlabel(x_key)
    axes.set_ylabel(f"test {metric}")
    axes.grid(alpha=0.3)
    if lines:
        axes.legend(fontsize="small")
    return write_png(figure, path)


def plot_metric(base: Path, overrides: list[str], metric: str | None) -> str:
    """The metric to plot (default: the base config's eval.metric), checked before any run starts."""
    config = load_config(base, overrides)
    if metric is None:
        return config.eval.metric
    names = metric_names(config.eval)
    if metric not in names:
        raise ConfigError(f"--metric {metric!r} is not computed; choose one of {', '.join(names)}")
    return metric
