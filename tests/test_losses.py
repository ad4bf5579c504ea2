import math

import torch
import torch.nn.functional as F

from recbce.config import LossConfig
from recbce.losses import bce, build_loss


def test_bce_matches_hand_computation():
    pos = torch.tensor([2.0, -1.0], dtype=torch.float64)
    neg = torch.tensor([[0.5, -3.0], [1.0, 0.0]], dtype=torch.float64)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    by_hand = (
        -math.log(sig(2.0)) - math.log(1 - sig(0.5)) - math.log(1 - sig(-3.0))
        - math.log(sig(-1.0)) - math.log(1 - sig(1.0)) - math.log(1 - sig(0.0))
    ) / 2
    assert abs(bce(pos, neg).item() - by_hand) < 1e-12


def test_bce_weights_scale_each_term():
    pos = torch.tensor([0.3], dtype=torch.float64)
    neg = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
    loss = build_loss(LossConfig(pos_weight=2.0, neg_weight=0.5))(pos, neg)
    expected = 2.0 * F.softplus(-pos) + 0.5 * F.softplus(neg).sum()
    assert abs(loss.item() - expected.item()) < 1e-12


def test_two_class_cross_entropy_is_bce():
    z = torch.linspace(-30, 30, 61, dtype=torch.float64)
    logits = torch.stack([z, torch.zeros_like(z)], dim=1)
    for target, class_index in ((1.0, 0), (0.0, 1)):
        ce = F.cross_entropy(logits, torch.full_like(z, class_index, dtype=torch.long), reduction="none")
        b = F.binary_cross_entropy_with_logits(z, torch.full_like(z, target), reduction="none")
        assert torch.max(torch.abs(ce - b)) < 1e-10


def test_bce_finite_for_extreme_logits():
    pos = torch.tensor([1e4, -1e4], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([[1e4], [-1e4]], dtype=torch.float64, requires_grad=True)
    loss = bce(pos, neg)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
