"""A finished run evaluated again, user by user: what `recbce compare` tests, and each run's
mean with its standard error over users (for tables of runs such as sweeps).

    from recbce.evaluation.per_user import mean_and_error
    mean_and_error("runs/quickstart", "test")   # {'recall@10': (0.21, 0.006), ...}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbce.errors import RunError
from recbce.evaluation.ranking import evaluate_split, heldout_and_exclusions
from recbce.runs.folder import DATA_FILE
from recbce.runs.trained import load_trained


@dataclass
class RunUsers:
    """One run evaluated on a split: its means, and with per_user one row per evaluated user."""

    name: str
    path: Path
    seed: int
    data: list[str]  # blake2b of each data file the run read (data.json), empty for older runs
    heldout: str  # a digest of the held-out (user id, item id) pairs: equal means the same users
    means: dict[str, float]
    table: pd.DataFrame | None  # index: the data's user ids; one column per per-user metric


def evaluate_users(run_dir, split: str = "test", ks: list[int] | None = None, per_user: bool = True,
                   name: str | None = None) -> RunUsers:
    """Evaluate a finished run on `split` (full ranking), keeping each user's values."""
    run_dir = Path(run_dir)
    config, dataset, model = load_trained(run_dir, None)
    if config.eval.protocol != "full":
        raise RunError(f"{run_dir}: eval.protocol is {config.eval.protocol}; per-user comparisons "
                       "need full ranking (eval.protocol: full)")
    result = evaluate_split(model, dataset, split, config.eval, ks, per_user=per_user, seed=config.seed)
    means, table = (result if per_user else (result, None))
    frame = None
    if per_user:
        ids = np.asarray(dataset.user_ids, dtype=object)[table["user"].numpy()]
        frame = pd.DataFrame({m: v.numpy() for m, v in table.items() if m != "user"},
                             index=pd.Index(ids, name="user"))
    heldout = heldout_and_exclusions(dataset, split)[0]
    return RunUsers(name or str(run_dir), run_dir, config.seed, recorded_data(run_dir),
                    heldout_digest(heldout.users, heldout.items, dataset), means, frame)


def recorded_data(run_dir: Path) -> list[str]:
    """The blake2b of every data file in the run's data.json (sorted); [] if it has none."""
    path = Path(run_dir) / DATA_FILE
    if not path.is_file():
        return []
    try:
        files = json.loads(path.read_text())["files"]
        return sorted(str(entry["blake2b"]) for entry in files)
    except (OSError, ValueError, KeyError, TypeError):
        raise RunError(f"{path}: damaged (not a recbce data record)") from None


def heldout_digest(users: torch.Tensor, items: torch.Tensor, dataset) -> str:
    """The held-out pairs in the data's own ids, order-free, as one digest."""
    user_ids = np.asarray(dataset.user_ids, dtype=object)[users.numpy()]
    item_ids = np.asarray(dataset.item_ids, dtype=object)[items.numpy()]
    pairs = sorted(zip(map(str, user_ids), map(str, item_ids), strict=True))
    return hashlib.blake2b("\n".join(f"{u}\t{i}" for u, i in pairs).encode(), digest_size=16).hexdigest()


def mean_and_error(run_dir, split: str = "test",
                   ks: list[int] | None = None) -> dict[str, tuple[float, float]]:
    """{metric: (mean over users, standard error of that mean)} of a finished run on `split`,
    for every per-user metric (accuracy, popularity, novelty, tail) at `ks` (default eval.k)."""
    return errors_over_users(evaluate_users(run_dir, split, ks).table)


def errors_over_users(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """{column: (mean, sample standard deviation / √users)} of per-user rows."""
    n = len(table)
    return {name: (float(column.mean()), float(column.std(ddof=1)) / n ** 0.5 if n > 1 else float("nan"))
            for name, column in table.items()}
