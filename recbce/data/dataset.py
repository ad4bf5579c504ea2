"""Interaction data: read a file, split it, map ids to contiguous indices.

The core structure is `Positives`, one sorted per-user index (CSR) of the
training pairs that sampling and evaluation both query in whole batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from recbce.config import DataConfig
from recbce.data.layout import resolved
from recbce.data.readers import read_interactions
from recbce.data.splits import holdout, implicit, kcore, leave_one_out, temporal
from recbce.errors import DataError


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
        starts = self.indptr[users]
        lengths = self.indptr[users + 1] - starts
        row = torch.repeat_interleave(torch.arange(len(users)), lengths)
        # Output j is pair j − first[row] of its user, stored at starts[row] + j − first[row].
        shift = starts - (torch.cumsum(lengths, 0) - lengths)
        return row, self.indices[torch.arange(len(row)) + shift[row]]


@dataclass
class Split:
    users: torch.Tensor
    items: torch.Tensor
    times: torch.Tensor | None = None  # the file's timestamps, where it has them (model.context)

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
    report: dict = field(default_factory=dict)  # rows dropped while loading, by reason

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_counts(self) -> torch.Tensor:
        """Training interactions per item."""
        return torch.bincount(self.train.items, minlength=self.n_items)

    def all_positives(self) -> Positives:
        """Every observed pair (train, validation, test): what a recommendation never repeats."""
        splits = [s for s in (self.train, self.valid, self.test) if s is not None]
        users, items = torch.cat([s.users for s in splits]), torch.cat([s.items for s in splits])
        return Positives.from_pairs(users, items, self.n_users, self.n_items)


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Read, convert to implicit feedback, filter, split and index the configured data."""
    train, valid, test, report = load_frames(config, seed)
    dataset = index(train, valid, test)
    report["unseen_heldout"] = heldout_size(valid, test) - heldout_size(dataset.valid, dataset.test)
    dataset.report = report
    return dataset


def require_heldout(dataset: Dataset, path) -> None:
    """Training needs something to rank: with an empty split every metric is undefined."""
    for name, split in (("test", dataset.test), ("validation", dataset.valid)):
        if split is not None and len(split) == 0:
            raise DataError(f"{path}: the {name} split is empty (too few interactions per user, "
                            "or held-out users/items unseen in training); change data.split")


def heldout_size(valid, test) -> int:
    return len(test) + (len(valid) if valid is not None else 0)


def load_frames(config: DataConfig, seed: int):
    """(train, valid or None, test, report of dropped rows) as frames in the file's own ids.
    Every file is read as data.path's first lines say (one header decision for all)."""
    config = resolved(config)
    frame = read_interactions(config.path, config)
    frame, report = implicit(frame, config.min_rating, config.path)
    frame, report["kcore"] = kcore(frame, config.kcore)
    train, valid, test = split(frame, config, seed)
    if len(train) == 0:
        raise DataError(f"{config.path}: no training interactions left after filtering")
    return train, valid, test, report


def describe(config: DataConfig, seed: int) -> dict:
    """Sizes, density and count quantiles of the interactions, and the split sizes."""
    train, valid, test, report = load_frames(config, seed)
    frame = pd.concat([f for f in (train, valid, test) if f is not None], ignore_index=True)
    n_users, n_items = frame["user"].nunique(), frame["item"].nunique()
    quantiles = [0, 0.25, 0.5, 0.75, 1]
    per_user = frame.groupby("user").size().quantile(quantiles).round(1).tolist()
    per_item = frame.groupby("item").size().quantile(quantiles).round(1).tolist()
    dataset = index(train, valid, test)
    return {
        "users": n_users, "items": n_items, "interactions": len(frame),
        "density": len(frame) / (n_users * n_items),
        "per-user count (min, q25, median, q75, max)": per_user,
        "per-item count (min, q25, median, q75, max)": per_item,
        "train": len(train), "valid": len(valid) if valid is not None else 0, "test": len(test),
        "train users x items": f"{dataset.n_users} x {dataset.n_items}",
        "held-out rows dropped (unseen user or item)":
            heldout_size(valid, test) - heldout_size(dataset.valid, dataset.test),
        **{f"dropped: {reason}": count for reason, count in report.items()},
    }


def split(frame: pd.DataFrame, config: DataConfig, seed: int):
    """(train, valid or None, test) frames by the configured method."""
    method, path = config.split, config.path
    if method.method == "predefined":
        if method.test_path is None:
            raise DataError("data.split.test_path is required when data.split.method is predefined")
        test = implicit(read_interactions(method.test_path, config), config.min_rating, method.test_path)[0]
        if method.valid_path is not None:
            valid = implicit(read_interactions(method.valid_path, config), config.min_rating,
                             method.valid_path)[0]
            return frame, valid, test
        train, valid = holdout(frame, method.valid_ratio, seed)
        return train, valid, test
    if method.method == "leave_one_out":
        train, test = leave_one_out(frame, path)
        train, valid = leave_one_out(train, path) if method.valid_ratio > 0 else (train, None)
        return train, valid, test
    if method.method == "temporal":
        train, test = temporal(frame, method.test_ratio, path)
        valid = None
        if method.valid_ratio > 0:
            train, valid = temporal(train, method.valid_ratio / (1 - method.test_ratio), path)
        return train, valid, test
    train, test = holdout(frame, method.test_ratio, seed)
    train, valid = holdout(train, method.valid_ratio / (1 - method.test_ratio), seed + 1)
    return train, valid, test


def index(train: pd.DataFrame, valid: pd.DataFrame | None, test: pd.DataFrame) -> Dataset:
    """Map ids seen in training to 0..n-1; held-out rows with unseen ids are dropped."""
    user_codes, user_ids = pd.factorize(train["user"], sort=True)
    item_codes, item_ids = pd.factorize(train["item"], sort=True)
    users, items = torch.from_numpy(user_codes), torch.from_numpy(item_codes)
    positives = Positives.from_pairs(users, items, len(user_ids), len(item_ids))

    def times(frame: pd.DataFrame) -> torch.Tensor | None:
        return torch.from_numpy(frame["timestamp"].to_numpy("float64")) if "timestamp" in frame else None

    def encode(frame: pd.DataFrame | None) -> Split | None:
        if frame is None:
            return None
        u = pd.Index(user_ids).get_indexer(frame["user"])
        i = pd.Index(item_ids).get_indexer(frame["item"])
        keep = (u >= 0) & (i >= 0)
        stamps = times(frame)
        return Split(torch.from_numpy(u[keep]).long(), torch.from_numpy(i[keep]).long(),
                     None if stamps is None else stamps[torch.from_numpy(keep)])

    return Dataset(
        train=Split(users, items, times(train)),
        valid=encode(valid),
        test=encode(test),
        user_ids=user_ids.tolist(),
        item_ids=item_ids.tolist(),
        positives=positives,
    )
