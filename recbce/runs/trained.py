"""A finished run read back: its config, its data split again, and its model."""

from __future__ import annotations

from pathlib import Path

from recbce.data.dataset import load_dataset
from recbce.data.history import scoring_inputs
from recbce.errors import RunError
from recbce.models import build_model
from recbce.runs.folder import MODEL_FILE, check_data, first_line, load_run


def load_trained(run_dir: str | Path, accept_data_change: bool | None = None):
    """(config, dataset, model) of a finished run, the data split again exactly as in training.

    The data files must be those the run read (data.json): DataError if not, unless
    `accept_data_change` is True; False means the caller has that flag (the error names it),
    None that it has none."""
    config, saved = load_run(run_dir)
    if not accept_data_change:
        check_data(Path(run_dir), config, "--accept-data-change" if accept_data_change is False else None)
    dataset = load_dataset(config.data, config.seed)
    if saved["user_ids"] != dataset.user_ids or saved["item_ids"] != dataset.item_ids:
        raise RunError(f"{run_dir}: the data at {config.data.path} changed since this run trained")
    model = build_model(config.model, dataset.n_users, dataset.n_items, scoring_inputs(dataset, config.model))
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:  # tensors of other shapes or names: a model.pt from another run
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else first_line(err)
        raise RunError(f"{Path(run_dir) / MODEL_FILE}: does not match the run's config.yaml "
                       f"({reason[:200]})") from None
    model.eval()
    return config, dataset, model
