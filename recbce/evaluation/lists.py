"""The ranked lists an evaluation scored, written so that tools recbce did not write can score
them again: a TREC run file (one line per ranked item) and a TREC qrels file (one line per
held-out item), both in the data's own ids. trec_eval, ranx and ir_measures read both.

    run:    <user> Q0 <item> <rank> <score> recbce      (rank from 1, best first)
    qrels:  <user> 0 <item> 1

Only evaluated users (those with a held-out item in the split) appear. Items the ranking
removed (training items, and validation items for test) are never listed, even when a user
has fewer candidates than K. Equal scores are listed in recbce's order (lowest item index
first); trec_eval breaks ties its own way (by item id), so with tied scores its figures can
differ from recbce's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recbce import runs
from recbce.data.dataset import Split
from recbce.errors import RunError

TAG = "recbce"


def qrels_path(run_path: Path) -> Path:
    """Where the qrels go: beside the run file, same stem, suffix .qrels."""
    run_path = Path(run_path)
    if run_path.suffix == ".qrels":
        raise RunError(f"--lists {run_path}: name the run file (the qrels are written beside it as .qrels)")
    return run_path.with_suffix(".qrels")


class ListRecorder:
    """Collects each chunk's top-K lists during evaluation (recbce.evaluation.ranking.evaluate)."""

    def __init__(self) -> None:
        self.users: list[torch.Tensor] = []
        self.items: list[torch.Tensor] = []
        self.scores: list[torch.Tensor] = []

    def __call__(self, users: torch.Tensor, top: torch.Tensor, scores: torch.Tensor) -> None:
        self.users.append(users.clone())
        self.items.append(top.clone())
        self.scores.append(scores.detach().clone())

    def write(self, run_path: Path, heldout: Split, user_ids: list, item_ids: list) -> Path:
        """Write the run file and its qrels atomically; returns the qrels path."""
        run_path, qrels = Path(run_path), qrels_path(run_path)
        users, items, scores = (torch.cat(parts) for parts in (self.users, self.items, self.scores))
        user_text, item_text = ids(user_ids, "user"), ids(item_ids, "item")
        runs.write_text(run_path, run_text(users, items, scores, user_text, item_text))
        runs.write_text(qrels, qrels_text(heldout, users, user_text, item_text))
        return qrels


def ids(values: list, kind: str) -> np.ndarray:
    """The data's ids as strings; RunError if one holds whitespace (the formats split on it)."""
    text = np.asarray([str(v) for v in values], dtype=object)
    bad = next((v for v in text if not v or any(c.isspace() for c in v)), None)
    if bad is not None:
        raise RunError(f"{kind} id {bad!r} is empty or holds whitespace: the TREC formats cannot carry it")
    return text


def run_text(users: torch.Tensor, top: torch.Tensor, scores: torch.Tensor,
             user_ids: np.ndarray, item_ids: np.ndarray) -> str:
    """One line per listed (user, item); removed items (score -inf) left out."""
    depth = top.shape[1]
    keep = torch.isfinite(scores).view(-1).numpy()
    user = user_ids[users.repeat_interleave(depth).numpy()][keep]
    item = item_ids[top.reshape(-1).numpy()][keep]
    rank = np.tile(np.arange(1, depth + 1), len(users))[keep]
    score = scores.reshape(-1).double().numpy()[keep]
    rows = zip(user, item, rank.tolist(), score.tolist(), strict=True)
    return "".join(f"{u} Q0 {i} {r} {s!r} {TAG}\n" for u, i, r, s in rows)


def qrels_text(heldout: Split, evaluated: torch.Tensor, user_ids: np.ndarray, item_ids: np.ndarray) -> str:
    """One line per held-out (user, item) of an evaluated user, sorted by user then item index."""
    order = np.lexsort((heldout.items.numpy(), heldout.users.numpy()))
    users, items = heldout.users.numpy()[order], heldout.items.numpy()[order]
    keep = np.isin(users, evaluated.numpy())
    rows = zip(user_ids[users[keep]], item_ids[items[keep]], strict=True)
    return "".join(f"{u} 0 {i} 1\n" for u, i in rows)
