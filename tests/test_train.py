import json
import os

import pytest

from recbce.config import load_config
from recbce.data import synth
from recbce.training.loop import train


def test_same_seed_gives_identical_metrics(make_config):
    path = make_config()
    first = train(load_config(path), progress=False)
    second = train(load_config(path), overwrite=True, progress=False)
    assert first["test"] == second["test"]


def test_run_folder_contents(make_config):
    summary = train(load_config(make_config()), progress=False)
    from pathlib import Path

    from recbce.runs.claim import RUN_FILES
    from recbce.runs.lock import LOCK_FILE

    run = Path(summary["run_dir"])
    names = {p.name for p in run.iterdir()}
    assert names == {"config.yaml", "metrics.jsonl", "model.pt", "inference.pt", "summary.json",
                     "checkpoint.pt", "run.json", "curves.png", "data.json", LOCK_FILE}
    assert names - {LOCK_FILE} <= set(RUN_FILES)  # --overwrite knows every file a run writes
    status = json.loads((run / "run.json").read_text())
    assert status["status"] == "finished" and status["recbce"] and status["pid"] == os.getpid()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and "valid/ndcg@20" in lines[-1]


def test_learns_planted_tastes_beyond_popularity(make_config, tmp_path):
    # The checkerboard idea: a planted pattern that popularity alone cannot recover.
    path = tmp_path / "planted.tsv"
    synth.generate(n_users=500, n_items=100, min_per_user=10, max_per_user=30, seed=2).to_csv(
        path, sep="\t", header=False, index=False)
    config = make_config(data={"path": str(path)}, model={"dim": 16},
                         train={"epochs": 10, "lr": 0.01, "batch_size": 256})
    summary = train(load_config(config), progress=False)
    assert summary["test"]["ndcg@10"] > 1.5 * summary["popularity"]["ndcg@10"]


@pytest.mark.parametrize("pool, logq", [("uniform", False), ("popularity", True)])
def test_shared_negatives_recover_planted_tastes_reproducibly(make_config, tmp_path, pool, logq):
    # The same planted pattern, learnt from one shared pool of negatives per batch.
    path = tmp_path / "planted.tsv"
    synth.generate(n_users=500, n_items=100, min_per_user=10, max_per_user=30, seed=2).to_csv(
        path, sep="\t", header=False, index=False)
    config = make_config(data={"path": str(path)}, model={"dim": 16, "bias": False},
                         sampler={"kind": "shared", "ratio": 32, "pool": pool},
                         loss={"name": "softmax", "logq": logq},
                         train={"epochs": 10, "lr": 0.01, "batch_size": 256, "optimizer": "row_adam"})
    summary = train(load_config(config), progress=False)
    assert summary["test"]["ndcg@10"] > 1.5 * summary["popularity"]["ndcg@10"]
    again = train(load_config(config), overwrite=True, progress=False)
    assert again["test"] == summary["test"]


def test_decoupled_softmax_on_cosine_scores_recovers_planted_tastes(make_config, tmp_path):
    # The shipped best variant's combination: cosine / τ + item bias, decoupled softmax, shared pool.
    path = tmp_path / "planted.tsv"
    synth.generate(n_users=500, n_items=100, min_per_user=10, max_per_user=30, seed=2).to_csv(
        path, sep="\t", header=False, index=False)
    config = make_config(data={"path": str(path)},
                         model={"dim": 16, "bias": True, "scorer": "cosine", "temperature": 0.1},
                         sampler={"kind": "shared", "ratio": 32}, loss={"name": "decoupled_softmax"},
                         train={"epochs": 10, "lr": 0.01, "batch_size": 256, "optimizer": "row_adam"})
    summary = train(load_config(config), progress=False)
    assert summary["test"]["ndcg@10"] > 1.5 * summary["popularity"]["ndcg@10"]


def test_user_history_mix_recovers_planted_tastes_reproducibly(make_config, tmp_path):
    # p_u mixed with the mean of the user's item vectors (model.history), estimated from
    # a sample of the user's items per step: learns the pattern, and the same seed gives
    # the same metrics bit for bit (the sample comes from the run's generator).
    path = tmp_path / "planted.tsv"
    synth.generate(n_users=500, n_items=100, min_per_user=10, max_per_user=30, seed=2).to_csv(
        path, sep="\t", header=False, index=False)
    config = make_config(data={"path": str(path)},
                         model={"dim": 16, "bias": True, "scorer": "cosine", "temperature": 0.1,
                                "history": 0.5, "history_sample": 4},
                         sampler={"kind": "shared", "ratio": 32}, loss={"name": "decoupled_softmax"},
                         train={"epochs": 10, "lr": 0.01, "batch_size": 256, "optimizer": "row_adam"})
    summary = train(load_config(config), progress=False)
    assert summary["test"]["ndcg@10"] > 1.5 * summary["popularity"]["ndcg@10"]
    again = train(load_config(config), overwrite=True, progress=False)
    assert again["test"] == summary["test"]


def test_bias_init_prior_starts_at_the_loss_base_rate_and_the_run_records_it(make_config):
    import math

    import torch

    from recbce.data.dataset import load_dataset
    from recbce.runs.folder import RunFolder
    from recbce.training.state import prepare

    config = load_config(make_config(model={"bias_init": "prior"}, sampler={"kind": "shared", "ratio": 8},
                                     loss={"name": "bce", "neg_weight": 0.5}, train={"epochs": 1}))
    run = prepare(config, load_dataset(config.data, config.seed), log=lambda *_: None)
    start = math.log(1 / (8 * 0.5))  # σ(b) = w⁺ / (w⁺ + k·w⁻)
    assert run.config.model.bias_init == start
    assert torch.equal(run.model.item_bias.weight, torch.full_like(run.model.item_bias.weight, start))
    summary = train(config, progress=False)
    saved, _ = RunFolder(summary["run_dir"]).load()
    assert saved.model.bias_init == start  # config.yaml records the number it started from


@pytest.mark.parametrize("loss", ["softmax", "bpr"])
def test_in_batch_negatives_train_when_the_last_batch_is_one_row(make_config, loss):
    from recbce.data.dataset import load_dataset

    config = load_config(make_config(sampler={"kind": "in_batch"}, loss={"name": loss}))
    rows = len(load_dataset(config.data, config.seed).train.users)
    one_left = load_config(make_config(sampler={"kind": "in_batch"}, loss={"name": loss},
                                       train={"epochs": 1, "batch_size": rows - 1}))
    summary = train(one_left, progress=False)  # batches of rows − 1 and 1
    assert summary["test"]["ndcg@20"] > 0


def leave_out(path, *keys):
    """The config file at `path` with these dotted keys removed (their defaults then apply)."""
    import yaml

    raw = yaml.safe_load(path.read_text())
    for key in keys:
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node.pop(leaf)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_shared_pool_left_out_is_a_smaller_catalogue_whole_and_the_run_records_it(make_config):
    from recbce.data.dataset import load_dataset
    from recbce.runs.folder import RunFolder
    from recbce.training.losses import prior_logit

    path = leave_out(make_config(sampler={"kind": "shared"}, train={"epochs": 1}),
                     "sampler.ratio", "model.bias_init")
    config = load_config(path)
    n_items = load_dataset(config.data, config.seed).n_items
    assert config.sampler.ratio == 256 > n_items  # the tiny data has 60 items
    saved, _ = RunFolder(train(config, progress=False)["run_dir"]).load()
    assert saved.sampler.ratio == n_items
    # the prior is taken for the pool the run drew: every item
    assert saved.model.bias_init == prior_logit(config.loss, n_items, n_items)


def test_patience_without_validation_left_out_is_0_and_written_trains_every_epoch_noted(make_config):
    from recbce.runs.folder import RunFolder

    no_validation = {"split": {"test_ratio": 0.2, "valid_ratio": 0.0}}
    config = load_config(leave_out(make_config(data=no_validation, train={"epochs": 3}), "train.patience"))
    assert config.train.patience == 0
    summary = train(config, progress=False, log=lambda *_: None)
    assert RunFolder(summary["run_dir"]).load()[0].train.patience == 0
    lines = []
    written = load_config(make_config(data=no_validation, train={"epochs": 3, "patience": 1}),
                          ["run.name=written"])
    summary = train(written, progress=False, log=lines.append)
    assert summary["epochs"] == 3
    assert any("train.patience 1 counts validation evaluations and this run has none" in line
               for line in lines)


def test_a_caller_sees_every_validation_and_can_stop_the_run_without_scoring_test(make_config):
    config = load_config(make_config(train={"epochs": 6, "patience": 0}))
    seen = []

    def stop_at_third(epoch, value):
        seen.append((epoch, value))
        return epoch == 3

    summary = train(config, progress=False, log=lambda *a: None, on_evaluation=stop_at_third,
                    score_test=False)
    epochs = [json.loads(line) for line in (config.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert seen == [(e["epoch"], e["valid/ndcg@20"]) for e in epochs] and len(epochs) == 3
    assert summary["best_valid"] == max(value for _, value in seen)
    assert summary["best_epoch"] == max(seen, key=lambda s: s[1])[0]
    assert "test" not in summary and "test" not in json.loads((config.run_dir / "summary.json").read_text())
    assert (config.run_dir / "model.pt").is_file()
    full = train(config, overwrite=True, progress=False, log=lambda *a: None)  # no hook: as before
    assert len(full["test"]) > 0 and full["epochs"] == 6
