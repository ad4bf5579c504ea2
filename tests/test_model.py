import pytest
import torch

from recbce.config import ModelConfig
from recbce.data.dataset import Positives
from recbce.data.history import ScoringInputs
from recbce.models import Batch
from recbce.models.dot_product import DotProduct


@pytest.mark.parametrize("config", [ModelConfig(dim=8, bias=True, scorer="dot", temperature=1.0, history=0.0),
                                    ModelConfig(dim=8, bias=False, scorer="cosine", temperature=0.1,
                                                history=0.0),
                                    ModelConfig(dim=8, bias=True, scorer="cosine", temperature=0.1,
                                                history=0.0)])
def test_pool_scores_equal_per_pair_scores(config):
    model = DotProduct(30, 50, config, generator=torch.Generator().manual_seed(0))
    if model.item_bias is not None:
        torch.nn.init.normal_(model.item_bias.weight)  # a non-zero bias must be added per column
    users = torch.tensor([3, 0, 29, 3, 7])
    pool = torch.tensor([49, 1, 2, 17, 30, 8])
    items = torch.tensor([5, 9, 9, 0, 41])
    per_pair = model.score_pairs(users, pool.expand(len(users), -1))
    pos, pooled = model(Batch(users, items, pool=pool))
    assert pooled.shape == (5, 6)
    torch.testing.assert_close(pos, model.score_pairs(users, items), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled, per_pair, rtol=1e-5, atol=1e-5)
    assert pooled[0, 3] != pooled[1, 3]  # rows are different users, not one broadcast row


@pytest.mark.parametrize("bias", [True, False])
def test_pool_mask_sets_masked_pairs_to_minus_inf_and_keeps_them_out_of_the_gradient(bias):
    config = ModelConfig(dim=8, bias=bias, scorer="cosine", temperature=0.1, history=0.0)
    model = DotProduct(30, 50, config, generator=torch.Generator().manual_seed(0))
    users, items = torch.tensor([3, 0, 29, 7]), torch.tensor([1, 2, 3, 4])
    pool = torch.tensor([49, 1, 2, 17, 30])
    mask = torch.zeros(4, 5)
    mask[1, 2] = mask[3, 0] = mask[3, 4] = -torch.inf
    kept = mask == 0
    masked = model(Batch(users, items, pool=pool, mask=mask))[1]
    assert torch.isneginf(masked[~kept]).all() and torch.isfinite(masked[kept]).all()
    masked[kept].sum().backward()
    with_mask = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(Batch(users, items, pool=pool))[1][kept].sum().backward()
    for got, expected in zip(with_mask, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, expected)


def history_model(weight: float, bias: bool = True) -> tuple[DotProduct, Positives]:
    """A cosine model whose users 0-5 have a few training items each (user 4 has one)."""
    users = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5])
    items = torch.tensor([1, 4, 9, 2, 9, 7, 0, 3, 5, 8, 6, 1, 2])
    positives = Positives.from_pairs(users, items, 6, 10)
    config = ModelConfig(dim=8, bias=bias, scorer="cosine", temperature=0.1, history=weight)
    model = DotProduct(6, 10, config, ScoringInputs(history=positives),
                       generator=torch.Generator().manual_seed(0))
    if bias:
        torch.nn.init.normal_(model.item_bias.weight)
    return model, positives


def test_history_model_is_a_dot_product_model_with_mixed_user_vectors():
    # p_u = (1 − w)·e_u + w·mean(q_j): the same scores as a plain model holding those vectors.
    model, positives = history_model(0.25)
    plain = DotProduct(6, 10, ModelConfig(dim=8, bias=True, scorer="cosine", temperature=0.1, history=0.0))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        for user in range(6):
            mine = positives.indices[positives.indptr[user]:positives.indptr[user + 1]]
            plain.user.weight[user] = 0.75 * model.user.weight[user] + 0.25 * model.item.weight[mine].mean(0)
    users = torch.tensor([5, 0, 3, 4, 1, 2])
    torch.testing.assert_close(model.score_all(users), plain.score_all(users))


def test_history_sample_of_every_item_once_gives_the_exact_scores():
    model, positives = history_model(0.5)
    users = torch.tensor([3, 3])
    every_item = positives.indices[positives.indptr[3]:positives.indptr[4]].expand(2, -1)
    sampled = model.score_pairs(users, torch.arange(10).expand(2, -1), every_item)
    torch.testing.assert_close(sampled, model.score_all(users))


@pytest.mark.parametrize("bias", [True, False])
def test_shared_pool_scores_equal_per_pair_scores_with_a_history_sample(bias):
    model, _ = history_model(0.5, bias)
    users, items = torch.tensor([0, 3, 5, 0]), torch.tensor([4, 8, 2, 9])
    pool, history = torch.tensor([6, 0, 2, 7]), torch.tensor([[1, 1, 9], [0, 5, 5], [1, 2, 2], [4, 4, 4]])
    pos, neg = model(Batch(users, items, pool=pool, history=history))
    torch.testing.assert_close(pos, model.score_pairs(users, items, history))
    torch.testing.assert_close(neg, model.score_pairs(users, pool.expand(4, -1), history))
    assert not torch.equal(pos, model.score_pairs(users, items))  # the sample, not the exact mean, was used


def test_history_gradient_reaches_the_sampled_items_only():
    model, _ = history_model(0.5, bias=False)
    users, items, pool = torch.tensor([0, 3]), torch.tensor([4, 8]), torch.tensor([6])
    pos, neg = model(Batch(users, items, pool=pool, history=torch.tensor([[1, 9], [3, 3]])))
    (pos.sum() + neg.sum()).backward()
    touched = model.item.weight.grad.ne(0).any(1).nonzero().squeeze(1).tolist()
    assert touched == [1, 3, 4, 6, 8, 9]


def test_without_history_a_history_sample_changes_nothing():
    model, _ = history_model(0.0)
    users, items = torch.tensor([0, 3]), torch.tensor([4, 8])
    with_history = model.score_pairs(users, items, torch.tensor([[1], [3]]))
    torch.testing.assert_close(with_history, model.score_pairs(users, items))


def test_history_weight_needs_the_training_positives():
    with pytest.raises(ValueError, match="model.history needs each user.s items"):
        DotProduct(6, 10, ModelConfig(dim=8, scorer="dot", temperature=1.0, history=0.5))


def test_item_biases_start_at_bias_init_and_the_vectors_do_not_move():
    old_defaults = {"scorer": "dot", "temperature": 1.0, "history": 0.0}
    plain = DotProduct(6, 10, ModelConfig(dim=8, **old_defaults), generator=torch.Generator().manual_seed(0))
    shifted = DotProduct(6, 10, ModelConfig(dim=8, bias_init=-6.9, **old_defaults),
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(shifted.item_bias.weight, torch.full((10, 1), -6.9))
    assert torch.equal(plain.item_bias.weight, torch.zeros(10, 1))
    # A constant draws nothing from the generator: the embeddings are the same.
    assert torch.equal(plain.user.weight, shifted.user.weight)
    assert torch.equal(plain.item.weight, shifted.item.weight)


def test_score_all_follows_every_change_of_the_item_table():
    # score_all keeps the embedded (normalised) item table between calls: an optimiser step,
    # an in-place edit or a loaded state must each be seen, bit for bit as a fresh model.
    import copy
    model = DotProduct(6, 9, ModelConfig(dim=4, bias=True, scorer="cosine", temperature=0.1, history=0.0),
                       sparse=True, generator=torch.Generator().manual_seed(0))
    users, first = torch.arange(6), copy.deepcopy(model.state_dict())
    before = model.score_all(users).clone()
    optimizer = torch.optim.SparseAdam(list(model.parameters()), lr=0.1)
    pos, neg = model(Batch(torch.tensor([0, 2]), torch.tensor([1, 7]), negatives=torch.tensor([[3], [5]])))
    (neg - pos.unsqueeze(1)).sum().backward()
    optimizer.step()
    stepped = model.score_all(users).clone()
    assert not torch.equal(stepped, before)
    assert torch.equal(stepped, copy.deepcopy(model).score_all(users))
    with torch.no_grad():
        model.item.weight[4].mul_(-1)
    bias = model.item_bias.weight[4, 0]
    torch.testing.assert_close(model.score_all(users)[:, 4], 2 * bias - stepped[:, 4])
    model.load_state_dict(first)
    assert torch.equal(model.score_all(users), before)


@pytest.mark.parametrize("dim", [8, 64, 256])
def test_scores_with_an_item_bias_are_addmm_s_bit_for_bit(dim):
    # score_all adds the bias after the product (addmm copies it into the block first, a pass
    # over it): the same sums for the dimensions recbce ships (64) and up to 256, where MKL's
    # product is one pass over the dimensions; beyond, the last bit may differ from addmm's.
    config = ModelConfig(dim=dim, bias=True, scorer="dot", temperature=1.0, history=0.0)
    model = DotProduct(300, 5_000, config, generator=torch.Generator().manual_seed(dim))
    torch.nn.init.normal_(model.item_bias.weight, generator=torch.Generator().manual_seed(1))
    users = torch.arange(300)
    p, q = model.user(users), model.item.weight
    with torch.no_grad():
        assert torch.equal(model.score_all(users), torch.addmm(model.item_bias.weight.T, p, q.T))
        block = torch.empty(300, 1_000)
        assert torch.equal(model.score_all(users, block, slice(2_000, 3_000)),
                           torch.addmm(model.item_bias.weight[2_000:3_000].T, p, q[2_000:3_000].T))
        exported = model.export()  # what recommend and similar score with
        assert torch.equal(exported.score(exported.users[:300]),
                           torch.addmm(exported.item_bias, exported.users[:300], exported.items.T))
