"""Run folders: create or replace one, and the files a finished run leaves.

A run folder holds config.yaml (resolved), metrics.jsonl (one line per epoch),
model.pt (a plain dict, loadable with weights_only=True) and summary.json, each
written atomically (recbce.runs.files).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import yaml

from recbce.config import Config, to_yaml, validate
from recbce.errors import RunError
from recbce.runs.files import save_torch, write_text

MODEL_FILE = "model.pt"


RUN_MARKERS = ("config.yaml", "run.json")  # a folder holding one of these was written by recbce


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Create the run folder; replace an existing one only with --overwrite, and only if it
    is a recbce run (or empty): a config naming some other folder cannot get it deleted."""
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise RunError(f"run directory {run_dir} is a link or a file, not a folder")
    if run_dir.exists():
        if not overwrite:
            raise RunError(f"run directory {run_dir} exists: pass --overwrite to replace it")
        if any(run_dir.iterdir()) and not any((run_dir / m).is_file() for m in RUN_MARKERS):
            raise RunError(f"run directory {run_dir} is not a recbce run (no config.yaml or "
                           "run.json): refusing to delete it; choose another run.name")
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True)
    except OSError as err:
        raise RunError(f"cannot create run directory {run_dir}: {err.strerror or err}") from None


def write_config(run_dir: Path, config: Config) -> None:
    write_text(run_dir / "config.yaml", to_yaml(config))


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
    for name in ("config.yaml", MODEL_FILE):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir}: no {name} (the run did not finish?)")
    config = validate(yaml.safe_load((run_dir / "config.yaml").read_text()), str(run_dir))
    try:
        saved = torch.load(run_dir / MODEL_FILE, weights_only=True)
    except Exception as err:  # a corrupt file can fail in many ways inside torch
        raise RunError(f"{run_dir / MODEL_FILE}: cannot load: {err}") from None
    return config, saved
