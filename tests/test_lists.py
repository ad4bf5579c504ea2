"""recbce evaluate --lists (recbce/evaluation/lists.py): the ranked lists and relevant items in
the TREC formats, checked line by line and scored again by trec_eval (pytrec_eval), the reference
evaluator of information retrieval, which recbce did not write."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
from typer.testing import CliRunner

import recbce
from recbce.cli.app import app
from recbce.data.dataset import load_dataset
from recbce.errors import RunError
from recbce.runs import RunFolder
from tests.conftest import write_tiny_log

KS = [2, 10, 50]  # 2: below some users' relevant count; 50 of 60 items: fewer candidates for some


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """A tiny trained run evaluated on test with --lists and --per-user, in chunks of 16 users."""
    tmp = tmp_path_factory.mktemp("lists")
    data = write_tiny_log(tmp)
    run = recbce.train({"seed": 0, "run": {"dir": str(tmp / "runs"), "name": "listed"},
                        "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
                        "model": {"dim": 8}, "train": {"epochs": 2, "patience": 0},
                        "eval": {"k": KS, "metric": "ndcg@10", "batch_users": 16}}).run_dir
    result = CliRunner().invoke(app, ["evaluate", "--run", str(run), "--k", ",".join(map(str, KS)), "--lists",
                                      str(tmp / "test.run"), "--per-user", str(tmp / "users.csv")])
    assert result.exit_code == 0, result.output
    return run, tmp


def read(path, names) -> pd.DataFrame:
    return pd.read_csv(path, sep=" ", header=None, names=names, dtype={"user": str, "item": str})


def pairs(dataset, splits) -> set[tuple[str, str]]:
    """The (user id, item id) pairs of some splits, as the files write them."""
    return {(str(dataset.user_ids[u]), str(dataset.item_ids[i])) for split in splits
            for u, i in zip(split.users.tolist(), split.items.tolist(), strict=True)}


def test_the_files_hold_the_lists_and_the_relevant_items(listed):
    run_dir, tmp = listed
    lines = read(tmp / "test.run", ["user", "q0", "item", "rank", "score", "tag"])
    qrels = read(tmp / "test.qrels", ["user", "zero", "item", "rel"])
    config, _ = RunFolder(run_dir).load()
    dataset = load_dataset(config.data, config.seed)
    test, seen = pairs(dataset, [dataset.test]), pairs(dataset, [dataset.train, dataset.valid])
    assert set(zip(qrels["user"], qrels["item"], strict=True)) == test and len(qrels) == len(test)
    assert (qrels["rel"] == 1).all() and (lines["q0"] == "Q0").all() and (lines["tag"] == "recbce").all()
    assert set(lines["user"]) == set(qrels["user"])  # every evaluated user, no other
    assert not set(zip(lines["user"], lines["item"], strict=True)) & seen  # removed items never listed
    for _, one in lines.groupby("user", sort=False):
        assert one["rank"].tolist() == list(range(1, len(one) + 1))
        assert np.all(np.diff(one["score"].to_numpy()) <= 0)
    lengths = lines.groupby("user").size()
    assert lengths.max() == 50 and lengths.min() < 50  # short lists where candidates ran out


def trec_eval(qrels: pd.DataFrame, lines: pd.DataFrame, measures: set[str]) -> dict:
    """trec_eval's per-user values of `measures` for the run `lines` against `qrels`."""
    relevant = {user: dict.fromkeys(one["item"], 1) for user, one in qrels.groupby("user")}
    run = {user: dict(zip(one["item"], one["score"], strict=True)) for user, one in lines.groupby("user")}
    return pytrec_eval.RelevanceEvaluator(relevant, measures).evaluate(run)


def test_trec_eval_finds_recbces_values(listed):
    run_dir, tmp = listed
    lines = read(tmp / "test.run", ["user", "q0", "item", "rank", "score", "tag"])
    qrels = read(tmp / "test.qrels", ["user", "zero", "item", "rel"])
    # Tools order tied scores their own way: the check is exact only without ties.
    assert not lines.duplicated(["user", "score"]).any()
    cutoffs = ",".join(map(str, KS))
    theirs = trec_eval(qrels, lines, {f"recall.{cutoffs}", f"ndcg_cut.{cutoffs}", f"map_cut.{cutoffs}"})
    for k in KS:  # trec_eval's reciprocal rank has no cut-off: it reads the top k only
        top = trec_eval(qrels, lines[lines["rank"] <= k], {"recip_rank"})
        for user in theirs:
            theirs[user][f"mrr_{k}"] = top.get(user, {}).get("recip_rank", 0.0)
    users = pd.read_csv(tmp / "users.csv", dtype={"user": str}).set_index("user")
    assert set(users.index) == set(theirs)
    relevant = users.index.map(qrels.groupby("user").size()).to_numpy()
    assert (relevant > KS[0]).any()  # so that the two divisions of AP@K differ somewhere
    for k in KS:
        for ours, name in (("recall", "recall"), ("ndcg", "ndcg_cut"), ("mrr", "mrr"), ("map", "map_cut")):
            values = users.index.map(lambda user, key=f"{name}_{k}": theirs[user][key]).to_numpy(float)
            if ours == "map":  # trec_eval divides AP@K by R, recbce (as RecBole) by min(R, K)
                values = values * relevant / np.minimum(relevant, k)
            np.testing.assert_allclose(values, users[f"{ours}@{k}"].to_numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{ours}@{k}")
    means = recbce.evaluate(run_dir, k=KS)
    assert means["recall@10"] == pytest.approx(float(np.mean([v["recall_10"] for v in theirs.values()])))


def test_bad_lists_requests_fail_in_one_line(listed, tmp_path):
    run_dir, _ = listed
    result = CliRunner().invoke(app, ["evaluate", "--run", str(run_dir), "--lists",
                                      str(tmp_path / "x.qrels")])
    assert result.exit_code == 2 and "name the run file" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.qrels").exists()
    with pytest.raises(RunError, match="cannot write"):
        recbce.evaluate(run_dir, lists=tmp_path / "missing" / "test.run")
    assert math.isfinite(recbce.evaluate(run_dir)["recall@10"])
