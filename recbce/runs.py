"""Run directories: atomic writes, the saved model, and reading a run back.

A run folder holds config.yaml (resolved), metrics.jsonl (one line per epoch),
model.pt (a plain dict, loadable with weights_only=True) and summary.json.
Every file is written to a temporary name, flushed to disk and renamed, so a
crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
import yaml

from recbce.config import Config, to_yaml, validate
from recbce.data import load_dataset
from recbce.errors import RunError
from recbce.model import DotProduct

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


def _atomic(path: Path, write) -> None:
    """Temporary file, flushed and fsynced, renamed over `path`, then the folder fsynced:
    a crash at any instant leaves the old file or the new one, never part of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as err:  # disk full, folder missing or read-only: the user's to fix
        raise RunError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    _atomic(Path(path), lambda handle: handle.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda handle: handle.write(data))


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, records: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def write_parquet(path: Path, frame) -> None:
    _atomic(Path(path), lambda handle: frame.to_parquet(handle, index=False))


def save_torch(path: Path, obj) -> None:
    _atomic(Path(path), lambda handle: torch.save(obj, handle))


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


def load_trained(run_dir: str | Path):
    """(config, dataset, model) of a finished run, the data split again exactly as in training."""
    config, saved = load_run(run_dir)
    dataset = load_dataset(config.data, config.seed)
    if saved["user_ids"] != dataset.user_ids or saved["item_ids"] != dataset.item_ids:
        raise RunError(f"{run_dir}: the data at {config.data.path} changed since this run trained")
    model = DotProduct.for_dataset(dataset, config.model)
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return config, dataset, model
