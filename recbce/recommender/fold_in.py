"""Users who arrive after training: a user vector from the items the user just had, without
retraining (Recommender.recommend_for_history; implicit's recalculate_user, LightFM's new users).

Each model says how a user's vector follows from the user's own vector and items
(`users_from_items`: the history mix of DotProduct, the graph of LightGCN). A new user's own
vector is unknown: it starts at the mean of the user's items' vectors and takes `steps` Adam
steps on the run's own loss, a few of the user's items against a fresh uniform pool of
negatives each step (the run's negatives per positive, accidental hits masked), every trained
table frozen: the training problem restricted to the new rows. All the users of a block are
solved at once.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from recbce.config import Config
from recbce.config.kinds import negatives_per_positive
from recbce.data.dataset import Positives
from recbce.data.history import draw_history
from recbce.data.sniff import COMMON_NAMES, normalised
from recbce.errors import ArgumentError, DataError
from recbce.models import Vectors
from recbce.recommender.ids import IdIndex
from recbce.training.losses import build_loss

FOLD_IN_STEPS = 100  # Adam steps per new user (docs/results.md, "Users who arrive after training")
# A user's items per step, drawn with replacement: a step's cost does not grow with the user's
# count (each row is scored against the whole pool), as training's history sample does not.
POSITIVES_PER_STEP = 4
BLOCK_USERS = 2048  # users solved at once: POSITIVES_PER_STEP × negatives scores each per step


@dataclass
class Histories:
    """New users and their items: `users[u]` (the caller's label) had items[offsets[u]:offsets[u + 1]]."""

    users: np.ndarray
    items: torch.Tensor
    offsets: torch.Tensor
    unplaced: list = field(default_factory=list)  # users none of whose items the run knows (skipped)

    def __len__(self) -> int:
        return len(self.users)

    def counts(self) -> torch.Tensor:
        return torch.diff(torch.cat([self.offsets, self.offsets.new_tensor([len(self.items)])]))

    def owners(self) -> torch.Tensor:
        """[len(items)]: the user row of each item."""
        return torch.repeat_interleave(torch.arange(len(self)), self.counts())

    def latest(self, n: int) -> Histories:
        """Each user's last n items (all of them when n is 0)."""
        if not n:
            return self
        owners, counts = self.owners(), self.counts()
        keep = torch.arange(len(self.items)) - self.offsets[owners] >= counts[owners] - n
        kept = torch.minimum(counts, torch.tensor(n))
        return Histories(self.users, self.items[keep], torch.cumsum(kept, 0) - kept)

    def block(self, start: int, stop: int) -> Histories:
        """Users start..stop (stop past the end: to the end)."""
        stop = min(stop, len(self))
        lo, hi = int(self.offsets[start]), int(self.offsets[stop]) if stop < len(self) else len(self.items)
        return Histories(self.users[start:stop], self.items[lo:hi], self.offsets[start:stop] - lo)


def read_histories(history, items: IdIndex, skip_unknown: bool = False) -> Histories:
    """Histories from a DataFrame with columns user and item (one row per interaction, in the
    order they happened), a dict {user: [items]}, or one list of items (one user, labelled 0).
    Items the run never trained raise UnknownIdError, or with skip_unknown are left out (a user
    left with none is listed in `unplaced`)."""
    frame = history_frame(history)
    if skip_unknown:
        frame = frame.assign(row=items.find(frame["item"].tolist()))
        known = frame["row"].to_numpy() >= 0
        unplaced = list(pd.unique(frame["user"][~frame["user"].isin(frame["user"][known])]))
        return with_offsets(frame[known], unplaced)
    rows = items.require(frame["item"].tolist(), " (items the run never trained cannot be folded in: "
                                                 "leave them out, or skip_unknown=True / --skip-unknown)")
    return with_offsets(frame.assign(row=rows), [])


def with_offsets(frame: pd.DataFrame, unplaced: list) -> Histories:
    """Histories of a frame of (user, row), each user's rows kept in their order."""
    codes, labels = pd.factorize(frame["user"], sort=False)
    order = np.argsort(codes, kind="stable")  # each user's items together, in the order given
    counts = np.bincount(codes, minlength=len(labels))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return Histories(np.asarray(labels, dtype=object) if labels.dtype == object else np.asarray(labels),
                     torch.from_numpy(frame["row"].to_numpy()[order].astype(np.int64)),
                     torch.from_numpy(offsets.astype(np.int64)), unplaced)


def read_history_file(path: Path) -> pd.DataFrame:
    """A history file's (user, item) rows: CSV, TSV or Parquet with a header naming a user and an
    item column (user, user_id, customer, item, item_id, movieId, ...: recbce.data.sniff); rows in
    the order of a time column when there is one, else as written."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path).astype(str)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str,
                                keep_default_na=False)
    except (ValueError, OSError, ImportError) as err:
        raise DataError(f"{path}: cannot read it as {path.suffix.lstrip('.') or 'csv'}: {err}") from None
    names = {role: next((c for c in frame.columns if normalised(c) in COMMON_NAMES[role]), None)
             for role in ("user", "item", "timestamp")}
    for role in ("user", "item"):
        if names[role] is None:
            raise DataError(f"{path}: no {role} column in the header {list(frame.columns)} "
                            f"(name it {role}, {role}_id, ...)")
    if names["timestamp"] is not None:
        frame = frame.sort_values(names["timestamp"], kind="stable",
                                  key=lambda column: pd.to_numeric(column, errors="coerce"))
    return frame.rename(columns={names["user"]: "user", names["item"]: "item"})[["user", "item"]]


def history_frame(history) -> pd.DataFrame:
    if isinstance(history, pd.DataFrame):
        missing = [column for column in ("user", "item") if column not in history.columns]
        if missing:
            raise ArgumentError(f"history: the frame has no column {missing[0]!r} (it needs user and item)")
        frame = history[["user", "item"]]
    elif isinstance(history, dict):
        frame = pd.DataFrame([(user, item) for user, given in history.items() for item in given],
                             columns=["user", "item"])
    elif isinstance(history, str | bytes) or not hasattr(history, "__iter__"):
        raise ArgumentError(f"history: give a list of items, a dict user -> items or a frame with "
                            f"columns user and item, not {type(history).__name__}")
    else:
        frame = pd.DataFrame({"user": 0, "item": list(history)}, columns=["user", "item"])
    if frame.empty:
        raise ArgumentError("history: no items given")
    if frame["item"].isna().any():
        raise ArgumentError(f"history: row {int(np.flatnonzero(frame['item'].isna())[0])} has no item")
    return frame.reset_index(drop=True)


def fold_in(model, config: Config, vectors: Vectors, histories: Histories, steps: int,
            seed: int = 0) -> torch.Tensor:
    """[len(histories), d]: exported user vectors (scores = users · vectors.items + item_bias) of
    the new users, each solved from its items alone; the same seed gives the same vectors."""
    if not hasattr(model, "users_from_items"):
        raise ArgumentError(f"model.kind {config.model.kind} cannot fold in new users")
    if steps < 0:
        raise ArgumentError(f"fold-in steps must be >= 0, not {steps}")
    if not len(histories):
        return vectors.items.new_zeros(0, vectors.items.shape[1])
    generator = torch.Generator().manual_seed(seed)
    starts = range(0, len(histories), BLOCK_USERS)
    with frozen(model):
        return torch.cat([solve(model, config, vectors, histories.block(start, start + BLOCK_USERS), steps,
                                generator) for start in starts])


def solve(model, config: Config, vectors: Vectors, histories: Histories, steps: int,
          generator: torch.Generator) -> torch.Tensor:
    """Adam on the users' own vectors alone: each step, POSITIVES_PER_STEP of each user's items
    drawn at random against a fresh pool of negatives, under the run's loss. With model.context
    n the user's vector mixes in its latest n items, as scoring does."""
    mixed = histories.latest(model.context)
    own = F.embedding_bag(histories.items, model.item_inputs(), histories.offsets, mode="mean").detach()
    own.requires_grad_()
    n_items, n_users = len(vectors.items), len(histories)
    bias = vectors.item_bias if vectors.item_bias is not None else vectors.items.new_zeros(n_items)
    loss = build_loss(config.loss, n_items)
    given = Positives.from_pairs(histories.owners(), histories.items, n_users, n_items)
    optimizer = torch.optim.Adam([own], lr=config.train.lr)
    negatives = min(max(negatives_per_positive(config), 1), n_items)  # the run's, at least one
    rows = torch.arange(n_users)
    users_of_rows = rows.repeat_interleave(POSITIVES_PER_STEP)
    for _ in range(steps):
        drawn = draw_history(given, rows, POSITIVES_PER_STEP, generator)
        pool = torch.randint(n_items, (negatives,), generator=generator)
        users = model.users_from_items(own, mixed.items, mixed.offsets)
        pos = (users.unsqueeze(1) * vectors.items[drawn]).sum(-1) + bias[drawn]
        neg = torch.addmm(bias[pool], users, vectors.items[pool].T)
        hit = given.contains(rows.unsqueeze(1), pool.unsqueeze(0))  # accidental positives
        neg = neg.masked_fill(hit, -torch.inf)
        optimizer.zero_grad()
        loss(pos.reshape(-1), neg[users_of_rows]).backward()
        optimizer.step()
    with torch.no_grad():
        return model.users_from_items(own.detach(), mixed.items, mixed.offsets)


@contextmanager
def frozen(model):
    """The model's parameters out of autograd for a while: only the new users' vectors learn."""
    wanted = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    for parameter, _ in wanted:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in wanted:
            parameter.requires_grad_(flag)
