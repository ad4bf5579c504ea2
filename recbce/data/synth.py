"""A synthetic interaction log with a known answer, for the quickstart and for tests.

Users and items get hidden low-rank taste vectors, items also a long-tail
(Zipf) popularity. Each user picks items with probability ∝ exp(taste·strength
+ log popularity), so a model that learns the taste beats one that only knows
popularity, which is what a quickstart should show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def generate(
    n_users: int = 2000,
    n_items: int = 1000,
    dim: int = 8,
    min_per_user: int = 10,
    max_per_user: int = 80,
    taste_strength: float = 2.5,
    zipf_exponent: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Columns user, item, rating (1-5), timestamp; 1-based ids like MovieLens."""
    rng = np.random.default_rng(seed)
    # Scaled so that the affinity p_u·q_v has unit variance whatever the dimension.
    users = rng.normal(size=(n_users, dim)) * dim**-0.25
    items = rng.normal(size=(n_items, dim)) * dim**-0.25
    log_popularity = -zipf_exponent * np.log1p(rng.permutation(n_items))
    affinity = users @ items.T
    logits = taste_strength * affinity + log_popularity
    # Gumbel top-k draws each user's items without replacement, for all users at once.
    keys = logits + rng.gumbel(size=logits.shape)
    ranked = np.argsort(-keys, axis=1)
    counts = rng.integers(min_per_user, max_per_user + 1, size=n_users)
    taken = np.arange(n_items)[None, :] < counts[:, None]
    user_index, rank = np.nonzero(taken)
    item_index = ranked[user_index, rank]
    picked = affinity[user_index, item_index]
    quantiles = np.quantile(picked, [0.2, 0.4, 0.6, 0.8])
    timestamps = 880_000_000 + np.cumsum(rng.integers(1, 600, size=len(user_index)))
    frame = pd.DataFrame({
        "user": user_index + 1,
        "item": item_index + 1,
        "rating": np.searchsorted(quantiles, picked) + 1,
        "timestamp": rng.permutation(timestamps),
    })
    return frame.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)



