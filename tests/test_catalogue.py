"""Catalogue metrics (recbce.evaluation.catalogue) against small cases worked by hand."""

import math

import pytest
import torch

from recbce.data.dataset import Positives, Split
from recbce.evaluation import catalogue
from recbce.evaluation.ranking import evaluate
from tests.test_evaluate import FixedScores

# 4 users (user 3 holds nothing out, so is not evaluated), 5 items; training counts:
COUNTS = torch.tensor([4, 3, 2, 1, 0])
# Scores giving the top-2 lists u0: [0, 1], u1: [0, 2], u2: [3, 4].
SCORES = [[5, 4, 1, 0, 0], [5, 0, 4, 1, 0], [0, 0, 1, 5, 4], [0, 0, 0, 0, 0]]


def nothing_excluded(n_users, n_items):
    none = torch.tensor([], dtype=torch.long)
    return Positives.from_pairs(none, none, n_users, n_items)


def hand_case(**kwargs):
    exclude = nothing_excluded(4, 5)
    heldout = Split(torch.tensor([0, 1, 2]), torch.tensor([1, 4, 3]))
    return evaluate(FixedScores(SCORES), heldout, exclude, ks=[2], item_counts=COUNTS, **kwargs)


def test_the_hand_worked_lists():
    m = hand_case()
    # Exposure e = [2, 1, 1, 1, 1] over 6 slots; sorted, the weights 2j - 5 - 1 are -4, -2, 0, 2, 4.
    assert m["coverage@2"] == 1.0
    assert math.isclose(m["gini@2"], (-4 - 2 + 0 + 2 + 2 * 4) / (5 * 6))
    assert math.isclose(m["entropy@2"], math.log(3) / 3 + 4 / 6 * math.log(6))
    assert math.isclose(m["popularity@2"], ((4 + 3) / 2 + (4 + 2) / 2 + (1 + 0) / 2) / 3)
    # Self-information -log2(c / 4 users): 0, log2(4/3), 1, 2, and 2 for the unseen item (counted once).
    assert math.isclose(m["novelty@2"], (math.log2(4 / 3) / 2 + 1 / 2 + 2) / 3)
    # Head = the most popular 20% of 5 items = item 0; lists hold 1, 1 and 2 tail items of 2.
    assert math.isclose(m["tail@2"], (0.5 + 0.5 + 1.0) / 3)
    # Accuracy as before: u0's relevant item 1 at rank 2, u1's item 4 missed, u2's item 3 at rank 1.
    assert m["hr@2"] == 2 / 3 and math.isclose(m["mrr@2"], (0.5 + 0 + 1) / 3)


def test_per_user_rows_carry_the_per_list_metrics():
    _, table = hand_case(per_user=True)
    assert table["tail@2"].tolist() == [0.5, 0.5, 1.0]
    assert table["popularity@2"].tolist() == [3.5, 3.0, 0.5]
    assert "gini@2" not in table  # a property of all lists together, not of one user


def test_gini_at_its_bounds():
    assert catalogue.gini(torch.tensor([3, 3, 3, 3])) == 0.0  # every item shown equally
    assert math.isclose(catalogue.gini(torch.tensor([0, 0, 0, 7])), 1 - 1 / 4)  # one item takes all
    assert catalogue.gini(torch.zeros(3, dtype=torch.long)) == 0.0


def test_entropy_of_even_and_single_exposure():
    assert math.isclose(catalogue.entropy(torch.tensor([2, 2, 2, 2, 0])), math.log(4))
    assert catalogue.entropy(torch.tensor([0, 5, 0])) == 0.0


@pytest.mark.parametrize(("counts", "head"), [
    ([2, 5, 5, 1, 0, 0, 0, 0, 0, 0], {1, 2}),  # 20% of 10 items: the two most popular
    ([3, 3, 3, 0, 0], {0}),  # ties go to the lower index
    ([1, 2, 3, 4, 5, 6], {4, 5}),  # 20% of 6 is 1.2: rounded up
])
def test_the_head_is_the_most_popular_fifth(counts, head):
    tail = catalogue.long_tail(torch.tensor(counts))
    assert {i for i in range(len(counts)) if not tail[i]} == head


def test_the_popularity_baseline_recommends_the_head():
    from recbce.models import Popularity

    counts = torch.tensor([9, 1, 8, 2, 7, 3, 6, 4, 5, 0])
    heldout = Split(torch.arange(6), torch.full((6,), 9))
    m = evaluate(Popularity(counts), heldout, nothing_excluded(6, 10), ks=[2], item_counts=counts)
    # Items 0 and 2 in all 6 lists: sorted exposure [0 x 8, 6, 6], weights 7 and 9 at the top.
    assert m["tail@2"] == 0.0 and m["coverage@2"] == 0.2
    assert math.isclose(m["gini@2"], (7 + 9) * 6 / (10 * 12))
