"""What the top-K lists do to the catalogue: how widely and how evenly they expose the items,
and how popular the items they expose are. Pure tensor functions of the top-K item indices.

For the lists R̂(u) of the evaluated users U, an item catalogue I, c_i the item's training
interactions and e_i the number of lists holding item i (its exposure, Σ e_i = |U|·K):
- coverage@K = |∪ R̂(u)| / |I|                                   (RecBole ItemCoverage)
- gini@K = Σ_j (2j − |I| − 1) e_(j) / (|I| Σ e), e_(1) <= ... <= e_(|I|), every item,
  unexposed ones at 0: 0 when every item is shown equally often, 1 − 1/|I| when one item
  takes every slot                                               (RecBole GiniIndex)
- entropy@K = −Σ p_i ln p_i with p_i = e_i / Σ e, over exposed items (nats)
                                      (the formula RecBole documents for ShannonEntropy)
- popularity@K = mean over users of the mean c_i of the list    (RecBole AveragePopularity)
- novelty@K = mean over users of the mean −log2(c_i / n_users) of the list: the
  self-information of an item from the share of users who had it in training; an item with
  no training interaction counts as one
- tail@K = mean over users of the share of the list outside the head, the 20% most popular
  items (by c_i, ties to the lower index: the items the popularity baseline shows first)
                                                      (RecBole TailPercentage, see README)
"""

from __future__ import annotations

import torch

HEAD_PERCENT = 20  # the head: the most popular 20% of the items; the rest is the long tail
PER_LIST = ("popularity", "novelty", "tail")  # a value per user, averaged
OVER_LISTS = ("coverage", "gini", "entropy")  # a value from the exposure of all lists at once


def exposure(top: torch.Tensor, n_items: int) -> torch.Tensor:
    """How many of the [users, k] lists hold each item (int64, length n_items)."""
    return torch.bincount(top.flatten(), minlength=n_items)


def gini(counts: torch.Tensor) -> float:
    """The Gini index of the counts over every item (0: even exposure)."""
    ordered = counts.double().sort().values
    n, total = len(ordered), float(ordered.sum())
    if total == 0:
        return 0.0
    weights = 2 * torch.arange(1, n + 1, dtype=torch.float64) - n - 1
    return float((weights * ordered).sum() / (n * total))


def entropy(counts: torch.Tensor) -> float:
    """Shannon entropy (nats) of the share of exposure each item takes."""
    shown = counts[counts > 0].double()
    if not len(shown):
        return 0.0
    p = shown / shown.sum()
    return float(-(p * p.log()).sum())


def over_lists(counts: torch.Tensor, k: int) -> dict[str, float]:
    """coverage@k, gini@k, entropy@k from the exposure counts of every evaluated list."""
    return {f"coverage@{k}": float((counts > 0).double().mean()), f"gini@{k}": gini(counts),
            f"entropy@{k}": entropy(counts)}


def self_information(item_counts: torch.Tensor, n_users: int) -> torch.Tensor:
    """−log2 of the share of users who had each item in training (at least one counted)."""
    return -torch.log2(item_counts.clamp(min=1).double() / max(n_users, 1))


def long_tail(item_counts: torch.Tensor) -> torch.Tensor:
    """True for the items outside the head (the most popular HEAD_PERCENT %, ties to the lower index)."""
    n_items = len(item_counts)
    n_head = -(-n_items * HEAD_PERCENT // 100)  # ceil, in integers
    order = torch.sort(item_counts, descending=True, stable=True).indices
    tail = torch.ones(n_items, dtype=torch.bool)
    tail[order[:n_head]] = False
    return tail


class ItemFacts:
    """What the per-list metrics look up for each recommended item, computed once."""

    def __init__(self, item_counts: torch.Tensor, n_users: int):
        self.counts = item_counts
        self.information = self_information(item_counts, n_users)
        self.tail = long_tail(item_counts)

    def per_list(self, top: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
        """popularity@k, novelty@k and tail@k of each [users, >=k] list (float64 per user)."""
        lists = top[:, :k]
        return {f"popularity@{k}": self.counts[lists].double().mean(1),
                f"novelty@{k}": self.information[lists].mean(1),
                f"tail@{k}": self.tail[lists].double().mean(1)}
