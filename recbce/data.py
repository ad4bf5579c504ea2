"""Interaction data: read a file, split it, map ids to contiguous indices.

The core structure is `Positives`, one sorted per-user index (CSR) of the
training pairs that sampling and evaluation both query in whole batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbce.config import DataConfig
from recbce.errors import DataError

COLUMNS = ["user", "item", "rating", "timestamp"]


@dataclass
class Positives:
    """Sorted (user, item) pairs as CSR, with flat keys user * n_items + item for lookups."""

    indptr: torch.Tensor  # [n_users + 1]
    indices: torch.Tensor  # [nnz], items of each user, sorted
    keys: torch.Tensor  # [nnz], sorted
    n_items: int

    @classmethod
    def from_pairs(cls, users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int):
        keys = torch.unique(users * n_items + items)  # sorted, duplicates dropped
        counts = torch.bincount(keys // n_items, minlength=n_users)
        indptr = torch.zeros(n_users + 1, dtype=torch.int64)
        indptr[1:] = torch.cumsum(counts, 0)
        return cls(indptr=indptr, indices=keys % n_items, keys=keys, n_items=n_items)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Boolean tensor shaped like `items`: is (user, item) a stored pair?"""
        if self.keys.numel() == 0:
            return torch.zeros(items.shape, dtype=torch.bool)
        query = users * self.n_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def counts(self) -> torch.Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def rows(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row in `users`, item) for every stored pair of the given users, without a loop."""
        starts, lengths = self.indptr[users], self.counts()[users]
        row = torch.repeat_interleave(torch.arange(len(users)), lengths)
        offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(
            torch.cumsum(lengths, 0) - lengths, lengths
        )
        return row, self.indices[starts[row] + offsets]


@dataclass
class Split:
    users: torch.Tensor
    items: torch.Tensor

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Dataset:
    train: Split
    valid: Split | None
    test: Split
    user_ids: list  # index -> the user's own id
    item_ids: list
    positives: Positives  # training pairs

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_counts(self) -> torch.Tensor:
        """Training interactions per item."""
        return torch.bincount(self.train.items, minlength=self.n_items)


def read_interactions(path: str | Path, fmt: str) -> pd.DataFrame:
    """A frame with columns user, item and, where present, rating and timestamp."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if fmt == "adjacency":
        return _read_adjacency(path)
    sep = "\t" if fmt == "tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot parse as {fmt}: {str(err).splitlines()[0]}") from None
    if frame.shape[1] < 2:
        raise DataError(f"{path}: expected at least 2 columns (user, item), found {frame.shape[1]}")
    frame = frame.iloc[:, :4]
    frame.columns = COLUMNS[: frame.shape[1]]
    for column in ("rating", "timestamp"):
        if column in frame:
            frame[column] = _numeric(frame[column], path, column)
    return frame


def _numeric(values: pd.Series, path: Path, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(numbers.isna().to_numpy())
    if len(bad):
        raise DataError(f"{path}: line {bad[0] + 1}: {column} {values.iloc[bad[0]]!r} is not a number")
    return numbers


def _read_adjacency(path: Path) -> pd.DataFrame:
    """LightGCN/NGCF form: one line per user, `user item item ...`."""
    users, items = [], []
    with path.open() as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if not all(p.isdigit() for p in parts):
                raise DataError(f"{path}: line {number}: expected integer ids")
            users.append(np.full(len(parts) - 1, int(parts[0]), dtype=np.int64))
            items.append(np.asarray(parts[1:], dtype=np.int64))
    if not users:
        raise DataError(f"{path}: the file is empty")
    return pd.DataFrame({"user": np.concatenate(users), "item": np.concatenate(items)})


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    frame = read_interactions(config.path, config.format)
    if config.min_rating is not None:
        if "rating" not in frame:
            raise DataError(f"{config.path}: data.min_rating is set but the file has no rating column")
        frame = frame[frame["rating"] >= config.min_rating]
    frame = frame.drop_duplicates(["user", "item"], keep="last")
    split = config.split
    if split.method == "predefined":
        if split.test_path is None:
            raise DataError("data.split.test_path is required when data.split.method is predefined")
        train, test = frame, read_interactions(split.test_path, config.format)
        train, valid = holdout(train, split.valid_ratio, seed)
    elif split.method == "leave_one_out":
        train, test = leave_one_out(frame, config.path)
        train, valid = leave_one_out(train, config.path) if split.valid_ratio > 0 else (train, None)
    else:
        train, test = holdout(frame, split.test_ratio, seed)
        train, valid = holdout(train, split.valid_ratio / (1 - split.test_ratio), seed + 1)
    if len(train) == 0:
        raise DataError(f"{config.path}: no training interactions left")
    return index(train, valid, test)


def holdout(frame: pd.DataFrame, ratio: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Move a seeded random `ratio` of each user's rows out; users keep at least one row."""
    if ratio <= 0:
        return frame, None
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(frame)), frame["user"].to_numpy()))
    shuffled = frame.iloc[order]
    rank = shuffled.groupby("user", sort=False).cumcount().to_numpy()
    size = shuffled.groupby("user", sort=False)["item"].transform("size").to_numpy()
    held = rank < np.minimum(np.floor(size * ratio), size - 1)
    return shuffled[~held], shuffled[held]


def leave_one_out(frame: pd.DataFrame, path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction (by timestamp) is held out; single-row users keep theirs."""
    if "timestamp" not in frame:
        raise DataError(f"{path}: leave_one_out needs a timestamp column (the 4th)")
    ordered = frame.sort_values(["user", "timestamp"], kind="stable")
    last = ~ordered["user"].duplicated(keep="last").to_numpy()
    many = ordered.groupby("user", sort=False)["item"].transform("size").to_numpy() > 1
    return ordered[~(last & many)], ordered[last & many]


def index(train: pd.DataFrame, valid: pd.DataFrame | None, test: pd.DataFrame) -> Dataset:
    """Map ids seen in training to 0..n-1; held-out rows with unseen ids are dropped."""
    user_codes, user_ids = pd.factorize(train["user"], sort=True)
    item_codes, item_ids = pd.factorize(train["item"], sort=True)
    users, items = torch.from_numpy(user_codes), torch.from_numpy(item_codes)
    positives = Positives.from_pairs(users, items, len(user_ids), len(item_ids))

    def encode(frame: pd.DataFrame | None) -> Split | None:
        if frame is None:
            return None
        u = pd.Index(user_ids).get_indexer(frame["user"])
        i = pd.Index(item_ids).get_indexer(frame["item"])
        keep = (u >= 0) & (i >= 0)
        return Split(torch.from_numpy(u[keep]).long(), torch.from_numpy(i[keep]).long())

    return Dataset(
        train=Split(users, items),
        valid=encode(valid),
        test=encode(test),
        user_ids=user_ids.tolist(),
        item_ids=item_ids.tolist(),
        positives=positives,
    )
