"""recbce compare (recbce/evaluation/compare.py, stats.py, per_user.py): the statistics on hand
cases and against scipy, and whole comparisons of tiny runs through the API and the CLI."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

import recbce
from recbce.cli.app import app
from recbce.data import synth
from recbce.errors import ArgumentError, MissingExtra, RecbceError, RunError
from recbce.evaluation import stats
from recbce.evaluation.per_user import evaluate_users, mean_and_error
from recbce.evaluation.ranking import evaluate_run
from tests.conftest import PRE_STARTER_MODEL


def tiny(tmp_path, data, name, seed=0, **train) -> dict:
    return {"seed": seed, "run": {"dir": str(tmp_path / "runs"), "name": name},
            "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
            "model": {"dim": 8, **PRE_STARTER_MODEL},
            "sampler": {"kind": "uniform", "ratio": 4},
            "train": {"epochs": 2, "batch_size": 256, "patience": 0, **train},
            "eval": {"k": [5, 10], "metric": "recall@10"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """a, b: seed 0 (same split), b trained longer; a1, b1: the same at seed 1; other: other data."""
    tmp = tmp_path_factory.mktemp("compare")
    data, other = tmp / "tiny.tsv", tmp / "other.tsv"
    for path, seed in ((data, 1), (other, 2)):
        synth.generate(n_users=120, n_items=60, min_per_user=5, max_per_user=20, seed=seed).to_csv(
            path, sep="\t", header=False, index=False)
    made = {}
    for name, seed, epochs, source in (("a", 0, 1, data), ("b", 0, 6, data), ("a1", 1, 1, data),
                                       ("b1", 1, 6, data), ("other", 0, 1, other)):
        made[name] = recbce.train(tiny(tmp, source, name, seed, epochs=epochs)).run_dir
    return made


def test_holm_by_hand():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max 0.06.
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.2, float("nan"), 0.9])
    assert adjusted[0] == pytest.approx(0.4) and math.isnan(adjusted[1]) and adjusted[2] == 0.9


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(0)
    a = rng.random(500)
    values = np.column_stack([a, a + 0.1, rng.random(500)])
    first, again = stats.bootstrap_means(values, 300, 7), stats.bootstrap_means(values, 300, 7)
    assert np.array_equal(first, again) and not np.array_equal(first, stats.bootstrap_means(values, 300, 8))
    diff = first[:, 1] - first[:, 0]  # the same users drawn for every column
    np.testing.assert_allclose(diff, 0.1, rtol=1e-9)
    low, high = stats.percentile_interval(first)
    assert np.all(low < values.mean(0)) and np.all(values.mean(0) < high)
    # The interval's width is about 2 x 1.96 standard errors of the mean.
    se = a.std(ddof=1) / math.sqrt(500)
    assert high[0] - low[0] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_tests_are_scipys():
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50) + 0.1
    assert stats.paired_tests(a, b) == (scipy_stats.ttest_rel(a, b).pvalue, scipy_stats.wilcoxon(a, b).pvalue)
    assert stats.paired_tests(a, a) == (1.0, 1.0)
    assert stats.unpaired_tests(a, b)[0] == scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert stats.mean_and_error([1.0, 2.0, 3.0]) == (2.0, pytest.approx(1 / math.sqrt(3)))


def test_compare_two_runs(runs, tmp_path):
    table = recbce.compare([runs["a"], runs["b"]], metrics=["recall", "ndcg@10"], ks=[5, 10],
                           resamples=500, out=tmp_path / "cmp")
    assert table["metric"].tolist() == ["recall@5"] * 2 + ["recall@10"] * 2 + ["ndcg@10"] * 2
    means = evaluate_run(runs["b"], "test", [5, 10], log=lambda *a: None)
    row = table[(table["run"] == str(runs["b"])) & (table["metric"] == "ndcg@10")].iloc[0]
    base = table[(table["run"] == str(runs["a"])) & (table["metric"] == "ndcg@10")].iloc[0]
    assert row["mean"] == pytest.approx(means["ndcg@10"], abs=1e-12) and row["n"] == base["n"]
    assert row["diff"] == pytest.approx(row["mean"] - base["mean"])
    assert row["diff_low"] <= row["diff"] <= row["diff_high"] and base["mean_low"] <= base["mean"]
    assert 0 <= row["p_t"] <= row["p_t_holm"] <= 1 and 0 <= row["p_rank"] <= row["p_rank_holm"] <= 1
    assert math.isnan(base["diff"]) and math.isnan(base["p_t_holm"])
    written = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert written["rows"][0]["diff"] is None and len(written["rows"]) == 6
    assert len(pd.read_csv(tmp_path / "cmp" / "compare.csv")) == 6
    again = recbce.compare([runs["a"], runs["b"]], metrics=["recall", "ndcg@10"], ks=[5, 10], resamples=500)
    pd.testing.assert_frame_equal(table, again)  # the same seed: the same table, bit for bit
    other = recbce.compare([runs["a"], runs["b"]], metrics=["ndcg@10"], resamples=500, seed=1)
    assert other["diff_low"].iloc[1] != row["diff_low"] and other["diff"].iloc[1] == row["diff"]


def test_the_baseline_option_and_a_run_against_itself(runs):
    table = recbce.compare([runs["a"], runs["b"]], baseline=runs["b"], metrics=["hr@5"], resamples=200)
    assert table["run"].tolist() == [str(runs["b"]), str(runs["a"])]
    same = recbce.compare([runs["a"], runs["a"]], metrics=["hr@5"], resamples=200).iloc[1]
    assert same["diff"] == 0 and same["p_t"] == 1.0 and same["diff_low"] == same["diff_high"] == 0


def test_runs_on_other_users_or_data_are_refused(runs, monkeypatch):
    with pytest.raises(RunError, match="hold out different pairs"):
        recbce.compare([runs["a"], runs["a1"]], resamples=200)
    with pytest.raises(RunError, match=r"data\.json and .*data\.json record different data files"):
        recbce.compare([runs["a"], runs["other"]], resamples=200)
    with pytest.raises(RecbceError, match="unknown metric 'gini@5'"):
        recbce.compare([runs["a"], runs["b"]], metrics=["gini@5"])  # not a per-user value

    def never(*args, **kwargs):
        raise AssertionError("evaluated before the folders and data records were checked")

    monkeypatch.setattr("recbce.evaluation.compare.evaluate_users", never)
    with pytest.raises(RunError, match="record different data files"):  # groups too
        recbce.compare(groups={"x": [runs["a"]], "y": [runs["other"]]})
    with pytest.raises(RunError, match="run directory not found: .*nowhere"):
        recbce.compare([runs["a"], runs["a"].parent / "nowhere"])


@pytest.mark.parametrize("arguments, named", [
    ({"run_dirs": "runs/a"}, "run_dirs must be a list"), ({"run_dirs": ["x"], "split": "train"}, "split"),
    ({"run_dirs": ["x"], "metrics": "recall@10"}, "metrics must be a list"),
    ({"run_dirs": ["x"], "ks": [0]}, "ks must be"), ({"run_dirs": ["x"], "resamples": 10}, "resamples"),
    ({"run_dirs": ["x"], "seed": 1.5}, "seed must be"), ({}, "not both or neither"),
    ({"groups": ["a"]}, "groups must be")])
def test_api_arguments_are_checked(arguments, named):
    with pytest.raises(ArgumentError, match=named):
        recbce.compare(**arguments)


def test_groups_of_seeds(runs):
    groups = {"short": [runs["a"], runs["a1"]], "long": [runs["b"], runs["b1"]]}
    table = recbce.compare(groups=groups, metrics=["recall@10", "gini@10"])
    per_run = {name: evaluate_users(path, ks=[10], per_user=False).means for name, path in runs.items()}
    row = table[(table["run"] == "long") & (table["metric"] == "recall@10")].iloc[0]
    values = [per_run["b"]["recall@10"], per_run["b1"]["recall@10"]]
    assert row["mean"] == pytest.approx(np.mean(values)) and row["n"] == 2
    assert row["se"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(2))
    assert "over seeds" in row["tests"]
    unpaired = recbce.compare(groups={"short": [runs["a"]], "long": [runs["b"], runs["b1"]]},
                              metrics=["recall@10"])
    assert "Welch" in unpaired.iloc[1]["tests"]


def test_mean_and_error_over_users(runs):
    table = evaluate_users(runs["a"], "test").table
    found = mean_and_error(runs["a"], "test")
    assert found["recall@10"][0] == pytest.approx(table["recall@10"].mean())
    assert found["recall@10"][1] == pytest.approx(table["recall@10"].std() / math.sqrt(len(table)))
    assert {"novelty@5", "tail@10", "popularity@10"} <= set(found)


def test_the_command(runs, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(runs["a"]), str(runs["b"]), "-m", "recall@10",
                                 "--resamples", "200", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output and "Holm" in result.output
    assert (tmp_path / "c" / "compare.json").is_file() and (tmp_path / "c" / "compare.csv").is_file()
    bad = runner.invoke(app, ["compare", "--group", "nameless"])
    assert bad.exit_code == 2 and "NAME=GLOB" in bad.output and "Traceback" not in bad.output
    glob_result = runner.invoke(app, ["compare", "--group", f"x={runs['a'].parent}/a*",
                                      "--group", f"y={runs['a'].parent}/b*", "-m", "hr@5"])
    assert glob_result.exit_code == 0, glob_result.output


def test_without_scipy_one_line(monkeypatch, runs):
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(MissingExtra, match=r"pip install 'recbce\[stats\]'"):
        recbce.compare([runs["a"], runs["b"]])
