"""Every metric against a plain per-user Python reference, on random small cases, and by hand."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recbce.data.dataset import Positives, Split
from recbce.evaluation.ranking import evaluate


class FixedScores:
    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def score_all(self, users, out=None, items=slice(None)):
        scores = self.scores[users][:, items]
        return scores if out is None else out.copy_(scores)


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


def run_case(scores, state, k, batch):
    """evaluate() and the reference on a score matrix and a 0 none / 1 train / 2 test state matrix."""
    n_users, n_items = scores.shape
    train = {u: {i for i in range(n_items) if state[u, i] == 1} for u in range(n_users)}
    test = {u: {i for i in range(n_items) if state[u, i] == 2} for u in range(n_users)}
    tu, ti = (state == 1).nonzero(as_tuple=True)
    hu, hi = (state == 2).nonzero(as_tuple=True)
    exclude = Positives.from_pairs(tu, ti, n_users, n_items)
    got = evaluate(FixedScores(scores), Split(hu, hi), exclude, [k], batch_users=batch, with_auc=True)
    return got, reference(scores.tolist(), train, test, k)


@settings(max_examples=80, deadline=None)
@given(n_users=st.integers(1, 6), n_items=st.integers(2, 12), k=st.integers(1, 15),
       levels=st.integers(1, 40), seed=st.integers(0, 10**6), batch=st.integers(1, 4))
def test_metrics_equal_brute_force(n_users, n_items, k, levels, seed, batch):
    # Few score levels make many ties (ranked by item index, as the reference's sort does);
    # k may exceed the catalogue; users may hold more relevant items than k.
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (n_users, n_items), generator=g).float()
    state = torch.randint(0, 3, (n_users, n_items), generator=g)  # 0 none, 1 train, 2 test
    if not bool((state == 2).any()):
        state[0, 0] = 2
    got, want = run_case(scores, state, k, batch)
    for name, value in want.items():
        key = name if name == "auc" else f"{name}@{k}"
        assert abs(got[key] - value) < 1e-9, (name, got[key], value)


def test_ties_are_ranked_by_item_index_by_hand():
    # Items 0..4 scored 1, 3, 3, 3, 0; item 1 is a training item; item 3 is relevant.
    # Ranked list: 2, 3 (tied at 3, lower index first), then 0, 4.
    scores = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0]])
    state = torch.tensor([[0, 1, 0, 2, 0]])
    got, _ = run_case(scores, state, 2, 1)
    assert got["recall@2"] == 1.0 and got["mrr@2"] == 0.5 and got["precision@2"] == 0.5
    assert math.isclose(got["ndcg@2"], 1 / math.log2(3))
    assert got["auc"] == (2 + 0.5) / 3  # above items 0 and 4, tied with item 2


def test_random_scores_match_the_analytic_expectation():
    # One relevant item among N candidates, random scores: HR@K = Recall@K ~ Bernoulli(K/N),
    # so the mean over n users is within 4 standard errors sqrt(p(1-p)/n) of K/N; E[AUC] = 1/2.
    n_users, n_items, k = 4000, 100, 10
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(n_users, n_items, generator=g)
    relevant = torch.randint(0, n_items, (n_users,), generator=g)
    none = Positives.from_pairs(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long),
                                n_users, n_items)
    got = evaluate(FixedScores(scores), Split(torch.arange(n_users), relevant), none, [k], with_auc=True)
    p = k / n_items
    tolerance = 4 * math.sqrt(p * (1 - p) / n_users)
    assert abs(got[f"hr@{k}"] - p) < tolerance and got[f"recall@{k}"] == got[f"hr@{k}"]
    assert abs(got[f"precision@{k}"] - p / k) < tolerance / k
    assert abs(got["auc"] - 0.5) < 4 * math.sqrt(1 / 12 / n_users)  # AUC of one item ~ U(0, 1)


def test_the_metrics_computed_are_the_ones_the_config_names():
    from recbce.config import RANKING_METRICS
    from recbce.evaluation.metrics import at_k

    hits = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    assert tuple(at_k(hits, torch.tensor([2.0], dtype=torch.float64), 3)) == RANKING_METRICS
