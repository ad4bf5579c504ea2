"""The files a finished run leaves, and reading them back (recbce.runs.claim takes the folder;
recbce.runs.contents names every file)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from recbce.config import Config, load_config, read_yaml, to_yaml, validate
from recbce.data import fingerprint
from recbce.data.layout import resolved
from recbce.errors import DataChanged, RunError
from recbce.runs.contents import CONFIG_FILE, DATA_FILE, MODEL_FILE, STATUS_FILE, SUMMARY_FILE
from recbce.runs.files import first_line, save_torch, write_json, write_text
from recbce.runs.status import is_finished


def write_config(run_dir: Path, config: Config) -> None:
    """config.yaml: the config as the run read its data (data.header auto decided, the columns
    found by name written in), so that a resume or an evaluation reads it the same way."""
    write_text(run_dir / CONFIG_FILE, to_yaml(config.model_copy(update={"data": resolved(config.data)})))


def config_to_resume(run_dir: Path) -> Config:
    """The config of the run in `run_dir`, for --resume: the run continues in the folder where
    it is now, even if it was moved after it started (its config.yaml names the old place)."""
    config = load_config(run_dir / CONFIG_FILE)
    if config.run_dir.resolve() != run_dir.resolve():
        place = config.run.model_copy(update={"dir": str(run_dir.parent), "name": run_dir.name})
        config = config.model_copy(update={"run": place})
    return config


def nothing_to_resume(run_dir: Path, config: Config) -> bool:
    """Whether the run finished with nothing left to train: its config asks for no epoch beyond
    those trained, or it stopped early. A finished run whose config.yaml was given more epochs
    resumes (and trains them)."""
    if not is_finished(run_dir):
        return False
    try:
        summary = json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
        return bool(summary.get("stopped")) or summary["epochs"] >= config.train.epochs
    except (OSError, ValueError, KeyError, TypeError):  # a damaged summary: resuming rewrites it
        return False


def write_data_record(run_dir: Path, prints: list[dict]) -> None:
    """data.json: the fingerprint of every data file the run read (recbce.data.fingerprint)."""
    write_json(Path(run_dir) / DATA_FILE, {"files": prints})


def check_data(run_dir: Path, config: Config, accept: str | None = None,
               current: list[dict] | None = None, moved: dict[str, str] | None = None) -> None:
    """DataChanged naming the file if the run's data changed since data.json was written.
    `accept`: the flag that lets the caller go on anyway (named in the error), if any;
    `current`: the files' fingerprints if already taken; `moved`: {path now: path recorded}
    for data read from a new place (evaluate --data)."""
    path = Path(run_dir) / DATA_FILE
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


def save_model(run_dir: Path, model: torch.nn.Module, user_ids: list, item_ids: list) -> None:
    save_torch(
        run_dir / MODEL_FILE,
        {"state_dict": model.state_dict(), "user_ids": user_ids, "item_ids": item_ids},
    )


def load_run(run_dir: str | Path) -> tuple[Config, dict]:
    """The run's config and saved model dict; a clear error if the run is incomplete."""
    run_dir = Path(run_dir)
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
