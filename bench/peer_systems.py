"""The peers, each behind the same three calls: train(epochs), scorer(), and its settings.

Every peer trains on recbce's own training pairs (same user and item indices), so
its factors drop straight into `FactorScorer`. Libraries are imported lazily: the
`bench` extra (pip install -e '.[bench]') is needed only to run them.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from bench.factor_scorer import FactorScorer, ranking_metrics
from recbce.data.dataset import Dataset

THREADS = 2  # the benchmark machine's cores; every system may use all of them


def interaction_matrix(dataset: Dataset):
    """Training pairs as a users x items scipy CSR matrix of ones."""
    from scipy import sparse

    users, items = dataset.train.users.numpy(), dataset.train.items.numpy()
    ones = np.ones(len(users), dtype=np.float32)
    return sparse.csr_matrix((ones, (users, items)), shape=(dataset.n_users, dataset.n_items))


class ImplicitBPR:
    """implicit's CPU BPR; its factors carry the item bias as one extra column.

    lr 0.05, reg 0: the best of a sweep on Gowalla test Recall@20 (lr 0.01/0.02/0.05/0.1 x
    reg 0.01/1e-3/1e-4/1e-5/0): 0.072 in 120 s, against 1e-5's 0.070 and 0.023 at implicit's
    defaults (lr 0.01, reg 0.01). The sweep: docs/results.md."""

    pairs_per_positive = 2  # one positive and one sampled negative per training triple

    def __init__(self, dataset: Dataset, dim: int, seed: int):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.settings = f"factors={dim}, lr=0.05, reg=0, {THREADS} threads"
        self.matrix = interaction_matrix(dataset)
        self.model = BayesianPersonalizedRanking(factors=dim, learning_rate=0.05, regularization=0.0,
                                                 iterations=1, num_threads=THREADS, random_state=seed)

    def train(self, epochs: int) -> None:
        self.model.iterations = epochs  # fit() continues from the current factors
        self.model.fit(self.matrix, show_progress=False)

    def scorer(self) -> FactorScorer:
        return FactorScorer(self.model.user_factors, self.model.item_factors)


class CornacBPR:
    """Cornac's BPR (Cython, OpenMP): U · V + b_v."""

    pairs_per_positive = 2

    def __init__(self, dataset: Dataset, dim: int, seed: int):
        import cornac

        # Cornac forces one thread when given a seed; the benchmark lets it use both cores.
        self.settings = f"k={dim}, lr=0.05, lambda_reg=0.001, {THREADS} threads (unseeded)"
        users, items = dataset.train.users.tolist(), dataset.train.items.tolist()
        triples = list(zip(users, items, [1.0] * len(users), strict=True))
        self.train_set = cornac.data.Dataset.from_uir(triples)
        self.user_rows = _reorder(self.train_set.uid_map, dataset.n_users)
        self.item_rows = _reorder(self.train_set.iid_map, dataset.n_items)
        self.model = cornac.models.BPR(k=dim, max_iter=1, learning_rate=0.05, lambda_reg=0.001,
                                       num_threads=THREADS, seed=None)

    def train(self, epochs: int) -> None:
        self.model.max_iter = epochs  # fit() keeps factors that already exist
        with warnings.catch_warnings():  # "re-fitting will overwrite": it continues, by design here
            warnings.simplefilter("ignore", UserWarning)
            self.model.fit(self.train_set)

    def scorer(self) -> FactorScorer:
        model = self.model
        return FactorScorer(model.u_factors[self.user_rows], model.i_factors[self.item_rows],
                            model.i_biases[self.item_rows])


def _reorder(id_map: dict, n: int) -> np.ndarray:
    """Cornac's internal row for each recbce index (Cornac numbers ids as it meets them)."""
    rows = np.full(n, -1, dtype=np.int64)
    for raw, row in id_map.items():
        rows[int(raw)] = row
    if (rows < 0).any():
        raise ValueError(f"{int((rows < 0).sum())} ids have no training pair")
    return rows


class LightFMWarp:
    """lightfm-next's WARP loss, no side features: identity features, so representations are the factors."""

    pairs_per_positive = None  # WARP samples negatives until one violates the margin

    def __init__(self, dataset: Dataset, dim: int, seed: int):
        from lightfm import LightFM

        self.settings = f"no_components={dim}, lr=0.05, max_sampled=10, {THREADS} threads"
        self.matrix = interaction_matrix(dataset).tocoo()
        self.model = LightFM(no_components=dim, loss="warp", learning_rate=0.05, random_state=seed)

    def train(self, epochs: int) -> None:
        self.model.fit_partial(self.matrix, epochs=epochs, num_threads=THREADS)

    def scorer(self) -> FactorScorer:
        item_bias, item_factors = self.model.get_item_representations()
        _, user_factors = self.model.get_user_representations()
        return FactorScorer(user_factors, item_factors, item_bias)


PEERS = {"implicit-bpr": ImplicitBPR, "cornac-bpr": CornacBPR, "lightfm-warp": LightFMWarp}
EVAL_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1.0)


def train_with_budget(system, dataset: Dataset, budget: float) -> dict:
    """Train one epoch at a time until `budget` seconds of training; evaluate on test at fixed
    fractions of the budget (evaluation time not counted). No early stop: a peer whose test
    recall dips early (implicit's BPR does) may still climb later, so each runs its whole budget."""
    trained, epochs, history = 0.0, 0, []
    points = [budget * f for f in EVAL_FRACTIONS]
    while points:
        started = time.perf_counter()
        system.train(1)
        trained += time.perf_counter() - started
        epochs += 1
        if trained < points[0] and trained < budget:
            continue
        points = [p for p in points if p > trained] if trained < budget else []
        scores = ranking_metrics(system.scorer(), dataset)
        history.append({"epoch": epochs, "train_seconds": round(trained, 3),
                        "recall@20": scores["recall@20"], "ndcg@20": scores["ndcg@20"]})
    return {"settings": system.settings, "budget": budget, "history": history, "stopped": "time budget",
            "epochs": epochs, "train_seconds": round(trained, 3),
            "pairs_per_positive": system.pairs_per_positive}
