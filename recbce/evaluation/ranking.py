"""Full-ranking evaluation, batched over users: every item is ranked for every user,
the user's training items (and validation items, for test) removed.

Metric definitions are in `recbce.evaluation.metrics`. Users are scored in chunks sized by a
memory budget (`eval.max_memory_mb`). Before the loop, the excluded and the relevant
pairs of the evaluated users are laid out once as sorted flat positions
row * n_items + item, so each chunk masks and looks up its pairs with one slice,
with no per-chunk index building. Equal scores are ranked by item index (lowest
first), so ties give the same lists as a stable sort, on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbce import runs
from recbce.config import EvalConfig
from recbce.config.kinds import LOSS_KINDS
from recbce.data.dataset import Dataset, Positives, Split
from recbce.data.timeline import known_before
from recbce.errors import RunError
from recbce.evaluation import blocks, catalogue, metrics
from recbce.evaluation.blocks import window
from recbce.evaluation.lists import ListRecorder, qrels_path
from recbce.runs.trained import load_trained


@dataclass(frozen=True)
class Share:
    """This process's part of an evaluation under torchrun: the blocks of users rank,
    rank + world_size, ..., each the block one process would score, so every user's row is
    computed as one process computes it; `gather(value)` gives every rank's value on rank 0
    and None on the others (recbce.training.distributed.evaluation_share)."""

    rank: int
    world_size: int
    gather: Callable


def evaluate(model, heldout: Split, exclude: Positives, ks: list[int], batch_users: int | None = None,
             item_counts: torch.Tensor | None = None, with_auc: bool = False,
             per_user: bool = False, max_memory_mb: float = 256, lists=None, share: Share | None = None):
    """Mean metrics {'recall@10': ...}; with per_user, also {'user': idx, metric: values}.
    `lists(users, top, scores)`, if given, sees each chunk's ranked lists (recbce.evaluation.lists).
    With item_counts (training interactions per item), also popularity, novelty and long-tail
    share of each list; coverage, Gini and entropy of exposure always (recbce.evaluation.catalogue).
    With `share`, this process scores its blocks and rank 0 returns the whole (None elsewhere)."""
    n_users, n_items = len(exclude.indptr) - 1, exclude.n_items
    truth = Positives.from_pairs(heldout.users, heldout.items, n_users, n_items)
    users = torch.nonzero(truth.counts() > 0).squeeze(1)
    excluded, relevant = flat_positions(exclude, users), flat_positions(truth, users)
    # AUC reads every score of a row: whole rows then
    plan = blocks.plan(len(users), n_items, max_memory_mb, batch_users, tiles=not with_auc)
    starts = range(0, len(users), plan.rows)
    columns, shown = {}, {k: torch.zeros(n_items, dtype=torch.long) for k in ks}
    facts = catalogue.ItemFacts(item_counts, n_users) if item_counts is not None else None
    for start in (starts[share.rank::share.world_size] if share else starts):
        chunk = users[start:start + plan.rows]
        top, top_scores, scores = blocks.ranked_lists(
            lambda rows, items, out, chunk=chunk: model.score_all(chunk[rows], out=out, items=items),
            len(chunk), window(excluded, start * n_items, len(chunk) * n_items), n_items,
            min(max(ks), n_items), plan)
        if lists is not None:
            lists(chunk, top, top_scores)
        chunk_relevant = window(relevant, start * n_items, len(chunk) * n_items)
        n_relevant = truth.counts()[chunk].double()
        columns[start] = block_columns(top, chunk_relevant, n_relevant, ks, facts, shown, n_items)
        if with_auc:
            candidates = n_items - exclude.counts()[chunk]
            columns[start]["auc"] = _auc(scores, chunk_relevant, candidates, n_relevant, plan.rows)
    if share is not None:
        gathered = share.gather((columns, shown))
        if gathered is None:
            return None
        columns = {start: values for part, _ in gathered for start, values in part.items()}
        shown = {k: sum(counts[k] for _, counts in gathered) for k in ks}
    return summarise(columns, shown, users, per_user)


def block_columns(top, chunk_relevant, n_relevant, ks, facts, shown, n_items) -> dict[str, torch.Tensor]:
    """A block's per-user values at each K; its lists' item exposure added to `shown`."""
    hits = is_relevant(chunk_relevant, top, n_items).double()
    columns = {}
    for k in ks:
        columns |= {f"{name}@{k}": values for name, values in metrics.at_k(hits, n_relevant, k).items()}
        columns |= facts.per_list(top, k) if facts else {}
        shown[k] += catalogue.exposure(top[:, :k], n_items)
    return columns


def summarise(columns: dict, shown: dict, users: torch.Tensor, per_user: bool):
    """Means over every user (the blocks' columns in user order) and the catalogue figures."""
    names = next(iter(columns.values())).keys() if columns else []
    table = {name: torch.cat([columns[start][name] for start in sorted(columns)]) for name in names}
    means = {name: float(values.mean()) if len(values) else 0.0 for name, values in table.items()}
    for k, counts in shown.items():
        means.update(catalogue.over_lists(counts, k))
    if per_user:
        return means, {"user": users, **table}
    return means


def flat_positions(pairs: Positives, users: torch.Tensor) -> torch.Tensor:
    """Sorted row * n_items + item of the pairs of `users` (ascending; row: the place in `users`).
    Only their pairs are read: a sample of users costs what its own pairs cost."""
    rows, items = pairs.rows(users)
    return rows * pairs.n_items + items


def is_relevant(chunk_relevant: torch.Tensor, top: torch.Tensor, n_items: int) -> torch.Tensor:
    """[rows, k] booleans: is each ranked item one of its row's relevant items?"""
    query = torch.arange(len(top)).unsqueeze(1) * n_items + top
    pos = torch.searchsorted(chunk_relevant, query).clamp_(max=len(chunk_relevant) - 1)
    return chunk_relevant[pos] == query


def _auc(scores, chunk_relevant, candidates, n_relevant, step: int) -> torch.Tensor:
    """Per-user AUC of a chunk, its relevant rows taken `step` at a time to bound memory."""
    rel_rows, rel_items = chunk_relevant // scores.shape[1], chunk_relevant % scores.shape[1]
    mistakes = torch.zeros(len(n_relevant), dtype=torch.float64)
    for piece in torch.arange(len(rel_rows)).split(step):
        rows = rel_rows[piece]
        mistakes.index_add_(0, rows, metrics.auc_mistakes(scores[rows], scores[rows, rel_items[piece]]))
    order_in_user = metrics.rank_among_relevant(rel_rows, scores[rel_rows, rel_items])
    mistakes.index_add_(0, rel_rows, -order_in_user)
    negatives = candidates.double() - n_relevant
    return 1 - mistakes / (n_relevant * negatives).clamp(min=1)


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
                   per_user: bool = False, seed: int = 0, lists=None, share: Share | None = None):
    """Metrics on `split` ('valid' or 'test') of a loaded dataset, by the configured protocol.
    On validation with eval.valid_users, over that many sampled users, plus eval.metric's
    standard error over them as '<metric>_se' (full ranking). With `share` (torchrun), each
    rank scores its part and rank 0 returns the result, the others None."""
    heldout, exclude = heldout_and_exclusions(dataset, split)
    sampled = split == "valid" and config.valid_users is not None
    if sampled:
        heldout = sample_users(heldout, config.valid_users, seed)
    with_error = sampled and config.protocol == "full" and not per_user
    with history_known_before(model, dataset, split):
        result = evaluate_heldout(model, dataset, heldout, exclude, config, ks, per_user or with_error, seed,
                                  lists, share)
    if not with_error or result is None:
        return result
    means, table = result
    values = table.get(config.metric)
    if values is not None and len(values) > 1:
        means[f"{config.metric}_se"] = float(values.std() / len(values) ** 0.5)
    return means


def sample_users(heldout: Split, n: int, seed: int) -> Split:
    """The held-out pairs of `n` of its users drawn at random (seeded: the same users every
    time); all of them when there are no more than n."""
    users = torch.unique(heldout.users)
    if len(users) <= n:
        return heldout
    chosen = users[torch.randperm(len(users), generator=torch.Generator().manual_seed(seed))[:n]]
    keep = torch.isin(heldout.users, chosen)
    times = heldout.times[keep] if heldout.times is not None else None
    return Split(heldout.users[keep], heldout.items[keep], times)


@contextmanager
def history_known_before(model, dataset: Dataset, split: str):
    """With model.context, the model mixes in each user's latest items known before `split`."""
    module = getattr(model, "module", model)  # under DDP, the wrapped model holds the history
    if not getattr(module, "context", 0):
        yield
        return
    with module.reading_history(known_before(dataset, split, module.context)):
        yield


def evaluate_heldout(model, dataset: Dataset, heldout: Split, exclude: Positives, config: EvalConfig,
                     ks, per_user: bool, seed: int, lists=None, share: Share | None = None):
    """Metrics on the held-out pairs by the configured protocol (full ranking or sampled)."""
    if config.protocol == "sampled":
        if lists is not None:
            raise RunError("ranked lists are written under full ranking only (eval.protocol: full); "
                           "this run samples its candidates")
        from recbce.evaluation.sampled import evaluate_sampled

        result = evaluate_sampled(model, dataset, heldout, exclude, ks or config.k,
                                  config.sampled_negatives, seed)
        return result if share is None or share.rank == 0 else None  # not shared: rank 0's stands
    return evaluate(model, heldout, exclude, ks or config.k, config.batch_users,
                    item_counts=dataset.item_counts(), with_auc=config.auc, per_user=per_user,
                    max_memory_mb=config.max_memory_mb, lists=lists, share=share)


def evaluate_run(run_dir, split: str = "test", ks: list[int] | None = None,
                 per_user_path: Path | None = None, calibration: bool = False, log=print,
                 accept_data_change: bool = False, data: Path | None = None,
                 lists_path: Path | None = None) -> dict:
    """Reload a finished run, evaluate it, write eval-<split>.json (and per-user rows; with
    calibration, also log loss and ECE of σ(ŷ) and reliability-<split>.png; with lists_path,
    the ranked lists and relevant items as TREC run and qrels files). The data must
    be what the run trained on unless `accept_data_change`; `data`: where it is now, if moved
    (recbce.runs.trained.moved_data)."""
    config, dataset, model = load_trained(run_dir, accept_data_change, data)
    per_user = per_user_path is not None and config.eval.protocol == "full"
    recorder = None if lists_path is None else ListRecorder()
    if recorder is not None:
        qrels_path(lists_path)  # a wrong name fails before the work
    result = evaluate_split(model, dataset, split, config.eval, ks, per_user=per_user, seed=config.seed,
                            lists=recorder)
    means = result[0] if per_user else result
    if recorder is not None:
        qrels = recorder.write(lists_path, heldout_and_exclusions(dataset, split)[0],
                               dataset.user_ids, dataset.item_ids)
        log(f"wrote the ranked lists to {lists_path} and the relevant items to {qrels} (TREC)")
    if per_user:
        write_per_user(per_user_path, result[1], dataset.user_ids)
        log(f"wrote per-user rows to {per_user_path}")
    if calibration or config.eval.calibration:
        from recbce.evaluation.calibration import calibrate

        if not LOSS_KINDS[config.loss.name].sigmoid:
            log(f"note: loss {config.loss.name} does not train σ(ŷ) as a probability; "
                "its calibration is shown for comparison only")
        plot = runs.RunFolder(run_dir).reliability_plot(split)
        with history_known_before(model, dataset, split):
            means.update(calibrate(model, dataset, heldout_and_exclusions(dataset, split)[0],
                                   config.seed, plot_path=plot))
        log(f"wrote the reliability diagram to {plot}")
    written = runs.RunFolder(run_dir).evaluation_file(split)
    runs.write_json(written, means)
    log(f"wrote {written}")
    return means


def write_per_user(path: Path, table: dict[str, torch.Tensor], user_ids: list) -> None:
    frame = pd.DataFrame({name: values.numpy() for name, values in table.items() if name != "user"})
    frame.insert(0, "user", np.asarray(user_ids, dtype=object)[table["user"].numpy()])
    runs.write_text(Path(path), frame.to_csv(index=False))
