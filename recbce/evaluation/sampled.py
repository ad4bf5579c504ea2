"""Sampled evaluation (NCF protocol): each held-out item ranked against N sampled unobserved items.

Cheap, but it does not rank models the way full ranking does (Krichene & Rendle,
"On Sampled Metrics for Item Recommendation", KDD 2020): use it only to compare
with papers that report it. Metrics carry a `sampled_` prefix so they are never
mistaken for full-ranking ones.
"""

from __future__ import annotations

import torch

from recbce.data.dataset import Dataset, Positives, Split
from recbce.data.sampling import ItemSampler, make_generator

WARNING = ("sampled metrics (each held-out item against sampled negatives) do not rank models "
           "consistently with full-ranking metrics (Krichene & Rendle, KDD 2020)")


def evaluate_sampled(model, dataset: Dataset, heldout: Split, exclude: Positives, ks: list[int],
                     n_negatives: int, seed: int, batch: int = 4096) -> dict:
    """sampled_hr@K, sampled_ndcg@K, sampled_mrr@K averaged over held-out pairs."""
    known = Positives.from_pairs(torch.cat([exclude_users(exclude), heldout.users]),
                                 torch.cat([exclude.indices, heldout.items]),
                                 dataset.n_users, dataset.n_items)
    sampler = ItemSampler(known)
    generator = make_generator(seed, rank=10_007)  # its own stream, apart from training's
    ranks = []
    for users, items in zip(heldout.users.split(batch), heldout.items.split(batch), strict=True):
        negatives = sampler.sample(users, items, n_negatives, generator).items
        with torch.no_grad():
            pos, neg = model.score_pairs(users, items), model.score_pairs(users, negatives)
        # 0-based rank of the held-out item; a tie counts against it, so a model that scores
        # everything alike (or collapses) cannot look perfect.
        ranks.append((neg >= pos.unsqueeze(1)).sum(1))
    rank = torch.cat(ranks).double()
    result = {}
    for k in ks:
        hit = rank < k
        result[f"sampled_hr@{k}"] = float(hit.double().mean())
        result[f"sampled_ndcg@{k}"] = float(torch.where(hit, 1 / torch.log2(rank + 2), 0.0).mean())
        result[f"sampled_mrr@{k}"] = float(torch.where(hit, 1 / (rank + 1), 0.0).mean())
    return result


def exclude_users(positives: Positives) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(positives.indptr) - 1), positives.counts())
