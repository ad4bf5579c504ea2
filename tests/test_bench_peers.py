"""The peers benchmark's evaluator path: factor scorers, the peer adapters, the ratio.

The peer libraries come with the optional `bench` extra; tests that need one skip
without it. The rest runs on tiny data built here. The protocol that gives each peer
its best (bench/peers/protocol.py): tests/test_peer_protocol.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.peers.protocol import train_to_plateau
from bench.peers.report import peer_row, ratio_lines, refit_rows
from bench.peers.scorer import FactorScorer, ranking_metrics
from bench.peers.systems import GRIDS, PEERS, _reorder
from bench.peers.worker import describe, parse_setting, run_peer, run_recbce
from recbce.config import load_config
from recbce.data.dataset import load_dataset
from recbce.evaluation.ranking import evaluate_split
from recbce.models.dot_product import DotProduct

PEER_LIBRARIES = {"implicit-bpr": "implicit", "cornac-bpr": "cornac", "lightfm-warp": "lightfm"}


@pytest.fixture
def tiny_dataset(make_config):
    config = load_config(make_config())
    return config, load_dataset(config.data, config.seed)


def test_factor_scorer_matches_recbce_model(tiny_dataset):
    config, dataset = tiny_dataset
    model = DotProduct(dataset.n_users, dataset.n_items, config.model,
                       generator=torch.Generator().manual_seed(3))
    torch.nn.init.normal_(model.item_bias.weight, generator=torch.Generator().manual_seed(4))
    scorer = FactorScorer(model.user.weight.detach().numpy(), model.item.weight.detach().numpy(),
                          model.item_bias.weight.detach().numpy().ravel())
    ours = ranking_metrics(scorer, dataset, ks=(5, 20))
    theirs = evaluate_split(model, dataset, "test", config.eval.model_copy(update={"k": [5, 20]}))
    for name in ("recall@5", "ndcg@5", "recall@20", "ndcg@20"):
        assert ours[name] == theirs[name]
    assert 0 < ours["recall@20"] < 1


def test_oracle_factors_score_one_with_train_items_excluded(tiny_dataset):
    _, dataset = tiny_dataset
    # One dimension per user: train items score 2 (they must be removed), test items 1.
    item_factors = np.zeros((dataset.n_items, dataset.n_users), dtype=np.float32)
    item_factors[dataset.train.items, dataset.train.users] = 2.0
    item_factors[dataset.test.items, dataset.test.users] = 1.0
    scorer = FactorScorer(np.eye(dataset.n_users), item_factors)
    assert ranking_metrics(scorer, dataset, ks=(20,))["recall@20"] == 1.0


def test_factor_scorer_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="columns"):
        FactorScorer(np.zeros((3, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="item biases"):
        FactorScorer(np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(4))


def test_reorder_maps_cornac_rows_back_to_recbce_indices():
    assert _reorder({2: 0, 0: 1, 1: 2}, 3).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="1 ids"):
        _reorder({0: 0, 2: 1}, 3)


@pytest.mark.parametrize("name", list(PEER_LIBRARIES))  # RecBole's: tests/test_bench_recbole.py
def test_peer_adapter_scores_like_the_peer_itself(tiny_dataset, name):
    pytest.importorskip(PEER_LIBRARIES[name], reason=f"{name} needs the bench extra: pip install '.[bench]'")
    _, dataset = tiny_dataset
    system = PEERS[name](dataset, 8, seed=0)
    result, _ = train_to_plateau(system, lambda s: ranking_metrics(s, dataset, split="valid"),
                                 cap=0.0)  # one epoch, one evaluation
    assert result["epochs"] == 1 and len(result["history"]) == 1
    users = torch.arange(5)
    ours = system.scorer().score_all(users).numpy()
    theirs = own_scores(name, system, users.numpy(), dataset.n_items)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert np.ptp(ours, axis=1).min() > 0  # trained factors, not a constant


def own_scores(name: str, system, users: np.ndarray, n_items: int) -> np.ndarray:
    """Each peer's own scoring of every item, in recbce's item order."""
    model = system.model
    if name == "cornac-bpr":  # Cornac scores in its own id order
        return np.stack([model.score(system.user_rows[u])[system.item_rows] for u in users])
    if name == "lightfm-warp":  # less LightFM's user bias, which cannot change a user's ranking
        items = np.arange(n_items, dtype=np.int32)
        return np.stack([model.predict(int(u), items) - model.user_biases[u] for u in users])
    ids, scores = model.recommend(users, system.matrix[users], N=n_items, filter_already_liked_items=False)
    return _scatter(ids, scores, n_items)


def _scatter(ids: np.ndarray, scores: np.ndarray, n_items: int) -> np.ndarray:
    dense = np.full((len(ids), n_items), np.nan, dtype=np.float32)
    np.put_along_axis(dense, ids, scores, axis=1)
    return dense


def test_ratio_compares_recbce_time_to_target_with_fastest_peer_best():
    rows = [
        {"system": "slow peer", "to_best": 400.0},
        {"system": "fast peer", "to_best": 30.0},
        {"system": "recbce a (time run)", "to_target": 9.0, "time_run": True},
        {"system": "recbce b (time run)", "to_target": None, "time_run": True},
    ]
    lines = ratio_lines(rows, 0.15)
    assert "fast peer, 30.0 s" in lines[0]
    assert "ratio 0.30 (meets" in lines[1]
    assert "not reached" in lines[2]


def test_refit_row_reads_the_time_run_at_the_validation_chosen_epoch():
    def epoch(n, recall):
        return {"epoch": n, "seconds": 10.0, "examples_per_s": 1e6,
                "recall@20": recall, "ndcg@20": recall / 2}

    timed = {"name": "recbce best", "kind": "recbce-time", "config": "c.yaml", "rss_mib": 900,
             "result": {"settings": "s", "epochs": [epoch(1, 0.10), epoch(2, 0.16), epoch(3, 0.15)]}}
    quality = {"name": "recbce best", "kind": "recbce-quality", "config": "c.yaml", "rss_mib": 900,
               "result": {"settings": "s", "best_epoch": 3, "epochs": [epoch(n, 0) for n in (1, 2, 3)],
                          "test": {"recall@20": 0.14, "ndcg@20": 0.07}}}
    [row] = refit_rows([timed, quality])
    # Epoch 3 as validation chose it, not the test-best epoch 2; not a time run for the ratio.
    assert (row["recall"], row["ndcg"], row["to_best"]) == (0.15, 0.075, 30.0)
    assert row["selected"].startswith("validation") and not row["time_run"]
    assert refit_rows([quality]) == []  # no time run, no refit row


def test_peer_row_times_its_best_and_98_percent_of_it_on_validation():
    # A validation curve that creeps up until the cap: its best comes last, 98% of it early.
    history = [{"train_seconds": t, "recall@20": r, "ndcg@20": r / 2}
               for t, r in [(4.0, 0.05), (15.0, 0.0707), (60.0, 0.0719), (120.0, 0.0721)]]
    system = {"name": "creeping peer", "rss_mib": 500.0,
              "result": {"history": history, "best": history[-1], "positives": 1000, "epochs": 10,
                         "train_seconds": 120.0, "pairs_per_positive": 2, "settings": "s",
                         "stopped": "cap", "cap": 120, "test": {"recall@20": 0.09, "ndcg@20": 0.05}}}
    row = peer_row(system, target=0.15)
    assert (row["to_best"], row["to_near_best"], row["to_target"]) == (120.0, 15.0, None)
    # Test as scored at the validation-chosen checkpoint; validation's own figure beside it.
    assert (row["valid"], row["recall"], row["ndcg"]) == (0.0721, 0.09, 0.05)
    assert row["selected"].startswith("validation") and row["stopped"] == "cap (cap 120 s)"
    assert row["epochs"] == 10


def test_ratio_against_the_fastest_peer_to_98_percent_of_its_best():
    rows = [
        {"system": "creeping peer", "to_best": 120.0, "to_near_best": 15.0},
        {"system": "other peer", "to_best": 90.0, "to_near_best": 35.0},
        {"system": "recbce a (time run)", "to_target": 30.0, "time_run": True},
    ]
    assert "other peer, 90.0 s" in ratio_lines(rows, 0.15)[0]
    lines = ratio_lines(rows, 0.15, key="to_near_best")
    assert "98% of its own best: creeping peer, 15.0 s" in lines[0]
    assert "ratio 2.00 (misses" in lines[1]


def test_settings_name_the_validation_share_and_the_averaging(make_config):
    """A row's settings say how much of train validation took, and where the average starts."""
    quality = describe(load_config(make_config(), ["data.split.valid_ratio=0.05", "train.average_from=3"]))
    assert quality.endswith("average_from=3, valid_ratio=0.05")
    assert "average_from" not in describe(load_config(make_config(), ["data.split.valid_ratio=0"]))


def test_recbce_runs_record_every_epoch_and_the_test_of_the_validated_one(make_config):
    """The worker's recbce modes, through recbce.train: the time run scores test after every epoch
    on all of train; the quality run keeps validation and reports the test of its chosen epoch."""
    config = str(make_config(eval={"k": [10], "metric": "recall@10"}))  # @20 is added: the report reads it
    timed = run_recbce("recbce-time", config)
    assert [e["epoch"] for e in timed["epochs"]] == [1, 2] and timed["settings"].endswith("valid_ratio=0")
    assert all(e["recall@20"] is not None and e["valid_recall@20"] is None for e in timed["epochs"])
    quality = run_recbce("recbce-quality", config)
    assert quality["best_epoch"] in (1, 2) and set(quality["test"]) == {"recall@20", "ndcg@20"}
    assert all(e["valid_recall@20"] is not None for e in quality["epochs"])


PEER_SETTINGS = {"implicit-bpr": ("learning_rate", "regularization"),
                 "cornac-bpr": ("learning_rate", "lambda_reg"),
                 "lightfm-warp": ("learning_rate", "item_alpha", "user_alpha")}


@pytest.mark.parametrize("name", list(PEER_LIBRARIES))
def test_a_grid_setting_reaches_the_peer_library(tiny_dataset, name):
    pytest.importorskip(PEER_LIBRARIES[name], reason=f"{name} needs the bench extra: pip install '.[bench]'")
    _, dataset = tiny_dataset
    lr, reg = GRIDS[name]["lr"][1], GRIDS[name]["reg"][1]
    system = PEERS[name](dataset, 8, seed=0, lr=lr, reg=reg)
    rate, *penalties = (getattr(system.model, attr) for attr in PEER_SETTINGS[name])
    assert rate == pytest.approx(lr) and penalties == pytest.approx([reg] * len(penalties))
    assert f"{lr:g}" in system.settings and f"{reg:g}" in system.settings


def test_peers_train_without_the_validation_pairs(tiny_dataset):
    pytest.importorskip("implicit", reason="needs the bench extra: pip install '.[bench]'")
    _, dataset = tiny_dataset
    matrix = PEERS["implicit-bpr"](dataset, 8, seed=0).matrix
    assert matrix.nnz == len(dataset.train) and len(dataset.valid) > 0
    assert not matrix[dataset.valid.users.numpy().copy(), dataset.valid.items.numpy().copy()].any()


def test_worker_scores_test_once_at_the_validation_best_and_never_when_screening(make_config):
    pytest.importorskip("implicit", reason="needs the bench extra: pip install '.[bench]'")
    config = str(make_config())
    final = run_peer("implicit-bpr", config, {"lr": 0.05, "reg": 0.0}, cap=0.2, screen=False, seed=0)
    assert final["stopped"] in ("cap", "plateau") and final["best"] in final["history"]
    assert "lr=0.05, reg=0" in final["settings"] and 0 <= final["test"]["recall@20"] <= 1
    screened = run_peer("implicit-bpr", config, {"lr": 0.05}, cap=0.2, screen=True, seed=0)
    assert "test" not in screened


def test_worker_rejects_bad_settings_and_data_without_validation(make_config):
    assert parse_setting(["lr=0.01", "reg=0"]) == {"lr": 0.01, "reg": 0.0}
    with pytest.raises(SystemExit, match="--set lr: expected NAME=NUMBER"):
        parse_setting(["lr"])
    with pytest.raises(SystemExit, match="no peer 'nope'"):
        run_peer("nope", str(make_config()), {}, cap=1, screen=True, seed=0)
    with pytest.raises(SystemExit, match="takes no setting momentum"):
        run_peer("implicit-bpr", str(make_config()), {"momentum": 0.9}, cap=1, screen=True, seed=0)
    no_valid = str(make_config(data={"split": {"test_ratio": 0.2, "valid_ratio": 0}}))
    with pytest.raises(SystemExit, match="no validation split"):
        run_peer("implicit-bpr", no_valid, {}, cap=1, screen=True, seed=0)


def test_implicit_epochs_draw_new_triples_rather_than_replaying_the_first(tiny_dataset):
    """Each epoch is one fit() call; implicit seeds its samplers from `random_state` at every
    call, so the adapter must hand it one advancing generator, not the seed."""
    pytest.importorskip("implicit", reason="needs the bench extra: pip install '.[bench]'")
    _, dataset = tiny_dataset
    ours, replaying = PEERS["implicit-bpr"](dataset, 8, seed=0), PEERS["implicit-bpr"](dataset, 8, seed=0)
    replaying.model.random_state = 0  # what an int seed did: every fit() starts from seed 0
    factors = []
    for system in (ours, replaying):
        system.model.num_threads = 1  # no races between threads: the figures are exact
        system.train(1)
        first = system.model.item_factors.copy()
        system.train(1)
        factors.append((first, system.model.item_factors.copy()))
    np.testing.assert_array_equal(factors[0][0], factors[1][0])  # the same first epoch
    assert not np.array_equal(factors[0][1], factors[1][1])  # but a second epoch of new draws
