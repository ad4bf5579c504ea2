"""A study: Optuna's record of the trials, opened the same way by every worker.

The study lives in Optuna's storage: by default a journal file in the study folder, which
processes on one machine share through its file lock; `--storage URL` names a database (RDB
storage, e.g. PostgreSQL) that several machines reach. The study keeps its space and base
config as attributes, so a second command on the same study with another space is refused.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from recbce.errors import ConfigError, MissingExtra
from recbce.runs.files import first_line
from recbce.tuning.space import Dimension

STUDY_FILE = "study.journal"
PRUNERS = ("median", "hyperband", "none")
RELATIVE = "relative"  # the objective's name with several configs: the mean of figure / reference
IDENTITY = {"space": "space", "config": "config", "seeds": "--seeds (runs per trial)",
            "more configs": "list of configs", "references": "--reference figures"}
DEFAULTS = {"seeds": 1, "more configs": [], "references": []}  # a study recorded before they existed
INSTALL_HINT = "pip install 'recbce[tune]'"


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to run trials: plain, picklable data (workers are processes)."""

    base: dict  # the base config as written, overrides applied (recbce.config's exclude_unset dump)
    source: str  # where the base config came from, for messages
    dimensions: tuple[Dimension, ...]
    out: Path  # the study folder: trial-NNNN run folders, tables, best.yaml
    study_name: str
    storage: str | None  # None: STUDY_FILE in `out`
    trials: int
    timeout: float | None
    seed: int
    pruner: str
    threads: int | None  # torch threads per worker (train.threads), None: the config's own
    metric: str  # eval.metric, on validation: the objective
    seeds: int = 1  # runs per trial (config seed, seed + 1, ...): the objective is their mean
    more: tuple[dict, ...] = ()  # other base configs every trial also trains (other data sets)
    references: tuple[float, ...] = ()  # with `more`: each config's figure, the first's first

    @property
    def bases(self) -> tuple[dict, ...]:
        return (self.base, *self.more)

    def by_config(self, per_run: list) -> list[list]:
        """A trial's per-run list (in run_of's order) cut into one list per config."""
        return [per_run[c * self.seeds:(c + 1) * self.seeds] for c in range(len(self.bases))]

    def run_of(self, index: int) -> tuple[dict, int]:
        """A trial's run `index`: (its base config, its seed offset); configs first, then seeds."""
        return self.bases[index // self.seeds], index % self.seeds


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtra(f"recbce tune needs optuna: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # recbce prints its own lines
    return optuna


def storage_of(plan: Plan):
    """The study's storage: the journal file in the study folder, or the `--storage` URL."""
    optuna = require_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(plan.out / STUDY_FILE)))
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(plan.storage)
        except Exception as err:  # a bad URL, a missing driver, a server that does not answer
            # Optuna creates its tables on first use; processes starting together on a new
            # database can collide there, and the loser finds the tables made on a second try.
            if attempt < 2 and type(err).__name__ in ("IntegrityError", "ProgrammingError"):
                time.sleep(0.5 + attempt)
                continue
            raise ConfigError(f"--storage {plan.storage}: cannot open: {first_line(err)}") from None


def open_study(plan: Plan, worker: int = 0):
    """The study, created on first use; its sampler seeded per worker and per trials done, so
    that workers, and a study continued, do not draw the same points again."""
    optuna = require_optuna()
    study = optuna.create_study(storage=storage_of(plan), study_name=plan.study_name,
                                direction="maximize", pruner=make_pruner(plan), load_if_exists=True)
    check_same_study(study, plan)
    done = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(plan.seed, worker, done))
    return study


def sampler_seed(seed: int, worker: int, done: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([seed, worker, done]).generate_state(1)[0])


def make_pruner(plan: Plan):
    optuna = require_optuna()
    if plan.pruner == "median":  # epochs 1-2 are never cut: slow starters are not losers yet
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3)
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto", reduction_factor=3)
    return optuna.pruners.NopPruner()


def identity(plan: Plan) -> dict:
    """What makes two commands the same study: the space, the base configs, their references and
    the seeds a trial trains."""
    return json.loads(json.dumps({"space": [d.as_dict() for d in plan.dimensions], "config": plan.base,
                                  "seeds": plan.seeds, "more configs": list(plan.more),
                                  "references": list(plan.references)}))


def check_same_study(study, plan: Plan) -> None:
    recorded = study.user_attrs.get("recbce")
    mine = identity(plan)
    if recorded is None:
        study.set_user_attr("recbce", mine)
        study.set_user_attr("metric", plan.metric)
        return
    where = plan.storage or str(plan.out / STUDY_FILE)
    for part in IDENTITY:
        if recorded.get(part, DEFAULTS.get(part)) != mine[part]:
            raise ConfigError(f"study {plan.study_name!r} in {where} exists with another {IDENTITY[part]}: "
                              "continue it with the same config and space, or choose another "
                              "--study or --out")


def worker_tag() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}
