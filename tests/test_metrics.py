"""Every metric against a plain per-user Python reference, on random small cases."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recbce.data import Positives, Split
from recbce.evaluate import evaluate


class FixedScores:
    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def score_all(self, users):
        return self.scores[users].clone()


def reference(scores, train, test, k):
    """Brute force, one user at a time, straight from the definitions."""
    sums, users = {}, 0
    for u, relevant in test.items():
        if not relevant:
            continue
        users += 1
        candidates = [i for i in range(len(scores[u])) if i not in train[u]]
        ranked = sorted(candidates, key=lambda i: (-scores[u][i], i))[:k]
        hits = [1.0 if i in relevant else 0.0 for i in ranked] + [0.0] * (k - len(ranked))
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        precisions = [sum(hits[: i + 1]) / (i + 1) for i in range(k)]
        first = next((i for i, h in enumerate(hits) if h), None)
        rel_candidates = [i for i in candidates if i in relevant]
        irrelevant = [i for i in candidates if i not in relevant]
        pairs = [(1.0 if scores[u][r] > scores[u][n] else 0.5 if scores[u][r] == scores[u][n] else 0.0)
                 for r in rel_candidates for n in irrelevant]
        values = {
            "recall": sum(hits) / len(relevant), "precision": sum(hits) / k, "hr": float(any(hits)),
            "ndcg": sum(h / math.log2(i + 2) for i, h in enumerate(hits)) / ideal,
            "map": sum(h * p for h, p in zip(hits, precisions, strict=True)) / min(len(relevant), k),
            "mrr": 0.0 if first is None else 1 / (first + 1),
            "auc": sum(pairs) / len(pairs) if pairs else 1.0,
        }
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value
    return {name: total / users for name, total in sums.items()}


@settings(max_examples=60, deadline=None)
@given(n_users=st.integers(1, 6), n_items=st.integers(3, 12), k=st.integers(1, 5),
       seed=st.integers(0, 10**6), batch=st.integers(1, 4))
def test_metrics_equal_brute_force(n_users, n_items, k, seed, batch):
    g = torch.Generator().manual_seed(seed)
    # Distinct scores: ties are broken differently by topk and by the reference sort.
    scores = torch.randperm(n_users * n_items, generator=g).view(n_users, n_items).float()
    state = torch.randint(0, 3, (n_users, n_items), generator=g)  # 0 none, 1 train, 2 test
    train = {u: {i for i in range(n_items) if state[u, i] == 1} for u in range(n_users)}
    test = {u: {i for i in range(n_items) if state[u, i] == 2} for u in range(n_users)}
    if not any(test.values()):
        return
    tu, ti = (state == 1).nonzero(as_tuple=True)
    hu, hi = (state == 2).nonzero(as_tuple=True)
    exclude = Positives.from_pairs(tu, ti, n_users, n_items)
    got = evaluate(FixedScores(scores), Split(hu, hi), exclude, [k], batch_users=batch, with_auc=True)
    want = reference(scores.tolist(), train, test, k)
    for name, value in want.items():
        key = name if name == "auc" else f"{name}@{k}"
        assert abs(got[key] - value) < 1e-9, (name, got[key], value)


def test_random_scores_match_the_analytic_expectation():
    # With R relevant among N candidates, a random ranking has E[Recall@K] = K/N and E[AUC] = 1/2.
    n_users, n_items, k = 3000, 100, 10
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(n_users, n_items, generator=g)
    users = torch.arange(n_users).repeat_interleave(5)
    items = torch.stack([torch.randperm(n_items, generator=g)[:5] for _ in range(n_users)]).flatten()
    none = Positives.from_pairs(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long),
                                n_users, n_items)
    got = evaluate(FixedScores(scores), Split(users, items), none, [k], with_auc=True)
    assert abs(got[f"recall@{k}"] - k / n_items) < 0.01
    assert abs(got[f"precision@{k}"] - 5 / n_items) < 0.005
    assert abs(got["auc"] - 0.5) < 0.01
