"""What each loss, sampler and model requires, stated once: the config rules, the defaults
that depend on the kind, the prior bias, calibration, the checks under torchrun, fold-in, the
scoring inputs, the tables and the warnings at the start of a run read these facts.

A new loss is its function in recbce.training.losses (one signature: `(pos, neg, **params)`,
registered in its LOSSES) and one entry here; a new sampler its class in
recbce.data.sampling (registered in its SAMPLERS) and one entry here; a new model its module
in recbce.models (registered in its MODELS) and one entry here. tests/test_kinds.py holds
each registry and its entries together.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LossKind:
    # The function's keyword -> the loss section's key that sets it (gbce's t is loss.gbce_t).
    params: dict[str, str] = field(default_factory=dict)
    catalogue_size: bool = False  # the function also takes n_items (gbce's α)
    sigmoid: bool = False  # trains σ(ŷ) against 0/1 targets: its calibration is meaningful
    base_rate: bool = False  # has one score with no gradient: model.bias_init prior starts there
    negatives: bool = True  # False: trains on positives alone (sampler.ratio 0)
    cosine: str | None = None  # why it needs model.scorer cosine, if it does
    no_bias: bool = False  # needs model.bias false (with cosine: its margin is a cosine)
    distributed: str | None = None  # why torchrun cannot run it, if it cannot
    warning: str | None = None  # said when a run starts


LOSS_KINDS: dict[str, LossKind] = {
    "bce": LossKind(params={"pos_weight": "pos_weight", "neg_weight": "neg_weight"}, sigmoid=True,
                    base_rate=True),
    "bce_pos_only": LossKind(
        sigmoid=True, negatives=False,
        # It scores the (empty) negatives without using them; under DDP that unused forward
        # output halved the averaged sparse embedding gradients in our checks.
        distributed="train it in one process",
        warning="bce_pos_only trains without negatives; its minimum scores every pair +inf, so the "
                "ranking it learns is arbitrary (see the README)"),
    "softmax": LossKind(params={"temperature": "temperature"}),
    "decoupled_softmax": LossKind(params={"temperature": "temperature"},
                                  cosine="with dot scores it falls without bound as the vectors grow"),
    "bpr": LossKind(),
    "gbce": LossKind(params={"t": "gbce_t"}, catalogue_size=True, sigmoid=True, base_rate=True),
    "ccl": LossKind(params={"margin": "margin", "neg_weight": "neg_weight"},
                    cosine="its margin is a cosine", no_bias=True),
}

LOSS_NAMES = tuple(LOSS_KINDS)


@dataclass(frozen=True)
class SamplerKind:
    # Draws sampler.ratio negatives per positive; False: the batch's other positives are its
    # negatives (batch_size - 1 of them) and sampler.ratio is ignored.
    ratio: bool = True
    pool: bool = False  # one pool of items shared by every row of a batch (sampler.pool applies)
    default_ratio: int = 4  # sampler.ratio when the config leaves it out


SHARED_POOL = 256  # sampler.ratio's default for kind shared (the starter recipe's pool)

SAMPLER_KINDS: dict[str, SamplerKind] = {
    "uniform": SamplerKind(),
    "popularity": SamplerKind(),
    "in_batch": SamplerKind(ratio=False),
    # One pool serves the whole batch, so 256 items cost little; the per-row samplers draw
    # `ratio` items for every positive, so theirs stays the usual 4.
    "shared": SamplerKind(pool=True, default_ratio=SHARED_POOL),
}

SAMPLER_NAMES = tuple(SAMPLER_KINDS)


def negatives_per_positive(config) -> int:
    """How many negatives a positive is scored against under `config` (a recbce Config): the
    sampler's ratio (the pool, for a shared pool), or the batch's other positives."""
    sampler = config.sampler
    return sampler.ratio if SAMPLER_KINDS[sampler.kind].ratio else config.train.batch_size - 1


@dataclass(frozen=True)
class ModelKind:
    # Why it cannot mix a user's items into the user's vector (model.history, model.context),
    # if it cannot; model.history then defaults to 0 instead of 0.5.
    no_history: str | None = None
    # Why its embedding gradients are dense, if they are: train.optimizer sparse_adam refused.
    dense_gradients: str | None = None
    graph: bool = False  # reads the normalised user-item graph at scoring time


MODEL_KINDS: dict[str, ModelKind] = {
    "mf": ModelKind(),
    "lightgcn": ModelKind(no_history="the graph already mixes in each user's items",
                          dense_gradients="propagation reaches every row", graph=True),
}

MODEL_NAMES = tuple(MODEL_KINDS)
