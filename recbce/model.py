"""Scorers. A model only scores (user, item) pairs; it never samples or computes a loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recbce.config import ModelConfig

ROW_BLOCK = 1024  # rows of [B, k, d] per block in RowDots: a block's product stays in the L2 cache


class RowDots(torch.autograd.Function):
    """scores[b, j] = p[b] · q[b, j] for p [B, d] and q [B, k, d], a block of rows at a time.

    Unfused, (p.unsqueeze(1) * q).sum(-1) writes a [B, k, d] product to memory and reads
    it back, forward and backward; at B = 65,536 that traffic was the per-pair step's
    largest cost. Blocks keep each product in cache. (bmm is slower: B products of
    [k, d] x [d] are too small for a GEMM.)
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(p, q)
        scores = q.new_empty(q.shape[:2])
        for rows, product in _row_blocks(q):
            torch.sum(torch.mul(p[rows].unsqueeze(1), q[rows], out=product), -1, out=scores[rows])
        return scores

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p, q = ctx.saved_tensors
        grad_p = grad_q = None
        if ctx.needs_input_grad[0]:
            grad_p = torch.empty_like(p)
            for rows, product in _row_blocks(q):
                torch.sum(torch.mul(grad[rows].unsqueeze(-1), q[rows], out=product), 1, out=grad_p[rows])
        if ctx.needs_input_grad[1]:
            grad_q = grad.unsqueeze(-1) * p.unsqueeze(1)
        return grad_p, grad_q


def _row_blocks(q: torch.Tensor):
    """(rows, product buffer) per block of ROW_BLOCK rows of q. One [ROW_BLOCK, k, d] buffer
    serves every block: no allocation (with glibc's defaults: no mmap, no page faults) per block."""
    buffer = q.new_empty((min(ROW_BLOCK, len(q)), *q.shape[1:]))
    for start in range(0, len(q), ROW_BLOCK):
        stop = min(start + ROW_BLOCK, len(q))
        yield slice(start, stop), buffer[: stop - start]


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
        p, q = self.embed(self.user(users)), self.embed(self.item(items))
        scores = RowDots.apply(p, q) if items.dim() == 2 else (p * q).sum(-1)
        if self.item_bias is not None:
            scores = scores + self.item_bias(items).squeeze(-1)
        return scores

    def score_pool(self, users: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """[B, P] scores of every user against one shared pool of items: one matrix product."""
        scores = self.embed(self.user(users)) @ self.embed(self.item(pool)).T
        if self.item_bias is not None:
            scores = scores + self.item_bias(pool).T
        return scores

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
