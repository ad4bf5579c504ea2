"""Training seconds to test Recall@20 0.15 and 0.18 on Gowalla with the shipped best recipe.

Runs the real CLI: `recbce train --config configs/gowalla-best.yaml` on all of train
(`valid_ratio 0`), test evaluated after every epoch, no early stop, `EPOCHS` epochs (10 by
default: the last benchmark run of the peers crossed 0.18 at epoch 8). The seconds are
the epochs' own training seconds from the run's metrics.jsonl (evaluation not counted),
summed. Writes bench/results/time_to_target.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.measure import load_average
from recbce import runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = "configs/gowalla-best.yaml"
TARGETS = (0.15, 0.18)
EPOCHS = int(os.environ.get("TIME_TO_TARGET_EPOCHS", "10"))
COMMAND = "make bench ONLY=time_to_target  (or: python -m bench.bench_time_to_target)"


def train(folder: Path) -> list[dict]:
    """The metrics.jsonl rows of one time run of the shipped best recipe."""
    sets = ["data.split.valid_ratio=0", "train.eval_every=1", "train.patience=0",
            f"train.epochs={EPOCHS}", f"run.dir={folder}", "run.name=time"]
    command = [sys.executable, "-m", "recbce", "train", "--config", CONFIG, "-q"]
    for setting in sets:
        command += ["--set", setting]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    lines = (folder / "time" / "metrics.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if "test/recall@20" in row and "seconds" in row]


def first_reaching(rows: list[dict], target: float) -> tuple[int, float] | None:
    """(epoch, cumulative training seconds) of the first epoch at or above `target`."""
    seconds = 0.0
    for row in rows:
        seconds += row["seconds"]
        if row["test/recall@20"] >= target:
            return row["epoch"], seconds
    return None


def main() -> None:
    if not (ROOT.parent / "shared" / "data" / "gowalla" / "train.txt").exists():
        print("skipped: ../shared/data/gowalla not found")
        return
    load = load_average()
    with tempfile.TemporaryDirectory() as folder:
        rows = train(Path(folder))
    reached = {t: first_reaching(rows, t) for t in TARGETS}
    said = {t: (f"{r[1]:.1f} s (epoch {r[0]})" if r else f"not within {EPOCHS} epochs")
            for t, r in reached.items()}
    table = "\n".join(f"| {row['epoch']} | {row['seconds']:.1f} | {row['test/recall@20']:.4f} |"
                      for row in rows)
    text = f"""## Training time to test Recall@20 0.15 and 0.18 (`bench_time_to_target.py`)

Command: `{COMMAND}`. `recbce train --config {CONFIG}` on all of Gowalla's train
(valid_ratio 0), test Recall@20 after every epoch, no early stop, {EPOCHS} epochs; seconds
are training only (metrics.jsonl), summed over epochs. Load average {load:.1f} on
{os.cpu_count()} cores at the start.

- to Recall@20 ≥ 0.15: {said[0.15]} (issue 27's target: under 10 s)
- to Recall@20 ≥ 0.18: {said[0.18]}

| epoch | training s | test Recall@20 |
|---:|---:|---:|
{table}
"""
    runs.write_text(HERE / "results" / "time_to_target.md", text)
    print(text)


if __name__ == "__main__":
    main()
