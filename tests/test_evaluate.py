import math

import torch

from recbce.data.dataset import Positives, Split
from recbce.evaluation.ranking import evaluate


class FixedScores:
    def __init__(self, scores):
        self.scores = torch.as_tensor(scores, dtype=torch.float64)

    def score_pairs(self, users, items):
        return self.scores[users.unsqueeze(-1).expand_as(items), items] if items.dim() == 2 \
            else self.scores[users, items]

    def score_all(self, users, out=None, items=slice(None)):
        scores = self.scores[users][:, items]
        return scores if out is None else out.copy_(scores)


def test_hand_computed_example():
    # One user, 5 items. Item 0 is a training item (excluded). Relevant: items 2 and 4.
    model = FixedScores([[9.0, 5.0, 4.0, 3.0, 1.0]])
    exclude = Positives.from_pairs(torch.tensor([0]), torch.tensor([0]), 1, 5)
    heldout = Split(torch.tensor([0, 0]), torch.tensor([2, 4]))
    m = evaluate(model, heldout, exclude, ks=[2, 4], item_counts=torch.tensor([9, 1, 2, 3, 4]))
    # Ranking without item 0: 1, 2, 3, 4 -> hits at positions 2 and 4.
    assert m["recall@2"] == 0.5 and m["precision@2"] == 0.5 and m["hr@2"] == 1.0
    assert math.isclose(m["ndcg@2"], (1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert math.isclose(m["ndcg@4"], (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert m["mrr@2"] == 0.5 and m["recall@4"] == 1.0
    assert math.isclose(m["map@4"], (1 / 2 + 2 / 4) / 2)  # precision at each hit, over min(R, K)
    assert m["coverage@2"] == 2 / 5 and m["popularity@2"] == 1.5  # items 1 and 2 recommended


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


def test_sampled_protocol_oracle_and_names(tmp_path):
    from recbce.config import EvalConfig
    from recbce.data.dataset import Dataset
    from recbce.evaluation.ranking import evaluate_split

    n_users, n_items = 20, 50
    train_u = torch.arange(n_users).repeat_interleave(3)
    train_i = torch.arange(n_users * 3) % n_items
    test_i = (torch.arange(n_users) * 7 + 40) % n_items
    dataset = Dataset(train=Split(train_u, train_i), valid=None, test=Split(torch.arange(n_users), test_i),
                      user_ids=list(range(n_users)), item_ids=list(range(n_items)),
                      positives=Positives.from_pairs(train_u, train_i, n_users, n_items))
    oracle = torch.zeros(n_users, n_items, dtype=torch.float64)
    oracle[torch.arange(n_users), test_i] = 1.0
    m = evaluate_split(FixedScores(oracle), dataset, "test",
                       EvalConfig(protocol="sampled", sampled_negatives=30, k=[1, 5]))
    assert m["sampled_hr@1"] == 1.0 and m["sampled_ndcg@5"] == 1.0
    assert all(name.startswith("sampled_") for name in m)
    constant = evaluate_split(FixedScores(torch.zeros(n_users, n_items, dtype=torch.float64)), dataset,
                              "test", EvalConfig(protocol="sampled", sampled_negatives=30, k=[1, 5]))
    assert constant["sampled_hr@5"] == 0.0  # ties never favour the held-out item


def test_memory_budget_sets_the_chunk_and_not_the_result():
    from recbce.evaluation.blocks import BYTES_PER_SCORE, chunk_users

    # 1 MB over 1,000 items at 16 bytes a score: 65 users; a cap lowers it; never below 1.
    assert chunk_users(1000, 1) == 2**20 // (1000 * BYTES_PER_SCORE) == 65
    assert chunk_users(1000, 1, batch_users=10) == 10 and chunk_users(10**7, 1) == 1
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 5, (200, 1000), generator=g).double()  # many ties
    seen = torch.rand(200, 1000, generator=g) < 0.05
    held = (torch.rand(200, 1000, generator=g) < 0.02) & ~seen
    exclude = Positives.from_pairs(*seen.nonzero(as_tuple=True), 200, 1000)
    heldout = Split(*held.nonzero(as_tuple=True))
    one_block = evaluate(FixedScores(scores), heldout, exclude, [5, 50], with_auc=True, max_memory_mb=100)
    small = evaluate(FixedScores(scores), heldout, exclude, [5, 50], with_auc=True, max_memory_mb=1)
    assert chunk_users(1000, 1) < 200 and small == one_block  # bit for bit


def test_a_block_of_scores_stays_cache_sized_however_large_the_budget():
    from recbce.evaluation.blocks import CACHE_BLOCK_BYTES, chunk_users

    # Gowalla's 40,981 items: 102 users a block (16 MB of float32 scores), not the 818 of 512 MB.
    assert chunk_users(40_981, 512) == CACHE_BLOCK_BYTES // (40_981 * 4) == 102
    assert chunk_users(40_981, 1) == 1  # the memory budget still caps it


def test_a_large_catalogue_keeps_blocks_of_many_users():
    from recbce.evaluation.blocks import MIN_CACHE_BLOCK_USERS, chunk_users

    # 500,000 items: a 16 MB block would be 8 users; the budget's 33 (256 MB) are taken instead.
    assert chunk_users(500_000, 256) == 256 * 2**20 // 16 // 500_000 == 33
    assert chunk_users(150_000, 512) == MIN_CACHE_BLOCK_USERS  # a budget above the floor: the floor
