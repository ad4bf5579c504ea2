"""Users who arrive after training (recbce/recommender/fold_in.py, Recommender.recommend_for_history):
a user vector from a user's items, checked against the models' own user vectors, and served
through the API and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import recbce
from recbce.cli.app import app
from recbce.config import ModelConfig
from recbce.data.dataset import Positives
from recbce.data.graph import normalized_adjacency
from recbce.data.history import ScoringInputs
from recbce.errors import ArgumentError
from recbce.models import build_model
from recbce.recommender import Recommender, UnknownIdError
from recbce.runs.trained import load_trained
from tests.conftest import write_tiny_log

N_USERS, N_ITEMS = 6, 9
USERS = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5])
ITEMS = torch.tensor([1, 4, 8, 2, 8, 7, 0, 3, 5, 8, 6, 1, 2])
runner = CliRunner()


def built(kind: str, **settings):
    """An untrained model over the 6 users' items above: the identities hold for any weights."""
    positives = Positives.from_pairs(USERS, ITEMS, N_USERS, N_ITEMS)
    config = ModelConfig(**{"kind": kind, "dim": 4, "scorer": "dot", "temperature": 1.0, "bias": True,
                            **settings})
    inputs = ScoringInputs(history=positives if config.history else None,
                           graph=normalized_adjacency(positives, N_USERS) if kind == "lightgcn" else None)
    model = build_model(config, N_USERS, N_ITEMS, inputs, generator=torch.Generator().manual_seed(0))
    return model, positives


@pytest.mark.parametrize("kind, settings", [
    ("mf", {"history": 0.0}),
    ("mf", {"history": 0.5}),
    ("mf", {"history": 0.3, "scorer": "cosine", "temperature": 0.2}),
    ("lightgcn", {"layers": 2}),
    ("lightgcn", {"layers": 3, "scorer": "cosine", "temperature": 0.1}),
])
def test_a_trained_user_folded_in_from_its_own_vector_and_items_is_its_exported_vector(kind, settings):
    model, positives = built(kind, **settings)
    users = torch.arange(N_USERS)
    owners, items = positives.rows(users)
    offsets = positives.indptr[:-1]
    with torch.no_grad():
        again = model.users_from_items(model.user.weight, items, offsets)
    assert torch.allclose(again, model.export().users, atol=1e-6)
    assert torch.equal(owners, torch.repeat_interleave(users, positives.counts()))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One tiny run per model kind (ids 1..120 users, 1..60 items), loaded as Recommenders."""
    tmp_path = tmp_path_factory.mktemp("fold")
    data = write_tiny_log(tmp_path)
    runs = {}
    by_ratio, by_time = {"test_ratio": 0.2, "valid_ratio": 0.1}, {"method": "leave_one_out"}
    for name, model, split in (("mf", {"history": 0.0}, by_ratio),
                               ("mix", {"history": 0.5, "context": 2}, by_time),
                               ("lightgcn", {"kind": "lightgcn", "layers": 2, "scorer": "cosine",
                                             "temperature": 0.2}, by_ratio)):
        run = recbce.train({"seed": 0, "run": {"dir": str(tmp_path / "runs"), "name": name},
                            "data": {"path": str(data), "split": split},
                            "model": {"dim": 8, "scorer": "dot", "temperature": 1.0, "bias_init": 0.0,
                                      **model},
                            "sampler": {"kind": "uniform", "ratio": 4},
                            "train": {"epochs": 3, "batch_size": 256, "lr": 0.05, "patience": 0}},
                           progress=False, log=lambda *_: None)
        runs[name] = run.run_dir
    return runs


def training_items(run_dir, user) -> list:
    config, dataset, _ = load_trained(run_dir)
    row = dataset.user_ids.index(user)
    positives = dataset.positives
    return [dataset.item_ids[i] for i in positives.indices[positives.indptr[row]:positives.indptr[row + 1]]]


@pytest.mark.parametrize("name", ["mf", "mix", "lightgcn"])
def test_recommendations_leave_the_given_items_out_and_follow_the_folded_vectors(served, name):
    rec = Recommender.load(served[name])
    history = {"new-a": training_items(served[name], 1), "new-b": training_items(served[name], 2)}
    frame = rec.recommend_for_history(history, k=5)
    assert list(frame["user"].unique()) == ["new-a", "new-b"] and (frame["source"] == "history").all()
    for user, given in history.items():
        assert not set(frame.loc[frame["user"] == user, "item"]) & set(given)
    vectors, histories = rec.fold_in(history)
    exported = rec.vectors()
    scores = vectors @ exported.items.T + (0 if exported.item_bias is None else exported.item_bias)
    first = frame.groupby("user").head(1).set_index("user")
    for row, user in enumerate(histories.users):
        item = rec.items.find([first.loc[user, "item"]])[0]
        assert scores[row, item].item() == pytest.approx(first.loc[user, "score"], abs=1e-5)
    assert rec.recommend_for_history(history, k=5).equals(frame)  # the same seed, the same lists


def test_solving_ranks_the_users_items_higher_than_the_start(served):
    rec = Recommender.load(served["mf"])  # no history mix: all a new user has is the solved vector
    given = {user: training_items(served["mf"], user) for user in range(1, 21)}

    def mean_rank(steps):
        vectors, histories = rec.fold_in(given, steps=steps)
        exported = rec.vectors()
        scores = vectors @ exported.items.T + exported.item_bias
        ranks = scores.argsort(1, descending=True).argsort(1)
        return np.mean([ranks[row, rec.items.find(given[user])].float().mean().item()
                        for row, user in enumerate(histories.users)])

    assert mean_rank(50) < mean_rank(0) - 2  # of 60 items


def test_the_trained_model_is_left_as_it_was(served):
    rec = Recommender.load(served["mf"])
    before = {name: p.clone() for name, p in rec.model.named_parameters()}
    flags = {name: p.requires_grad for name, p in rec.model.named_parameters()}
    rec.recommend_for_history([3, 4, 5], k=3, steps=10)
    for name, parameter in rec.model.named_parameters():
        assert torch.equal(parameter, before[name]) and parameter.requires_grad == flags[name]


def test_with_context_the_mix_reads_the_latest_items_in_the_order_given(served):
    in_order = pd.DataFrame({"user": ["u"] * 4, "item": [7, 3, 9, 11]})
    reordered = in_order.iloc[[2, 3, 0, 1]]
    mix = Recommender.load(served["mix"])  # model.context: 2: the mix reads 9, 11 or 7, 3
    assert not torch.allclose(mix.fold_in(in_order, steps=0)[0], mix.fold_in(reordered, steps=0)[0])
    plain = Recommender.load(served["mf"])  # no context: the order is no matter
    assert torch.allclose(plain.fold_in(in_order, steps=0)[0], plain.fold_in(reordered, steps=0)[0])


def test_unknown_items_can_be_left_out_and_users_left_with_none_get_popular_items(served):
    rec = Recommender.load(served["mf"])
    history = {"a": [3, 99999, 5], "b": [88888]}
    frame = rec.recommend_for_history(history, k=3, skip_unknown=True, popular_fallback=True)
    alone = rec.recommend_for_history({"a": [3, 5]}, k=3)
    a = frame[frame["user"] == "a"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, alone, check_dtype=False)  # the unknown item: as if never given
    b = frame[frame["user"] == "b"]
    assert (b["source"] == "popular").all() and b["item"].tolist() == rec.recommend(["nobody"], k=3,
                                                                                  popular_fallback=True)["item"].tolist()
    with pytest.raises(ArgumentError, match="no item the run knows for users b"):
        rec.recommend_for_history(history, k=3, skip_unknown=True)
    only_unknown = rec.recommend_for_history({"c": [77777]}, k=2, skip_unknown=True, popular_fallback=True)
    assert only_unknown["source"].tolist() == ["popular", "popular"]


@pytest.mark.parametrize("history, error, message", [
    ([1, 99999], UnknownIdError, "unknown item ids: 99999"),
    ([], ArgumentError, "no items given"),
    ("3", ArgumentError, "not str"),
    (pd.DataFrame({"customer": [1], "item": [2]}), ArgumentError, "no column 'user'"),
])
def test_bad_histories_are_one_named_error(served, history, error, message):
    with pytest.raises(error, match=message):
        Recommender.load(served["mf"]).recommend_for_history(history)


def test_the_cli_reads_a_history_file_with_its_own_column_names(served, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("customer_id,product_id,ts\nann,3,20\nann,5,10\nbob,7,5\n")
    out = tmp_path / "recs.csv"
    result = runner.invoke(app, ["recommend", "--run", str(served["mf"]), "--history", str(path),
                                 "--k", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert set(frame["user"]) == {"ann", "bob"} and len(frame) == 8
    assert not set(frame.loc[frame["user"] == "ann", "item"]) & {3, 5}


@pytest.mark.parametrize("content, args, message", [
    ("a,b\n1,2\n", [], "no user column in the header"),
    ("user,item\n1,99999\n", [], "unknown item ids: 99999"),
    (None, [], "no such file"),
    ("user,item\n1,2\n", ["--users", "1"], "give one of --users"),
])
def test_cli_history_errors_are_one_line_and_exit_2(served, tmp_path, content, args, message):
    path = tmp_path / "new.csv"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["recommend", "--run", str(served["mf"]), "--history", str(path), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def numpy_vector(folder, config, items: list) -> np.ndarray:
    """export.json's new_users formula, computed from the exported files alone."""
    ids = pd.read_csv(folder / "item_ids.csv")["item"].tolist()
    rows = [ids.index(item) for item in items]
    inputs = np.load(folder / "item_inputs.npy")
    h = inputs[rows].mean(0)
    model = config["model"]
    if model.get("kind") == "lightgcn":
        layers, degree = np.load(folder / "item_layers.npy"), np.load(folder / "item_degree.npy")
        weight = 1 / np.sqrt(len(rows) * degree[rows])[:, None]
        v = (h + sum((layers[layer, rows] * weight).sum(0) for layer in range(model["layers"]))) \
            / (model["layers"] + 1)
    elif model["history"]:
        latest = rows[-model["context"]:] if model.get("context") else rows
        v = (1 - model["history"]) * h + model["history"] * inputs[latest].mean(0)
    else:
        v = h
    return v / np.linalg.norm(v) / model["temperature"] ** 0.5 if model["scorer"] == "cosine" else v


@pytest.mark.parametrize("name", ["mf", "mix", "lightgcn"])
def test_the_exported_new_user_formula_is_the_fold_in_start(served, name, tmp_path):
    import json

    import yaml

    rec = Recommender.load(served[name])
    rec.export(tmp_path / "vectors")
    recipe = json.loads((tmp_path / "vectors" / "export.json").read_text())["new_users"]
    assert all((tmp_path / "vectors" / file).exists() for file in recipe["files"])
    config = yaml.safe_load((served[name] / "config.yaml").read_text())
    given = [5, 9, 2, 30]
    expected = numpy_vector(tmp_path / "vectors", config, given)
    assert np.allclose(rec.fold_in(given, steps=0)[0][0].numpy(), expected, atol=1e-6)


def test_the_cli_skips_unknown_items_when_asked(served, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("user,item\nann,3\nann,99999\nbob,88888\n")
    out = tmp_path / "recs.csv"
    args = ["recommend", "--run", str(served["mf"]), "--history", str(path), "--k", "2", "--out", str(out)]
    refused = runner.invoke(app, [*args, "--skip-unknown"])
    assert refused.exit_code == 2 and "no item the run knows for users bob" in refused.output
    result = runner.invoke(app, [*args, "--skip-unknown", "--popular-fallback"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame.groupby("user")["source"].first().to_dict() == {"ann": "history", "bob": "popular"}
