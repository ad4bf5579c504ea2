"""Ranking metrics from a top-K hit matrix: pure tensor functions, one row per user.

Binary relevance. For a user with R relevant (held-out) items and hits h_1..h_K
(1 where the item at rank i is relevant):
- Recall@K = Σh / R;  Precision@K = Σh / K;  HR@K = 1 if Σh > 0
- NDCG@K = Σ h_i / log2(i + 1), divided by its ideal over min(R, K) positions
  (as in the LightGCN code)
- MAP@K = Σ_i h_i · Precision@i / min(R, K)
- MRR@K = 1 / (rank of the first hit) if it is within the top K, else 0
- AUC = fraction of (relevant, irrelevant candidate) pairs ranked the right way
"""

from __future__ import annotations

import torch


def discounts(max_k: int) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(2, max_k + 2, dtype=torch.float64))


def at_k(hits: torch.Tensor, relevant: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Per-user metrics from a [users, >=k] 0/1 float64 hit matrix of the ranked list."""
    hits = hits[:, :k]
    k_eff = hits.shape[1]
    n_hits = hits.sum(1)
    discount = discounts(k_eff)
    ideal_positions = torch.clamp(relevant, max=k_eff)
    ideal = torch.cumsum(discount, 0)[(ideal_positions - 1).long()]
    precision_at_i = torch.cumsum(hits, 1) / torch.arange(1, k_eff + 1, dtype=torch.float64)
    first = torch.where(n_hits > 0, hits.argmax(1).double() + 1, torch.inf)
    return {
        "recall": n_hits / relevant,
        "ndcg": (hits * discount).sum(1) / ideal,
        "hr": (n_hits > 0).double(),
        "precision": n_hits / k,
        "map": (hits * precision_at_i).sum(1) / ideal_positions,
        "mrr": 1.0 / first,
    }


def auc_mistakes(score_rows: torch.Tensor, relevant_scores: torch.Tensor) -> torch.Tensor:
    """For each relevant item (one row of its user's scores, excluded items at -inf), the items
    scored above it, ties counting one half. Relevant items above it are removed afterwards by
    `rank_among_relevant`; AUC = 1 - Σ mistakes / (relevant x irrelevant candidates)."""
    above = (score_rows > relevant_scores.unsqueeze(1)).sum(1).double()
    ties = (score_rows == relevant_scores.unsqueeze(1)).sum(1).double() - 1
    return above + 0.5 * ties


def rank_among_relevant(rows: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """How many of the same user's relevant items score strictly higher (plus half the ties).

    Sorted keys row * (levels + 1) + score level, then binary search: O(R log R), not R x R.
    """
    levels, level = torch.unique(scores, return_inverse=True)
    width = len(levels) + 1
    key = rows * width + level
    keys = key.sort().values
    row_end = torch.searchsorted(keys, (rows + 1) * width)
    upper = torch.searchsorted(keys, key, right=True)
    tied = upper - torch.searchsorted(keys, key)
    return (row_end - upper).double() + 0.5 * (tied - 1).double()
