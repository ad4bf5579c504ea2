import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recbce.config import SamplerConfig
from recbce.data import Positives
from recbce.errors import DataError
from recbce.sampling import InBatchSampler, ItemSampler, build_sampler, make_generator


def random_positives(n_users, n_items, density, seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_users, n_items, generator=g) < density
    mask[:, 0] = False  # every user keeps at least one unobserved item
    users, items = mask.nonzero(as_tuple=True)
    return Positives.from_pairs(users, items, n_users, n_items), mask


@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 20), n_items=st.integers(2, 30), density=st.floats(0, 0.95),
       ratio=st.integers(1, 9), seed=st.integers(0, 10**6), kind=st.sampled_from(["uniform", "popularity"]))
def test_exclusion_shapes_and_seed(n_users, n_items, density, ratio, seed, kind):
    positives, mask = random_positives(n_users, n_items, density, seed)
    counts = torch.bincount(positives.indices, minlength=n_items) + 1
    sampler = build_sampler(SamplerConfig(kind=kind, ratio=ratio), positives, counts)
    users = torch.randint(n_users, (50,), generator=torch.Generator().manual_seed(seed))
    first = sampler.sample(users, users, ratio, make_generator(seed))
    again = sampler.sample(users, users, ratio, make_generator(seed))
    assert first.items.shape == (50, ratio) and first.valid is None
    assert torch.equal(first.items, again.items)
    assert not mask[users.unsqueeze(1).expand_as(first.items), first.items].any()


def chi_square(observed: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
def test_draws_match_the_target_distribution(kind):
    n_items, draws = 50, 200_000
    observed_items = torch.tensor([3, 7, 8, 20])
    positives = Positives.from_pairs(torch.zeros(4, dtype=torch.long), observed_items, 1, n_items)
    counts = torch.arange(1, n_items + 1)
    sampler = build_sampler(SamplerConfig(kind=kind, alpha=0.75), positives, counts)
    got = sampler.sample(torch.zeros(draws // 10, dtype=torch.long), None, 10, make_generator(1)).items
    observed = torch.bincount(got.flatten(), minlength=n_items).double()
    target = counts.double() ** 0.75 if kind == "popularity" else torch.ones(n_items, dtype=torch.float64)
    target[observed_items] = 0
    assert observed[observed_items].sum() == 0
    keep = target > 0
    expected = target[keep] / target.sum() * draws
    df = int(keep.sum()) - 1
    assert chi_square(observed[keep], expected) < df + 6 * (2 * df) ** 0.5  # mean + 6 sd


def test_popularity_log_prob_is_normalised():
    positives, _ = random_positives(5, 12, 0.3, 0)
    counts = torch.arange(1, 13)
    sampler = build_sampler(SamplerConfig(kind="popularity", alpha=0.5), positives, counts)
    probs = sampler.log_prob(torch.arange(12)).double().exp()
    assert abs(probs.sum().item() - 1) < 1e-6 and torch.all(probs[1:] > probs[:-1])


def test_unchecked_uniform_can_return_positives_but_is_uniform():
    positives = Positives.from_pairs(torch.zeros(9, dtype=torch.long), torch.arange(9), 1, 10)
    sampler = ItemSampler(positives, exclude_positives=False)
    got = sampler.sample(torch.zeros(1000, dtype=torch.long), None, 5, make_generator(0)).items
    assert (got < 9).float().mean() > 0.8


def test_in_batch_uses_other_positives_and_masks_own():
    positives = Positives.from_pairs(torch.tensor([0, 0, 1, 2]), torch.tensor([5, 6, 6, 7]), 3, 8)
    users, items = torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7])
    got = InBatchSampler(positives, torch.ones(8)).sample(users, items, 1, make_generator(0))
    assert got.items.tolist() == [[6, 7], [5, 7], [5, 6]]
    assert got.valid.tolist() == [[False, True], [True, True], [True, True]]  # (0, 6) is a positive


def test_user_with_every_item_or_one_item_catalogue_is_an_error():
    full = Positives.from_pairs(torch.tensor([0, 0]), torch.tensor([0, 1]), 1, 2)
    with pytest.raises(DataError, match="every item"):
        ItemSampler(full)
    one = Positives.from_pairs(torch.tensor([0]), torch.tensor([0]), 2, 1)
    with pytest.raises(DataError, match="fewer than 2 items"):
        ItemSampler(one, exclude_positives=False)


def test_ranks_get_different_streams():
    a = torch.randint(1000, (10,), generator=make_generator(3, rank=0))
    b = torch.randint(1000, (10,), generator=make_generator(3, rank=1))
    assert not torch.equal(a, b)


def test_user_with_one_rare_unobserved_item_still_gets_it():
    # Popularity gives item 0 almost no mass; the user has every other item: rejection alone
    # would need thousands of rounds, the exact fallback must return item 0 every time.
    positives = Positives.from_pairs(torch.zeros(9, dtype=torch.long), torch.arange(1, 10), 1, 10)
    counts = torch.tensor([1] + [10**6] * 9)
    sampler = build_sampler(SamplerConfig(kind="popularity", alpha=1.0), positives, counts)
    got = sampler.sample(torch.zeros(100, dtype=torch.long), None, 4, make_generator(0)).items
    assert (got == 0).all()


# --- shared negatives: one pool per batch ---------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 20), n_items=st.integers(2, 40), density=st.floats(0, 0.9),
       seed=st.integers(0, 10**6), data=st.data())
def test_shared_pool_masks_exactly_the_accidental_hits(n_users, n_items, density, seed, data):
    from recbce.sampling import SharedNegatives

    positives, mask = random_positives(n_users, n_items, density, seed)
    pool_size = data.draw(st.integers(1, n_items))
    sampler = build_sampler(SamplerConfig(kind="shared", ratio=pool_size), positives, None)
    users = torch.randint(n_users, (25,), generator=torch.Generator().manual_seed(seed))
    first = sampler.sample(users, users, pool_size, make_generator(seed))
    again = sampler.sample(users, users, pool_size, make_generator(seed))
    assert isinstance(first, SharedNegatives)
    assert torch.equal(first.pool, again.pool) and torch.equal(first.valid, again.valid)
    assert len(first.pool.unique()) == pool_size and first.items.shape == (25, pool_size)
    # The brute-force truth: a pool item is masked in a row iff the row's user has it.
    assert torch.equal(first.valid, ~mask[users][:, first.pool])


def test_shared_pool_larger_than_catalogue_is_an_error():
    positives, _ = random_positives(3, 5, 0.3, seed=0)
    with pytest.raises(DataError, match="shared pool"):
        build_sampler(SamplerConfig(kind="shared", ratio=6), positives, None)
