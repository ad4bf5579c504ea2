"""A trained run as a recommender: top-K items, similar items and pair scores, in the data's
own ids, from the run folder alone (recbce.runs.trained.load_served).

Everything goes through the model's Scorer interface (score_all, score_pairs, export), so
every model kind serves the same way. Users and items are scored in blocks: one matrix
product and one top-K per block, no loop per user.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from recbce.errors import ArgumentError, RecbceError
from recbce.evaluation import blocks
from recbce.models import Vectors
from recbce.recommender.fold_in import FOLD_IN_STEPS, fold_in, read_histories
from recbce.recommender.ids import IdIndex, as_list
from recbce.runs.trained import Served, load_served

MODEL, POPULAR, HISTORY = "model", "popular", "history"  # the `source` of a recommendation row
FALLBACK_HINT = " (popular_fallback / --popular-fallback gives them the most popular items)"


class Recommender:
    """recommend, similar_items and score for a trained run. Built by `recbce.load(run_dir)`."""

    def __init__(self, served: Served, max_memory_mb: float = 256):
        self.run_dir, self.config, self.model = served.run_dir, served.config, served.model
        inference = served.inference
        self.users, self.items = IdIndex(inference.user_ids, "user"), IdIndex(inference.item_ids, "item")
        self.seen, self.item_counts = inference.seen, inference.item_counts
        self.max_memory_mb = max_memory_mb
        self._vectors: Vectors | None = None

    @classmethod
    def load(cls, run_dir: str | Path) -> Recommender:
        return cls(load_served(run_dir))

    def __repr__(self) -> str:
        return f"Recommender({str(self.run_dir)!r}: {len(self.users):,} users, {len(self.items):,} items)"

    def vectors(self) -> Vectors:
        """The model's exported vectors: users · items + item_bias reproduces its scores."""
        if self._vectors is None:
            self._vectors = self.model.export()
        return self._vectors

    def recommend(self, users=None, k: int = 10, exclude_seen: bool = True,
                  popular_fallback: bool = False) -> pd.DataFrame:
        """Rows (user, rank, item, score, source) for each user (all users when None), best first.

        exclude_seen drops every item the user had in the data (train, validation and test).
        Unknown users raise UnknownIdError, or with popular_fallback get the k items with most
        training interactions, scored by that count and marked source 'popular'."""
        k = min(positive_k(k, "recommend"), len(self.items))
        if users is None:
            rows = np.arange(len(self.users))
        else:
            rows = self.users.find(users) if popular_fallback else self.users.require(users, FALLBACK_HINT)
        known = rows >= 0
        top, scores = self.top_k(torch.from_numpy(rows[known]), k, exclude_seen)
        parts = [self.frame(self.users.values[rows[known]], top, scores, MODEL)]
        if not known.all():
            parts.append(self.popular(np.asarray(as_list(users), dtype=object)[~known], k))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame[frame["score"] > -np.inf].reset_index(drop=True)  # users with < k unseen items

    def top_k(self, users: torch.Tensor, k: int, exclude_seen: bool):
        """([U, k] item rows, [U, k] scores) of known users, seen items at −inf."""
        excluded = None
        if exclude_seen:
            row, item = self.seen.rows(users)
            excluded = row * len(self.items) + item
        def score(rows, items, out):
            return self.model.score_all(users[rows], out=out, items=items)
        return self.ranked(len(users), score, excluded, k)

    def ranked(self, n_rows: int, score, excluded: torch.Tensor | None, k: int):
        """([n_rows, k] item rows, [n_rows, k] scores), best first, ties by item row as evaluation
        ranks them: `score(rows, items, out)` writes those rows' (a slice) scores of those items
        (a slice) into `out`, a block at a time; `excluded` (sorted positions row · n_items +
        item) at −inf. Large catalogues are ranked by item tiles, as evaluation ranks them."""
        n_items = len(self.items)
        plan = blocks.plan(n_rows, n_items, self.max_memory_mb)
        excluded = torch.zeros(0, dtype=torch.long) if excluded is None else excluded
        tops, scores = [], []
        for start in range(0, n_rows, plan.rows):
            stop = min(start + plan.rows, n_rows)
            top, top_scores, _ = blocks.ranked_lists(
                lambda rows, items, out, start=start: score(slice(start + rows.start, start + rows.stop),
                                                            items, out),
                stop - start, blocks.window(excluded, start * n_items, (stop - start) * n_items),
                n_items, k, plan)
            tops.append(top)
            scores.append(top_scores)
        if not tops:
            return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
        return torch.cat(tops), torch.cat(scores)

    def recommend_for_history(self, history, k: int = 10, exclude_given: bool = True,
                              steps: int = FOLD_IN_STEPS, seed: int = 0, skip_unknown: bool = False,
                              popular_fallback: bool = False) -> pd.DataFrame:
        """Rows (user, rank, item, score, source 'history') for users the run never trained, from
        the items each just had: `history` is a frame with columns user and item, a dict
        {user: [items]} or one list of items (user 0). The model folds each user in from those
        items (recbce.recommender.fold_in: `steps` Adam steps on the run's loss, every trained
        table frozen; 0 keeps the start, the mean of the items' vectors); exclude_given leaves
        the given items out of the user's list. Items the run never trained raise, or with
        skip_unknown are left out; a user left with none is refused, or with popular_fallback
        gets the most popular items (source 'popular')."""
        k = min(positive_k(k, "recommend_for_history"), len(self.items))
        histories = read_histories(history, self.items, skip_unknown)
        if histories.unplaced and not popular_fallback:
            raise ArgumentError(
                f"history: no item the run knows for users {', '.join(map(str, histories.unplaced[:5]))}"
                f"{' ...' if len(histories.unplaced) > 5 else ''}{FALLBACK_HINT}")
        vectors = self.vectors()
        users = fold_in(self.model, self.config, vectors, histories, steps, seed)
        given = (histories.owners() * len(self.items) + histories.items).sort().values
        top, scores = self.ranked(len(users), lambda rows, items, out: vectors.score(users[rows], out, items),
                                  given if exclude_given else None, k)
        parts = [self.frame(histories.users, top, scores, HISTORY)] if len(users) else []
        parts += [self.popular(histories.unplaced, k)] if histories.unplaced else []
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame[frame["score"] > -np.inf].reset_index(drop=True)

    def fold_in(self, history, steps: int = FOLD_IN_STEPS, seed: int = 0, skip_unknown: bool = False):
        """(user vectors [U, d], Histories) of new users from their items: vectors that score as
        the exported ones do (users · items + item_bias), one row per user in histories.users."""
        histories = read_histories(history, self.items, skip_unknown)
        return fold_in(self.model, self.config, self.vectors(), histories, steps, seed), histories

    def popular(self, owners, k: int) -> pd.DataFrame:
        """Rows for `owners`: the k items with most training interactions, scored by that count."""
        best = self.item_counts.float().topk(k)
        return self.frame(np.asarray(owners, dtype=object), best.indices.expand(len(owners), -1),
                          best.values.expand(len(owners), -1), POPULAR)

    def frame(self, owners, top: torch.Tensor, scores: torch.Tensor, source: str) -> pd.DataFrame:
        k = top.shape[1]
        return pd.DataFrame({
            "user": np.repeat(owners, k),
            "rank": np.tile(np.arange(1, k + 1), len(owners)),
            "item": self.items.values[top.reshape(-1).numpy()],
            "score": scores.reshape(-1).float().numpy(),
            "source": source,
        })

    def similar_items(self, items, k: int = 10) -> pd.DataFrame:
        """Rows (item, rank, similar, score): the k items whose exported vectors have the highest
        cosine with each item's, the item itself left out."""
        k = min(positive_k(k, "similar_items"), len(self.items) - 1)
        rows = torch.from_numpy(self.items.require(items))
        unit = F.normalize(self.vectors().items.float(), dim=1)
        itself = torch.arange(len(rows)) * len(self.items) + rows  # sorted: one per row
        top, score = self.ranked(len(rows), lambda part, items, out: torch.mm(unit[rows[part]], unit[items].T,
                                                                              out=out), itself, k)
        return pd.DataFrame({
            "item": np.repeat(self.items.values[rows.numpy()], k),
            "rank": np.tile(np.arange(1, k + 1), len(rows)),
            "similar": self.items.values[top.reshape(-1).numpy()],
            "score": score.reshape(-1).numpy(),
        })

    def score(self, users, items) -> np.ndarray:
        """The model's score ŷ_uv of each (users[i], items[i]) pair (one id on either side is
        paired with every id on the other), as a float32 array."""
        user_rows = self.users.require(users)
        item_rows = self.items.require(items)
        if len(user_rows) != len(item_rows) and 1 not in (len(user_rows), len(item_rows)):
            raise RecbceError(f"score: {len(item_rows)} items for {len(user_rows)} users: give one item "
                              "per user, or one user or one item for all")
        user_rows, item_rows = np.broadcast_arrays(user_rows, item_rows)
        with torch.no_grad():
            scores = self.model.score_pairs(torch.from_numpy(user_rows.copy()),
                                            torch.from_numpy(item_rows.copy()))
        return scores.float().numpy()

    def export(self, out: str | Path, overwrite: bool = False) -> list[Path]:
        """Write the user and item vectors with their ids to the folder `out` (see
        recbce.recommender.export); returns the files written."""
        from recbce.recommender.export import write_export

        return write_export(self, Path(out), overwrite)


def positive_k(k, method: str) -> int:
    """`k` as an int >= 1; ArgumentError naming the method otherwise (numpy integers pass)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ArgumentError(f"{method}: k must be an integer >= 1, not {type(k).__name__} {k!r}")
    if k < 1:
        raise ArgumentError(f"{method}: k must be >= 1, not {k}")
    return int(k)
