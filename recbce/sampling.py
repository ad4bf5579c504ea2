"""Negative samplers: unobserved (user, item) pairs, drawn for a whole batch at once.

A sampler owns no randomness of its own: every draw takes an explicit
`torch.Generator`, so a run is reproducible from its seed and a checkpoint can
store the generator's state.
"""

from __future__ import annotations

import torch

from recbce.config import SamplerConfig
from recbce.data import Positives
from recbce.errors import DataError

MAX_REDRAWS = 100


class UniformSampler:
    """Items uniform over the catalogue, or over each user's unobserved items (exact exclusion)."""

    def __init__(self, positives: Positives, exclude_positives: bool = True):
        self.positives = positives
        self.n_items = positives.n_items
        self.exclude_positives = exclude_positives
        if exclude_positives:
            full = positives.counts() >= self.n_items
            if bool(full.any()):
                user = int(torch.nonzero(full)[0])
                raise DataError(
                    f"user index {user} has interacted with every item: no negative can be drawn "
                    "(drop such users or set sampler.exclude_positives: false)"
                )

    def sample(self, users: torch.Tensor, ratio: int, generator: torch.Generator) -> torch.Tensor:
        """[B, ratio] item indices; with exclusion, none is a training positive of its user."""
        users = users.unsqueeze(1).expand(-1, ratio)
        items = torch.randint(self.n_items, users.shape, generator=generator)
        if not self.exclude_positives:
            return items
        # Redraw only the collisions: each round keeps a fraction (density) of the last,
        # so this ends in a few rounds unless a user has nearly every item.
        bad = self.positives.contains(users, items)
        for _ in range(MAX_REDRAWS):
            if not bool(bad.any()):
                return items
            redraw = torch.randint(self.n_items, (int(bad.sum()),), generator=generator)
            items[bad] = redraw
            bad[bad.clone()] = self.positives.contains(users[bad], redraw)
        raise DataError("negative sampling did not converge: some users have almost every item")


def build_sampler(config: SamplerConfig, positives: Positives) -> UniformSampler:
    return UniformSampler(positives, exclude_positives=config.exclude_positives)
