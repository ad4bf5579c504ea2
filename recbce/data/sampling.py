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
from recbce.config.kinds import SAMPLER_KINDS
from recbce.data.dataset import Positives
from recbce.data.pairset import PairSet
from recbce.errors import DataError

REJECTION_ROUNDS = 8
GUIDE_STEPS = 8  # popularity draws: forward steps from the guide table before a binary search


@dataclass
class Negatives:
    items: torch.Tensor  # [B, k]
    valid: torch.Tensor | None = None  # [B, k] bool; None means all usable


def make_generator(seed: int, rank: int = 0) -> torch.Generator:
    """A generator for one process: ranks get independent, reproducible streams."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank)


def check_catalogue(positives: Positives) -> None:
    """A single item leaves nothing to draw or rank: an error rather than an endless loop."""
    if positives.n_items < 2:
        raise DataError(f"the training data has {positives.n_items} item(s): negative sampling and "
                        "ranking need at least 2")


class ItemSampler:
    """Items drawn i.i.d. from a distribution over the catalogue (uniform, or ∝ count^alpha).

    With `exclude_positives`, draws that hit one of the user's training items are
    redrawn (only those), so every negative is an unobserved pair: the result is
    the distribution restricted to the user's unobserved items.
    """

    def __init__(self, positives: Positives, probs: torch.Tensor | None = None,
                 exclude_positives: bool = True):
        check_catalogue(positives)
        self.positives = positives
        self.n_items = positives.n_items
        self.exclude_positives = exclude_positives
        # The rejection loop's membership tests; unchecked draws need none.
        self.members = PairSet(positives) if exclude_positives else None
        self.probs = None if probs is None else probs.double() / probs.sum()
        self.cdf = self.guide = None
        if probs is not None:
            # +inf after the last item stops every walk of inverse_cdf inside the table.
            self.cdf = torch.cat([torch.cumsum(self.probs, 0), torch.tensor([math.inf], dtype=torch.float64)])
            # The first item of each 1/n-wide slice, by the very arithmetic inverse_cdf puts u
            # in its slice with, so that rounding can never start a search past its answer.
            slice_of_item = (self.cdf * self.n_items).clamp_(max=self.n_items).long()
            self.guide = torch.searchsorted(slice_of_item, torch.arange(self.n_items))
        self.log_probs = None if probs is None else torch.log(probs.double() / probs.sum()).float()
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
        return self.inverse_cdf(u.view(-1)).view(shape)

    def inverse_cdf(self, u: torch.Tensor) -> torch.Tensor:
        """The first item whose cdf >= u: searchsorted's answer, found faster.

        A guide table (Chen & Asau) starts each search at the first item of u's
        slice of [0, 1); a short walk forward ends almost every one. The rare long
        walks (many tiny probabilities in one slice) finish by binary search.
        """
        slices = (u * self.n_items).long().clamp_(max=self.n_items - 1)
        items = self.guide.index_select(0, slices)
        behind = (self.cdf.index_select(0, items) < u).nonzero().squeeze(1)
        for _ in range(GUIDE_STEPS):
            if not len(behind):
                break
            items[behind] += 1
            behind = behind[self.cdf.index_select(0, items[behind]) < u[behind]]
        if len(behind):
            items[behind] = torch.searchsorted(self.cdf, u[behind])
        return items.clamp_(max=self.n_items - 1)

    def sample(self, users: torch.Tensor, items: torch.Tensor, ratio: int,
               generator: torch.Generator) -> Negatives:
        """[B, ratio] negatives for the batch's users (`items`, their positives, are unused here)."""
        negatives = self.draw((len(users), ratio), generator)
        if not self.exclude_positives:
            return Negatives(negatives)
        # Redraw only the collisions, tracked as flat indices so that every round after the
        # first touches only them: each round keeps about a density-sized fraction of the
        # last. The few left after some rounds (users holding most of the probability mass)
        # are drawn exactly from their unobserved items instead, so this always ends.
        flat = negatives.view(-1)
        bad = self.members.contains(users.unsqueeze(1), negatives).view(-1).nonzero().squeeze(1)
        for _ in range(REJECTION_ROUNDS):
            if not len(bad):
                return Negatives(negatives)
            redraw = self.draw((len(bad),), generator)
            flat[bad] = redraw
            bad = bad[self.members.contains(users[bad // ratio], redraw)]
        if len(bad):
            flat[bad] = self.draw_unobserved(users[bad // ratio], generator)
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
        check_catalogue(positives)
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
    """The configured sampler; `probs` ∝ count^alpha where it draws by popularity (the pool's
    draw for a shared pool, the kind for per-row negatives)."""
    popular = config.pool == "popularity" if SAMPLER_KINDS[config.kind].pool else config.kind == "popularity"
    probs = item_counts.double() ** config.alpha if popular else None
    return SAMPLERS[config.kind](config, positives, item_counts, probs)


def per_row(config: SamplerConfig, positives: Positives, item_counts: torch.Tensor, probs):
    return ItemSampler(positives, probs, exclude_positives=config.exclude_positives)


# kind -> constructor(config, positives, item_counts, probs); what each kind requires of the
# config is its entry in recbce.config.kinds.SAMPLER_KINDS.
SAMPLERS = {
    "uniform": per_row,
    "popularity": per_row,
    "in_batch": lambda config, positives, item_counts, probs: InBatchSampler(positives, item_counts),
    "shared": lambda config, positives, item_counts, probs: SharedPoolSampler(positives, config.ratio, probs),
}


@dataclass
class SharedNegatives:
    """One pool of items [P] that every row of a batch uses as its negatives."""

    pool: torch.Tensor  # [P], distinct items
    # [B, P] float, added to the scores: −inf where the item is a training positive of the
    # row's user, else 0. Additive, so that the model's matrix product writes onto it
    # (addmm) instead of a masking pass over [B, P] forward and backward.
    mask: torch.Tensor

    @property
    def items(self) -> torch.Tensor:
        """The pool as per-row negatives [B, P] (a view: no copy)."""
        return self.pool.expand(len(self.mask), -1)


class SharedPoolSampler:
    """Shared negatives: a pool of P items per batch, scored against every user.

    The model scores the pool as one matrix product [B, d] x [d, P] (as sampled-softmax
    systems do), which turns hundreds of negatives per positive into one GEMM. A pool
    item that is a training positive of a row's user (an accidental hit) is masked in
    that row, so every negative is an unobserved pair whatever `exclude_positives` says.

    Uniform pools hold P distinct items. With `probs` the pool is P i.i.d. draws from
    them (repeats kept): the sampled-softmax estimator whose correction is the log of
    each item's expected count in the pool, log(P·q_v) (see `log_prob`).
    """

    def __init__(self, positives: Positives, pool_size: int, probs: torch.Tensor | None = None):
        self.positives = positives
        self.n_items = positives.n_items
        self.pool_size = pool_size
        self.draws = None if probs is None else ItemSampler(positives, probs, exclude_positives=False)
        self.columns = None  # hit_mask's item -> pool column table, made at the first batch
        if probs is None and pool_size > self.n_items:
            raise DataError(f"sampler.ratio {pool_size} (the shared pool size) exceeds the "
                            f"catalogue's {self.n_items} items")

    def sample(self, users: torch.Tensor, items: torch.Tensor, ratio: int,
               generator: torch.Generator) -> SharedNegatives:
        """A pool of `ratio` items for the whole batch and the mask of its accidental hits."""
        if self.draws is None:
            pool = distinct_items(self.n_items, ratio, generator)
            return SharedNegatives(pool, self.hit_mask(users, pool))
        pool = self.draws.draw((ratio,), generator)
        distinct, column = torch.unique(pool, return_inverse=True)
        return SharedNegatives(pool, self.hit_mask(users, distinct)[:, column])

    def hit_mask(self, users: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """[B, P]: −inf where (distinct) pool item j is a training positive of users[b], else 0.

        Each positive finds its column in a catalogue-long table, kept between steps with only
        the pool's entries set and cleared (filling it anew would be a pass over the catalogue
        every step)."""
        size = len(pool)
        if self.columns is None:
            self.columns = torch.full((self.n_items,), self.n_items, dtype=torch.long)  # n_items: absent
        rows, items = self.positives.rows(users)
        self.columns[pool] = torch.arange(size)
        try:  # a miss (n_items) goes to a spare column past the last: no filtering
            column = self.columns[items].clamp_(max=size)
        finally:
            self.columns[pool] = self.n_items
        mask = torch.zeros(len(users), size + 1)
        mask.view(-1)[rows * (size + 1) + column] = -torch.inf
        return mask[:, :size]

    def log_prob(self, items: torch.Tensor) -> torch.Tensor:
        """Uniform: log 1/n (a constant). Popularity: log of the expected count in a pool, log(P·q_v)."""
        if self.draws is None:
            return torch.full(items.shape, -math.log(self.n_items))
        return self.draws.log_probs[items] + math.log(self.pool_size)


def distinct_items(n_items: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`size` distinct items of range(n_items), uniformly without replacement, in the order drawn.

    A permutation's prefix costs a pass over the catalogue per draw; when the pool is a small
    share of it (at most 1/64), i.i.d. draws with the repeats dropped cost what the pool does
    (each next new item is uniform over those not drawn yet: sampling without replacement),
    and a repeat is rare, so one round nearly always does."""
    if size * 64 > n_items:
        return torch.randperm(n_items, generator=generator)[:size]
    drawn = torch.empty(0, dtype=torch.long)
    while len(drawn) < size:
        need = size - len(drawn)
        more = torch.randint(n_items, (need + need // 16 + 8,), generator=generator)
        drawn = first_occurrences(torch.cat([drawn, more]))
    return drawn[:size]


def first_occurrences(values: torch.Tensor) -> torch.Tensor:
    """`values` without repeats, each kept where it first occurs."""
    distinct, inverse = torch.unique(values, return_inverse=True)
    positions = torch.arange(len(values))
    first = torch.full((len(distinct),), len(values)).scatter_reduce_(0, inverse, positions, "amin")
    return values[first.sort().values]
