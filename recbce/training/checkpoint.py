"""Training state that survives a crash: checkpoints and signal handling (the run's status
file is recbce.runs.status's).

A checkpoint is a plain dict of tensors and numbers (loadable with
weights_only=True) holding everything a resumed run needs to continue exactly
where the interrupted one was: model, optimizer, the generator state, the
epoch's permutation and the next step, the epoch log and the best model so far.
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from recbce import runs
from recbce.errors import RecbceError, RunError
from recbce.runs.contents import CHECKPOINT_FILE


class Interrupted(RecbceError):
    """SIGINT/SIGTERM: the run stopped after a step and saved a checkpoint."""

    exit_code = 130


@dataclass
class Progress:
    """Where training stands: the counters and records a checkpoint carries."""

    epoch: int = 1  # the epoch in progress (1-based)
    step: int = 0  # next batch of that epoch
    order: torch.Tensor | None = None  # that epoch's permutation of the training pairs
    loss_sum: float = 0.0  # over that epoch's finished steps
    epoch_log: list = field(default_factory=list)  # one record per finished epoch (metrics.jsonl)
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict | None = None
    evals_without_gain: int = 0
    average: dict | None = None  # train.average_from: the mean of the parameters so far
    averaged_epochs: int = 0
    stopped: bool = False  # early stopping ended the training: a resume only finishes the run
    seconds: float = 0.0  # training time up to this checkpoint, over every session of the run
    epoch_seconds: float = 0.0  # of it, the epoch in progress's steps so far


def save(run_dir: Path, model, optimizer, generator: torch.Generator, progress: Progress,
         rank_generators: list | None = None) -> None:
    """`rank_generators`: under distributed training, every rank's generator state, by rank."""
    saved = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "progress": asdict(progress),
    }
    if rank_generators is not None:
        saved["rank_generators"] = rank_generators
    runs.save_torch(run_dir / CHECKPOINT_FILE, saved)


def load(run_dir: Path, model, optimizer, generator: torch.Generator, rank: int = 0,
         world_size: int = 1) -> Progress:
    """Restore a checkpoint; each rank of a distributed run gets back its own generator state."""
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CHECKPOINT_FILE} to resume from")
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a damaged or foreign file can fail in many ways inside torch
        raise RunError(f"{path}: cannot resume from it: {str(err).splitlines()[0]}") from None
    if not isinstance(saved, dict):
        raise RunError(f"{path}: cannot resume from it: not a recbce checkpoint")
    saved_world = len(saved.get("rank_generators", [None]))
    if saved_world != world_size:
        raise RunError(f"{path}: written by {saved_world} process(es); resume it with the same "
                       f"number (torchrun --nproc_per_node={saved_world}), not {world_size}")
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["rank_generators"][rank] if world_size > 1 else saved["generator"])
        progress = dict(saved["progress"])
        if "history" in progress:  # its name in checkpoints written before the rename
            progress["epoch_log"] = progress.pop("history")
        return Progress(**progress)
    except Exception as err:
        raise RunError(f"{path}: cannot resume from it: {str(err).splitlines()[0]}") from None


class StopFlag:
    """Within `with`, SIGINT and SIGTERM set `.requested` instead of killing the process,
    so the loop can finish its step and checkpoint; the old handlers come back after."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.previous = {}

    def _handle(self, signum, frame):
        self.requested = True

    def __enter__(self):
        try:
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread: signals stay as they were
            self.previous = {}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False
