"""Is σ(ŷ_uv) an interaction probability? Log loss and expected calibration error.

A sigmoid loss reads σ(ŷ_uv) as P(u interacts with v). Negative sampling shifts that
reading: plain BCE with k sampled negatives per positive learns the odds of a positive
among 1 + k candidates, far above the data's real rate, so it is overconfident; gbce
with t near 1 reweights the positive term to undo the shift (gSASRec).

The check: the held-out positives, plus unobserved pairs drawn so that
positives : negatives matches the data's density ρ (about (1 − ρ)/ρ negatives per
positive, each attached to the user of a random held-out positive, so every user is
represented in proportion to its held-out items). Seeded. When that would exceed
`max_pairs`, a seeded random subset of the positives is used, keeping the ratio.
ECE uses equal-width probability bins: Σ_b (n_b / N) |mean σ(ŷ) in b − positive rate in b|;
ece_adaptive the same over equal-mass bins (each about N / bins pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from recbce.data.dataset import Dataset, Split
from recbce.data.sampling import ItemSampler, make_generator


@dataclass
class Labelled:
    users: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor  # float64, 1 for held-out positives, 0 for drawn unobserved pairs


def density(dataset: Dataset) -> float:
    """Observed pairs (train, valid, test) over all user x item pairs."""
    splits = [s for s in (dataset.train, dataset.valid, dataset.test) if s is not None]
    return sum(len(s) for s in splits) / (dataset.n_users * dataset.n_items)


def labelled_pairs(dataset: Dataset, heldout: Split, seed: int, max_pairs: int = 2_000_000) -> Labelled:
    """Held-out positives plus unobserved pairs at the data's real rate (see the module doc)."""
    rho = density(dataset)
    per_positive = (1 - rho) / rho
    generator = make_generator(seed, rank=20_011)  # its own stream, apart from training's
    keep = min(len(heldout), max(1, int(max_pairs / (1 + per_positive))))
    chosen = torch.randperm(len(heldout), generator=generator)[:keep].sort().values
    users, items = heldout.users[chosen], heldout.items[chosen]
    n_negatives = round(keep * per_positive)
    owners = users[torch.randint(keep, (n_negatives,), generator=generator)]
    negatives = ItemSampler(dataset.all_positives()).sample(owners, owners, 1, generator).items.squeeze(1)
    labels = torch.cat([torch.ones(keep, dtype=torch.float64), torch.zeros(n_negatives, dtype=torch.float64)])
    return Labelled(torch.cat([users, owners]), torch.cat([items, negatives]), labels)


@torch.no_grad()
def logits_of(model, pairs: Labelled, batch: int = 1 << 16) -> torch.Tensor:
    chunks = zip(pairs.users.split(batch), pairs.items.split(batch), strict=True)
    parts = [model.score_pairs(u, i) for u, i in chunks]
    return torch.cat(parts).double()


def log_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean −[y log σ(s) + (1 − y) log(1 − σ(s))], from logits with softplus: finite for any s."""
    return float(torch.where(labels > 0, F.softplus(-logits), F.softplus(logits)).mean())


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> dict[str, torch.Tensor]:
    """Per equal-width bin of predicted probability: count, mean prediction, positive rate."""
    which = torch.clamp((probs * bins).long(), max=bins - 1)
    count = torch.bincount(which, minlength=bins).double()
    predicted = torch.bincount(which, weights=probs, minlength=bins) / count.clamp(min=1)
    observed = torch.bincount(which, weights=labels, minlength=bins) / count.clamp(min=1)
    return {"count": count, "predicted": predicted, "observed": observed}


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    table = reliability(probs, labels, bins)
    return float((table["count"] / len(probs) * (table["predicted"] - table["observed"]).abs()).sum())


def adaptive_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE over equal-mass bins (each holds about N / bins pairs, by predicted probability):
    where almost every pair sits near zero, equal-width bins hide the mid-range in one bin."""
    order = torch.argsort(probs)
    which = torch.arange(len(probs)) * bins // max(len(probs), 1)
    count = torch.bincount(which, minlength=bins).double()
    predicted = torch.bincount(which, weights=probs[order], minlength=bins)
    observed = torch.bincount(which, weights=labels[order], minlength=bins)
    return float((predicted - observed).abs().sum() / count.sum().clamp(min=1))


def calibrate(model, dataset: Dataset, heldout: Split, seed: int, bins: int = 15,
              plot_path: Path | None = None) -> dict:
    """Log loss, ECE and the pair counts on `heldout`; optionally a reliability-diagram PNG."""
    pairs = labelled_pairs(dataset, heldout, seed)
    logits = logits_of(model, pairs)
    probs = torch.sigmoid(logits)
    result = {
        "calibration/log_loss": log_loss(logits, pairs.labels),
        "calibration/ece": expected_calibration_error(probs, pairs.labels, bins),
        "calibration/ece_adaptive": adaptive_calibration_error(probs, pairs.labels, bins),
        "calibration/mean_probability": float(probs.mean()),
        "calibration/positive_rate": float(pairs.labels.mean()),
        "calibration/pairs": len(pairs.labels),
    }
    if plot_path is not None:
        from recbce.runs.plots import reliability_diagram

        reliability_diagram(reliability(probs, pairs.labels, bins), result["calibration/ece"],
                            Path(plot_path), result["calibration/ece_adaptive"])
    return result
