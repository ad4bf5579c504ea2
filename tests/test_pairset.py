import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recbce.data.dataset import Positives
from recbce.data.pairset import PairSet


@settings(max_examples=40, deadline=None)
@given(n_users=st.integers(1, 30), n_items=st.integers(1, 40), density=st.floats(0, 1),
       seed=st.integers(0, 10**6))
def test_pair_set_matches_a_dense_mask(n_users, n_items, density, seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_users, n_items, generator=g) < density
    users, items = mask.nonzero(as_tuple=True)
    members = PairSet(Positives.from_pairs(users, items, n_users, n_items))
    every_user = torch.arange(n_users).unsqueeze(1)  # [U, 1] broadcast against [U, I]
    assert torch.equal(members.contains(every_user, torch.arange(n_items).expand(n_users, -1)), mask)
    query_users = torch.randint(n_users, (200,), generator=g)
    query_items = torch.randint(n_items, (200,), generator=g)
    assert torch.equal(members.contains(query_users, query_items), mask[query_users, query_items])
