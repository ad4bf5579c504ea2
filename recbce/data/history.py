"""What a model reads about a user besides the user's own vector: the user's items.

The history mix (`model.history`, SimpleX) averages the vectors of a user's items; with
`model.context: n` those are the n items the user had just before the scored one
(recbce.data.timeline). This module builds both inputs from the data, so that a model
only receives tensors and never reads the data set itself: per training step the items of
each row ([B, H], −1 for none), and for scoring a per-user index of items.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recbce.config import ModelConfig
from recbce.config.kinds import MODEL_KINDS
from recbce.data.dataset import Dataset, Positives
from recbce.data.graph import normalized_adjacency
from recbce.data.timeline import Timeline, known_before


def draw_history(positives: Positives, users: torch.Tensor, size: int,
                 generator: torch.Generator) -> torch.Tensor:
    """[B, size]: training items of each user, drawn uniformly with replacement. Their mean
    vector is an unbiased estimate of the mean over all the user's items (model.history) at a
    cost that does not grow with the user's count. Every user needs at least one item."""
    starts = positives.indptr[users]
    counts = (positives.indptr[users + 1] - starts).unsqueeze(1)
    offsets = (torch.rand(len(users), size, generator=generator, dtype=torch.float64) * counts).long()
    return positives.indices[starts.unsqueeze(1) + torch.minimum(offsets, counts - 1)]


class UserHistory:
    """The items each user's vector mixes in, for training steps and for scoring."""

    def __init__(self, dataset: Dataset, config: ModelConfig):
        self.dataset, self.config = dataset, config
        # model.context reads the training pairs in each user's time order: ordered once.
        self.timeline = Timeline.of(dataset.train) if config.context else None

    def batch(self, pairs: torch.Tensor, users: torch.Tensor,
              generator: torch.Generator) -> torch.Tensor | None:
        """[B, H]: the items each row's user vector mixes in, or None without the mix: with
        model.context the n items before each training pair, else a sample of the user's."""
        if self.timeline is not None:
            return self.timeline.before(pairs, self.config.context)
        if self.config.history:
            return draw_history(self.dataset.positives, users, self.config.history_sample, generator)
        return None

    def scoring(self, split: str = "test") -> Positives | None:
        """Per user, the items mixed in when scoring `split`: with model.context the latest n
        known before it (train for 'valid', train + validation for 'test'), else all training
        items; None without the mix."""
        if self.config.context:
            return known_before(self.dataset, split, self.config.context)
        return self.dataset.positives if self.config.history else None


@dataclass
class ScoringInputs:
    """What a model reads at scoring time besides its parameters, built from the data."""

    history: Positives | None = None  # per user, the items the history mix averages
    graph: torch.Tensor | None = None  # model.kind lightgcn: the normalised user-item graph


def scoring_inputs(dataset: Dataset, config: ModelConfig) -> ScoringInputs:
    """The inputs of a model scoring the test split of `dataset` (the default at load)."""
    reads_graph = MODEL_KINDS[config.kind].graph
    graph = normalized_adjacency(dataset.positives, dataset.n_users) if reads_graph else None
    return ScoringInputs(history=UserHistory(dataset, config).scoring("test"), graph=graph)
