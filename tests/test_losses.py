import math

import pytest
import torch
import torch.nn.functional as F

from recbce.config import LossConfig
from recbce.training.losses import (
    LOSSES,
    bce,
    bpr,
    build_loss,
    ccl,
    decoupled_softmax,
    gbce,
    prior_logit,
    softmax,
)

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
        "decoupled_softmax": sum(nlog(math.exp(p) / sum(math.exp(n) for n in ns)) for p, ns in rows) / 2,
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


def test_softmax_is_decoupled_softmax_plus_the_positive_in_the_denominator():
    # log(e^p + Σe^n) − p = (LSE(n) − p) + log(1 + e^(p − LSE(n))), to machine precision
    g = torch.Generator().manual_seed(3)
    pos, neg = torch.randn(64, dtype=f64, generator=g) * 6, torch.randn(64, 9, dtype=f64, generator=g) * 6
    rest = F.softplus(pos - torch.logsumexp(neg, dim=1)).mean()
    assert abs(softmax(pos, neg) - (decoupled_softmax(pos, neg) + rest)) < 1e-10
    cooled = build_loss(LossConfig(name="decoupled_softmax", temperature=0.25), n_items=10)(pos, neg)
    assert abs(cooled - decoupled_softmax(pos * 4, neg * 4)) < 1e-10


def test_decoupled_softmax_pulls_the_positive_fully_however_well_it_ranks():
    # softmax's pull on s⁺ fades as s⁺ wins (gradient −(1 − p)); the decoupled one stays −1/B
    pos = torch.tensor([50.0, -50.0], dtype=f64, requires_grad=True)
    neg = torch.zeros(2, 3, dtype=f64)
    decoupled_softmax(pos, neg).backward()
    assert torch.equal(pos.grad, torch.tensor([-0.5, -0.5], dtype=f64))
    pos.grad = None
    softmax(pos, neg).backward()
    assert abs(pos.grad[0]) < 1e-20 and abs(pos.grad[1] + 0.5) < 1e-10


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


@pytest.mark.parametrize("name", ["bce", "softmax", "decoupled_softmax", "bpr", "gbce", "ccl"])
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


def test_bce_is_two_class_cross_entropy_for_the_positive_and_each_negative():
    # target 1 (the positive, logit z) is class 0 of [z, 0]; target 0 (a negative) is class 1
    g = torch.Generator().manual_seed(2)
    pos, neg = torch.randn(16, dtype=f64, generator=g) * 8, torch.randn(16, 3, dtype=f64, generator=g) * 8

    def ce(z, target_class):
        logits = torch.stack([z, torch.zeros_like(z)], dim=-1).reshape(-1, 2)
        return F.cross_entropy(logits, torch.full((len(logits),), target_class), reduction="sum")

    assert abs(bce(pos, neg) - (ce(pos, 0) + ce(neg, 1)) / len(pos)) < 1e-10


def test_gbce_beta_is_the_gsasrec_definition():
    # gSASRec: beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = k / (|items| - 1); t = 1 gives beta = alpha
    pos, neg = torch.tensor([-0.7], dtype=f64), torch.tensor([[0.2, -0.4, 1.1]], dtype=f64)
    negatives_term = F.softplus(neg).sum()
    for t, n_items in ((1.0, 31), (0.25, 7), (0.9, 1000)):
        alpha = 3 / (n_items - 1)
        beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
        expected = beta * -math.log(sig(-0.7)) + negatives_term
        assert abs(gbce(pos, neg, n_items=n_items, t=t) - expected) < 1e-10
    assert abs(gbce(pos, neg, n_items=31, t=1.0) - (0.1 * F.softplus(-pos) + negatives_term)) < 1e-10


def test_ccl_is_simplex_margin_weight_and_mean_over_negatives():
    # SimpleX: (1 - cos+) + w / |N| * sum_j max(0, cos_j - m)
    pos = torch.tensor([0.6, -0.2], dtype=f64)
    neg = torch.tensor([[0.9, 0.1, 0.5], [-0.3, 0.45, 0.7]], dtype=f64)
    by_hand = ((1 - 0.6) + 3.0 / 3 * (0.9 - 0.4 + 0.5 - 0.4)
               + (1 + 0.2) + 3.0 / 3 * (0.45 - 0.4 + 0.7 - 0.4)) / 2
    assert abs(ccl(pos, neg, margin=0.4, neg_weight=3.0) - by_hand) < 1e-10


@pytest.mark.parametrize(("name", "cost"), [("bce", 2e4), ("bce_pos_only", 1e4), ("softmax", 2e4),
                                             ("bpr", 2e4), ("gbce", 2e4)])
def test_extreme_logits_give_the_exact_loss(name, cost):
    # the worst case (positive at -1e4, negative at +1e4) costs exactly its margin: not inf, not nan
    loss_fn = build_loss(LossConfig(name=name), n_items=2)
    pos, neg = torch.tensor([-1e4], dtype=f64), torch.tensor([[1e4]], dtype=f64)
    assert abs(loss_fn(pos, neg) - cost) < 1e-10
    assert abs(loss_fn(-pos, -neg)) < 1e-10  # the best case costs nothing


@pytest.mark.parametrize("name", ["bce", "softmax", "decoupled_softmax", "bpr", "gbce", "ccl"])
def test_a_row_with_every_negative_masked_costs_only_its_positive_term(name):
    # possible when a user's positives cover the whole shared pool: no nan, forward or backward
    pos = torch.tensor([0.4, -0.3], dtype=f64, requires_grad=True)
    neg = torch.tensor([[0.7, -0.2], [-torch.inf, -torch.inf]], dtype=f64, requires_grad=True)
    loss_fn = build_loss(LossConfig(name=name), n_items=50)
    loss = loss_fn(pos, neg)
    loss.backward()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all() and (neg.grad[1] == 0).all()
    alone = loss_fn(pos[:1].detach(), neg[:1].detach()).item()  # the first row by itself
    last = pos.detach()[1]  # gbce at t = 0 weighs the positive by beta = 1, as bce does
    positive_term = {"bce": F.softplus(-last), "gbce": F.softplus(-last), "ccl": 1 - last,
                     "bpr": 0.0, "softmax": 0.0, "decoupled_softmax": -last}[name]
    assert abs(loss.item() - (alone + float(positive_term)) / 2) < 1e-12


@pytest.mark.parametrize("name", ["bce", "softmax", "decoupled_softmax", "bpr", "gbce", "ccl"])
def test_masked_negatives_get_no_gradient_and_no_nan(name):
    # the trainer masks with masked_fill(-inf): the masked scores must receive exactly zero gradient
    scores = torch.tensor([[0.4, 0.7, -0.2], [0.1, 0.3, 0.9]], dtype=f64, requires_grad=True)
    masked = torch.tensor([[False, True, False], [False, False, True]])
    neg = scores[:, 1:].masked_fill(masked[:, 1:], -torch.inf)
    build_loss(LossConfig(name=name), n_items=50)(scores[:, 0], neg).backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[masked] == 0).all() and (scores.grad[:, 0] != 0).all()
    if name != "ccl":  # ccl: a negative below the margin has zero gradient by design
        assert (scores.grad[~masked] != 0).all()


PRIOR_LOSSES = [LossConfig(name="bce"), LossConfig(name="bce", pos_weight=2.0, neg_weight=0.01),
                LossConfig(name="gbce", gbce_t=0.5), LossConfig(name="gbce", gbce_t=1.0)]


@pytest.mark.parametrize("loss", PRIOR_LOSSES, ids=["bce", "bce-weighted", "gbce-0.5", "gbce-1"])
def test_prior_logit_is_where_a_constant_score_has_no_gradient(loss):
    k, n_items = 16, 101
    start = prior_logit(loss, k, n_items)
    fn = build_loss(loss, n_items)
    score = torch.tensor(start, dtype=f64, requires_grad=True)
    fn(score.expand(8), score.expand(8, k)).backward()
    assert abs(score.grad.item()) < 1e-12
    # either side of it, the gradient points back to it: a minimum, not a maximum
    for shift, sign in ((-0.5, -1), (0.5, 1)):
        moved = torch.tensor(start + shift, dtype=f64, requires_grad=True)
        fn(moved.expand(8), moved.expand(8, k)).backward()
        assert torch.sign(moved.grad).item() == sign


def test_prior_of_unit_weights_is_one_in_k_plus_one():
    assert sig(prior_logit(LossConfig(name="bce"), 1024, 40_981)) == pytest.approx(1 / 1025, rel=1e-12)
    # gbce at t = 1 starts at the catalogue's base rate: one positive among n_items − 1 others
    assert sig(prior_logit(LossConfig(name="gbce", gbce_t=1.0), 1024, 40_981)) == pytest.approx(1 / 40_981)


@pytest.mark.parametrize("name", ["bce", "softmax", "decoupled_softmax", "bpr", "gbce", "ccl"])
def test_no_negatives_at_all_costs_the_positive_term_alone(name):
    # An in-batch sampler's last batch can hold one row, which has no other row to be its negative.
    pos = torch.tensor([0.3, -2.0], dtype=f64, requires_grad=True)
    loss = build_loss(LossConfig(name=name, gbce_t=0.5), n_items=50)(pos, torch.zeros(2, 0, dtype=f64))
    loss.backward()
    zero = torch.zeros((), dtype=f64)
    alone = {"bce": F.softplus(-pos).mean(), "softmax": zero, "decoupled_softmax": -pos.mean(), "bpr": zero,
             "gbce": 0.5 * F.softplus(-pos).mean(), "ccl": (1 - pos).mean()}[name]
    assert abs(loss.item() - alone.item()) < 1e-12
    assert torch.isfinite(pos.grad).all()
