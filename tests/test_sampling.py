import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import SamplerConfig
from recbce.data.dataset import Positives
from recbce.data.sampling import (
    InBatchSampler,
    ItemSampler,
    build_sampler,
    make_generator,
)
from recbce.errors import DataError
from tests.conftest import PRE_STARTER_MODEL


def hits_as_mask(hits: torch.Tensor) -> torch.Tensor:
    """The additive mask a shared pool must carry: −inf on a hit, exactly 0 elsewhere."""
    return torch.where(hits, -torch.inf, 0.0)


def random_positives(n_users, n_items, density, seed, dense_users=0):
    """Random CSR positives; the first `dense_users` users hold every item but one."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_users, n_items, generator=g) < density
    mask[:dense_users] = True
    free = torch.randint(n_items, (n_users,), generator=g)
    mask[torch.arange(n_users), free] = False  # every user keeps at least one unobserved item
    users, items = mask.nonzero(as_tuple=True)
    return Positives.from_pairs(users, items, n_users, n_items), mask


@settings(max_examples=40, deadline=None)
@given(n_users=st.integers(1, 20), n_items=st.integers(2, 30), density=st.floats(0, 0.95),
       dense_users=st.integers(0, 3), ratio=st.integers(1, 9), seed=st.integers(0, 10**6),
       kind=st.sampled_from(["uniform", "popularity"]))
def test_exclusion_shapes_and_seed(n_users, n_items, density, dense_users, ratio, seed, kind):
    positives, mask = random_positives(n_users, n_items, density, seed, min(dense_users, n_users))
    counts = torch.bincount(positives.indices, minlength=n_items) + 1
    sampler = build_sampler(SamplerConfig(kind=kind, ratio=ratio), positives, counts)
    users = torch.randint(n_users, (50,), generator=torch.Generator().manual_seed(seed))
    first = sampler.sample(users, users, ratio, make_generator(seed))
    again = sampler.sample(users, users, ratio, make_generator(seed))
    assert first.items.shape == (50, ratio) and first.valid is None
    assert first.items.dtype == torch.int64 and bool(((first.items >= 0) & (first.items < n_items)).all())
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
    with pytest.raises(DataError, match=r"has 1 item\(s\)"):
        ItemSampler(one, exclude_positives=False)
    with pytest.raises(DataError, match=r"has 1 item\(s\)"):
        InBatchSampler(one, torch.ones(1))


def test_ranks_get_different_streams():
    positives, _ = random_positives(30, 500, 0.05, 0)
    sampler = build_sampler(SamplerConfig(kind="uniform", ratio=4), positives, torch.ones(500))
    users = torch.arange(30).repeat(10)

    def draws(seed, rank):
        return sampler.sample(users, None, 4, make_generator(seed, rank)).items

    assert torch.equal(draws(3, 0), draws(3, 0)) and torch.equal(draws(3, 1), draws(3, 1))
    assert not torch.equal(draws(3, 0), draws(3, 1))  # ranks: independent streams
    assert not torch.equal(draws(3, 0), draws(4, 0))
    generator = make_generator(3)  # one generator across epochs: each epoch draws afresh
    epoch_1, epoch_2 = (sampler.sample(users, None, 4, generator).items for _ in range(2))
    assert not torch.equal(epoch_1, epoch_2)
    # Half the draws of two ranks agreeing would mean correlated streams (chance: 1/500 each).
    assert (draws(3, 0) == draws(3, 1)).float().mean() < 0.05


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
def test_restricted_distribution_of_dense_users(kind):
    # User 0 holds the 45 most popular of 50 items: popularity rejection keeps failing and the
    # exact fallback serves most rows. User 1 holds a few. Each user's draws must follow the
    # target restricted to that user's own unobserved items.
    n_items, per_user = 50, 40_000
    counts = torch.arange(1, n_items + 1) ** 2
    held = [torch.arange(5, 50), torch.tensor([0, 10, 49])]
    users = torch.cat([torch.full((len(h),), u) for u, h in enumerate(held)])
    positives = Positives.from_pairs(users, torch.cat(held), 2, n_items)
    sampler = build_sampler(SamplerConfig(kind=kind, alpha=0.5), positives, counts)
    batch = torch.tensor([0, 1]).repeat(per_user // 8)
    got = sampler.sample(batch, None, 8, make_generator(7)).items
    for user, observed_items in enumerate(held):
        observed = torch.bincount(got[batch == user].flatten(), minlength=n_items).double()
        target = counts.double() ** 0.5 if kind == "popularity" else torch.ones(n_items, dtype=torch.float64)
        target[observed_items] = 0
        assert observed[observed_items].sum() == 0
        keep = target > 0
        expected = target[keep] / target.sum() * per_user
        df = int(keep.sum()) - 1
        assert chi_square(observed[keep], expected) < df + 6 * (2 * df) ** 0.5  # mean + 6 sd


def test_user_with_one_rare_unobserved_item_still_gets_it():
    # Popularity gives item 0 almost no mass; the user has every other item: rejection alone
    # would need thousands of rounds, the exact fallback must return item 0 every time.
    positives = Positives.from_pairs(torch.zeros(9, dtype=torch.long), torch.arange(1, 10), 1, 10)
    counts = torch.tensor([1] + [10**6] * 9)
    sampler = build_sampler(SamplerConfig(kind="popularity", alpha=1.0), positives, counts)
    got = sampler.sample(torch.zeros(100, dtype=torch.long), None, 4, make_generator(0)).items
    assert (got == 0).all()


def write_run(tmp_path, train_rows, test_rows, **sections):
    """A config on predefined train/test files written here; returns its path."""
    (tmp_path / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in train_rows))
    (tmp_path / "test.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in test_rows))
    # the defaults before the starter recipe became them (issue 25), written out
    raw = {"run": {"dir": str(tmp_path / "runs"), "name": "r"},
           "train": {"epochs": 1, "batch_size": 4096, "patience": 0},
           "data": {"path": str(tmp_path / "train.tsv"),
                    "split": {"method": "predefined", "test_path": str(tmp_path / "test.tsv"),
                              "valid_ratio": 0.0}},
           "model": {**PRE_STARTER_MODEL},
           "sampler": {"kind": "uniform", "ratio": 4}}
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def assert_one_line_error(args, message):
    result = CliRunner().invoke(app, ["train", "-q", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind, loss", [("uniform", "bce"), ("popularity", "bce"), ("in_batch", "softmax")])
def test_cli_one_item_catalogue_is_a_one_line_error(tmp_path, kind, loss):
    config = write_run(tmp_path, [("a", "x"), ("b", "x"), ("c", "x")], [("a", "x")],
                       sampler={"kind": kind}, loss={"name": loss})
    assert_one_line_error(["-c", str(config)], "the training data has 1 item(s)")


def test_cli_user_with_every_item(tmp_path):
    train = [("a", "x"), ("a", "y"), ("a", "z"), ("b", "x")]
    config = write_run(tmp_path, train, [("b", "y")])
    assert_one_line_error(["-c", str(config)], "has interacted with every item")
    # Unchecked sampling has no such limit: the documented way out trains.
    result = CliRunner().invoke(app, ["train", "-q", "-c", str(config),
                                      "--set", "sampler.exclude_positives=false"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("overrides, message", [
    (["sampler.ratio=0"], "sampler.ratio: 0 draws no negatives: set an integer >= 1"),
    (["sampler.ratio=2.5"], "sampler.ratio: Input should be a valid integer"),
    (["sampler.ratio=-1"], "sampler.ratio: Input should be greater than or equal to 0"),
    (["loss.name=bce_pos_only"], "bce_pos_only trains without negatives: set sampler.ratio: 0"),
    (["sampler.pool=popularity"], "sampler.pool applies to kind: shared only"),
    (["sampler.pool=zipf"], "sampler.pool: Input should be 'uniform' or 'popularity'"),
])
def test_cli_ratio_errors(tmp_path, overrides, message):
    config = write_run(tmp_path, [("a", "x"), ("b", "y")], [("a", "y")])
    assert_one_line_error(["-c", str(config), *[f"--set={o}" for o in overrides]], message)


@settings(max_examples=40, deadline=None)
@given(n_items=st.integers(2, 300), skew=st.floats(0, 12), seed=st.integers(0, 10**6))
def test_popularity_draw_is_the_inverse_cdf(n_items, skew, seed):
    # Heavy skew puts many tiny probabilities in one guide slice: the binary-search finish.
    g = torch.Generator().manual_seed(seed)
    counts = torch.rand(n_items, generator=g, dtype=torch.float64) ** skew + 1e-300
    positives = Positives.from_pairs(torch.tensor([0]), torch.tensor([0]), 1, n_items)
    sampler = ItemSampler(positives, counts, exclude_positives=False)
    u = torch.cat([torch.rand(2000, generator=g, dtype=torch.float64),
                   torch.tensor([0.0, 1 - 2**-53]), sampler.cdf[:-1]])  # ends and exact cdf values
    cdf = torch.cumsum(counts / counts.sum(), 0)
    expected = torch.searchsorted(cdf, u).clamp_(max=n_items - 1)
    assert torch.equal(sampler.inverse_cdf(u), expected)
# --- shared negatives: one pool per batch ---------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 20), n_items=st.integers(2, 40), density=st.floats(0, 0.9),
       seed=st.integers(0, 10**6), data=st.data())
def test_shared_pool_masks_exactly_the_accidental_hits(n_users, n_items, density, seed, data):
    from recbce.data.sampling import SharedNegatives

    positives, mask = random_positives(n_users, n_items, density, seed)
    pool_size = data.draw(st.integers(1, n_items))
    sampler = build_sampler(SamplerConfig(kind="shared", ratio=pool_size), positives, None)
    users = torch.randint(n_users, (25,), generator=torch.Generator().manual_seed(seed))
    first = sampler.sample(users, users, pool_size, make_generator(seed))
    again = sampler.sample(users, users, pool_size, make_generator(seed))
    assert isinstance(first, SharedNegatives)
    assert torch.equal(first.pool, again.pool) and torch.equal(first.mask, again.mask)
    assert len(first.pool.unique()) == pool_size and first.items.shape == (25, pool_size)
    # The brute-force truth: a pool item is masked in a row iff the row's user has it.
    assert torch.equal(first.mask, hits_as_mask(mask[users][:, first.pool]))


@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 20), n_items=st.integers(2, 40), density=st.floats(0, 0.9),
       pool_size=st.integers(1, 80), seed=st.integers(0, 10**6))
def test_popularity_pool_masks_every_copy_of_a_hit(n_users, n_items, density, pool_size, seed):
    positives, mask = random_positives(n_users, n_items, density, seed)
    counts = torch.randint(1, 50, (n_items,), generator=torch.Generator().manual_seed(seed))
    config = SamplerConfig(kind="shared", ratio=pool_size, pool="popularity")
    sampler = build_sampler(config, positives, counts)  # with replacement: may exceed the catalogue
    users = torch.randint(n_users, (25,), generator=torch.Generator().manual_seed(seed))
    negatives = sampler.sample(users, users, pool_size, make_generator(seed))
    assert negatives.pool.shape == (pool_size,)
    assert torch.equal(negatives.mask, hits_as_mask(mask[users][:, negatives.pool]))


def test_popularity_pool_draws_and_log_q():
    n_items, pool_size, batches = 30, 64, 3000
    positives = Positives.from_pairs(torch.zeros(1, dtype=torch.long), torch.tensor([0]), 1, n_items)
    counts = torch.arange(1, n_items + 1)
    sampler = build_sampler(SamplerConfig(kind="shared", ratio=pool_size, pool="popularity", alpha=0.5),
                            positives, counts)
    generator = make_generator(3)
    pools = torch.stack([sampler.sample(torch.zeros(1, dtype=torch.long), None, pool_size, generator).pool
                         for _ in range(batches)])
    observed = torch.bincount(pools.flatten(), minlength=n_items).double()
    q = counts.double() ** 0.5 / (counts.double() ** 0.5).sum()
    df = n_items - 1
    assert chi_square(observed, q * pool_size * batches) < df + 6 * (2 * df) ** 0.5
    # The correction is the log of each item's expected count in one pool: log(P q_v).
    expected_count = sampler.log_prob(torch.arange(n_items)).double().exp()
    torch.testing.assert_close(expected_count, q * pool_size, rtol=1e-5, atol=0)


def test_shared_pool_larger_than_catalogue_is_an_error():
    positives, _ = random_positives(3, 5, 0.3, seed=0)
    with pytest.raises(DataError, match="shared pool"):
        build_sampler(SamplerConfig(kind="shared", ratio=6), positives, None)


def test_cli_shared_pool_written_above_the_catalogue_is_a_one_line_error(tmp_path):
    # left out, the pool is cut to the catalogue (tests/test_train.py); written, it is not
    config = write_run(tmp_path, [("a", "x"), ("b", "y"), ("c", "z")], [("a", "y")],
                       sampler={"kind": "shared", "ratio": 256})
    assert_one_line_error(["-c", str(config)], "sampler.ratio 256 (the shared pool size) exceeds the "
                                               "catalogue's 3 items")


def test_a_small_pool_is_drawn_without_replacement_uniformly():
    from recbce.data.sampling import distinct_items

    n_items, size, draws = 640, 10, 4000  # a pool of 1/64 of the catalogue: drawn by rejection
    generator = make_generator(5)
    pools = torch.stack([distinct_items(n_items, size, generator) for _ in range(draws)])
    assert all(len(pool.unique()) == size for pool in pools) and pools.max() < n_items
    df = n_items - 1  # every item as likely, in any position of the pool
    for observed in (torch.bincount(pools.flatten(), minlength=n_items),
                     torch.bincount(pools[:, 0], minlength=n_items)):
        expected = torch.full((n_items,), observed.sum().item() / n_items, dtype=torch.float64)
        assert chi_square(observed.double(), expected) < df + 6 * (2 * df) ** 0.5
    again = torch.stack([distinct_items(n_items, size, make_generator(5)) for _ in range(2)])
    assert torch.equal(again[0], pools[0]) and torch.equal(again[1], pools[0])


def test_a_pool_that_is_a_large_share_of_the_catalogue_is_a_permutations_prefix():
    from recbce.data.sampling import distinct_items, first_occurrences

    # The draws of every shared-pool result recorded so far (pool > 1/64 of the catalogue).
    expected = torch.randperm(1000, generator=make_generator(2))[:16]
    assert torch.equal(distinct_items(1000, 16, make_generator(2)), expected)
    assert first_occurrences(torch.tensor([5, 3, 5, 9, 3, 1])).tolist() == [5, 3, 9, 1]


def test_a_catalogue_scale_pool_masks_exactly_the_accidental_hits():
    n_users, n_items = 30, 100_000
    g = torch.Generator().manual_seed(0)
    users = torch.arange(n_users).repeat_interleave(40)
    items = torch.randint(n_items, (len(users),), generator=g)
    positives = Positives.from_pairs(users, items, n_users, n_items)
    sampler = build_sampler(SamplerConfig(kind="shared", ratio=1024), positives, None)
    batch = torch.arange(n_users)
    pool = sampler.sample(batch, batch, 1024, make_generator(0)).pool
    planted = items[:40].unique()  # user 0's items, each in the pool once
    pool = torch.cat([planted, pool[~torch.isin(pool, planted)]])[:1024]
    truth = torch.zeros(n_users, n_items, dtype=torch.bool)
    truth[users, items] = True
    assert torch.equal(sampler.hit_mask(batch, pool), hits_as_mask(truth[batch][:, pool]))
    assert sampler.hit_mask(batch, pool)[0, :len(planted)].eq(-torch.inf).all()
