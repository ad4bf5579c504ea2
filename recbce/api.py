"""The Python API: train a run, load a run, use it.

    import recbce
    run = recbce.train("configs/quickstart.yaml", overrides={"train.epochs": 3})
    rec = recbce.load(run.run_dir)
    rec.recommend([1, 2], k=5)
    recbce.evaluate(run.run_dir, data="moved/data.tsv")  # the data read from where it is now

`recbce.train` takes a config file, a dict shaped like one, or a Config; `overrides` sets
keys by their dotted names, with plain Python values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbce.config import Config, load_config, set_key, validate
from recbce.errors import ArgumentError, ConfigError, DataChanged, RunExists
from recbce.recommender import Recommender


@dataclass
class Run:
    """A finished run: its folder, resolved config and summary (test metrics and more)."""

    run_dir: Path
    config: Config
    summary: dict

    @property
    def metrics(self) -> dict[str, float]:
        """The test metrics of the saved model (empty if trained with score_test=False)."""
        return self.summary.get("test", {})

    def load(self) -> Recommender:
        return Recommender.load(self.run_dir)


def train(config_or_path: str | Path | dict | Config, overrides: dict[str, Any] | None = None,
          overwrite: bool = False, progress: bool = False, log=None, on_evaluation=None,
          score_test: bool = True) -> Run:
    """Train, evaluate on the test split and save the run folder; returns the Run.
    `log`: a function taking each progress line (default: silent). `on_evaluation(epoch, value)`:
    called with eval.metric on validation after each evaluation; returning True stops the run
    there (its best validated model is kept), as a tuner's pruner does. `score_test=False`:
    the test split is left unscored (the Run's metrics are then empty)."""
    from recbce.training.loop import train as run_training  # torch-heavy: only when training

    config = resolve(config_or_path, overrides or {})
    try:
        summary = run_training(config, overwrite=overwrite, progress=progress, log=log or _silent,
                               on_evaluation=on_evaluation, score_test=score_test)
    except RunExists as err:  # its message names the CLI's flag
        raise RunExists(err.run_dir, "overwrite=True") from None
    if summary is None:  # a torchrun rank other than 0: rank 0 holds the results
        return None
    return Run(Path(summary["run_dir"]), config, summary)


def evaluate(run_dir: str | Path, split: str = "test", k: list[int] | None = None,
             data: str | Path | None = None, accept_data_change: bool = False, calibration: bool = False,
             log=None, lists: str | Path | None = None) -> dict[str, float]:
    """A finished run's metrics on `split` (test or valid), as `recbce evaluate` prints them and
    writes them (eval-<split>.json). `data`: where the run's data is now if it moved (the data
    file, or a folder holding its files), checked against what the run read. `lists`: a TREC
    run file to write the ranked lists to (the relevant items go beside it, suffix .qrels)."""
    from recbce.evaluation.ranking import evaluate_run  # torch-heavy: only when evaluating

    if split not in ("test", "valid"):
        raise ArgumentError(f"evaluate: split must be 'test' or 'valid', not {split!r}")
    if k is not None and not (isinstance(k, list | tuple) and k and all(
            isinstance(one, int) and not isinstance(one, bool) and one >= 1 for one in k)):
        raise ArgumentError(f"evaluate: k must be a list of integers >= 1, not {k!r}")
    try:
        return evaluate_run(run_dir, split, sorted(set(k)) if k else None, None, calibration,
                            log or _silent, accept_data_change, None if data is None else Path(data),
                            None if lists is None else Path(lists))
    except DataChanged as err:  # its message names the CLI's flag
        if err.flag is None:
            raise
        raise DataChanged(err.change, err.record, "accept_data_change=True") from None


def check_config(config_or_path: str | Path | dict | Config, overrides: dict[str, Any] | None = None,
                 data: bool = True) -> Config:
    """The validated Config, as `recbce config validate` checks it: ConfigError naming the key,
    or (`data`) DataError if a data file it names is missing or its first 1,000 rows do not
    read with its settings (naming the file, the line and the settings that read it)."""
    from recbce.data.survey import check_data

    config = resolve(config_or_path, overrides or {})
    if data:
        check_data(config, str(config_or_path) if isinstance(config_or_path, str | Path) else "config",
                   "pass data=False")
    return config


def load(run_dir: str | Path) -> Recommender:
    """A trained run as a Recommender, from its folder alone (the data need not exist)."""
    return Recommender.load(run_dir)


def resolve(config_or_path, overrides: dict[str, Any]) -> Config:
    """A validated Config from a file, a dict or a Config, with the overrides applied."""
    # exclude_unset: only what was written, so that defaults which depend on other keys
    # (recbce.config) are resolved again after the overrides, as `--set` does
    if isinstance(config_or_path, Config):
        raw, source = config_or_path.model_dump(exclude_unset=True), "config"
    elif isinstance(config_or_path, dict):
        raw, source = copy.deepcopy(config_or_path), "config"
    elif isinstance(config_or_path, str | Path):
        if not overrides:
            return load_config(config_or_path)
        raw, source = load_config(config_or_path).model_dump(exclude_unset=True), str(config_or_path)
    else:
        raise ConfigError(f"recbce.train: expected a config path, dict or Config, not "
                          f"{type(config_or_path).__name__}")
    blame = {}
    for key, value in overrides.items():
        blame[key] = f"overrides[{key!r}]"
        set_key(raw, key, value, blame[key])
    return validate(raw, source, blame)


def _silent(*args, **kwargs) -> None:
    """The default log: the API prints nothing."""
