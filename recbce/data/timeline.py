"""Each user's interactions in time order: the items a user had just before a given one.

With `model.context: n` the history mix (model.history) reads, for every scored pair,
the n items its user interacted with just before it, in place of a sample of all the
user's items: the user side becomes "who you are and what you just did", as in FPMC
(Rendle et al., WWW 2010), and the score stays one dot product. Training reads the n
items before each training pair; evaluation reads each user's latest n items known before
the split it scores (train for validation, train + validation for test), so nothing from
the future of a held-out item enters its score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recbce.data.dataset import Dataset, Positives, Split
from recbce.errors import DataError


@dataclass
class Timeline:
    """Training pairs ordered by (user, time), ties in file order, and where each pair landed."""

    position: torch.Tensor  # [N]: the place of training pair i in the ordered list
    users: torch.Tensor  # [N], ordered
    items: torch.Tensor  # [N], ordered

    @classmethod
    def of(cls, split: Split) -> Timeline:
        order = time_order(split)
        position = torch.empty_like(order)
        position[order] = torch.arange(len(order))
        return cls(position, split.users[order], split.items[order])

    def before(self, pairs: torch.Tensor, n: int) -> torch.Tensor:
        """[len(pairs), n]: for training pairs (their indices), the items their user had just
        before them, latest first; −1 where the user had fewer than n."""
        at = self.position[pairs]
        earlier = at.unsqueeze(1) - torch.arange(1, n + 1)
        inside = earlier >= 0
        earlier = earlier.clamp(min=0)
        same_user = inside & (self.users[earlier] == self.users[at].unsqueeze(1))
        return torch.where(same_user, self.items[earlier], -1)


def time_order(split: Split) -> torch.Tensor:
    """Indices of the split's pairs, ordered by user, then time (stable)."""
    if split.times is None:
        raise DataError("model.context needs timestamps in the data (a timestamp column)")
    by_time = torch.sort(split.times, stable=True).indices
    return by_time[torch.sort(split.users[by_time], stable=True).indices]


def latest(split: Split, n: int, n_users: int, n_items: int) -> Positives:
    """Each user's n latest items in the split, as a per-user index."""
    timeline = Timeline.of(split)
    users, items = timeline.users, timeline.items
    ends = torch.cumsum(torch.bincount(users, minlength=n_users), 0)  # one past each user's last
    from_end = ends[users] - 1 - torch.arange(len(users))
    keep = from_end < n
    return Positives.from_pairs(users[keep], items[keep], n_users, n_items)


def known_before(dataset: Dataset, split: str, n: int) -> Positives:
    """The n latest items of each user known before `split` ('valid' or 'test') is scored."""
    train, valid = dataset.train, dataset.valid
    known = train
    if split == "test" and valid is not None:
        times = None if train.times is None or valid.times is None else torch.cat([train.times, valid.times])
        known = Split(torch.cat([train.users, valid.users]), torch.cat([train.items, valid.items]), times)
    return latest(known, n, dataset.n_users, dataset.n_items)
