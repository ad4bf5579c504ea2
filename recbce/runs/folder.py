"""A run folder as one object (`RunFolder`): its files' paths (recbce.runs.contents names them),
its status, the claim and lock a training takes, and the records a run writes and reads back.

    folder = RunFolder("runs/quickstart")
    folder.status(), folder.record(), folder.load()   # run.json, the run's record, its model dict
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from recbce.config import Config, load_config, read_yaml, to_yaml, validate
from recbce.data import fingerprint
from recbce.data.layout import resolved
from recbce.errors import DataChanged, RunError
from recbce.runs import claim as claiming
from recbce.runs import status as statuses
from recbce.runs.contents import (
    CONFIG_FILE,
    DATA_FILE,
    EVALUATION_FILE,
    MODEL_FILE,
    RELIABILITY_FILE,
    STATUS_FILE,
    SUMMARY_FILE,
)
from recbce.runs.files import first_line, save_torch, write_json, write_text
from recbce.runs.lock import RunLock
from recbce.runs.registry import RunRecord, read_run


@dataclass(frozen=True)
class RunFolder:
    """One run's folder: its status, the claim, its config, data record, model and record, the
    evaluation files. The training's own streams (metrics.jsonl, checkpoint.pt, inference.pt,
    summary.json, curves.png) are written by the parts that make them, at paths from contents."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # The status (run.json) and the claim: recbce.runs.status and recbce.runs.claim.
    def status(self) -> dict | None:
        return statuses.read_status(self.path)

    def mark(self, status: str, message: str = "") -> None:
        statuses.write_status(self.path, status, message)

    def is_finished(self) -> bool:
        return statuses.is_finished(self.path)

    def check_claimable(self, overwrite: bool) -> None:
        claiming.check_claimable(self.path, overwrite)

    def claim(self, overwrite: bool) -> RunLock:
        return claiming.claim(self.path, overwrite)

    def reclaim(self) -> RunLock:
        return claiming.reclaim(self.path)

    def evaluation_file(self, split: str) -> Path:
        return self.path / EVALUATION_FILE.format(split=split)

    def reliability_plot(self, split: str) -> Path:
        return self.path / RELIABILITY_FILE.format(split=split)

    def record(self) -> RunRecord:
        """What `runs list` and `runs show` read: status, config, epoch log, summary."""
        return read_run(self.path)

    def write_config(self, config: Config) -> None:
        """config.yaml: the config as the run read its data (data.header auto decided, the columns
        found by name written in), so that a resume or an evaluation reads it the same way."""
        as_read = config.model_copy(update={"data": resolved(config.data)})
        write_text(self.path / CONFIG_FILE, to_yaml(as_read))

    def config_to_resume(self) -> Config:
        """The run's config, for --resume: the run continues in the folder where
        it is now, even if it was moved after it started (its config.yaml names the old place)."""
        config = load_config(self.path / CONFIG_FILE)
        if config.run_dir.resolve() != self.path.resolve():
            place = config.run.model_copy(update={"dir": str(self.path.parent), "name": self.path.name})
            config = config.model_copy(update={"run": place})
        return config

    def nothing_to_resume(self, config: Config) -> bool:
        """Whether the run finished with nothing left to train: its config asks for no epoch beyond
        those trained, or it stopped early. A finished run whose config.yaml was given more epochs
        resumes (and trains them)."""
        if not self.is_finished():
            return False
        try:
            summary = json.loads((self.path / SUMMARY_FILE).read_text())
            return bool(summary.get("stopped")) or summary["epochs"] >= config.train.epochs
        except (OSError, ValueError, KeyError, TypeError):  # a damaged summary: resuming rewrites it
            return False

    def write_data_record(self, prints: list[dict]) -> None:
        """data.json: the fingerprint of every data file the run read (recbce.data.fingerprint)."""
        write_json(self.path / DATA_FILE, {"files": prints})

    def check_data_unchanged(self, config: Config, accept: str | None = None,
                             current: list[dict] | None = None, moved: dict[str, str] | None = None) -> None:
        """DataChanged naming the file if the run's data changed since data.json was written.
        `accept`: the flag that lets the caller go on anyway (named in the error), if any;
        `current`: the files' fingerprints if already taken; `moved`: {path now: path recorded}
        for data read from a new place (evaluate --data)."""
        path = self.path / DATA_FILE
        if not path.is_file():
            return  # a run from before data.json: nothing to compare with
        try:
            recorded = json.loads(path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            raise RunError(f"{path}: damaged (not a recbce data record)") from None
        changed = fingerprint.difference(recorded if isinstance(recorded, list) else [],
                                         current or fingerprint.take(config.data), moved)
        if changed:
            raise DataChanged(changed, path, accept)

    def save_model(self, model: torch.nn.Module, user_ids: list, item_ids: list) -> None:
        """model.pt: a plain dict, loadable with weights_only=True."""
        save_torch(self.path / MODEL_FILE,
                   {"state_dict": model.state_dict(), "user_ids": user_ids, "item_ids": item_ids})

    def load(self) -> tuple[Config, dict]:
        """The run's config and saved model dict; a clear error if the run is incomplete."""
        run_dir = self.path
        if not run_dir.is_dir():
            raise RunError(f"run directory not found: {run_dir}")
        if not any((run_dir / name).is_file() for name in (STATUS_FILE, CONFIG_FILE)):
            raise RunError(f"{run_dir}: not a recbce run folder (no run.json or config.yaml); give the "
                           "folder `recbce train` wrote, such as runs/<run.name>")
        for name in (CONFIG_FILE, MODEL_FILE):
            if not (run_dir / name).is_file():
                raise RunError(f"{run_dir}: no {name} (the run did not finish?)")
        raw = read_yaml(run_dir / CONFIG_FILE, RunError)
        if not isinstance(raw, dict):
            raise RunError(f"{run_dir / CONFIG_FILE}: damaged (not a mapping of config sections)")
        config = validate(raw, str(run_dir / CONFIG_FILE))
        try:
            saved = torch.load(run_dir / MODEL_FILE, weights_only=True)
        except Exception as err:  # a corrupt file can fail in many ways inside torch
            raise RunError(f"{run_dir / MODEL_FILE}: cannot load: {first_line(err)}") from None
        if not (isinstance(saved, dict) and isinstance(saved.get("state_dict"), dict)
                and isinstance(saved.get("user_ids"), list) and isinstance(saved.get("item_ids"), list)):
            raise RunError(f"{run_dir / MODEL_FILE}: not a recbce model (expected the dict `recbce train` "
                           "saves: state_dict, user_ids, item_ids)")
        return config, saved
