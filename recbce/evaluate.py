"""Full-ranking evaluation, batched over users: every item is ranked for every user,
the user's training items (and validation items, for test) removed.

Metric definitions are in `recbce.metrics`. Users are scored in chunks of
`eval.batch_users` (small chunks keep the score block in cache; see BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbce import metrics, runs
from recbce.config import EvalConfig
from recbce.data import Dataset, Positives, Split
from recbce.errors import RunError


def evaluate(model, heldout: Split, exclude: Positives, ks: list[int], batch_users: int = 32,
             item_counts: torch.Tensor | None = None, with_auc: bool = False,
             per_user: bool = False):
    """Mean metrics {'recall@10': ...}; with per_user, also {'user': idx, metric: values}."""
    n_users, n_items = len(exclude.indptr) - 1, exclude.n_items
    truth = Positives.from_pairs(heldout.users, heldout.items, n_users, n_items)
    users = torch.nonzero(truth.counts() > 0).squeeze(1)
    max_k = min(max(ks), n_items)
    columns: dict[str, list[torch.Tensor]] = {}
    recommended = {k: torch.zeros(n_items, dtype=torch.bool) for k in ks}
    for chunk in users.split(batch_users):
        scores = model.score_all(chunk).float()
        rows, items = exclude.rows(chunk)
        scores[rows, items] = -torch.inf
        top = scores.topk(max_k, dim=1).indices
        hits = truth.contains(chunk.unsqueeze(1).expand_as(top), top).double()
        relevant = truth.counts()[chunk].double()
        for k in ks:
            for name, values in metrics.at_k(hits, relevant, k).items():
                columns.setdefault(f"{name}@{k}", []).append(values)
            recommended[k][top[:, :k].flatten()] = True
            if item_counts is not None:
                popularity = item_counts[top[:, :k]].double().mean(1)
                columns.setdefault(f"popularity@{k}", []).append(popularity)
        if with_auc:
            columns.setdefault("auc", []).append(_auc(scores, chunk, truth, exclude, relevant))
    table = {name: torch.cat(parts) for name, parts in columns.items()}
    means = {name: float(values.mean()) if len(values) else 0.0 for name, values in table.items()}
    means.update({f"coverage@{k}": float(seen.double().mean()) for k, seen in recommended.items()})
    if per_user:
        return means, {"user": users, **table}
    return means


def _auc(scores, chunk, truth: Positives, exclude: Positives, relevant) -> torch.Tensor:
    rel_rows, rel_items = truth.rows(chunk)
    candidates = exclude.n_items - exclude.counts()[chunk]
    return metrics.auc(scores, rel_rows, scores[rel_rows, rel_items], candidates, relevant)


def heldout_and_exclusions(dataset: Dataset, split: str) -> tuple[Split, Positives]:
    """The split to score, and the pairs to remove from the ranking (train, + valid for test)."""
    if split == "valid":
        if dataset.valid is None:
            raise RunError("this run has no validation split (data.split.valid_ratio is 0)")
        return dataset.valid, dataset.positives
    if dataset.valid is None:
        return dataset.test, dataset.positives
    exclude = Positives.from_pairs(
        torch.cat([dataset.train.users, dataset.valid.users]),
        torch.cat([dataset.train.items, dataset.valid.items]),
        dataset.n_users, dataset.n_items,
    )
    return dataset.test, exclude


def evaluate_split(model, dataset: Dataset, split: str, config: EvalConfig, ks=None,
                   per_user: bool = False, seed: int = 0):
    """Metrics on `split` ('valid' or 'test') of a loaded dataset, by the configured protocol."""
    heldout, exclude = heldout_and_exclusions(dataset, split)
    if config.protocol == "sampled":
        from recbce.sampled import evaluate_sampled

        return evaluate_sampled(model, dataset, heldout, exclude, ks or config.k,
                                config.sampled_negatives, seed)
    return evaluate(model, heldout, exclude, ks or config.k, config.batch_users,
                    item_counts=dataset.item_counts(), with_auc=config.auc, per_user=per_user)


def evaluate_run(run_dir, split: str = "test", ks: list[int] | None = None,
                 per_user_path: Path | None = None) -> dict:
    """Reload a finished run, evaluate it, write eval-<split>.json (and per-user rows)."""
    config, dataset, model = runs.load_trained(run_dir)
    per_user = per_user_path is not None and config.eval.protocol == "full"
    result = evaluate_split(model, dataset, split, config.eval, ks, per_user=per_user, seed=config.seed)
    means = result[0] if per_user else result
    if per_user:
        write_per_user(per_user_path, result[1], dataset.user_ids)
    runs.write_json(Path(run_dir) / f"eval-{split}.json", means)
    return means


def write_per_user(path: Path, table: dict[str, torch.Tensor], user_ids: list) -> None:
    frame = pd.DataFrame({name: values.numpy() for name, values in table.items() if name != "user"})
    frame.insert(0, "user", np.asarray(user_ids, dtype=object)[table["user"].numpy()])
    runs.write_text(Path(path), frame.to_csv(index=False))
