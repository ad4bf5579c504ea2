"""Score a peer's model with recbce's own evaluator: its factors wrapped as a scorer.

`recbce.evaluation.ranking.evaluate` needs only `score_all(users) -> [B, n_items]`, so any
matrix factorisation reduces to U[users] @ V.T (+ b_v), with rows already in
recbce's user and item indices. The same train-item exclusion applies to every system.
"""

from __future__ import annotations

import numpy as np
import torch

from recbce.data.dataset import Dataset
from recbce.evaluation.ranking import evaluate, heldout_and_exclusions

THREADS = 2  # the benchmark machine's cores; every peer may use all of them


class FactorScorer:
    """ŷ_uv = U[u] · V[v] (+ b_v) from plain arrays; float32, rows in recbce's indices."""

    def __init__(self, user_factors, item_factors, item_bias=None):
        self.user_factors = _as_tensor(user_factors)
        self.item_factors = _as_tensor(item_factors)
        if self.user_factors.shape[1] != self.item_factors.shape[1]:
            raise ValueError(f"user factors have {self.user_factors.shape[1]} columns, "
                             f"item factors {self.item_factors.shape[1]}")
        self.item_bias = None if item_bias is None else _as_tensor(item_bias).reshape(1, -1)
        if self.item_bias is not None and self.item_bias.shape[1] != self.item_factors.shape[0]:
            raise ValueError(f"{self.item_bias.shape[1]} item biases for {self.item_factors.shape[0]} items")

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None,
                  items: slice = slice(None)) -> torch.Tensor:
        """The scorer interface of recbce.models.dot_product: [B, n_items] (or the `items` slice),
        into `out` when given."""
        scores = torch.mm(self.user_factors[users], self.item_factors[items].T, out=out)
        if self.item_bias is not None:
            scores += self.item_bias[:, items]
        return scores


def _as_tensor(values) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def ranking_metrics(scorer, dataset: Dataset, ks=(20,), batch_users: int = 2048,
                    split: str = "test") -> dict[str, float]:
    """Full-ranking metrics on `split` ('test' or 'valid') as recbce evaluates: train items
    removed (and validation items, for test)."""
    heldout, exclude = heldout_and_exclusions(dataset, split)
    return evaluate(scorer, heldout, exclude, list(ks), batch_users)

