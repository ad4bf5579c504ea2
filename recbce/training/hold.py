"""A training's hold on its run folder: the lock, the data check, run.json.

Rank 0 alone touches the folder. It locks it before anything is written or deleted
(recbce.runs.lock) and keeps the lock until the training ends, however it ends.
"""

from __future__ import annotations

from recbce import runs
from recbce.config import Config
from recbce.config.kinds import LOSS_KINDS
from recbce.data import fingerprint
from recbce.errors import RunError
from recbce.evaluation.sampled import WARNING as SAMPLED_WARNING
from recbce.runs.folder import check_data, write_data_record
from recbce.training import checkpoint, distributed
from recbce.training.checkpoint import Progress
from recbce.training.state import Training


class Held:
    """The run folder's lock once taken (rank 0 only); `release` however the training ends."""

    def __init__(self):
        self.lock = None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def before_load(config: Config, resume: bool, overwrite: bool, held: Held) -> list[dict]:
    """Fingerprint the data files (before they are read); a fresh run into a folder it may not
    take is refused now, not after the data is loaded; to resume, lock the run and check that
    its data is the data it trained on. Runs on rank 0 (distributed.run_on_main)."""
    if not resume:
        runs.check_claimable(config.run_dir, overwrite)
    prints = fingerprint.take(config.data)
    if resume:
        held.lock = runs.reclaim(config.run_dir)
        check_data(config.run_dir, config, current=prints)
    return prints


def open_run(run: Training, overwrite: bool, resume: bool, held: Held, prints: list[dict]) -> None:
    """A fresh run folder (rank 0 claims it) or every rank's state back from the checkpoint."""
    config, context, log = run.config, run.context, run.log
    if resume:
        run.state = checkpoint.load(run.run_dir, run.model, run.optimizer, run.generator, context.rank,
                                    context.world_size)
        log(f"resuming {run.run_dir} at epoch {run.state.epoch}, step {run.state.step}")
    else:
        distributed.run_on_main(lambda: start_run_dir(config, overwrite, held, prints), context)
        run.state = Progress()
    if LOSS_KINDS[config.loss.name].warning:
        log(f"warning: {LOSS_KINDS[config.loss.name].warning}")
    if config.eval.protocol == "sampled":
        log(f"note: {SAMPLED_WARNING}")
    if config.train.patience and (run.dataset.valid is None or not config.train.eval_every):
        # written, not an error: a refit on all of train (valid_ratio 0) keeps its config's patience
        log(f"note: train.patience {config.train.patience} counts validation evaluations and this run "
            "has none (no validation split, or train.eval_every 0): it trains every epoch")


def start_run_dir(config: Config, overwrite: bool, held: Held, prints: list[dict]) -> None:
    held.lock = runs.claim(config.run_dir, overwrite)
    runs.write_status(config.run_dir, "running")  # recbce's marker, first of all
    runs.write_config(config.run_dir, config)
    write_data_record(config.run_dir, prints)


def write_status(run: Training, status: str, message: str = "") -> None:
    if run.context.is_main:
        runs.write_status(run.run_dir, status, message)


def record_failure(run: Training, err: BaseException) -> None:
    """run.json says "failed" if it can still be written; if not (a full or read-only disk),
    the error that stopped the training is the one reported, not this one."""
    lines = str(err).strip().splitlines()
    try:
        write_status(run, "failed", lines[0] if lines else type(err).__name__)
    except RunError:
        pass


def resume_command(context: distributed.Context) -> str:
    if not context.distributed:
        return "recbce train --resume"
    return f"torchrun <same {context.world_size} processes> -m recbce train --resume"
