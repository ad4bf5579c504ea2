"""Top-K recommendations from a trained run, in the user's own ids, seen items excluded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbce import runs
from recbce.data.dataset import Dataset, Positives
from recbce.errors import RecbceError
from recbce.evaluation.ranking import ranked_top
from recbce.runs.trained import load_trained


def recommend(run_dir, user_ids: list[str] | None, k: int, popular_fallback: bool = False,
              batch_users: int = 256) -> pd.DataFrame:
    """Rows (user, rank, item, score); all users when `user_ids` is None."""
    config, dataset, model = load_trained(run_dir)
    seen = dataset.all_positives()
    k = min(k, dataset.n_items)
    index = {str(uid): i for i, uid in enumerate(dataset.user_ids)}
    wanted = list(index) if user_ids is None else user_ids
    known = [u for u in wanted if u in index]
    unknown = [u for u in wanted if u not in index]
    if unknown and not popular_fallback:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise RecbceError(f"unknown user ids: {shown} (--popular-fallback recommends the most "
                          "popular items to them)")
    users = torch.tensor([index[u] for u in known], dtype=torch.long)
    parts = [top_k(model, users, seen, k, batch_users, dataset)]
    if unknown:
        parts.append(popular(dataset, len(unknown), k))
    items, scores = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    item_ids = np.asarray(dataset.item_ids, dtype=object)
    frame = pd.DataFrame({
        "user": np.repeat(np.asarray(known + unknown, dtype=object), k),
        "rank": np.tile(np.arange(1, k + 1), len(known) + len(unknown)),
        "item": item_ids[items.flatten().numpy()],
        "score": scores.flatten().numpy(),
    })
    return frame[frame["score"] > -np.inf].reset_index(drop=True)  # users with < k unseen items


def top_k(model, users, seen: Positives, k: int, batch_users: int, dataset: Dataset):
    items, scores = [], []
    for chunk in users.split(batch_users):
        block = model.score_all(chunk).float()
        rows, cols = seen.rows(chunk)
        block[rows, cols] = -torch.inf
        top = ranked_top(block, k)  # ties by item index, as in evaluation
        items.append(top)
        scores.append(block.gather(1, top))
    if not items:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    return torch.cat(items), torch.cat(scores)


def popular(dataset: Dataset, n_users: int, k: int):
    """The k items with most training interactions, scored by that count."""
    best = dataset.item_counts().float().topk(k)
    return best.indices.expand(n_users, -1), best.values.expand(n_users, -1)


def write(frame: pd.DataFrame, path: Path) -> None:
    """CSV or Parquet, by the file's extension; written atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            runs.write_parquet(path, frame)
        except ImportError:
            raise RecbceError("writing Parquet needs pyarrow: pip install 'recbce[parquet]'") from None
    elif path.suffix in (".csv", ".tsv"):
        runs.write_text(path, frame.to_csv(index=False, sep="\t" if path.suffix == ".tsv" else ","))
    else:
        raise RecbceError(f"--out {path}: use a .csv, .tsv or .parquet file name")
