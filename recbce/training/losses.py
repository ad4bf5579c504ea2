"""Losses: pure functions of scores, `(pos[B], neg[B, k]) -> scalar`, picked by name.

Sigmoid BCE is cross-entropy over two classes: softmax([z, 0])_0 = σ(z), so
−log σ(z) = softplus(−z) and −log(1 − σ(z)) = softplus(z). Every loss here is
written with softplus or a log-sum-exp shifted by the row's maximum, so it stays
finite for any logit, with no epsilon. A negative whose score is −inf (masked by the sampler)
costs nothing in every loss.

| name | formula, per positive |
|---|---|
| bce | w⁺·softplus(−s⁺) + w⁻·Σ_k softplus(s⁻_k) |
| bce_pos_only | softplus(−s⁺): no negatives; minimised by scoring everything high, so it collapses |
| softmax | −log softmax([s⁺, s⁻_1..k] / τ)_0: the C-class form of the same cross-entropy |
| decoupled_softmax | log Σ_k exp(s⁻_k/τ) − s⁺/τ: the softmax without the positive in its denominator |
| bpr | mean_k softplus(−(s⁺ − s⁻_k)) = mean_k −log σ(s⁺ − s⁻_k) |
| gbce | β·softplus(−s⁺) + Σ_k softplus(s⁻_k), β = α(t(1 − 1/α) + 1/α), α = k/(n_items − 1) |
| ccl | (1 − s⁺) + w/k·Σ_k relu(s⁻_k − m), s = cosine (SimpleX) |

gbce follows gSASRec (Petrov & Macdonald, RecSys 2023) up to its constant factor
1/(k + 1), left out so that t = 0 is exactly `bce`; t = 1 gives β = α. ccl is
SimpleX's loss (Mao et al., CIKM 2021): margin m, negative weight w, mean over k.
decoupled_softmax drops the positive from the denominator (Yeh et al., "Decoupled Contrastive
Learning", ECCV 2022). At τ = 1, softmax = decoupled_softmax + softplus(s⁺ − log Σ_k exp(s⁻_k)):
the positive keeps its full pull (gradient −1/τ) however well it already ranks. Unbounded
below for dot scores, so it needs the cosine scorer.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from recbce.config import LossConfig
from recbce.config.kinds import LOSS_KINDS


def bce(pos, neg, pos_weight: float = 1.0, neg_weight: float = 1.0):
    """Sigmoid binary cross-entropy over the positive (target 1) and its negatives (target 0)."""
    return (pos_weight * F.softplus(-pos) + neg_weight * F.softplus(neg).sum(dim=1)).mean()


def bce_pos_only(pos, neg):
    """BCE on observed pairs alone. Its minimum is every score at +inf: ranking is arbitrary."""
    return F.softplus(-pos).mean()


def softmax(pos, neg, temperature: float = 1.0):
    """Cross-entropy over [positive, negatives] (class 0 is the observed item): log Σ exp − s⁺.

    A row whose negatives are all masked (−inf) gets loss 0 and zero gradients.
    """
    if temperature != 1:  # skip a pass over [B, k] (k is large for a shared pool)
        pos, neg = pos / temperature, neg / temperature
    return (row_logsumexp(neg, pos) - pos).mean()


def decoupled_softmax(pos, neg, temperature: float = 1.0):
    """log Σ_k exp(s⁻_k / τ) − s⁺ / τ: the softmax loss without the positive in its denominator.

    A row whose negatives are all masked (−inf) costs −s⁺ alone, with finite gradients.
    """
    if temperature != 1:
        pos, neg = pos / temperature, neg / temperature
    return (row_logsumexp(neg) - pos).mean()


def row_logsumexp(neg, pos=None):
    """Per row, log(Σ_k exp(s⁻_k) [+ exp(s⁺)]), shifted by the row's largest score.

    Taken without copying the scores into one [B, 1 + k] matrix (k is a shared pool's
    thousands: the copy and its gradient cost a sixth of a step). The shift keeps every
    exponent ≤ 0; a row with nothing but −inf (every negative masked, no positive) gets 0
    and zero gradients, where torch.logsumexp(neg) would give −inf and NaN gradients.
    """
    # k = 0 (an in-batch sampler's batch of one row) is an empty sum, as if every negative were masked
    top = neg.amax(dim=1) if neg.shape[1] else neg.new_full(neg.shape[:1], float("-inf"))
    top = top if pos is None else torch.maximum(pos, top)
    top = torch.where(torch.isfinite(top), top, 0.0).detach()  # a constant shift: no gradient
    total = torch.exp(neg - top.unsqueeze(1)).sum(dim=1)
    if pos is not None:
        total = torch.exp(pos - top) + total
    # log 1 = 0 stands in for an empty sum's log 0, and takes its gradient instead (no nan)
    return top + torch.log(torch.where(total > 0, total, 1.0))


def bpr(pos, neg):
    """Pairwise −log σ(s⁺ − s⁻), averaged over the k negatives and the batch (no pairs: 0)."""
    if not neg.shape[1]:
        return (pos * 0).sum()
    return F.softplus(neg - pos.unsqueeze(1)).mean()


def gbce(pos, neg, n_items: int, t: float = 0.0):
    """Generalised BCE (gSASRec): calibrates σ(s) under k sampled negatives; t = 0 is plain BCE."""
    beta = gbce_beta(neg.shape[1], n_items, t)
    return (beta * F.softplus(-pos) + F.softplus(neg).sum(dim=1)).mean()


def gbce_beta(negatives: int, n_items: int, t: float) -> float:
    """gBCE's weight on the positive: β = α(t(1 − 1/α) + 1/α), α = k / (n_items − 1)."""
    if not negatives:  # the limit α → 0
        return 1 - t
    alpha = negatives / (n_items - 1)
    return alpha * (t * (1 - 1 / alpha) + 1 / alpha)


def prior_logit(config: LossConfig, negatives: int, n_items: int) -> float:
    """The constant score at which bce or gbce has no gradient, `negatives` per positive.

    d/ds [w⁺·softplus(−s) + k·w⁻·softplus(s)] = −w⁺(1 − σ(s)) + k·w⁻·σ(s) = 0 at
    s = log(w⁺ / (k·w⁻)); gbce is the case w⁺ = β, w⁻ = 1.
    """
    if config.name == "gbce":
        pos_weight, neg_weight = gbce_beta(negatives, n_items, config.gbce_t), 1.0
    else:
        pos_weight, neg_weight = config.pos_weight, config.neg_weight
    return math.log(pos_weight / (negatives * neg_weight))


def ccl(pos, neg, margin: float = 0.8, neg_weight: float = 1.0):
    """Cosine contrastive loss (SimpleX): negatives below the margin cost nothing."""
    if not neg.shape[1]:
        return (1 - pos).mean()
    return ((1 - pos) + neg_weight * F.relu(neg - margin).mean(dim=1)).mean()


LOSSES = {
    "bce": bce,
    "bce_pos_only": bce_pos_only,
    "softmax": softmax,
    "decoupled_softmax": decoupled_softmax,
    "bpr": bpr,
    "gbce": gbce,
    "ccl": ccl,
}


def build_loss(config: LossConfig, n_items: int):
    """The configured loss with its parameters bound (recbce.config.kinds names them): a
    function of (pos, neg) only."""
    kind = LOSS_KINDS[config.name]
    params = {keyword: getattr(config, key) for keyword, key in kind.params.items()}
    if kind.catalogue_size:
        params["n_items"] = n_items
    return partial(LOSSES[config.name], **params)
