import pytest
import torch

from recbce.data import Positives
from recbce.errors import DataError
from recbce.sampling import UniformSampler


def dense_positives(n_users=30, n_items=20, density=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_users, n_items, generator=g) < density
    mask[:, 0] = False  # every user has at least one unobserved item
    users, items = mask.nonzero(as_tuple=True)
    return Positives.from_pairs(users, items, n_users, n_items), mask


def test_exact_exclusion_never_returns_a_positive():
    positives, mask = dense_positives(density=0.8)
    users = torch.arange(30).repeat(20)
    negatives = UniformSampler(positives).sample(users, 7, torch.Generator().manual_seed(1))
    assert negatives.shape == (600, 7)
    assert not mask[users.unsqueeze(1).expand_as(negatives), negatives].any()


def test_same_seed_same_draws():
    positives, _ = dense_positives()
    sampler = UniformSampler(positives)
    users = torch.arange(30)
    a = sampler.sample(users, 4, torch.Generator().manual_seed(5))
    b = sampler.sample(users, 4, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_user_with_every_item_is_an_error():
    positives = Positives.from_pairs(torch.tensor([0, 0]), torch.tensor([0, 1]), 1, 2)
    with pytest.raises(DataError, match="every item"):
        UniformSampler(positives)
    unchecked = UniformSampler(positives, exclude_positives=False)
    assert unchecked.sample(torch.tensor([0]), 3, torch.Generator()).shape == (1, 3)
