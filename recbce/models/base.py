"""What every model is to the rest of recbce: a `Scorer`.

A scorer maps (user, item) pairs to one number each, ŷ_uv, read as the logit of an
interaction. It never samples, computes a loss or reads the data set: the training loop
hands it a `Batch` (positives and the sampler's negatives), and whatever it reads at
scoring time (a user's items, a graph) is built by the data layer and passed in.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class Batch:
    """One training step's input: users [B] with their positive items [B], and negatives as
    either per-row `negatives` [B, k] or one shared `pool` [P] with an additive `mask` [B, P]
    (−inf masks a pair). `history` [B, H]: the items each row's user vector mixes in."""

    users: torch.Tensor
    items: torch.Tensor
    negatives: torch.Tensor | None = None
    pool: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    history: torch.Tensor | None = None

    @property
    def negative_items(self) -> torch.Tensor:
        """The negatives' items: the shared pool once, or the per-row [B, k]."""
        return self.pool if self.pool is not None else self.negatives


class ScoringCache:
    """What scoring computes from the parameters alone (normalised or propagated tables), kept
    while they stay as they were: one computation per model state, not one per block of users.

    Keyed by each parameter's storage and in-place version counter, which every optimiser
    step and load_state_dict bump. A deep copy (weight averaging) starts empty: its
    parameters are new tensors."""

    def __init__(self):
        self.key, self.value = None, None

    def __deepcopy__(self, memo):
        return ScoringCache()

    def get(self, parameters, compute):
        key = tuple((p.device, p.data_ptr(), p._version) for p in parameters)
        if self.key != key:
            with torch.no_grad():
                self.value = compute()
            self.key = key
        return self.value


@dataclass
class Vectors:
    """What a plain dot product needs: score(u, v) = users[u] · items[v] + item_bias[v].

    Everything a model does before its final dot product (normalisation, temperature, the
    history mix, graph propagation) is folded into these vectors."""

    users: torch.Tensor  # [n_users, d]
    items: torch.Tensor  # [n_items, d]
    item_bias: torch.Tensor | None = None  # [n_items]

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None,
              items: slice = slice(None)) -> torch.Tensor:
        """[U, n_items]: user vectors [U, d] (rows of `users` or new ones) against every item
        (or the `items` slice)."""
        bias = None if self.item_bias is None else self.item_bias[items]
        return dot_scores(users, self.items[items], bias, out)


def dot_scores(users: torch.Tensor, items: torch.Tensor, bias: torch.Tensor | None = None,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """users · itemsᵀ (+ each item's bias), written into `out` if given. The bias is added
    after the product, not by addmm, which first copies it into every row of the block (one
    more pass over it); the sums are addmm's bit for bit (tests/test_model.py)."""
    scores = torch.mm(users, items.T, out=out)
    return scores if bias is None else scores.add_(bias)


class Scorer(Protocol):
    """The interface of a model. `forward` is the training call (it goes through DDP)."""

    context: int  # > 0: scores read each user's latest n items (see recbce.data.history)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pos [B], neg [B, k] or [B, P]): the scores the losses take."""

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of users [B] against items [B] or [B, k], shaped like `items`."""

    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None,
                  items: slice = slice(None)) -> torch.Tensor:
        """[B, n_items]: every item for each user (or the `items` slice of them, the same values
        as those columns of the whole), written into `out` if given."""

    def batch_embeddings(self, batch: Batch) -> list[torch.Tensor]:
        """The embedding rows a training batch used (users, positives, negatives), for L2."""

    def export(self) -> Vectors:
        """User and item vectors that reproduce `score_all` as a plain dot product."""

    def reading_history(self, history) -> AbstractContextManager:
        """Score with another per-user item index for a while (model.context)."""

    def users_from_items(self, own: torch.Tensor, items: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Exported vectors of users the model never trained, from an own vector each and their
        items (flat, user u's from offsets[u]); differentiable in `own` (recbce.recommender.fold_in)."""

    def item_inputs(self) -> torch.Tensor:
        """The item vectors whose mean over a new user's items starts its own vector."""

    def fold_in_recipe(self) -> tuple[list[str], dict[str, torch.Tensor]]:
        """users_from_items at that start, as formula lines and the arrays they read (export)."""
