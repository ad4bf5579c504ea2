"""The peers, each behind the same three calls: train(epochs), scorer(), and its settings.

Every peer trains on recbce's own training pairs (same user and item indices), so
its factors drop straight into `FactorScorer`. Each takes its learning rate and
regularisation as `lr` and `reg` (named in its own terms in `settings`); GRIDS holds the
values bench/peers/protocol.py screens on validation. Libraries are imported lazily: the
`bench` extra (pip install -e '.[bench]') is needed only to run them.
"""

from __future__ import annotations

import warnings

import numpy as np

from bench.peers.recbole import PEERS as RECBOLE_PEERS
from bench.peers.scorer import THREADS, FactorScorer
from recbce.data.dataset import Dataset


def interaction_matrix(dataset: Dataset):
    """Training pairs as a users x items scipy CSR matrix of ones."""
    from scipy import sparse

    users, items = dataset.train.users.numpy(), dataset.train.items.numpy()
    ones = np.ones(len(users), dtype=np.float32)
    return sparse.csr_matrix((ones, (users, items)), shape=(dataset.n_users, dataset.n_items))


class ImplicitBPR:
    """implicit's CPU BPR; its factors carry the item bias as one extra column.
    Defaults: implicit's own (learning_rate 0.01, regularization 0.01)."""

    pairs_per_positive = 2  # one positive and one sampled negative per training triple

    def __init__(self, dataset: Dataset, dim: int, seed: int, lr: float = 0.01, reg: float = 0.01):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.settings = f"factors={dim}, lr={lr:g}, reg={reg:g}, {THREADS} threads"
        self.matrix = interaction_matrix(dataset)
        # One generator for the whole run: fit() makes its samplers' seeds from `random_state`
        # at every call, so an int would replay the first epoch's (user, item, negative)
        # triples at every epoch of ours (one fit() each). A numpy Generator is used as it is
        # (implicit 0.7.3 cannot take a RandomState: its check_random_state calls `rand_int`).
        self.model = BayesianPersonalizedRanking(factors=dim, learning_rate=lr, regularization=reg,
                                                 iterations=1, num_threads=THREADS,
                                                 random_state=np.random.default_rng(seed))

    def train(self, epochs: int) -> None:
        self.model.iterations = epochs  # fit() continues from the current factors
        self.model.fit(self.matrix, show_progress=False)

    def scorer(self) -> FactorScorer:
        return FactorScorer(self.model.user_factors, self.model.item_factors)


class CornacBPR:
    """Cornac's BPR (Cython, OpenMP): U · V + b_v."""

    pairs_per_positive = 2

    def __init__(self, dataset: Dataset, dim: int, seed: int, lr: float = 0.05, reg: float = 0.001):
        import cornac

        # Cornac forces one thread when given a seed; the benchmark lets it use both cores.
        self.settings = f"k={dim}, lr={lr:g}, lambda_reg={reg:g}, {THREADS} threads (unseeded)"
        users, items = dataset.train.users.tolist(), dataset.train.items.tolist()
        triples = list(zip(users, items, [1.0] * len(users), strict=True))
        self.train_set = cornac.data.Dataset.from_uir(triples)
        self.user_rows = _reorder(self.train_set.uid_map, dataset.n_users)
        self.item_rows = _reorder(self.train_set.iid_map, dataset.n_items)
        self.model = cornac.models.BPR(k=dim, max_iter=1, learning_rate=lr, lambda_reg=reg,
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
    """lightfm-next's WARP loss, no side features: identity features, so representations are the
    factors. `reg` is both item_alpha and user_alpha (its per-sample L2 penalties)."""

    pairs_per_positive = None  # WARP samples negatives until one violates the margin

    def __init__(self, dataset: Dataset, dim: int, seed: int, lr: float = 0.05, reg: float = 0.0):
        from lightfm import LightFM

        self.settings = (f"no_components={dim}, lr={lr:g}, item_alpha=user_alpha={reg:g}, "
                         f"max_sampled=10, {THREADS} threads")
        self.matrix = interaction_matrix(dataset).tocoo()
        self.model = LightFM(no_components=dim, loss="warp", learning_rate=lr, item_alpha=reg,
                             user_alpha=reg, random_state=seed)

    def train(self, epochs: int) -> None:
        self.model.fit_partial(self.matrix, epochs=epochs, num_threads=THREADS)

    def scorer(self) -> FactorScorer:
        item_bias, item_factors = self.model.get_item_representations()
        _, user_factors = self.model.get_user_representations()
        return FactorScorer(user_factors, item_factors, item_bias)


PEERS = {"implicit-bpr": ImplicitBPR, "cornac-bpr": CornacBPR, "lightfm-warp": LightFMWarp}
PEERS.update(RECBOLE_PEERS)  # they run only in RecBole's virtualenv (bench/peers/venv.py)

# The settings each peer's runs screen on validation (bench/peers/protocol.py `tune`): its own
# learning rate x regularisation around its defaults. A peer without an entry runs as built.
GRIDS = {
    "implicit-bpr": {"lr": (0.01, 0.02, 0.05), "reg": (0.0, 1e-3, 1e-2)},
    "cornac-bpr": {"lr": (0.01, 0.02, 0.05), "reg": (1e-4, 1e-3, 1e-2)},
    "lightfm-warp": {"lr": (0.02, 0.05, 0.1), "reg": (0.0, 1e-6, 1e-5)},
    # Adam's learning rate around RecBole's default 1e-3; BPR's reg is Adam's weight_decay, which
    # Adam applies to every row each step, so the grid stays small (1e-4 collapsed it: README, peers).
    "recbole-bpr": {"lr": (1e-3, 3e-3, 1e-2), "reg": (0.0, 1e-6, 1e-5)},
}
