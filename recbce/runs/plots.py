"""Training curves as PNG: loss, the validation metric and examples/s per epoch.

matplotlib is an optional extra (`pip install 'recbce[plot]'`). Figures are
drawn on matplotlib's object API with the Agg canvas (no pyplot, no global
figure state, no display needed) and written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

from recbce import runs
from recbce.errors import MissingExtra, RunError
from recbce.runs.contents import CURVES_FILE
from recbce.runs.registry import RunRecord

FIGSIZE = (12.0, 3.6)  # inches; with DPI this fixes the PNG at 1200 x 360 pixels
DPI = 100
INSTALL_HINT = "pip install 'recbce[plot]'"


def require_matplotlib():
    """Figure, the Agg canvas and an integer tick locator; else one line saying how to install."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise MissingExtra(f"plots need matplotlib: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg, MaxNLocator


def plot_runs(run_dirs: list[Path], out: Path) -> Path:
    """Overlay the curves of one or more run folders in one PNG at `out`."""
    records = [runs.RunFolder(path).record() for path in run_dirs]
    for record in records:
        if not record.epoch_log:
            raise RunError(f"{record.path}: no finished epoch to plot (metrics.jsonl is empty)")
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot write {out}: {err.strerror or err}") from None
    return draw(records, out)


def save_training_curves(run_dir: Path) -> str | None:
    """At the end of training: the path of the run's curves.png, or None without matplotlib
    (training never fails for want of a picture; the CLI says how to get one)."""
    try:
        require_matplotlib()
    except MissingExtra:
        return None
    return str(plot_runs([run_dir], Path(run_dir) / CURVES_FILE))


def draw(records: list[RunRecord], out: Path) -> Path:
    Figure, FigureCanvasAgg, MaxNLocator = require_matplotlib()
    # fixed margins: the constrained layout engine drew the same picture at twice the cost,
    # and every training run draws one
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.13, top=0.84, wspace=0.3)
    loss_axes, metric_axes, speed_axes = figure.subplots(1, 3)
    metrics = sorted({r.metric for r in records})
    for record in records:
        label = record.name if len(records) > 1 else None
        epochs = [r["epoch"] for r in record.epoch_log]
        loss_axes.plot(epochs, [r["loss"] for r in record.epoch_log], marker=".", label=label)
        speed_axes.plot(epochs, [r["examples_per_s"] for r in record.epoch_log], marker=".", label=label)
        key = metric_key(record)
        evaluated = [r for r in record.epoch_log if key in r]
        metric_axes.plot([r["epoch"] for r in evaluated], [r[key] for r in evaluated], marker="o",
                         label=label)
    split = "test" if all(metric_key(r).startswith("test/") for r in records) else "validation"
    titles = ("training loss", f"{split} {' / '.join(metrics)}", "examples/s (positives + negatives)")
    for axes, title in zip((loss_axes, metric_axes, speed_axes), titles, strict=True):
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    # plain numbers: matplotlib's "1e7" offset text would sit on the examples/s title
    speed_axes.ticklabel_format(axis="y", style="plain", useOffset=False)
    if len(records) > 1:
        loss_axes.legend(fontsize="small")
    else:
        figure.suptitle(records[0].name)
    return write_png(figure, out)


def write_png(figure, out: Path) -> Path:
    """Render to memory, then write atomically: a crash never leaves half a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    runs.write_bytes(out, buffer.getvalue())
    return out


def reliability_diagram(table: dict, ece: float, out: Path, adaptive_ece: float | None = None) -> Path:
    """Observed positive rate against mean predicted σ(ŷ) per bin, with the diagonal; each
    point labelled with its bin's pair count (a sparse bin swings as loudly as a dense one)."""
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    figure = Figure(figsize=(4.5, 4.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    used = table["count"] > 0
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    adaptive = f", equal-mass {adaptive_ece:.4f}" if adaptive_ece is not None else ""
    x, y = table["predicted"][used].numpy(), table["observed"][used].numpy()
    axes.plot(x, y, marker="o", label=f"model (ECE {ece:.4f}{adaptive})")
    for px, py, n in zip(x, y, table["count"][used].long().tolist(), strict=True):
        axes.annotate(f"{n:,}", (px, py), textcoords="offset points", xytext=(4, -10), fontsize=6)
    axes.set_xlabel("mean predicted σ(ŷ) in bin")
    axes.set_ylabel("observed interaction rate in bin")
    axes.set_title("reliability diagram")
    axes.legend(loc="upper left")
    return write_png(figure, Path(out))


def metric_key(record: RunRecord) -> str:
    """The epoch log key of the run's selection metric: valid/<m>, or test/<m> without a valid split."""
    valid = f"valid/{record.metric}"
    if any(valid in r for r in record.epoch_log):
        return valid
    return f"test/{record.metric}"
