"""`recbce tune`: everything checked before any trial runs, then the trials (in this process, or
in W worker processes that share the study), then what the study found.

    result = tune("my.yaml", "space.yaml", trials=50)
    result.best_config, result.best_value, result.trials   # a Config, a float, a DataFrame
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from recbce.config import Config, load_config, validates
from recbce.errors import ConfigError, MissingExtra, RecbceError
from recbce.tuning import report
from recbce.tuning.space import load_space
from recbce.tuning.study import PRUNERS, Plan, open_study, require_optuna
from recbce.tuning.trials import counted, work


@dataclass
class TuneResult:
    """What a study found: the best config (None if no trial finished) and its validation value,
    every trial as a row, the best trial's test metrics (scored once) and the files written."""

    best_config: Config | None
    best_value: float | None
    trials: pd.DataFrame
    test: dict | None
    out: Path
    files: list[Path]


def make_plan(config: Config, source: str, space_path: Path, out: Path, trials: int = 20,
              timeout: float | None = None, workers: int = 1, storage: str | None = None,
              study: str | None = None, seed: int = 0, pruner: str = "median", seeds: int = 1) -> Plan:
    """The study's plan from the command's arguments; ConfigError (one line) for any of them."""
    if not validates(config):
        raise ConfigError(f"{source}: a study chooses on validation and this config has none: set "
                          "data.split.valid_ratio > 0 (or a predefined valid_path) and train.eval_every > 0")
    if trials < 1 or workers < 1 or seeds < 1:
        raise ConfigError("--trials, --workers and --seeds must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ConfigError("--timeout must be a number of seconds above 0")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, not {pruner!r}")
    space = load_space(Path(space_path), config)
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
    return Plan(base=config.model_dump(exclude_unset=True), source=source, dimensions=tuple(space),
                out=Path(out), study_name=study or Path(out).name, storage=storage, trials=trials,
                timeout=timeout, seed=seed, pruner=pruner, threads=threads, metric=config.eval.metric,
                seeds=seeds)


def tune(config: str | Path | Config, space: str | Path, trials: int = 20, timeout: float | None = None,
         workers: int = 1, storage: str | None = None, study: str | None = None,
         out: str | Path | None = None, seed: int = 0, pruner: str = "median", seeds: int = 1,
         progress: bool = False, log=None) -> TuneResult:
    """Run (or continue) a study up to `trials` in all; see the module docstring and the README."""
    log = log or _silent
    source = "config" if isinstance(config, Config) else str(config)
    loaded = config if isinstance(config, Config) else load_config(config)
    out = Path(out) if out is not None else Path("runs") / f"tune-{Path(source).stem}"
    plan = make_plan(loaded, source, Path(space), out, trials, timeout, workers, storage, study, seed,
                     pruner, seeds)
    require_optuna()
    start_study_folder(plan)
    study_ = open_study(plan)  # refuses another space or config before any trial runs
    log(f"study {plan.study_name!r}: {counted(study_)} of {plan.trials} trials so far, in {plan.out}")
    with tqdm(total=plan.trials, initial=min(counted(study_), plan.trials), unit="trial", desc="tune",
              disable=not progress) as bar:
        if workers == 1:
            work(plan, 0, lambda s: show(bar, s, plan, log))
        else:
            run_workers(plan, workers, bar, log)
    return summarise(plan, log)


def start_study_folder(plan: Plan) -> None:
    """The study folder, made only when everything is checked (a storage URL opened first)."""
    if plan.storage is not None:
        from recbce.tuning.study import storage_of

        storage_of(plan)
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RecbceError(f"cannot create the study folder {plan.out}: {err.strerror or err}") from None


def show(bar, study, plan: Plan, log) -> None:
    """After a trial: the bar with the best so far, and one line for the log."""
    trials = study.get_trials(deepcopy=False)
    last = max((t for t in trials if t.state.is_finished()), key=lambda t: t.datetime_complete or 0,
               default=None)
    bar.n = min(counted(study), plan.trials)
    best = max((t.value for t in trials if t.value is not None), default=None)
    if best is not None:
        bar.set_postfix_str(f"best valid {plan.metric} {best:.4f}", refresh=False)
    bar.refresh()
    if last is not None:
        value = report.best_value(last)
        shown = "" if value is None else f" valid {plan.metric} {value:.4f}"
        error = last.user_attrs.get("error")
        reason = f" ({error})" if error else ""
        log(f"trial {last.number}: {report.STATES[last.state.name]}{shown}{reason}")


def run_workers(plan: Plan, workers: int, bar, log) -> None:
    """W processes share the study; this one shows their progress until they end."""
    context = multiprocessing.get_context("spawn")  # no forked torch or storage state
    processes = [context.Process(target=worker_main, args=(plan, index), daemon=False)
                 for index in range(workers)]
    for process in processes:
        process.start()
    study = open_study(plan)
    try:
        while any(p.is_alive() for p in processes):
            time.sleep(1.0)
            bar.n = min(counted(study), plan.trials)
            bar.refresh()
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: they mark their trials
        for process in processes:
            process.join()
        raise
    failed = [i for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise RecbceError(f"tune: worker {failed[0]} stopped with exit code "
                          f"{processes[failed[0]].exitcode} (its error is printed above)")


def worker_main(plan: Plan, index: int) -> None:
    """A worker process: run trials; a user's error is one line on stderr, exit 2."""
    try:
        work(plan, index)
    except KeyboardInterrupt:
        sys.exit(130)
    except RecbceError as err:
        print(f"error: worker {index}: {err}", file=sys.stderr)
        sys.exit(err.exit_code)


def summarise(plan: Plan, log) -> TuneResult:
    """The tables, best.yaml, the best trial's test metrics (once) and the plot."""
    study = open_study(plan)
    frame = report.trials_frame(study, plan)
    files = list(report.write_tables(frame, plan.out))
    best = report.write_best(study, plan, log)
    if best is not None:
        files += [plan.out / report.BEST_CONFIG, plan.out / report.BEST_RECORD]
    try:
        files.append(report.plot_study(study, plan))
    except MissingExtra as err:  # no matplotlib: the tables stand on their own
        log(f"note: {err}")
    best_config = load_config(plan.out / report.BEST_CONFIG) if best is not None else None
    return TuneResult(best_config, best["valid"] if best else None, frame,
                      best["test"] if best else None, plan.out, files)


def _silent(*args, **kwargs) -> None:
    """The API's default log: silent."""
