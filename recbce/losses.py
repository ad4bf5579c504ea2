"""Losses: pure functions of scores, `(pos[B], neg[B, k]) -> scalar`.

Sigmoid BCE is cross-entropy over two classes: softmax([z, 0])_0 = σ(z), so
−log σ(z) = softplus(−z) and −log(1 − σ(z)) = softplus(z). Writing the loss with
softplus/logsigmoid keeps it finite for any logit, with no epsilon.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from recbce.config import LossConfig


def bce(pos: torch.Tensor, neg: torch.Tensor, pos_weight: float = 1.0, neg_weight: float = 1.0):
    """Mean over positives of pos_weight·(−log σ(s⁺)) + neg_weight·Σ_k (−log(1 − σ(s⁻_k)))."""
    positive_term = F.softplus(-pos)
    negative_term = F.softplus(neg).sum(dim=1)
    return (pos_weight * positive_term + neg_weight * negative_term).mean()


LOSSES = {"bce": bce}


def build_loss(config: LossConfig):
    """The configured loss with its parameters bound: a function of (pos, neg) only."""
    if config.name == "bce":
        return partial(bce, pos_weight=config.pos_weight, neg_weight=config.neg_weight)
    return LOSSES[config.name]
