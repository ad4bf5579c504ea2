"""Negative samplers: unobserved (user, item) pairs, drawn for a whole batch at once.

A sampler owns no randomness: every draw takes an explicit `torch.Generator`,
so a run is reproducible from its seed and a checkpoint can store the
generator's state. `sample` returns `Negatives`: the items [B, k] and, for the
in-batch sampler, a mask of usable ones; the training step gives masked
negatives the score −inf, which every loss treats as costing nothing, so the
loss signature stays (pos[B], neg[B, k]) -> scalar. `log_prob` gives each
item's sampling log-probability, for losses that correct for it (log-Q).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from recbce.config import SamplerConfig
from recbce.data import Positives
from recbce.errors import DataError

REJECTION_ROUNDS = 8


@dataclass
class Negatives:
    items: torch.Tensor  # [B, k]
    valid: torch.Tensor | None = None  # [B, k] bool; None means all usable


def make_generator(seed: int, rank: int = 0) -> torch.Generator:
    """A generator for one process: ranks get independent, reproducible streams."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank)


class ItemSampler:
    """Items drawn i.i.d. from a distribution over the catalogue (uniform, or ∝ count^alpha).

    With `exclude_positives`, draws that hit one of the user's training items are
    redrawn (only those), so every negative is an unobserved pair: the result is
    the distribution restricted to the user's unobserved items.
    """

    def __init__(self, positives: Positives, probs: torch.Tensor | None = None,
                 exclude_positives: bool = True):
        self.positives = positives
        self.n_items = positives.n_items
        self.exclude_positives = exclude_positives
        self.probs = None if probs is None else probs.double() / probs.sum()
        self.cdf = None if probs is None else torch.cumsum(self.probs, 0)
        self.log_probs = None if probs is None else torch.log(probs.double() / probs.sum()).float()
        if self.n_items < 2:
            raise DataError("the catalogue has fewer than 2 items: there is nothing to rank")
        if exclude_positives:
            full = positives.counts() >= self.n_items
            if bool(full.any()):
                user = int(torch.nonzero(full)[0])
                raise DataError(
                    f"user index {user} has interacted with every item: no negative can be drawn "
                    "(drop such users or set sampler.exclude_positives: false)"
                )

    def draw(self, shape, generator: torch.Generator) -> torch.Tensor:
        if self.cdf is None:
            return torch.randint(self.n_items, shape, generator=generator)
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        return torch.searchsorted(self.cdf, u).clamp_(max=self.n_items - 1)

    def sample(self, users: torch.Tensor, items: torch.Tensor, ratio: int,
               generator: torch.Generator) -> Negatives:
        """[B, ratio] negatives for the batch's users (`items`, their positives, are unused here)."""
        users = users.unsqueeze(1).expand(-1, ratio)
        negatives = self.draw(users.shape, generator)
        if not self.exclude_positives:
            return Negatives(negatives)
        # Redraw only the collisions: each round keeps about a density-sized fraction of the
        # last. The few left after some rounds (users holding most of the probability mass)
        # are drawn exactly from their unobserved items instead, so this always ends.
        bad = self.positives.contains(users, negatives)
        for _ in range(REJECTION_ROUNDS):
            if not bool(bad.any()):
                return Negatives(negatives)
            redraw = self.draw((int(bad.sum()),), generator)
            negatives[bad] = redraw
            bad[bad.clone()] = self.positives.contains(users[bad], redraw)
        if bool(bad.any()):
            negatives[bad] = self.draw_unobserved(users[bad], generator)
        return Negatives(negatives)

    def draw_unobserved(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One item per row from the distribution restricted to the user's unobserved items."""
        weights = (self.probs if self.probs is not None else torch.ones(self.n_items, dtype=torch.float64))
        weights = weights.expand(len(users), -1).clone()
        rows, items = self.positives.rows(users)
        weights[rows, items] = 0
        return torch.multinomial(weights, 1, generator=generator).squeeze(1)

    def log_prob(self, items: torch.Tensor) -> torch.Tensor:
        if self.log_probs is None:
            return torch.full(items.shape, -math.log(self.n_items))
        return self.log_probs[items]


class InBatchSampler:
    """The batch's other positives are each user's negatives; the user's own positives are masked."""

    def __init__(self, positives: Positives, item_counts: torch.Tensor):
        self.positives = positives
        # A batch is a uniform draw of training pairs: an item appears ∝ its count.
        self.log_probs = torch.log(item_counts.double() / item_counts.sum()).float()

    def sample(self, users: torch.Tensor, items: torch.Tensor, ratio: int,
               generator: torch.Generator) -> Negatives:
        size = len(users)
        others = ~torch.eye(size, dtype=torch.bool)
        negatives = items.expand(size, -1)[others].view(size, size - 1)
        valid = ~self.positives.contains(users.unsqueeze(1).expand_as(negatives), negatives)
        return Negatives(negatives, valid)

    def log_prob(self, items: torch.Tensor) -> torch.Tensor:
        return self.log_probs[items]


def build_sampler(config: SamplerConfig, positives: Positives, item_counts: torch.Tensor):
    if config.kind == "shared":
        return SharedPoolSampler(positives, config.ratio)
    if config.kind == "in_batch":
        return InBatchSampler(positives, item_counts)
    probs = item_counts.double() ** config.alpha if config.kind == "popularity" else None
    return ItemSampler(positives, probs, exclude_positives=config.exclude_positives)


@dataclass
class SharedNegatives:
    """One pool of items [P] that every row of a batch uses as its negatives."""

    pool: torch.Tensor  # [P], distinct items
    valid: torch.Tensor  # [B, P] bool: False where the item is a training positive of the row's user

    @property
    def items(self) -> torch.Tensor:
        """The pool as per-row negatives [B, P] (a view: no copy)."""
        return self.pool.expand(len(self.valid), -1)


class SharedPoolSampler:
    """Shared negatives: P distinct items drawn uniformly per batch, scored against every user.

    The model scores the pool as one matrix product [B, d] x [d, P] (as sampled-softmax
    systems do), which turns hundreds of negatives per positive into one GEMM. A pool
    item that is a training positive of a row's user (an accidental hit) is masked in
    that row, so every negative is an unobserved pair whatever `exclude_positives` says.
    """

    def __init__(self, positives: Positives, pool_size: int):
        self.positives = positives
        self.n_items = positives.n_items
        if pool_size > self.n_items:
            raise DataError(f"sampler.ratio {pool_size} (the shared pool size) exceeds the "
                            f"catalogue's {self.n_items} items")

    def sample(self, users: torch.Tensor, items: torch.Tensor, ratio: int,
               generator: torch.Generator) -> SharedNegatives:
        """A pool of `ratio` items for the whole batch and the mask of its accidental hits."""
        pool = torch.randperm(self.n_items, generator=generator)[:ratio]
        return SharedNegatives(pool, ~self.hits(users, pool))

    def hits(self, users: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """[B, P] bool: is pool item j a training positive of users[b]? One pass over their items."""
        size = len(pool)
        slot = torch.full((self.n_items,), size, dtype=torch.long)  # column `size`: not in the pool
        slot[pool] = torch.arange(size)
        rows, items = self.positives.rows(users)
        hit = torch.zeros(len(users), size + 1, dtype=torch.bool)
        hit.view(-1)[rows * (size + 1) + slot[items]] = True
        return hit[:, :size]

    def log_prob(self, items: torch.Tensor) -> torch.Tensor:
        return torch.full(items.shape, -math.log(self.n_items))
