"""Scorers. A model only scores (user, item) pairs; it never samples or computes a loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recbce.config import ModelConfig
from recbce.pairs import PairScores, used_rows


class DotProduct(nn.Module):
    """ŷ_uv = p_u · q_v (+ b_v): σ(ŷ_uv) is read as the probability of an interaction.

    With `scorer: cosine` the vectors are L2-normalised first and the score is
    cos(p_u, q_v) / temperature (+ b_v): still a dot product, of unit vectors. Unit
    vectors cannot say how popular an item is; the item bias can, and on Gowalla it
    is worth +0.006 validation Recall@20 (docs/results.md).
    """

    def __init__(self, n_users: int, n_items: int, config: ModelConfig, sparse: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.cosine = config.scorer == "cosine"
        self.temperature = config.temperature
        self.user = nn.Embedding(n_users, config.dim, sparse=sparse)
        self.item = nn.Embedding(n_items, config.dim, sparse=sparse)
        # A user bias cannot change a user's ranking, so only items get one.
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse) if config.bias else None
        nn.init.normal_(self.user.weight, std=config.init_std, generator=generator)
        nn.init.normal_(self.item.weight, std=config.init_std, generator=generator)
        if self.item_bias is not None:
            nn.init.zeros_(self.item_bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores for users [B] against items [B] or [B, k]; shaped like `items`."""
        p = self.embed(self.user(users))
        if items.dim() == 1:
            scores = (p * self.embed(self.item(items))).sum(-1)
        else:  # sparse products over the items used (recbce.pairs)
            rows, renumbered = used_rows(items, self.item.num_embeddings)
            scores = PairScores.apply(p, self.embed(self.item(rows)), renumbered)
        if self.item_bias is not None:
            scores = scores + self.item_bias(items).squeeze(-1)
        return scores

    def score_pool(self, users: torch.Tensor, pool: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, P] scores of every user against one shared pool of items: one matrix product,
        written onto `mask` ([B, P], added: −inf masks a pair) when given."""
        p, q = self.embed(self.user(users)), self.embed(self.item(pool))
        if self.item_bias is not None:  # b_v as one more coordinate: [p, 1]·[q, b] = p·q + b
            p = torch.cat([p, p.new_ones(len(p), 1)], dim=1)
            q = torch.cat([q, self.item_bias(pool)], dim=1)
        return p @ q.T if mask is None else torch.addmm(mask, p, q.T)

    def embed(self, vectors: torch.Tensor) -> torch.Tensor:
        if not self.cosine:
            return vectors
        return F.normalize(vectors, dim=-1) / self.temperature**0.5

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """[B, n_items] scores of every item, one matrix product; written into `out` if given
        (evaluation reuses one block instead of allocating, and page-faulting, one per chunk)."""
        p, q = self.embed(self.user.weight[users]), self.embed(self.item.weight)
        if self.item_bias is None:
            return torch.mm(p, q.T, out=out)
        return torch.addmm(self.item_bias.weight.T, p, q.T, out=out)


class Popularity:
    """Baseline: every user gets the items with the most training interactions."""

    def __init__(self, item_counts: torch.Tensor):
        self.item_counts = item_counts.float()

    def __call__(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.item_counts[items]

    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.item_counts.expand(len(users), -1)
        return scores.clone() if out is None else out.copy_(scores)
