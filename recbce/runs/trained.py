"""A finished run read back: its config, its data split again, and its model."""

from __future__ import annotations

from pathlib import Path

from recbce.data.dataset import load_dataset
from recbce.data.history import scoring_inputs
from recbce.errors import RunError
from recbce.models import build_model
from recbce.runs.folder import load_run


def load_trained(run_dir: str | Path):
    """(config, dataset, model) of a finished run, the data split again exactly as in training."""
    config, saved = load_run(run_dir)
    dataset = load_dataset(config.data, config.seed)
    if saved["user_ids"] != dataset.user_ids or saved["item_ids"] != dataset.item_ids:
        raise RunError(f"{run_dir}: the data at {config.data.path} changed since this run trained")
    model = build_model(config.model, dataset.n_users, dataset.n_items, scoring_inputs(dataset, config.model))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return config, dataset, model
