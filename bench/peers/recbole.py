"""RecBole 1.2.1's BPR and LightGCN as peers: RecBole's own Dataset, negative sampler, trainer
and optimizer, on recbce's training pairs.

RecBole needs numpy < 2, so these run only in the RecBole virtualenv (`make bench-recbole`;
bench/bench_peers.py starts their worker with that interpreter). The pairs go to RecBole as an
atomic file whose tokens are recbce's indices; RecBole renumbers them from 1 (0 is its padding)
and the scorer reads its rows back in recbce's order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

from bench.peers.scorer import THREADS, FactorScorer
from recbce.data.dataset import Dataset

DATASET = "recbce"  # the atomic file's name inside the temporary data folder
# The whole file is the training set: RecBole splits nothing off (it only trains here).
SETTINGS = {"use_gpu": False, "reproducibility": True, "show_progress": False,
            "load_col": {"inter": ["user_id", "item_id"]}, "train_batch_size": 2048, "learning_rate": 1e-3,
            "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "order": "RO", "group_by": "user",
                          "mode": "full"},
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}


def write_atomic_file(dataset: Dataset, folder: Path) -> None:
    """recbce's training pairs as RecBole's `recbce.inter`, recbce's indices as the tokens."""
    lines = np.char.add(np.char.add(dataset.train.users.numpy().astype(str), "\t"),
                        dataset.train.items.numpy().astype(str))
    path = folder / DATASET / f"{DATASET}.inter"
    path.parent.mkdir(parents=True)
    path.write_text("user_id:token\titem_id:token\n" + "\n".join(lines.tolist()) + "\n")


def recbole_config(model: str, folder: Path, settings: dict):
    """RecBole's Config for `model` on the atomic file in `folder`, on the CPU."""
    from recbole.config import Config

    overrides = {**SETTINGS, **settings, "data_path": str(folder), "checkpoint_dir": str(folder)}
    with mock.patch("sys.argv", ["recbole"]):  # Config parses --key=value from the command line
        return Config(model=model, dataset=DATASET, config_dict=overrides)


def recbole_rows(tokens, n: int) -> np.ndarray:
    """RecBole's internal id of each recbce index 0..n-1, from its id -> token array (row 0: padding)."""
    rows = np.full(n, -1, dtype=np.int64)
    rows[np.asarray(tokens[1:]).astype(np.int64)] = np.arange(1, len(tokens))
    if (rows < 0).any():
        raise ValueError(f"{int((rows < 0).sum())} ids have no training pair")
    return rows


class RecBolePeer:
    """One RecBole general recommender; subclasses name the model, its fixed settings, and the
    RecBole key that `reg` sets (`lr` is RecBole's learning_rate, for Adam)."""

    model_name = ""
    model_settings: dict = {}
    reg_key = ""
    pairs_per_positive = 2  # RecBole's pairwise loader: one positive, one uniform negative

    def __init__(self, dataset: Dataset, dim: int, seed: int, lr: float = 1e-3, reg: float | None = None):
        import torch
        from recbole.data import create_dataset, data_preparation
        from recbole.utils import get_model, get_trainer, init_seed

        torch.set_num_threads(THREADS)
        fixed = {**self.model_settings, "learning_rate": lr, **({} if reg is None else {self.reg_key: reg})}
        with tempfile.TemporaryDirectory(prefix="recbole-peer-") as tmp:
            write_atomic_file(dataset, Path(tmp))
            self.config = recbole_config(self.model_name, Path(tmp), {**fixed, "embedding_size": dim,
                                                                      "seed": seed})
            init_seed(seed, self.config["reproducibility"])
            self.train_data, _, _ = data_preparation(self.config, create_dataset(self.config))
            self.model = get_model(self.model_name)(self.config, self.train_data.dataset)
            # Its trainer opens a TensorBoard writer in ./log_tensorboard; only fit() writes to it.
            with mock.patch("recbole.trainer.trainer.get_tensorboard", lambda logger: None):
                trainer = get_trainer(self.config["MODEL_TYPE"], self.model_name)
                self.trainer = trainer(self.config, self.model)
        rb = self.train_data.dataset
        self.user_rows = recbole_rows(rb.field2id_token["user_id"], dataset.n_users)
        self.item_rows = recbole_rows(rb.field2id_token["item_id"], dataset.n_items)
        self.epochs_done = 0
        shown = {**fixed, self.reg_key: self.config[self.reg_key]}
        self.settings = (f"embedding_size={dim}, " + ", ".join(f"{k}={v:g}" for k, v in shown.items())
                         + f", Adam, batch=2048, {THREADS} threads (RecBole 1.2.1)")

    def train(self, epochs: int) -> None:
        """RecBole's own epoch (its loader, sampler and optimizer); the state carries over."""
        for _ in range(epochs):
            self.trainer._train_epoch(self.train_data, self.epochs_done)
            self.epochs_done += 1

    def factors(self):
        """(user, item) tables in RecBole's internal rows."""
        return self.model.user_embedding.weight, self.model.item_embedding.weight

    def scorer(self) -> FactorScorer:
        import torch

        self.model.eval()
        with torch.no_grad():
            users, items = self.factors()
        self.model.train()
        return FactorScorer(users.detach()[self.user_rows].numpy(), items.detach()[self.item_rows].numpy())


class RecBoleBPR(RecBolePeer):
    """RecBole's BPR at its defaults; `reg` is the optimizer's weight_decay (RecBole's BPR has no
    penalty of its own)."""

    model_name = "BPR"
    model_settings: dict = {}
    reg_key = "weight_decay"


class RecBoleLightGCN(RecBolePeer):
    """RecBole's LightGCN with the paper's Gowalla settings; scores from the propagated tables."""

    model_name = "LightGCN"
    model_settings = {"n_layers": 3, "reg_weight": 1e-4}
    reg_key = "reg_weight"

    def factors(self):
        return self.model.forward()


PEERS = {"recbole-bpr": RecBoleBPR, "recbole-lightgcn": RecBoleLightGCN}
