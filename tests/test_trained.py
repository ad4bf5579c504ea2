"""Loading a finished run (recbce/runs/trained.py): served from the folder alone, or with
its data found again by the absolute paths the run recorded."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml

from recbce.config import load_config
from recbce.errors import RunError
from recbce.runs.trained import load_served, load_trained
from recbce.training.loop import train


def test_runs_record_absolute_data_paths_and_serve_without_them(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(tmp_path / "tiny.tsv", tmp_path / "relative.tsv")
    config = load_config(make_config(data={"path": "relative.tsv",
                                           "split": {"test_ratio": 0.2, "valid_ratio": 0.0}}))
    train(config, progress=False, log=lambda *a, **k: None)
    saved = yaml.safe_load((config.run_dir / "config.yaml").read_text())
    assert saved["data"]["path"] == str(tmp_path / "relative.tsv")
    served = load_served(config.run_dir)
    _, _, model = load_trained(config.run_dir)
    users = torch.arange(5)
    assert torch.equal(served.model.score_all(users), model.score_all(users))
    (tmp_path / "relative.tsv").unlink()
    assert load_served(config.run_dir).inference.item_ids == served.inference.item_ids
    with pytest.raises(RunError, match=f"its data file {tmp_path / 'relative.tsv'} \\(data.path, recorded "
                       "when it trained\\) is not there; say where it is now \\(evaluate --data PATH"):
        load_trained(config.run_dir)


def test_a_graph_model_serves_exactly_as_it_evaluates(make_config):
    config = load_config(make_config(model={"kind": "lightgcn", "layers": 2}))
    train(config, progress=False, log=lambda *a, **k: None)
    served, (_, _, model) = load_served(config.run_dir), load_trained(config.run_dir)
    users = torch.arange(20)
    assert torch.equal(served.model.score_all(users), model.score_all(users))


def test_model_and_inference_from_different_runs_are_refused(make_config, tmp_path):
    config = load_config(make_config())
    train(config, progress=False, log=lambda *a, **k: None)
    saved = torch.load(config.run_dir / "model.pt", weights_only=True)
    saved["user_ids"] = saved["user_ids"][::-1]
    torch.save(saved, config.run_dir / "model.pt")
    with pytest.raises(RunError, match="model.pt and inference.pt come from different runs"):
        load_served(config.run_dir)
