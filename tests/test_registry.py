"""`recbce runs list/show`: every run folder read back, whatever state it was left in."""

import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.runs import registry
from recbce.runs.registry import RunRecord
from recbce.training import loop as train

runner = CliRunner()


def run_training(config, name, on_first_step=None):
    """Train through the CLI; `on_first_step` runs right after the first real training step."""
    original = train.train_step
    calls = []

    def step(*args, **kwargs):
        loss = original(*args, **kwargs)
        calls.append(loss)
        if on_first_step and len(calls) == 1:
            on_first_step()
        return loss

    train.train_step = step
    try:
        return runner.invoke(app, ["train", "-c", str(config), "-q", "--set", f"run.name={name}"])
    finally:
        train.train_step = original


def crash():
    raise RuntimeError("disk on fire")


@pytest.fixture
def three_runs(make_config, tmp_path):
    config = make_config()
    assert run_training(config, "done").exit_code == 0
    # a real SIGINT: the run's own handler stops after the step and checkpoints
    assert run_training(config, "stopped", lambda: signal.raise_signal(signal.SIGINT)).exit_code == 130
    assert run_training(config, "broken", crash).exit_code == 1
    return tmp_path / "runs"


def row_of(output: str, name: str) -> str:
    rows = [line for line in output.splitlines() if f" {name} " in line]
    assert len(rows) == 1, output
    return rows[0]


def test_runs_list_shows_each_status(three_runs):
    result = runner.invoke(app, ["runs", "list", str(three_runs)])
    assert result.exit_code == 0, result.output
    assert "finished" in row_of(result.output, "done")
    assert "interrupted" in row_of(result.output, "stopped")
    assert "failed" in row_of(result.output, "broken")
    test_value = json.loads((three_runs / "done" / "summary.json").read_text())["test"]["ndcg@20"]
    assert f"{test_value:.4f}" in row_of(result.output, "done")
    broken = registry.read_run(three_runs / "broken")
    assert broken.status == "failed" and "disk on fire" in broken.message and broken.summary is None


def test_runs_show_prints_config_epochs_and_metrics(three_runs):
    result = runner.invoke(app, ["runs", "show", str(three_runs / "done")])
    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "sampler:" in result.output and "ratio: 4" in result.output
    assert "valid/ndcg@20" in result.output and "test metrics" in result.output
    result = runner.invoke(app, ["runs", "show", str(three_runs / "stopped")])
    assert result.exit_code == 0 and "interrupted: epoch 1" in result.output


def test_damaged_run_is_listed_not_fatal(three_runs):
    (three_runs / "stopped" / "run.json").write_text("{not json")
    result = runner.invoke(app, ["runs", "list", str(three_runs)])
    assert result.exit_code == 0, result.output
    assert "damaged" in row_of(result.output, "stopped") and "finished" in row_of(result.output, "done")


def record(name, test=None, valid=None, seconds=1.0):
    history = [{"epoch": 1, "loss": 1.0, "seconds": seconds, "examples_per_s": 1.0}]
    if valid is not None:
        history[0]["valid/recall@20"] = valid
    summary = {"train_seconds": seconds, "test": {"recall@20": test}} if test is not None else None
    return RunRecord(path=Path(name), epoch_log=history, summary=summary,
                     config={"eval": {"metric": "recall@20"}})


def test_sort_by_metric_best_first_then_unknown_last():
    runs = [record("a", test=0.1), record("b", valid=0.5), record("c"), record("d", test=0.3)]
    assert [r.name for r in registry.sort_runs(runs, "recall@20")] == ["b", "d", "a", "c"]
    runs = [record("slow", seconds=9.0), record("fast", seconds=2.0)]
    assert [r.name for r in registry.sort_runs(runs, "time")] == ["fast", "slow"]
    with pytest.raises(registry.RunError, match="no run has this metric"):
        registry.sort_runs(runs, "ndcg@5")


def test_runs_list_looks_one_level_down_when_the_folder_holds_no_run(three_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["runs", "list", "."])
    assert result.exit_code == 0, result.output
    assert "finished" in row_of(result.output, "runs/done")
    assert "failed" in row_of(result.output, "runs/broken")
    assert [r.name for r in registry.list_runs(".")] == ["runs/broken", "runs/done", "runs/stopped"]
    assert [r.name for r in registry.list_runs("runs")] == ["broken", "done", "stopped"]  # not further down
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["runs", "list", "empty"])
    assert result.exit_code == 0 and "no runs in empty nor in the folders inside it" in result.output


def test_runs_list_errors(tmp_path):
    result = runner.invoke(app, ["runs", "list", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "runs folder not found" in result.output
    result = runner.invoke(app, ["runs", "show", str(tmp_path)])
    assert result.exit_code == 2 and "not a run folder" in result.output
