"""Serving a trained run: recommendations, similar items, pair scores and exported vectors,
in the data's own ids, from the run folder alone."""

from recbce.recommender.core import Recommender  # noqa: F401
from recbce.recommender.ids import UnknownIdError  # noqa: F401
