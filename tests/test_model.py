import pytest
import torch

from recbce.config import ModelConfig
from recbce.model import DotProduct


@pytest.mark.parametrize("config", [ModelConfig(dim=8, bias=True),
                                    ModelConfig(dim=8, bias=False, scorer="cosine", temperature=0.1),
                                    ModelConfig(dim=8, bias=True, scorer="cosine", temperature=0.1)])
def test_pool_scores_equal_per_pair_scores(config):
    model = DotProduct(30, 50, config, generator=torch.Generator().manual_seed(0))
    if model.item_bias is not None:
        torch.nn.init.normal_(model.item_bias.weight)  # a non-zero bias must be added per column
    users = torch.tensor([3, 0, 29, 3, 7])
    pool = torch.tensor([49, 1, 2, 17, 30, 8])
    per_pair = model(users, pool.expand(len(users), -1))
    pooled = model.score_pool(users, pool)
    assert pooled.shape == (5, 6)
    torch.testing.assert_close(pooled, per_pair, rtol=1e-5, atol=1e-5)
    assert pooled[0, 3] != pooled[1, 3]  # rows are different users, not one broadcast row


@pytest.mark.parametrize("bias", [True, False])
def test_pool_mask_sets_masked_pairs_to_minus_inf_and_keeps_them_out_of_the_gradient(bias):
    config = ModelConfig(dim=8, bias=bias, scorer="cosine", temperature=0.1)
    model = DotProduct(30, 50, config, generator=torch.Generator().manual_seed(0))
    users, pool = torch.tensor([3, 0, 29, 7]), torch.tensor([49, 1, 2, 17, 30])
    mask = torch.zeros(4, 5)
    mask[1, 2] = mask[3, 0] = mask[3, 4] = -torch.inf
    kept = mask == 0
    masked = model.score_pool(users, pool, mask)
    assert torch.isneginf(masked[~kept]).all() and torch.isfinite(masked[kept]).all()
    masked[kept].sum().backward()
    with_mask = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.score_pool(users, pool)[kept].sum().backward()
    for got, expected in zip(with_mask, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, expected)
