"""Reading run folders back for people: what ran, how it went, how runs compare.

A run is read as raw files (config.yaml, run.json, metrics.jsonl, summary.json),
not re-validated, so runs made by older versions, or stopped half-way, still list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from recbce.config import read_yaml
from recbce.errors import RunError
from recbce.runs.contents import CONFIG_FILE, METRICS_FILE, STATUS_FILE, SUMMARY_FILE
from recbce.runs.status import effective_status, read_status


@dataclass
class RunRecord:
    path: Path
    status: str = "unknown"
    message: str = ""
    updated: str = ""
    config: dict = field(default_factory=dict)
    epoch_log: list[dict] = field(default_factory=list)
    summary: dict | None = None
    label: str = ""  # its name in a listing, when more than the folder's own name

    @property
    def name(self) -> str:
        return self.label or self.path.name

    @property
    def metric(self) -> str:
        """The run's model-selection metric (eval.metric)."""
        return section(self.config, "eval").get("metric", "ndcg@20")

    def best_valid(self, metric: str | None = None) -> float | None:
        """The best validation value of `metric` over the epochs (the metric that picks the model)."""
        key = f"valid/{metric or self.metric}"
        values = [record[key] for record in self.epoch_log if key in record]
        return max(values) if values else None

    def test(self, metric: str | None = None) -> float | None:
        return ((self.summary or {}).get("test") or {}).get(metric or self.metric)

    @property
    def seconds(self) -> float | None:
        if self.summary and "train_seconds" in self.summary:
            return self.summary["train_seconds"]
        return sum(r.get("seconds", 0.0) for r in self.epoch_log) if self.epoch_log else None


def section(config: dict, name: str) -> dict:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in (STATUS_FILE, CONFIG_FILE))


def read_run(run_dir: str | Path) -> RunRecord:
    """Everything a run folder records; RunError if it is not a run or a file is damaged."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"run directory not found: {path}")
    if not is_run(path):
        raise RunError(f"{path}: not a run folder (no run.json or config.yaml)")
    record = RunRecord(path=path, config=_read_yaml(path / CONFIG_FILE) or {},
                       epoch_log=_read_jsonl(path / METRICS_FILE),
                       summary=_read_summary(path / SUMMARY_FILE))
    status = read_status(path)
    if status is not None:
        record.status = effective_status(status)
        record.message = str(status.get("message", ""))
        record.updated = str(status.get("updated", ""))
    elif record.summary is not None:  # runs from before run.json existed
        record.status = "finished"
    return record


def list_runs(root: str | Path) -> list[RunRecord]:
    """Every run folder directly inside `root`, by name; if there is none, those one level
    down (`.` holding runs/, or a folder of sweeps), named by their path below `root`.
    A damaged one is listed as such."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"runs folder not found: {root}")
    paths = run_folders(root)
    if not paths:
        inside = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        paths = [run for folder in inside for run in run_folders(folder)]
    records = []
    for path in paths:
        try:
            record = read_run(path)
        except RunError as err:
            record = RunRecord(path=path, status="damaged", message=str(err))
        record.label = str(path.relative_to(root))
        records.append(record)
    return records


def run_folders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if is_run(p))
    except OSError:  # a folder we may not read: it holds no run of ours
        return []


def sort_runs(records: list[RunRecord], key: str) -> list[RunRecord]:
    """By name, time (fastest first) or a metric (best first: test value, else best validation)."""
    if key == "name":
        return sorted(records, key=lambda r: r.name)
    if key == "time":
        return sorted(records, key=lambda r: (r.seconds is None, r.seconds or 0.0))
    values = {id(r): metric_value(r, key) for r in records}
    if records and all(v is None for v in values.values()):
        known = sorted({m for r in records for m in ((r.summary or {}).get("test") or {})})
        raise RunError(f"--sort {key!r}: no run has this metric; use name, time or one of "
                       f"{', '.join(known) or 'the metrics of a finished run'}")
    return sorted(records, key=lambda r: (values[id(r)] is None, -(values[id(r)] or 0.0)))


def metric_value(record: RunRecord, metric: str) -> float | None:
    value = record.test(metric)
    return value if value is not None else record.best_valid(metric)


def _read_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{path}: damaged (not valid JSON)") from None


def _read_summary(path: Path) -> dict | None:
    summary = _read_json(path)
    # test and popularity are absent where the run left test unscored (a tuner's trial)
    if summary is not None and not (isinstance(summary, dict)
                                    and isinstance(summary.get("test", {}), dict)
                                    and isinstance(summary.get("popularity", {}), dict)):
        raise RunError(f"{path}: damaged (not a recbce summary: expected test and popularity metrics)")
    return summary


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise RunError(f"{path}: line {number} is not valid JSON") from None
        if not (isinstance(record, dict) and all(isinstance(record.get(key), int | float) for key in
                                                 ("epoch", "loss", "seconds", "examples_per_s"))):
            raise RunError(f"{path}: line {number} is not an epoch record")
        records.append(record)
    return records


def _read_yaml(path: Path):
    if not path.is_file():
        return None
    loaded = read_yaml(path, RunError)
    return loaded if isinstance(loaded, dict) else None
