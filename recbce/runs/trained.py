"""A finished run read back: for serving from the run folder alone, or with its data again
(evaluation), found by the absolute paths recorded when the run started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recbce.config import Config, data_paths, with_data_paths
from recbce.data.dataset import load_dataset
from recbce.data.history import scoring_inputs
from recbce.errors import DataError, RunError
from recbce.models import Scorer, build_model
from recbce.runs.contents import MODEL_FILE
from recbce.runs.files import first_line
from recbce.runs.folder import RunFolder
from recbce.runs.inference import Inference, load_inference


@dataclass
class Served:
    """A run ready to score: its config, its model and its inference.pt; no data read."""

    run_dir: Path
    config: Config
    model: Scorer
    inference: Inference


def load_served(run_dir: str | Path) -> Served:
    """The run's model with what it reads at scoring time, from the run folder only."""
    config, saved = RunFolder(run_dir).load()
    inference = load_inference(run_dir)
    if saved["user_ids"] != inference.user_ids or saved["item_ids"] != inference.item_ids:
        raise RunError(f"{run_dir}: model.pt and inference.pt come from different runs; train it again")
    model = build_model(config.model, len(inference.user_ids), len(inference.item_ids), inference.inputs)
    load_state(model, saved, run_dir)
    return Served(Path(run_dir), config, model, inference)


def load_trained(run_dir: str | Path, accept_data_change: bool | None = None, data: str | Path | None = None):
    """(config, dataset, model) of a finished run, the data split again exactly as in training.

    The data files must be where the run recorded them, or where `data` says they are now
    (see `moved_data`), and those the run read (data.json): DataError if not, unless
    `accept_data_change` is True; False means the caller has that flag (the error names it),
    None that it has none."""
    folder = RunFolder(run_dir)
    config, saved = folder.load()
    moved = None
    if data is not None:
        config, moved = moved_data(config, Path(data))
    require_data(config, run_dir, moved)
    if not accept_data_change:
        folder.check_data_unchanged(config, "--accept-data-change" if accept_data_change is False else None,
                                    moved=moved)
    dataset = load_dataset(config.data, config.seed)
    if saved["user_ids"] != dataset.user_ids or saved["item_ids"] != dataset.item_ids:
        raise RunError(f"{run_dir}: the data at {config.data.path} changed since this run trained")
    model = build_model(config.model, dataset.n_users, dataset.n_items, scoring_inputs(dataset, config.model))
    load_state(model, saved, run_dir)
    return config, dataset, model


def moved_data(config: Config, data: Path) -> tuple[Config, dict[str, str]]:
    """The run's data read from `data`: a file is data.path (a predefined split's test and
    validation files are looked for beside it, by the names they had), a folder holds every
    data file by the name it had. Returns the config and {path now: path recorded}."""
    data = data.expanduser().resolve()
    if not data.exists():
        raise DataError(f"data {data} not found")
    folder = data if data.is_dir() else data.parent
    now = {key: str(data if key == "data.path" and data.is_file() else folder / Path(path).name)
           for key, path in data_paths(config).items()}
    recorded = data_paths(config)
    return with_data_paths(config, now), {now[key]: recorded[key] for key in now}


def require_data(config: Config, run_dir, moved: dict[str, str] | None = None) -> None:
    """Every data file the run recorded must be where it was (runs record absolute paths), or
    where it was said to be now (`moved`)."""
    for key, path in data_paths(config).items():
        if Path(path).is_file():
            continue
        if moved:
            raise RunError(f"{run_dir}: its data file {Path(moved[path]).name} ({key}) is not at {path}")
        raise RunError(f"{run_dir}: its data file {path} ({key}, recorded when it trained) is not "
                       "there; say where it is now (evaluate --data PATH, data=PATH in the API), put "
                       "the file back, or train again (recommend, similar and export need no data)")


def load_state(model, saved: dict, run_dir) -> None:
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:  # tensors of other shapes or names: a model.pt from another run
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else first_line(err)
        raise RunError(f"{Path(run_dir) / MODEL_FILE}: does not match the run's config.yaml "
                       f"({reason[:200]})") from None
    model.eval()
