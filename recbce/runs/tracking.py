"""Optional TensorBoard logging (`logging: {tensorboard: true}`) through torch's SummaryWriter.

Each finished epoch appends its record (loss, examples/s, validation metrics)
to event files in <run>/tensorboard, so `tensorboard --logdir runs` shows
runs live. A writer is opened per epoch and closed at once: nothing is held
between epochs, and a resumed run simply adds files to the same folder.
"""

from __future__ import annotations

import importlib.util

from recbce.config import Config
from recbce.errors import MissingExtra, RunError

TENSORBOARD_DIR = "tensorboard"
INSTALL_HINT = "pip install 'recbce[tensorboard]'"


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def log_epoch(config: Config, record: dict) -> None:
    """Write one epoch's scalars when the config asks for TensorBoard; otherwise nothing."""
    if not config.logging.tensorboard:
        return
    if not tensorboard_available():
        raise MissingExtra(f"logging.tensorboard needs the tensorboard package: {INSTALL_HINT}")
    from torch.utils.tensorboard import SummaryWriter

    folder = config.run_dir / TENSORBOARD_DIR
    try:
        with SummaryWriter(log_dir=str(folder)) as writer:
            for name, value in scalars(record).items():
                writer.add_scalar(name, value, global_step=record["epoch"])
    except OSError as err:
        raise RunError(f"cannot write {folder}: {err.strerror or err}") from None


def scalars(record: dict) -> dict[str, float]:
    """TensorBoard tags: train/loss, train/examples_per_s, train/seconds, valid/<metric>, ..."""
    tags = {}
    for key, value in record.items():
        if key == "epoch" or not isinstance(value, int | float):
            continue
        tags[key if "/" in key else f"train/{key}"] = float(value)
    return tags
