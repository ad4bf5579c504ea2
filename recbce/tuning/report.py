"""What a study leaves in its folder: the table of trials (trials.md, trials.csv), best.yaml,
the best trial's test metrics (best.json: scored once, for the trial validation picked) and
tune.png (the best value against trials and time; which keys mattered)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd

from recbce import runs
from recbce.config import load_config, to_yaml
from recbce.errors import RecbceError
from recbce.runs.contents import CONFIG_FILE
from recbce.runs.folder import RunFolder
from recbce.runs.plots import require_matplotlib, write_png
from recbce.training.sweep import to_csv, to_markdown
from recbce.tuning.study import Plan, require_optuna
from recbce.tuning.trials import trial_dir, trial_dirs

BEST_CONFIG = "best.yaml"
BEST_RECORD = "best.json"
PLOT_FILE = "tune.png"
MIN_FOR_IMPORTANCE = 5
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
          "WAITING": "waiting"}


def trials_frame(study, plan: Plan) -> pd.DataFrame:
    """One row per trial: rank (finished trials, by validation), state, the drawn values, best
    validation and its standard error over validation users, epochs, seconds and the error of a
    failed trial."""
    keys = [d.key for d in plan.dimensions]
    per_run = ["per run"] if len(plan.bases) * plan.seeds > 1 else []
    rows = []
    for trial in study.get_trials(deepcopy=False):
        records = [_run_record(folder) for folder in trial_dirs(plan, trial.number)]
        each = trial.user_attrs.get("valid_runs")  # several runs: each one's best validation
        state = "interrupted" if trial.user_attrs.get("interrupted") else STATES[trial.state.name]
        rows.append({"trial": trial.number, "state": state,
                     **{key: trial.params.get(key) for key in keys},
                     f"valid {plan.metric}": best_value(trial),
                     "per run": " ".join(f"{value:.4f}" for value in each) if each else None,
                     "se": trial.user_attrs.get("valid_se"),  # over validation users
                     "epochs": len(records[0].epoch_log) if records[0] else None,
                     "seconds": _seconds(records), "error": trial.user_attrs.get("error", "")})
    frame = pd.DataFrame(rows, columns=["trial", "state", *keys, f"valid {plan.metric}", *per_run, "se",
                                        "epochs", "seconds", "error"])
    finished = frame["state"] == "complete"
    ranks = frame.loc[finished, f"valid {plan.metric}"].rank(ascending=False, method="first")
    frame.insert(0, "rank", ranks.astype("Int64"))
    return frame.sort_values(["rank", "trial"], na_position="last").reset_index(drop=True)


def best_value(trial) -> float | None:
    """A finished trial's objective; a pruned one's best validation before it was cut."""
    if trial.value is not None:
        return trial.value
    return max(trial.intermediate_values.values()) if trial.intermediate_values else None


def _run_record(folder: Path):
    try:
        return RunFolder(folder).record()
    except RecbceError:
        return None


def _seconds(records: list) -> float | None:
    """The trial's training time over its runs; a trial another process has just started has a
    folder and no epoch yet (None)."""
    times = [record.seconds for record in records if record is not None and record.seconds is not None]
    return round(sum(times), 1) if times else None


def write_tables(frame: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    header = list(frame.columns)
    rows = [[None if _missing(v) else v for v in row] for row in frame.itertuples(index=False)]
    runs.write_text(out / "trials.md", to_markdown(header, rows))
    runs.write_text(out / "trials.csv", to_csv(header, rows))
    return out / "trials.md", out / "trials.csv"


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def write_best(study, plan: Plan, log) -> dict | None:
    """best.yaml (the best trial's config, trained as it is by `recbce train`) and best.json with
    its test metrics, scored once: a study continued later scores only a new best trial."""
    optuna = require_optuna()
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    folder = trial_dir(plan, best.number)
    if not (folder / CONFIG_FILE).is_file():  # it ran on another machine (a shared --storage)
        log(f"note: the best trial, {folder.name}, ran on another machine: its folder, best.yaml "
            "and its test metrics are there")
        return None
    folders = trial_dirs(plan, best.number)
    for runs_of_config, name in zip(plan.by_config(folders), best_names(plan), strict=True):
        write_best_config(runs_of_config[0], plan.out / name)  # the first run: its seed as given
    record = _read_record(plan.out / BEST_RECORD)
    if record is None or record.get("trial") != best.number:
        log(f"scoring the best trial ({folder.name}) on test, once")
        tests = [test_of(runs) for runs in plan.by_config(folders)]
        record = {"trial": best.number, "run_dir": str(folder), "metric": plan.metric,
                  "valid": best.value, "params": best.params, **tests[0],
                  "note": "test scored once, for the trial chosen on validation; never used to choose"}
        if len(tests) > 1:  # each config's test, by its best-K.yaml; "test" above is the first's
            names = best_names(plan)
            record["configs"] = [{"best": name, **test} for name, test in zip(names, tests, strict=True)]
        runs.write_json(plan.out / BEST_RECORD, record)
    return record


def best_names(plan: Plan) -> list[str]:
    """best.yaml for the (first) config; best-2.yaml ... for the others, in order."""
    return [BEST_CONFIG] + [f"best-{index + 1}.yaml" for index in range(1, len(plan.bases))]


def write_best_config(folder: Path, path: Path) -> None:
    """The run's config, named `best`: `recbce train` trains it as it is."""
    config = load_config(folder / CONFIG_FILE)
    config = config.model_copy(update={"run": config.run.model_copy(update={"name": path.stem})})
    runs.write_text(path, to_yaml(config))


def test_of(folders: list[Path]) -> dict:
    """{"test": metrics} of a config's run; of several runs (--seeds), their mean, and each run's."""
    from recbce.evaluation.ranking import evaluate_run

    each = [evaluate_run(folder, "test", log=_silent) for folder in folders]
    if len(each) == 1:
        return {"test": each[0]}
    mean = {name: sum(run[name] for run in each) / len(each) for name in each[0]}
    return {"test": mean, "test_runs": {folder.name: run for folder, run in zip(folders, each, strict=True)}}


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def plot_study(study, plan: Plan) -> Path:
    """tune.png: the best validation so far against trials and against time, and the keys'
    importance (Optuna's PED-ANOVA over finished trials)."""
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    optuna = require_optuna()
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    figure = Figure(figsize=(13.0, 3.8), dpi=100, layout="constrained")  # long key names fit
    FigureCanvasAgg(figure)
    by_trial, by_time, keys = figure.subplots(1, 3)
    start = min((t.datetime_start for t in trials if t.datetime_start), default=None)
    best, xs, times, bests = -math.inf, [], [], []
    for t in sorted(finished, key=lambda t: t.datetime_complete):
        best = max(best, t.value)
        xs.append(t.number)
        times.append((t.datetime_complete - start).total_seconds())
        bests.append(best)
    by_trial.scatter([t.number for t in finished], [t.value for t in finished], s=10, alpha=0.5,
                     label="trial")
    by_trial.step(xs, bests, where="post", color="C1", label="best so far")
    by_time.step(times, bests, where="post", color="C1")
    _label(by_trial, "trial", f"valid {plan.metric}")
    _label(by_time, "seconds since the first trial", f"best valid {plan.metric}")
    by_trial.legend(fontsize="small")
    importances = _importances(study)
    keys.barh(list(importances)[::-1], list(importances.values())[::-1])
    _label(keys, "importance (PED-ANOVA, validation)", "")
    if not importances:
        keys.text(0.5, 0.5, f"needs {MIN_FOR_IMPORTANCE} finished trials\nthat differ", ha="center",
                  va="center", transform=keys.transAxes)  # axes, not data, coordinates: no bars
    return write_png(figure, plan.out / PLOT_FILE)


def _label(axes, x: str, y: str) -> None:
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.grid(alpha=0.3)


def _importances(study) -> dict[str, float]:
    """Optuna's PED-ANOVA importances over finished trials; {} while too few to tell."""
    optuna = require_optuna()
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < MIN_FOR_IMPORTANCE:
        return {}
    try:
        with warnings.catch_warnings():  # "few trials in a regime": the plot is a rough guide anyway
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError):  # no parameter that differs between the trials
        return {}


def _silent(*args, **kwargs) -> None:
    """evaluate_run's log: the study prints its own lines."""
