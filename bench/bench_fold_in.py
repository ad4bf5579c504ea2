"""Users who arrive after training, on Gowalla (issue 42 part 2): 10% of the users held out of
training entirely, folded in afterwards from their training items
(Recommender.recommend_for_history), against the same users in a model trained with everyone.

Both models are configs/gowalla-best.yaml, seed 0. The held-out users are a seeded 10% of the
users; their training lines leave train.txt and test.txt for a copy in a temporary folder. The
fold-in's steps are chosen on validation only: each held-out user's training items, 5% of
them (at least one) kept back, the rest folded in, Recall@20 on the kept-back items. The chosen
steps are then scored once on test: all of a user's training items folded in, Recall@20 on the
user's test items, as `recbce evaluate` computes it (training items left out of the ranking).
Test items the held-out model never saw count as misses.

BENCH_FOLD_IN_OUT (default runs/bench-fold-in) keeps both runs: run again, they are reused.
Writes bench/results/fold_in.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import recbce
from bench.measure import load_average, timed
from recbce import runs
from recbce.evaluation.selection import ranked_top

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs" / "gowalla-best.yaml"
DATA = ROOT.parent / "shared" / "data" / "gowalla"
HELD_OUT = 0.10
STEPS = [0, 10, 20, 50, 100]
K = 20
COMMAND = "make bench ONLY=fold_in  (or: python -m bench.bench_fold_in)"


def read_lines(path: Path) -> dict[int, list[int]]:
    """A LightGCN-format file: user item item ... per line."""
    lines = {}
    for line in path.read_text().splitlines():
        ids = [int(part) for part in line.split()]
        if len(ids) > 1:
            lines[ids[0]] = ids[1:]
    return lines


def write_lines(path: Path, lines: dict[int, list[int]]) -> None:
    path.write_text("".join(f"{user} {' '.join(map(str, items))}\n" for user, items in lines.items()))


def trained(name: str, out: Path, overrides: dict) -> Path:
    """The run `out/name` of gowalla-best with `overrides`, trained unless it finished before."""
    run_dir = out / name
    if not (run_dir / "summary.json").exists():
        recbce.train(str(CONFIG), overrides={"run.dir": str(out), "run.name": name, **overrides},
                     overwrite=True, progress=True)
    return run_dir


def recall(vectors: torch.Tensor, rec, users: list, given: dict, relevant: dict) -> np.ndarray:
    """Per user, Recall@K of the ranking by `vectors` (rows of `users`) against rec's items:
    the user's `given` items left out, hits among `relevant`, over its count."""
    scores = rec.vectors().score(vectors)
    for row, user in enumerate(users):
        rows = rec.items.find(given[user])
        scores[row, torch.from_numpy(rows[rows >= 0])] = -torch.inf
    top = rec.items.values[ranked_top(scores, K).numpy()]
    return np.array([len(set(top[row]) & set(relevant[user])) / len(relevant[user])
                     for row, user in enumerate(users)])


def main() -> None:
    out = Path(os.environ.get("BENCH_FOLD_IN_OUT", ROOT / "runs" / "bench-fold-in"))
    train, test = read_lines(DATA / "train.txt"), read_lines(DATA / "test.txt")
    rng = np.random.default_rng(0)
    users = sorted(set(train) & set(test))
    held = sorted(rng.choice(users, size=round(HELD_OUT * len(users)), replace=False).tolist())
    split = out / "data-without-held-out"
    split.mkdir(parents=True, exist_ok=True)
    write_lines(split / "train.txt", {u: i for u, i in train.items() if u not in set(held)})
    write_lines(split / "test.txt", {u: i for u, i in test.items() if u not in set(held)})
    full = recbce.load(trained("everyone", out, {}))
    part = recbce.load(trained("without-held-out", out, {
        "data.path": str(split / "train.txt"), "data.split.test_path": str(split / "test.txt")}))
    check = full_run_recall(full, train, test)
    chosen, valid = choose_steps(part, held, train)
    history = pd.DataFrame([(u, i) for u in held for i in train[u] if i in set(part.items.values)],
                           columns=["user", "item"])
    vectors, histories = part.fold_in(history, steps=chosen)
    # what a user of the API waits for
    seconds, _ = timed(part.recommend_for_history, history, k=K, steps=chosen)
    folded = recall(vectors, part, list(histories.users), train, test)
    everyone = recall(vectors_of(full, held), full, held, train, test)
    write_report(len(users), held, check, valid, chosen, folded, everyone, seconds)


def vectors_of(rec, users: list) -> torch.Tensor:
    return rec.vectors().users[torch.from_numpy(rec.users.require(users))]


def full_run_recall(full, train: dict, test: dict) -> tuple[float, float]:
    """(this bench's Recall@K over every test user of the full run, the run's own test figure):
    the two agree when this bench ranks as recbce evaluate does."""
    users = sorted(set(train) & set(test))
    ours = np.concatenate([recall(vectors_of(full, users[i:i + 2048]), full, users[i:i + 2048], train, test)
                           for i in range(0, len(users), 2048)])
    summary = json.loads((Path(full.run_dir) / "summary.json").read_text())
    return float(ours.mean()), float(summary["test"][f"recall@{K}"])


def choose_steps(part, held: list, train: dict) -> tuple[int, dict[int, float]]:
    """The fold-in steps with the best validation Recall@K (5% of each user's items kept back)."""
    rng = np.random.default_rng(1)
    known = set(part.items.values)
    kept, given = {}, {}
    for user in held:
        items = [i for i in train[user] if i in known]
        back = set(rng.choice(items, size=max(1, round(0.05 * len(items))), replace=False).tolist())
        kept[user], given[user] = sorted(back), [i for i in items if i not in back]
    users = [u for u in held if given[u]]
    history = pd.DataFrame([(u, i) for u in users for i in given[u]], columns=["user", "item"])
    valid = {}
    for steps in STEPS:
        vectors, histories = part.fold_in(history, steps=steps)
        valid[steps] = float(recall(vectors, part, list(histories.users), given, kept).mean())
    return max(valid, key=valid.get), valid


def write_report(n_users, held, check, valid, chosen, folded, everyone, seconds) -> None:
    ratio = folded.mean() / everyone.mean()
    text = (
        "## Users who arrive after training (fold-in, Gowalla)\n\n"
        f"`{COMMAND}`. configs/gowalla-best.yaml, seed 0, trained twice: with all {n_users:,} test users, "
        f"and without {len(held):,} of them ({HELD_OUT:.0%}, seeded), who are then folded in from their "
        "training items (`Recommender.recommend_for_history`).\n\n"
        f"This bench's ranking against the run's own test Recall@{K}: {check[0]:.4f} / {check[1]:.4f}.\n\n"
        f"Fold-in steps chosen on validation (5% of each held-out user's items kept back): "
        + ", ".join(f"{s} steps {v:.4f}" for s, v in valid.items()) + f"; chosen: {chosen}.\n\n"
        f"| held-out users, test Recall@{K} | value |\n|---|---|\n"
        f"| trained with everyone | {everyone.mean():.4f} |\n"
        f"| folded in ({chosen} steps) | {folded.mean():.4f} |\n"
        f"| ratio | {ratio:.3f} |\n"
        f"| `recommend_for_history`, top {K}, time a user | {1000 * seconds / len(held):.2f} ms "
        f"({seconds:.1f} s for {len(held):,}, {torch.get_num_threads()} threads) |\n\n"
        f"Load average when the bench ended: {load_average():.2f} (1 min).\n")
    runs.write_text(HERE / "results" / "fold_in.md", text)
    print(text)


if __name__ == "__main__":
    main()
