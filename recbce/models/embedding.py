"""What every embedding model shares: a user and an item table, an optional item bias, the
cosine-with-temperature scorer, and scores of whole tables. DotProduct and LightGCN build
their user and item vectors each its own way and score them through these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recbce.config import ModelConfig
from recbce.models.base import ScoringCache, Vectors, dot_scores


class EmbeddingScorer(nn.Module):
    """ŷ_uv = p_u · q_v (+ b_v) over the vectors a model builds from its `user` and `item`
    tables. With `scorer: cosine` both sides are L2-normalised and divided by √T (`embed`), so
    the score is cos(p_u, q_v) / T (+ b_v): still a dot product, of scaled unit vectors."""

    def __init__(self, n_users: int, n_items: int, config: ModelConfig, sparse_tables: bool,
                 sparse_bias: bool, generator: torch.Generator | None):
        super().__init__()
        self.cosine = config.scorer == "cosine"
        self.temperature = config.temperature
        self.cache = ScoringCache()  # what scoring computes from the parameters alone
        self.user = nn.Embedding(n_users, config.dim, sparse=sparse_tables)
        self.item = nn.Embedding(n_items, config.dim, sparse=sparse_tables)
        # A user bias cannot change a user's ranking, so only items get one.
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse_bias) if config.bias else None
        nn.init.normal_(self.user.weight, std=config.init_std, generator=generator)
        nn.init.normal_(self.item.weight, std=config.init_std, generator=generator)
        if self.item_bias is not None:
            nn.init.constant_(self.item_bias.weight, config.bias_init)

    def embed(self, vectors: torch.Tensor) -> torch.Tensor:
        if not self.cosine:
            return vectors
        return F.normalize(vectors, dim=-1) / self.temperature**0.5

    def embed_recipe(self) -> str:
        """`embed` in words, for export.json's formula of a new user's vector."""
        if not self.cosine:
            return "user vector = v"
        return f"user vector = v / ‖v‖ / {self.temperature**0.5:.6g}  (the temperature's square root)"

    def with_item_bias(self, scores: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return scores if self.item_bias is None else scores + self.item_bias(items).squeeze(-1)

    def pool_scores(self, p: torch.Tensor, q_items: torch.Tensor, q_pool: torch.Tensor,
                    scored: torch.Tensor, n_positives: int, mask: torch.Tensor | None):
        """(pos [B]: each row against its item, neg [B, P]: every row against the shared pool, one
        matrix product, written onto `mask` when given); `scored`: the positives' then the
        pool's item ids, whose biases are added."""
        pos = (p * q_items).sum(-1)
        if self.item_bias is not None:  # b_v as one more coordinate: [p, 1]·[q, b] = p·q + b
            bias_items, bias_pool = self.item_bias(scored).split([n_positives, len(scored) - n_positives])
            pos = pos + bias_items.squeeze(-1)
            p = torch.cat([p, p.new_ones(len(p), 1)], dim=1)
            q_pool = torch.cat([q_pool, bias_pool], dim=1)
        return pos, (p @ q_pool.T if mask is None else torch.addmm(mask, p, q_pool.T))

    def against_all(self, p: torch.Tensor, q: torch.Tensor, out: torch.Tensor | None = None,
                    items: slice = slice(None)) -> torch.Tensor:
        """[B, n_items]: scored user vectors against the scored item table (its `items` rows
        only, if given), one matrix product, written into `out` if given (evaluation reuses one
        block). A slice's scores are those columns of the whole product, bit for bit."""
        bias = None if self.item_bias is None else self.item_bias.weight[items].T
        return dot_scores(p, q[items], bias, out)

    def vectors(self, users: torch.Tensor, items: torch.Tensor) -> Vectors:
        """Exported vectors: the scored tables, with the item bias."""
        bias = None if self.item_bias is None else self.item_bias.weight[:, 0].clone()
        return Vectors(users.clone(), items.clone(), bias)
