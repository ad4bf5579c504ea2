"""Optional TensorBoard logging: the event files hold each epoch's record; a clear error without it."""

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app

runner = CliRunner()


def test_tensorboard_events_match_metrics_jsonl(make_config, tmp_path):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra (make install adds it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config(logging={"tensorboard": True})
    result = runner.invoke(app, ["train", "-c", str(config), "-q"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"train/loss", "train/examples_per_s", "valid/ndcg@20"} <= set(events.Tags()["scalars"])
    for tag, key in (("train/loss", "loss"), ("valid/ndcg@20", "valid/ndcg@20")):
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert logged == [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in history]


def test_missing_tensorboard_is_a_config_error(make_config, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else real_find_spec(name, *args))
    config = str(make_config(logging={"tensorboard": True}))
    for command in (["config", "validate", config], ["train", "-c", config, "-q"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "logging.tensorboard: needs the tensorboard package: pip install 'recbce[tensorboard]'" \
            in result.output
