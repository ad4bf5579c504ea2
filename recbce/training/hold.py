"""A training's hold on its run folder (`Hold`): the refusals, the lock, the data check, run.json.

Rank 0 alone touches the folder. It locks it before anything is written or deleted
(recbce.runs.lock) and keeps the lock until the training ends, however it ends.
"""

from __future__ import annotations

from recbce.config import Config
from recbce.config.kinds import LOSS_KINDS
from recbce.data import fingerprint
from recbce.errors import RunError
from recbce.evaluation.sampled import WARNING as SAMPLED_WARNING
from recbce.runs.folder import RunFolder
from recbce.training import checkpoint, distributed
from recbce.training.checkpoint import Progress
from recbce.training.state import Training


class Hold:
    """A training's hold on its run folder, taken once before anything is loaded: what it may
    not take is refused first, the data files are fingerprinted before they are read, and the
    lock (rank 0's) is kept from the claim to `release`, however the training ends."""

    def __init__(self, config: Config, overwrite: bool, resume: bool):
        self.config, self.overwrite, self.resume = config, overwrite, resume
        self.folder = RunFolder(config.run_dir)
        self.lock = None
        self.prints: list[dict] = []

    def before_load(self) -> None:
        """A fresh run into a folder it may not take is refused now, not after the data is
        loaded; to resume, lock the run and check that its data is the data it trained on.
        On rank 0 (distributed.run_on_main)."""
        if not self.resume:
            self.folder.check_claimable(self.overwrite)
        self.prints = fingerprint.take(self.config.data)
        if self.resume:
            self.lock = self.folder.reclaim()
            self.folder.check_data_unchanged(self.config, current=self.prints)

    def claim(self, config: Config) -> None:
        """A fresh run's folder: locked, run.json first of all, then `config` (the run's, its
        defaults resolved for the data) and the data record. On rank 0."""
        self.lock = self.folder.claim(self.overwrite)
        self.folder.mark("running")  # recbce's marker, first of all
        self.folder.write_config(config)
        self.folder.write_data_record(self.prints)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def open_run(run: Training, hold: Hold) -> None:
    """A fresh run folder (rank 0 claims it) or every rank's state back from the checkpoint."""
    config, context, log = run.config, run.context, run.log
    if hold.resume:
        run.state = checkpoint.load(run.run_dir, run.model, run.optimizer, run.generator, context.rank,
                                    context.world_size)
        log(f"resuming {run.run_dir} at epoch {run.state.epoch}, step {run.state.step}")
    else:
        distributed.run_on_main(lambda: hold.claim(config), context)
        run.state = Progress()
    if LOSS_KINDS[config.loss.name].warning:
        log(f"warning: {LOSS_KINDS[config.loss.name].warning}")
    if config.eval.protocol == "sampled":
        log(f"note: {SAMPLED_WARNING}")
    if config.train.patience and (run.dataset.valid is None or not config.train.eval_every):
        # written, not an error: a refit on all of train (valid_ratio 0) keeps its config's patience
        log(f"note: train.patience {config.train.patience} counts validation evaluations and this run "
            "has none (no validation split, or train.eval_every 0): it trains every epoch")


def write_status(run: Training, status: str, message: str = "") -> None:
    if run.context.is_main:
        RunFolder(run.run_dir).mark(status, message)


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
