"""Full-ranking evaluation, batched over users: every item is ranked for every user.

Definitions (binary relevance, per user, then averaged over users with held-out items):
Recall@K = hits/|relevant|; Precision@K = hits/K; HR@K = 1 if any hit;
NDCG@K = DCG/IDCG with IDCG over min(|relevant|, K) positions (as LightGCN's code);
MRR@K = 1/rank of the first hit within the top K, else 0.
"""

from __future__ import annotations

from pathlib import Path

import torch

from recbce import runs
from recbce.config import EvalConfig
from recbce.data import Dataset, Positives, Split
from recbce.errors import RunError

METRICS = ("recall", "ndcg", "hr", "precision", "mrr")


def evaluate(model, heldout: Split, exclude: Positives, ks: list[int], batch_users: int = 1024):
    """{'recall@10': ..., ...} for `model.score_all`, ranking with the `exclude` pairs removed."""
    n_users, n_items = len(exclude.indptr) - 1, exclude.n_items
    truth = Positives.from_pairs(heldout.users, heldout.items, n_users, n_items)
    users = torch.nonzero(truth.counts() > 0).squeeze(1)
    max_k = min(max(ks), n_items)
    discount = 1.0 / torch.log2(torch.arange(2, max_k + 2, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)
    totals = {f"{m}@{k}": torch.zeros((), dtype=torch.float64) for k in ks for m in METRICS}
    for chunk in users.split(batch_users):
        scores = model.score_all(chunk)
        rows, items = exclude.rows(chunk)
        scores[rows, items] = -torch.inf
        top = scores.topk(max_k, dim=1).indices
        hits = truth.contains(chunk.unsqueeze(1).expand_as(top), top).double()
        relevant = truth.counts()[chunk].double()
        for k in ks:
            for name, values in _metrics_at(hits[:, :k], relevant, k, discount, ideal).items():
                totals[f"{name}@{k}"] += values.sum()
    count = max(len(users), 1)
    return {name: float(total / count) for name, total in totals.items()}


def _metrics_at(hits, relevant, k, discount, ideal) -> dict[str, torch.Tensor]:
    """Per-user metrics from a [users, k] 0/1 hit matrix of the top-k list."""
    n_hits = hits.sum(1)
    k_eff = hits.shape[1]
    dcg = (hits * discount[:k_eff]).sum(1)
    idcg = ideal[(torch.clamp(relevant, max=k_eff) - 1).long()]
    first_hit = torch.where(n_hits > 0, hits.argmax(1).double() + 1, torch.inf)
    return {
        "recall": n_hits / relevant,
        "ndcg": dcg / idcg,
        "hr": (n_hits > 0).double(),
        "precision": n_hits / k,
        "mrr": 1.0 / first_hit,
    }


def evaluate_split(model, dataset: Dataset, split: str, config: EvalConfig, ks=None) -> dict:
    """Metrics on `split`, excluding the training items (and validation items, for test)."""
    ks = ks or config.k
    if split == "valid":
        if dataset.valid is None:
            raise RunError("this run has no validation split (data.split.valid_ratio is 0)")
        return evaluate(model, dataset.valid, dataset.positives, ks, config.batch_users)
    exclude = dataset.positives
    if dataset.valid is not None:
        exclude = Positives.from_pairs(
            torch.cat([dataset.train.users, dataset.valid.users]),
            torch.cat([dataset.train.items, dataset.valid.items]),
            dataset.n_users, dataset.n_items,
        )
    return evaluate(model, dataset.test, exclude, ks, config.batch_users)


def evaluate_run(run_dir, split: str = "test", ks: list[int] | None = None) -> dict:
    """Reload a finished run, evaluate it, write eval-<split>.json into the run folder."""
    config, dataset, model = runs.load_trained(run_dir)
    metrics = evaluate_split(model, dataset, split, config.eval, ks)
    runs.write_json(Path(run_dir) / f"eval-{split}.json", metrics)
    return metrics
