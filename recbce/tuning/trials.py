"""Trials: each one an ordinary run folder (trial-NNNN) under the study folder, trained with
its drawn values, scored on validation only, and cut short by the pruner when it is losing.
With `--seeds S` a trial trains S runs (trial-NNNN, then trial-NNNN-run2 ... with the config's
seed + 1 ...) and its value is their mean validation: one validation item per user, or one
seed, is a noisy figure, and the best of many noisy trials is the luckiest. With several base
configs (other data sets) a trial trains each of them S times, configs first, and its value is
the mean over configs of each one's mean validation divided by its reference figure. The pruner
watches the first run (put the quickest config first).

A worker asks the study for trials until it holds `trials` in all. On one machine the
workers share the study folder, and a file lock there makes "count, then ask" one step, so
that they never start more than `trials` between them; trial numbers come from the storage
and are never given twice.
"""

from __future__ import annotations

import copy
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from recbce.config import Config, set_key, validate
from recbce.errors import RunError
from recbce.runs.files import first_line
from recbce.runs.folder import RunFolder
from recbce.runs.status import ENDED, effective_status, process_alive
from recbce.training.checkpoint import Interrupted
from recbce.tuning.space import draw
from recbce.tuning.study import Plan, open_study, require_optuna, worker_tag

ASK_LOCK = ".tune.lock"


def trial_dir(plan: Plan, number: int) -> Path:
    """The trial's (first) run folder: what best.yaml, the tables and the pruner's mark name."""
    return plan.out / f"trial-{number:04d}"


def trial_dirs(plan: Plan, number: int) -> list[Path]:
    """Every run folder of a trial, one per config and seed it trains (Plan.run_of)."""
    first = trial_dir(plan, number)
    runs_in_trial = len(plan.bases) * plan.seeds
    return [first] + [first.with_name(f"{first.name}-run{index + 1}") for index in range(1, runs_in_trial)]


def work(plan: Plan, worker: int = 0, on_trial: Callable[[object], None] | None = None) -> None:
    """Run trials until the study holds plan.trials (or plan.timeout passes); `on_trial(study)`
    after each."""
    study = open_study(plan, worker)
    mark_ended_trials(study, plan)
    deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
    while deadline is None or time.monotonic() < deadline:
        trial = next_trial(study, plan)
        if trial is None:
            return
        run_trial(study, trial, plan)
        if on_trial is not None:
            on_trial(study)


def next_trial(study, plan: Plan):
    """A new trial, or None when the study already holds plan.trials."""
    with ask_lock(plan.out):
        if counted(study) >= plan.trials:
            return None
        trial = study.ask()
        for name, value in worker_tag().items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("run_dir", str(trial_dir(plan, trial.number)))
        return trial


def counted(study) -> int:
    """Trials that count towards --trials: all but those a Ctrl-C or a kill interrupted."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("interrupted"))


@contextmanager
def ask_lock(folder: Path) -> Iterator[None]:
    fd = os.open(folder / ASK_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def run_trial(study, trial, plan: Plan) -> None:
    """Train the trial's runs and tell the study how it ended; a trial that fails is recorded
    with its one-line error and the study goes on. Ctrl-C marks the trial and is raised."""
    optuna = require_optuna()
    pruned_at: list[int] = []

    scale = plan.references[0] if plan.references else 1.0  # the pruner sees the objective's units

    def report(epoch: int, value: float) -> bool:
        trial.report(value / scale, epoch)
        if trial.should_prune():
            pruned_at.append(epoch)
            return True
        return False

    folders = trial_dirs(plan, trial.number)
    try:
        bests, configs = train_runs(plan, draw(trial, list(plan.dimensions)), folders, report, pruned_at)
    except (KeyboardInterrupt, Interrupted):
        trial.set_user_attr("interrupted", "interrupted (Ctrl-C or a stop signal)")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        # The trial's own resume hint would train it outside the study: the study is what resumes.
        raise Interrupted(f"study interrupted in {folders[0].name} (marked interrupted, not counted): "
                          "run the same command again to continue it") from None
    except Exception as err:  # a combination the config rules refuse, a NaN: the study goes on
        trial.set_user_attr("error", first_line(err))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    if pruned_at:
        RunFolder(folders[0]).mark("pruned", f"stopped after epoch {pruned_at[0]} by the "
                          f"{plan.pruner} pruner: its validation was behind the other trials'")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    if len(bests) > 1:
        trial.set_user_attr("valid_runs", bests)
    if all(config.eval.protocol == "full" for config in configs):  # sampled: no per-user ranking
        trial.set_user_attr("valid_se", objective_error(plan, folders, configs))
    study.tell(trial, objective(plan, bests))


def objective(plan: Plan, bests: list[float]) -> float:
    """The trial's value from its runs' best validation figures (in Plan.run_of's order): their
    mean; with several configs, the mean over configs of each one's mean / its reference."""
    references = plan.references or (1.0,)
    means = [sum(runs) / len(runs) for runs in plan.by_config(bests)]
    return sum(mean / reference for mean, reference in zip(means, references, strict=True)) / len(means)


def objective_error(plan: Plan, folders: list[Path], configs: list[Config]) -> float:
    """The standard error of `objective` over validation users (data sets independent)."""
    references = plan.references or (1.0,)
    errors = [error_of_mean(runs, ran[0].eval.metric) / reference for runs, ran, reference
              in zip(plan.by_config(folders), plan.by_config(configs), references, strict=True)]
    return errors[0] if len(errors) == 1 else sum(error ** 2 for error in errors) ** 0.5 / len(errors)


def train_runs(plan: Plan, values: dict, folders: list[Path], report, pruned_at: list[int]):
    """The trial's runs, the first one watched by the pruner: their best validation figures
    (none after a pruned first run) and their configs. Every config is checked first, so that a
    combination one base config refuses fails the trial before anything trains."""
    from recbce.training.loop import train  # torch-heavy: only where trials run

    configs = [trial_config(plan, values, folder, index) for index, folder in enumerate(folders)]
    bests = []
    for index, config in enumerate(configs):
        summary = train(config, progress=False, log=_silent, on_evaluation=report if index == 0 else None,
                        score_test=False)
        if pruned_at:
            break
        bests.append(summary["best_valid"])
    return bests, configs


def error_of_mean(folders: list[Path], metric: str) -> float:
    """The standard error over validation users of the runs' mean: user by user when the runs
    held out the same pairs (a fixed split), else as independent figures (a seeded split)."""
    from recbce.evaluation.per_user import errors_over_users, evaluate_users

    evaluated = [evaluate_users(folder, "valid") for folder in folders]
    if len({run.heldout for run in evaluated}) == 1:
        mean = sum(run.table[metric] for run in evaluated) / len(evaluated)
        return errors_over_users(mean.to_frame())[metric][1]
    errors = [errors_over_users(run.table[[metric]])[metric][1] for run in evaluated]
    return sum(error ** 2 for error in errors) ** 0.5 / len(errors)


def trial_config(plan: Plan, values: dict, folder: Path, index: int = 0) -> Config:
    """Run `index` of a trial: its base config with the trial's values and its seed offset
    (Plan.run_of), writing to its own folder (ConfigError naming the trial when a rule across
    keys refuses the combination)."""
    base, offset = plan.run_of(index)
    raw = copy.deepcopy(base)
    for key, value in values.items():
        set_key(raw, key, value)
    if offset:
        set_key(raw, "seed", raw.get("seed", Config.model_fields["seed"].default) + offset)
    set_key(raw, "run.dir", str(folder.parent))
    set_key(raw, "run.name", folder.name)
    if plan.threads and "threads" not in raw.get("train", {}):
        set_key(raw, "train.threads", plan.threads)
    shown = ", ".join(f"{key}={value}" for key, value in values.items())
    return validate(raw, f"{folder.name} ({shown})")


def mark_ended_trials(study, plan: Plan) -> None:
    """Trials still "running" whose process is gone (killed) are marked interrupted, so the
    study does not wait for them and a later command runs their share again."""
    optuna = require_optuna()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not process_gone(trial.user_attrs):
            continue
        try:  # Optuna's storage is how another process's trial is marked (its Trial object is gone)
            study._storage.set_trial_user_attr(trial._trial_id, "interrupted", ENDED)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except Exception:  # another worker marked it first
            continue
        for folder in trial_dirs(plan, trial.number):
            mark_interrupted(folder)


def mark_interrupted(folder: Path) -> None:
    """A run whose process was killed mid-training is marked interrupted."""
    try:
        status = RunFolder(folder).status()
        if status is not None and effective_status(status) == ENDED:
            RunFolder(folder).mark("interrupted", "the tuning process ended (killed)")
    except RunError:
        pass


def process_gone(tag: dict) -> bool:
    """Whether the process that ran a trial has ended (known only on its own machine)."""
    import socket

    pid = tag.get("pid")
    return tag.get("host") == socket.gethostname() and isinstance(pid, int) and not process_alive(pid)


def _silent(*args, **kwargs) -> None:
    """A trial's log: the study prints one line per trial instead."""
