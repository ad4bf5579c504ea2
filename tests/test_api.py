"""The Python API (recbce/api.py, recbce/__init__.py), and the README's example run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import recbce
from recbce.config import load_config
from recbce.errors import ConfigError
from tests.conftest import PRE_STARTER_MODEL

ROOT = Path(__file__).resolve().parents[1]


def test_train_from_a_file_with_overrides_then_load(make_config, tmp_path):
    run = recbce.train(make_config(), overrides={"train.epochs": 1, "run.name": "api", "model.dim": 4})
    assert run.run_dir == tmp_path / "runs" / "api" and run.config.model.dim == 4
    assert run.summary["epochs"] == 1 and set(run.metrics) >= {"ndcg@20", "recall@10"}
    rec = recbce.load(run.run_dir)
    assert isinstance(rec, recbce.Recommender) and rec.vectors().users.shape[1] == 4
    assert run.load().recommend([1], k=2)["item"].tolist() == rec.recommend([1], k=2)["item"].tolist()


def test_train_takes_a_dict_or_a_config(make_config, tmp_path):
    raw = yaml.safe_load(make_config().read_text())
    first = recbce.train(raw, overrides={"run.name": "from-dict"})
    second = recbce.train(load_config(make_config()), overrides={"run.name": "from-config"})
    assert first.metrics == second.metrics  # same seed, data and config
    with pytest.raises(ConfigError, match="^overrides\\['train.epoch'\\]: unknown key 'train.epoch' "
                       "\\(did you mean 'epochs'\\?\\)$"):
        recbce.train(raw, overrides={"train.epoch": 3})
    with pytest.raises(ConfigError, match="^overrides\\['train.lr'\\]: train.lr: "):
        recbce.train(make_config(), overrides={"train.lr": "fast"})
    with pytest.raises(ConfigError, match="^overrides\\['train.lr.x'\\]: lr is not a section"):
        recbce.train(raw, overrides={"train.lr.x": 1})
    with pytest.raises(ConfigError, match="expected a config path, dict or Config, not int"):
        recbce.train(3)


def test_training_into_an_existing_run_names_the_api_argument(make_config):
    import pickle

    from recbce.errors import RunExists

    recbce.train(make_config(), overrides={"train.epochs": 1})
    with pytest.raises(RunExists) as caught:
        recbce.train(make_config(), overrides={"train.epochs": 1})
    assert str(caught.value).endswith("exists: pass overwrite=True to replace it")
    assert "--overwrite" not in str(caught.value)
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)  # as torchrun passes it
    assert recbce.train(make_config(), overrides={"train.epochs": 1}, overwrite=True).summary["epochs"] == 1


def test_loading_a_folder_that_never_was_a_run_says_so(make_config, tmp_path, monkeypatch):
    from recbce.errors import RunError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(RunError) as caught:
        recbce.load(".")
    assert str(caught.value).startswith(".: not a recbce run folder (no run.json or config.yaml)")
    assert "did not finish" not in str(caught.value)
    config = load_config(make_config())
    (config.run_dir).mkdir(parents=True)
    (config.run_dir / "config.yaml").write_text(make_config().read_text())  # a run, without its model
    with pytest.raises(RunError, match="no model.pt \\(the run did not finish\\?\\)"):
        recbce.load(config.run_dir)


def test_import_recbce_stays_light():
    code = "import sys, recbce; assert 'torch' not in sys.modules and 'pandas' not in sys.modules; " \
           "print(recbce.train.__module__, recbce.load.__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["recbce.api", "recbce.api"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        recbce.nothing  # noqa: B018


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tiny_data, tmp_path, monkeypatch):
    # A folder laid out like the project, its configs/quickstart.yaml reading tiny data.
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/quickstart.yaml").write_text(yaml.safe_dump({
        "data": {"path": str(tiny_data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
        "model": {"dim": 8, **PRE_STARTER_MODEL},
        "sampler": {"kind": "uniform", "ratio": 4},
        "train": {"epochs": 10, "batch_size": 256, "patience": 0}}))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    recs, new, similar = namespace["recs"], namespace["new"], namespace["similar"]
    assert isinstance(recs, pd.DataFrame) and recs["user"].tolist() == [1] * 5 + [2] * 5
    assert new["source"].tolist() == ["popular"] * 5 and set(recs["source"]) == {"model"}
    assert similar["item"].tolist() == [10] * 5 and 10 not in similar["similar"].tolist()
    assert namespace["scores"].shape == (2,) and np.isfinite(namespace["scores"]).all()
    assert (tmp_path / "runs/api-demo/inference.pt").is_file()
    assert Path("vectors/export.json") in namespace["files"] and (tmp_path / "vectors/export.json").is_file()
    table = namespace["table"]
    assert table["metric"].tolist() == ["recall@20"] * 2 + ["ndcg@20"] * 2
    assert table["diff"].notna().sum() == 2 and (tmp_path / "runs/short-vs-demo/compare.json").is_file()
    assert all((tmp_path / "runs/api-demo" / name).is_file() for name in ("test.run", "test.qrels"))


def test_overrides_resolve_the_defaults_that_follow_other_keys_again(tmp_path):
    from recbce.api import resolve
    from recbce.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("data: {path: d.tsv}\n")  # history 0.5, bias_init prior, ratio 256 left out
    overrides = {"model.kind": "lightgcn", "loss.name": "bpr", "sampler.kind": "uniform"}
    for source in (path, load_config(path)):
        config = resolve(source, overrides)
        assert (config.model.history, config.model.bias_init, config.sampler.ratio) == (0.0, 0.0, 4)
