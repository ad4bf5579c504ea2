"""Run by tests/test_bench_recbole.py with RecBole's interpreter (.venv-recbole/bin/python):
trains each RecBole peer on a tiny data set made here and prints what the tests assert on, as JSON."""

from __future__ import annotations

import json
import warnings

import numpy as np
import torch

from bench.peers.recbole import PEERS
from recbce.data import synth
from recbce.data.dataset import index


def tiny_dataset():
    frame = synth.generate(n_users=60, n_items=40, min_per_user=3, max_per_user=12, seed=1)
    return index(frame, None, frame.head(5))


def own_scores(system, users: np.ndarray) -> np.ndarray:
    """RecBole's own full-ranking scores, its ids looked up by token (recbce's index), item columns
    put back in recbce's order the same way."""
    from recbole.data.interaction import Interaction

    rb = system.train_data.dataset
    ids = torch.tensor(rb.token2id("user_id", [str(u) for u in users]))
    system.model.eval()
    with torch.no_grad():
        scores = system.model.full_sort_predict(Interaction({"user_id": ids})).reshape(len(users), -1)
    system.model.train()
    columns = rb.token2id("item_id", [str(i) for i in range(scores.shape[1] - 1)])
    return scores[:, columns].numpy()


def trained_pairs(system, n_users: int, n_items: int) -> list:
    """RecBole's training interactions taken back to recbce's indices through the peer's rows."""
    feat = system.train_data.dataset.inter_feat
    user_of = np.empty(n_users + 1, dtype=np.int64)
    user_of[system.user_rows] = np.arange(n_users)
    item_of = np.empty(n_items + 1, dtype=np.int64)
    item_of[system.item_rows] = np.arange(n_items)
    pairs = np.stack([user_of[feat["user_id"].numpy()], item_of[feat["item_id"].numpy()]], 1)
    return sorted(map(tuple, pairs.tolist()))


def parameters(system) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in system.model.parameters()])


def check(name: str, dataset) -> dict:
    system = PEERS[name](dataset, 8, seed=0, lr=0.01, reg=1e-3)
    start = parameters(system)
    system.train(1)
    first = parameters(system)
    steps = [int(s["step"]) for s in system.trainer.optimizer.state.values()]
    system.train(1)
    users = np.arange(dataset.n_users)
    scorer = system.scorer()
    ours = scorer.score_all(torch.from_numpy(users)).numpy()
    expected = sorted(zip(dataset.train.users.tolist(), dataset.train.items.tolist(), strict=True))
    return {"shape": list(ours.shape), "n_users": dataset.n_users, "n_items": dataset.n_items,
            "max_diff_to_own_scores": float(np.abs(ours - own_scores(system, users)).max()),
            "score_spread": float(np.ptp(ours, axis=1).min()),
            "pairs_match": trained_pairs(system, dataset.n_users, dataset.n_items) == expected,
            "batches": len(system.train_data), "steps_after_first": steps,
            "steps_after_second": [int(s["step"]) for s in system.trainer.optimizer.state.values()],
            "moved_first": float((first - start).abs().max()),
            "moved_second": float((parameters(system) - first).abs().max()),
            "epochs_done": system.epochs_done, "settings": system.settings,
            "optimizer_lr": system.trainer.optimizer.param_groups[0]["lr"],
            "optimizer_weight_decay": system.trainer.optimizer.param_groups[0]["weight_decay"],
            "model_reg_weight": getattr(system.model, "reg_weight", None)}


def main() -> None:
    warnings.simplefilter("ignore")  # RecBole's own FutureWarnings (pandas, torch.cuda.amp)
    dataset = tiny_dataset()
    print(json.dumps({name: check(name, dataset) for name in PEERS}))


if __name__ == "__main__":
    main()
