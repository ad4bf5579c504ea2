"""Models: one module per model, each a `Scorer` (recbce.models.base), built by `build_model`.

Adding a model: write recbce/models/<name>.py with a class that implements `Scorer`
(constructor `(n_users, n_items, config, inputs, sparse, generator)`), add one line to
`MODELS`, and state what it requires in recbce.config.kinds.MODEL_KINDS (its name is then a
`model.kind`). An embedding model subclasses
`EmbeddingScorer` (recbce/models/embedding.py: the tables, the item bias, the cosine scorer,
whole-table scores and export) and builds only its user and item vectors.
"""

from __future__ import annotations

import torch

from recbce.config import ModelConfig
from recbce.models.base import Batch, Scorer, Vectors
from recbce.models.dot_product import DotProduct
from recbce.models.lightgcn import LightGCN
from recbce.models.popularity import Popularity

MODELS = {
    "mf": DotProduct,
    "lightgcn": LightGCN,
}

__all__ = ["MODELS", "Batch", "Popularity", "Scorer", "Vectors", "build_model"]


def build_model(config: ModelConfig, n_users: int, n_items: int, inputs=None, sparse: bool = False,
                generator: torch.Generator | None = None) -> Scorer:
    """The configured model (`model.kind`), initialised from `generator`. `inputs`: what it reads
    at scoring time, built by the data layer (recbce.data.history.ScoringInputs)."""
    return MODELS[config.kind](n_users, n_items, config, inputs, sparse=sparse, generator=generator)
