import math

import pytest
import torch
import torch.nn.functional as F

from recbce.config import LossConfig
from recbce.losses import LOSSES, bce, bpr, build_loss, ccl, gbce, softmax

f64 = torch.float64


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_two_class_cross_entropy_is_bce_for_both_targets():
    z = torch.linspace(-30, 30, 61, dtype=f64)
    logits = torch.stack([z, torch.zeros_like(z)], dim=1)
    for target, class_index in ((1.0, 0), (0.0, 1)):
        ce = F.cross_entropy(logits, torch.full_like(z, class_index, dtype=torch.long), reduction="none")
        b = F.binary_cross_entropy_with_logits(z, torch.full_like(z, target), reduction="none")
        assert torch.max(torch.abs(ce - b)) < 1e-10


def test_two_class_softmax_is_bpr_on_the_difference():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(64, dtype=f64, generator=g) * 5, torch.randn(64, 1, dtype=f64, generator=g) * 5
    assert abs(softmax(pos, neg) - bpr(pos, neg)) < 1e-10
    diff = pos - neg.squeeze(1)
    assert abs(bpr(pos, neg) - F.softplus(-diff).mean()) < 1e-10


def test_gbce_with_t_zero_is_bce():
    g = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(32, dtype=f64, generator=g), torch.randn(32, 4, dtype=f64, generator=g)
    assert abs(gbce(pos, neg, n_items=100, t=0.0) - bce(pos, neg)) < 1e-10


def test_each_loss_against_hand_computation():
    pos = torch.tensor([2.0, -1.0], dtype=f64)
    neg = torch.tensor([[0.5, -3.0], [1.0, 0.0]], dtype=f64)
    nlog = lambda p: -math.log(p)  # noqa: E731
    rows = [(2.0, [0.5, -3.0]), (-1.0, [1.0, 0.0])]
    expected = {
        "bce": sum(nlog(sig(p)) + sum(nlog(1 - sig(n)) for n in ns) for p, ns in rows) / 2,
        "bce_pos_only": (nlog(sig(2.0)) + nlog(sig(-1.0))) / 2,
        "softmax": sum(nlog(math.exp(p) / (math.exp(p) + sum(math.exp(n) for n in ns)))
                       for p, ns in rows) / 2,
        "bpr": sum(nlog(sig(p - n)) for p, ns in rows for n in ns) / 4,
    }
    for name, value in expected.items():
        assert abs(LOSSES[name](pos, neg).item() - value) < 1e-12, name
    # gbce with k = 2 negatives out of 11 items and t = 0.5: beta = alpha (t (1 - 1/alpha) + 1/alpha)
    alpha = 2 / 10
    beta = alpha * (0.5 * (1 - 1 / alpha) + 1 / alpha)
    by_hand = sum(beta * nlog(sig(p)) + sum(nlog(1 - sig(n)) for n in ns) for p, ns in rows) / 2
    assert abs(gbce(pos, neg, n_items=11, t=0.5).item() - by_hand) < 1e-12
    cos_pos, cos_neg = torch.tensor([0.9], dtype=f64), torch.tensor([[0.95, 0.1]], dtype=f64)
    assert abs(ccl(cos_pos, cos_neg, margin=0.5, neg_weight=2.0).item() - (0.1 + 2.0 * 0.45 / 2)) < 1e-12


def test_softmax_temperature_and_weights_are_applied():
    pos, neg = torch.tensor([1.0], dtype=f64), torch.tensor([[0.5, 0.2]], dtype=f64)
    cooled = build_loss(LossConfig(name="softmax", temperature=0.5), n_items=10)(pos, neg)
    assert abs(cooled - softmax(pos * 2, neg * 2)) < 1e-12
    weighted = build_loss(LossConfig(pos_weight=2.0, neg_weight=0.5), n_items=10)(pos, neg)
    assert abs(weighted - (2 * F.softplus(-pos) + 0.5 * F.softplus(neg).sum())) < 1e-12


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_and_gradients_finite_for_extreme_logits(name):
    pos = torch.tensor([1e4, -1e4], dtype=f64, requires_grad=True)
    neg = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], dtype=f64, requires_grad=True)
    loss = build_loss(LossConfig(name=name), n_items=50)(pos, neg)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pos.grad).all()
    assert neg.grad is None if name == "bce_pos_only" else torch.isfinite(neg.grad).all()


@pytest.mark.parametrize("name", ["bce", "softmax", "bpr", "gbce", "ccl"])
def test_masked_negatives_cost_nothing(name):
    pos = torch.tensor([0.3], dtype=f64)
    neg = torch.tensor([[0.95, -torch.inf]], dtype=f64)
    loss_fn = build_loss(LossConfig(name=name), n_items=50)
    with_mask, alone = loss_fn(pos, neg).item(), loss_fn(pos, neg[:, :1]).item()
    if name == "bpr":  # averaged over k: the masked negative is a zero term
        assert abs(with_mask - alone / 2) < 1e-12
    elif name == "ccl":
        positive_term = 1 - 0.3
        assert abs(with_mask - (positive_term + (alone - positive_term) / 2)) < 1e-12
    elif name == "gbce":  # beta depends on k, so compare with the formula at k = 2
        alpha = 2 / 49
        beta = alpha * (0 * (1 - 1 / alpha) + 1 / alpha)
        assert abs(with_mask - (beta * F.softplus(-pos) + F.softplus(neg[:, :1])).item()) < 1e-12
    else:
        assert abs(with_mask - alone) < 1e-12
