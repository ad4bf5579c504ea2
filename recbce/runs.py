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


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    if run_dir.exists():
        if not overwrite:
            raise RunError(f"run directory {run_dir} exists: pass --overwrite to replace it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    _atomic(Path(path), lambda handle: handle.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda handle: handle.write(data))


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, records: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


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
    model = DotProduct(dataset.n_users, dataset.n_items, config.model)
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return config, dataset, model
