import math

import torch

from recbce.data import Positives, Split
from recbce.evaluate import evaluate


class FixedScores:
    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float64)

    def score_all(self, users):
        return self.scores[users].clone()


def test_hand_computed_example():
    # One user, 5 items. Item 0 is a training item (excluded). Relevant: items 2 and 4.
    model = FixedScores([[9.0, 5.0, 4.0, 3.0, 1.0]])
    exclude = Positives.from_pairs(torch.tensor([0]), torch.tensor([0]), 1, 5)
    heldout = Split(torch.tensor([0, 0]), torch.tensor([2, 4]))
    m = evaluate(model, heldout, exclude, ks=[2, 4])
    # Ranking without item 0: 1, 2, 3, 4 -> hits at positions 2 and 4.
    assert m["recall@2"] == 0.5 and m["precision@2"] == 0.5 and m["hr@2"] == 1.0
    assert math.isclose(m["ndcg@2"], (1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert math.isclose(m["ndcg@4"], (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert m["mrr@2"] == 0.5 and m["recall@4"] == 1.0


def test_oracle_scores_one():
    g = torch.Generator().manual_seed(0)
    truth = (torch.rand(40, 30, generator=g) < 0.1)
    truth[:, 0] = True
    users, items = truth.nonzero(as_tuple=True)
    no_training = Positives.from_pairs(torch.tensor([], dtype=torch.long),
                                       torch.tensor([], dtype=torch.long), 40, 30)
    m = evaluate(FixedScores(truth.double()), Split(users, items), no_training, ks=[10], batch_users=7)
    assert m["ndcg@10"] == 1.0 and m["hr@10"] == 1.0 and m["mrr@10"] == 1.0
    assert abs(m["recall@10"] - 1.0) < 1e-12  # every user has <= 10 relevant items here
