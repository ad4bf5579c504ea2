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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from recbce.config import Config, load_config, validates
from recbce.errors import ConfigError, MissingExtra, RecbceError
from recbce.tuning import report
from recbce.tuning.space import load_space
from recbce.tuning.study import PRUNERS, RELATIVE, Plan, open_study, require_optuna
from recbce.tuning.trials import counted, work


@dataclass
class TuneResult:
    """What a study found: the best config (None if no trial finished) and its validation value,
    every trial as a row, the best trial's test metrics (scored once) and the files written.
    With several configs: `best_config` and `test` are the first's, `best_configs` and `tests`
    every config's in order, and `metric` is "relative" (the mean of validation / reference)."""

    best_config: Config | None
    best_value: float | None
    trials: pd.DataFrame
    test: dict | None
    out: Path
    files: list[Path]
    metric: str = ""  # the objective: eval.metric on validation, or "relative"
    best_configs: list[Config] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)


def make_plan(config: Config, source: str, space_path: Path, out: Path, trials: int = 20,
              timeout: float | None = None, workers: int = 1, storage: str | None = None,
              study: str | None = None, seed: int = 0, pruner: str = "median", seeds: int = 1,
              more: Sequence[tuple[Config, str]] = (), references: Sequence[float] = ()) -> Plan:
    """The study's plan from the command's arguments; ConfigError (one line) for any of them.
    `more`: other (config, source) the trials also train, each scored relative to its entry of
    `references` (one figure per config, the first config's first)."""
    for each, named in [(config, source), *more]:
        if not validates(each):
            raise ConfigError(f"{named}: a study chooses on validation and this config has none: set "
                              "data.split.valid_ratio > 0 (or a predefined valid_path) and "
                              "train.eval_every > 0")
    check_counts(trials, workers, seeds, timeout, pruner)
    scale = check_references(references, 1 + len(more))
    space = load_space(Path(space_path), config)
    for other, named in more:  # a `when` reads what each base config sets: the same space for all
        if load_space(Path(space_path), other) != space:
            raise ConfigError(f"{named}: the space {space_path} draws differently from this config than "
                              f"from {source}: give configs that set the same keys the space reads")
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
    return Plan(base=config.model_dump(exclude_unset=True), source=source, dimensions=tuple(space),
                out=Path(out), study_name=study or Path(out).name, storage=storage, trials=trials,
                timeout=timeout, seed=seed, pruner=pruner, threads=threads,
                metric=config.eval.metric if not more else RELATIVE, seeds=seeds,
                more=tuple(other.model_dump(exclude_unset=True) for other, _ in more),
                references=scale)


def check_counts(trials: int, workers: int, seeds: int, timeout: float | None, pruner: str) -> None:
    if trials < 1 or workers < 1 or seeds < 1:
        raise ConfigError("--trials, --workers and --seeds must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ConfigError("--timeout must be a number of seconds above 0")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, not {pruner!r}")


def check_references(references: Sequence[float], configs: int) -> tuple[float, ...]:
    """One figure above 0 per config when there are several (their validation figures are on
    different scales: each counts relative to its own); none for one config."""
    if configs == 1:
        if references:
            raise ConfigError("--reference is for several --config: one config's trials are "
                              "compared by its validation figure itself")
        return ()
    if len(references) != configs or not all(value > 0 for value in references):
        raise ConfigError(f"{configs} configs need --reference {configs} times, a figure above 0 for "
                          "each in order (e.g. its best known validation eval.metric), so that each "
                          "data set counts alike in the mean")
    return tuple(float(value) for value in references)


def tune(config: str | Path | Config | Sequence[str | Path | Config], space: str | Path,
         trials: int = 20, timeout: float | None = None, workers: int = 1, storage: str | None = None,
         study: str | None = None, out: str | Path | None = None, seed: int = 0,
         pruner: str = "median", seeds: int = 1, references: Sequence[float] = (),
         progress: bool = False, log=None) -> TuneResult:
    """Run (or continue) a study up to `trials` in all; see the module docstring and the README.
    Several configs (a list): every trial trains each, scored by the mean of their validation
    figures relative to `references`."""
    log = log or _silent
    given = list(config) if isinstance(config, (list, tuple)) else [config]
    named = [(each if isinstance(each, Config) else load_config(each),
              "config" if isinstance(each, Config) else str(each)) for each in given]
    source = named[0][1]
    out = Path(out) if out is not None else Path("runs") / f"tune-{Path(source).stem}"
    plan = make_plan(*named[0], Path(space), out, trials, timeout, workers, storage, study, seed,
                     pruner, seeds, named[1:], references)
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
        files += [plan.out / name for name in report.best_names(plan)] + [plan.out / report.BEST_RECORD]
    try:
        files.append(report.plot_study(study, plan))
    except MissingExtra as err:  # no matplotlib: the tables stand on their own
        log(f"note: {err}")
    if best is None:
        return TuneResult(None, None, frame, None, plan.out, files, plan.metric)
    configs = [load_config(plan.out / name) for name in report.best_names(plan)]
    tests = [entry["test"] for entry in best.get("configs", [best])]
    return TuneResult(configs[0], best["valid"], frame, tests[0], plan.out, files, plan.metric, configs,
                      tests)


def _silent(*args, **kwargs) -> None:
    """The API's default log: silent."""
