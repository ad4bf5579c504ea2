"""Matrix factorisation (`model.kind: mf`): ŷ_uv = p_u · q_v (+ b_v), the seed's model."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from recbce.config import ModelConfig
from recbce.models.base import Batch, Vectors
from recbce.models.embedding import EmbeddingScorer
from recbce.models.pairs import PairScores, used_rows


class DotProduct(EmbeddingScorer):
    """ŷ_uv = p_u · q_v (+ b_v): σ(ŷ_uv) is read as the probability of an interaction.

    With `scorer: cosine` the vectors are L2-normalised first and the score is
    cos(p_u, q_v) / temperature (+ b_v): still a dot product, of unit vectors. Unit
    vectors cannot say how popular an item is; the item bias can (what it is worth on
    Gowalla: docs/results.md, "Tuning the shipped configs").

    With `history: w` > 0, p_u is (1 − w)·e_u + w·(mean of q_j over the user's training
    items j), the aggregation of SimpleX (Mao et al., CIKM 2021): items are trained by
    every user who has them, so a user's vector is useful from the first steps instead of
    after a few passes over the user's own pairs. Still p_u·q_v at scoring time. Training
    steps pass a sample of each user's items (`history` [B, H], recbce.data.history) for an
    unbiased mean at a fixed cost; scoring without it uses the exact mean.

    With `context: n` the mix reads the n items the user had just before the scored pair
    (recbce.data.timeline): training steps pass them per pair, −1 where a user had fewer; scoring
    uses `self.history`, each user's latest n items known before the split being scored.

    `inputs.history`: the per-user item index (CSR: `indptr`, `rows(users)`) scoring reads,
    built by recbce.data.history; needed with `history` > 0.
    """

    def __init__(self, n_users: int, n_items: int, config: ModelConfig, inputs=None, sparse: bool = False,
                 generator: torch.Generator | None = None):
        history = getattr(inputs, "history", None)
        if config.history and history is None:
            raise ValueError("model.history needs each user's items (inputs.history)")
        super().__init__(n_users, n_items, config, sparse_tables=sparse, sparse_bias=sparse,
                         generator=generator)
        self.history_weight = config.history
        self.history = history if config.history else None
        self.context = config.context  # > 0: history [B, H] holds the items before each pair

    @contextmanager
    def reading_history(self, history):
        """Score with another per-user history for a while (the items known before a split)."""
        kept, self.history = self.history, history
        try:
            yield self
        finally:
            self.history = kept

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pos [B], neg [B, k]) for a training batch: a shared pool as one matrix product
        (`score_shared`), per-row negatives scored with their positive as one sparse product."""
        if batch.pool is not None:
            return self.score_shared(batch.users, batch.items, batch.pool, batch.mask, batch.history)
        candidates = torch.cat([batch.items.unsqueeze(1), batch.negatives], dim=1)
        scores = self.score_pairs(batch.users, candidates, batch.history)
        return scores[:, 0], scores[:, 1:]

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor,
                    history: torch.Tensor | None = None) -> torch.Tensor:
        """Scores for users [B] against items [B] or [B, k], shaped like `items`. `history`
        [B, H]: a sample of each user's training items, for its mean (`history` weight > 0)."""
        mean = None
        if history is not None and self.history is not None:
            mean = self.history_mean(self.item(self.history_items(history)), history)
        p = self.embed(self.user_vectors(users, mean))
        if items.dim() == 1:
            scores = (p * self.embed(self.item(items))).sum(-1)
        else:  # sparse products over the items used (recbce.models.pairs)
            rows, renumbered = used_rows(items, self.item.num_embeddings)
            scores = PairScores.apply(p, self.embed(self.item(rows)), renumbered)
        return self.with_item_bias(scores, items)

    def score_shared(self, users: torch.Tensor, items: torch.Tensor, pool: torch.Tensor,
                     mask: torch.Tensor | None = None, history: torch.Tensor | None = None):
        """(pos [B]: each user against its item; neg [B, P]: every user against one shared pool,
        one matrix product, written onto `mask` ([B, P], added: −inf masks a pair) when given).

        Every item row is read in one lookup: one sparse gradient for the table, where three
        lookups would leave autograd three to add up."""
        use_history = history is not None and self.history is not None
        parts = [items, pool] + ([self.history_items(history)] if use_history else [])
        lookup = torch.cat(parts)
        rows = self.item(lookup).split([len(part) for part in parts])
        mean = self.history_mean(rows[2], history) if use_history else None
        p = self.embed(self.user_vectors(users, mean))
        scored = lookup[:len(items) + len(pool)]  # the positives then the pool: a view, no copy
        return self.pool_scores(p, self.embed(rows[0]), self.embed(rows[1]), scored, len(items), mask)

    def history_items(self, history: torch.Tensor) -> torch.Tensor:
        """The items of a batch's `history` [B, H] to look up, flat (−1, no item, left out)."""
        return history[history >= 0] if self.context else history.reshape(-1)

    def history_mean(self, rows: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """[B, d]: the mean of each row's looked-up vectors (`rows`, from `history_items`); a row
        with no item before it (model.context) gets 0: its user vector is (1 − w)·e_u."""
        if not self.context:
            return rows.view(*history.shape, -1).mean(1)
        present = history >= 0
        owner = present.nonzero()[:, 0]  # row-major, as history[present] reads them
        total = rows.new_zeros(len(history), rows.shape[-1]).index_add(0, owner, rows)
        return total / present.sum(1, keepdim=True).clamp(min=1)

    def user_vectors(self, users: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
        """p_u [B, d] before `embed`: e_u, mixed with the mean of the user's item vectors when
        `history` > 0: `mean` (of a training step's `history`) or else of all in `self.history`."""
        own = self.user(users)
        if self.history is None:
            return own
        if mean is None:
            lengths = self.history.indptr[users + 1] - self.history.indptr[users]
            items = self.history.rows(users)[1]
            mean = F.embedding_bag(items, self.item.weight, lengths.cumsum(0) - lengths, mode="mean")
        return torch.lerp(own, mean, self.history_weight)

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None,
                  items: slice = slice(None)) -> torch.Tensor:
        """[B, n_items] scores of every item (or of the `items` slice), one matrix product;
        written into `out` if given (evaluation reuses one block instead of allocating, and
        page-faulting, one per chunk)."""
        p = self.embed(self.user_vectors(users))
        q = self.cache.get((self.item.weight,), lambda: self.embed(self.item.weight))
        return self.against_all(p, q, out, items)

    def batch_embeddings(self, batch: Batch) -> list[torch.Tensor]:
        return [self.user(batch.users), self.item(batch.items), self.item(batch.negative_items)]

    def users_from_items(self, own: torch.Tensor, items: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Exported user vectors [U, d] of users the model never trained (recbce.recommender.fold_in):
        `own` [U, d] in place of e_u, mixed with the mean of each user's `items` (flat, user u's
        from offsets[u]) as training users are; differentiable in `own`."""
        if self.history is None:
            return self.embed(own)
        mean = F.embedding_bag(items, self.item.weight, offsets, mode="mean")
        return self.embed(torch.lerp(own, mean, self.history_weight))

    def item_inputs(self) -> torch.Tensor:
        """The item vectors a new user's `own` starts from the mean of (their raw table)."""
        return self.item.weight

    @torch.no_grad()
    def fold_in_recipe(self) -> tuple[list[str], dict[str, torch.Tensor]]:
        """(formula lines, arrays): users_from_items with `own` at its start, in numpy terms."""
        lines = ["h = mean of item_inputs[i] over the user's items i"]
        if self.history is not None:
            latest = f"the user's latest {self.context} items" if self.context else "the user's items"
            lines.append(f"m = mean of item_inputs[i] over {latest}")
            lines.append(f"v = {1 - self.history_weight:g}·h + {self.history_weight:g}·m")
        else:
            lines.append("v = h")
        lines.append(self.embed_recipe())
        return lines, {"item_inputs": self.item.weight.clone()}

    @torch.no_grad()
    def export(self) -> Vectors:
        """p_u and q_v as `score_all` computes them: cosine, temperature and history mix folded in."""
        users = torch.arange(self.user.num_embeddings)
        return self.vectors(self.embed(self.user_vectors(users)), self.embed(self.item.weight))

