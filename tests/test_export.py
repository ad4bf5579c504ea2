"""recbce export (recbce/recommender/export.py): plain u · v + b_v from the written files
reproduces recommend's ranking, whatever the model folds into its vectors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import recbce
from recbce.errors import RecbceError, RunError
from recbce.recommender.export import write_frame
from tests.conftest import PRE_STARTER_MODEL

MODELS = {
    "dot": {"bias": True},
    "cosine": {"scorer": "cosine", "temperature": 0.2, "bias": True},
    "history": {"history": 0.5, "bias": False},
    "context": {"history": 0.5, "context": 3},
    "lightgcn": {"kind": "lightgcn", "layers": 2},
}


def train_tiny(tmp_path, tiny_data, name: str, **model):
    split = ({"method": "leave_one_out", "valid_ratio": 0.1} if model.get("context")
             else {"test_ratio": 0.2, "valid_ratio": 0.0})
    config = {"seed": 0, "run": {"dir": str(tmp_path / "runs"), "name": name},
              "data": {"path": str(tiny_data), "split": split},
              "model": {"dim": 8, **PRE_STARTER_MODEL, **model},
              "sampler": {"kind": "uniform", "ratio": 4},
              "train": {"epochs": 2, "batch_size": 256, "patience": 0}}
    return recbce.train(config)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_plain_dot_products_of_the_export_give_recommends_ranking(kind, tmp_path, tiny_data):
    rec = recbce.load(train_tiny(tmp_path, tiny_data, kind, **MODELS[kind]).run_dir)
    written = rec.export(tmp_path / "out")
    assert [p.name for p in written][-1] == "export.json"
    users = np.load(tmp_path / "out/user_vectors.npy")
    items = np.load(tmp_path / "out/item_vectors.npy")
    bias = np.load(tmp_path / "out/item_bias.npy")
    user_ids = pd.read_csv(tmp_path / "out/user_ids.csv")["user"].to_numpy()
    item_ids = pd.read_csv(tmp_path / "out/item_ids.csv")["item"].to_numpy()
    assert users.dtype == items.dtype == np.float32 and users.shape == (120, 8)
    if kind == "history":
        assert not bias.any()  # no item bias: zeros, so the same formula holds
    scores = users @ items.T + bias
    order = np.argsort(-scores, axis=1, kind="stable")[:, :10]  # ties: lowest row first, as recommend
    recs = rec.recommend(None, k=10, exclude_seen=False)
    assert recs["user"].tolist() == np.repeat(user_ids, 10).tolist()
    assert recs["item"].tolist() == item_ids[order].reshape(-1).tolist()
    np.testing.assert_allclose(recs["score"], np.take_along_axis(scores, order, 1).reshape(-1),
                               rtol=1e-5, atol=1e-5)
    meta = json.loads((tmp_path / "out/export.json").read_text())
    assert meta["score"] == "user_vectors[u] · item_vectors[v] + item_bias[v]"
    assert (meta["n_users"], meta["n_items"], meta["dim"]) == (120, 60, 8)


def test_parquet_files_hold_the_same_vectors(tmp_path, tiny_data):
    pytest.importorskip("pyarrow")
    rec = recbce.load(train_tiny(tmp_path, tiny_data, "dot").run_dir)
    rec.export(tmp_path / "out")
    items = pd.read_parquet(tmp_path / "out/items.parquet")
    assert list(items.columns) == ["item", "vector", "bias"]
    np.testing.assert_array_equal(np.stack(items["vector"]), np.load(tmp_path / "out/item_vectors.npy"))
    users = pd.read_parquet(tmp_path / "out/users.parquet")
    assert users["user"].tolist() == pd.read_csv(tmp_path / "out/user_ids.csv")["user"].tolist()


def test_an_export_is_replaced_only_when_asked(tmp_path, tiny_data):
    rec = recbce.load(train_tiny(tmp_path, tiny_data, "dot").run_dir)
    rec.export(tmp_path / "out")
    with pytest.raises(RunError, match="already holds an export: pass --overwrite"):
        rec.export(tmp_path / "out")
    rec.export(tmp_path / "out", overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other/notes.txt").write_text("mine")
    with pytest.raises(RunError, match="is not empty"):
        rec.export(tmp_path / "other")


def test_write_frame_by_extension(tmp_path):
    frame = pd.DataFrame({"user": ["a"], "rank": [1], "item": [3], "score": [0.5]})
    assert pd.read_csv(write_frame(frame, tmp_path / "r.tsv"), sep="\t").equals(frame)
    with pytest.raises(RecbceError, match="use a .csv, .tsv or .parquet"):
        write_frame(frame, tmp_path / "r.json")
