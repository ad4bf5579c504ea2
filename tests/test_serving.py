"""recommend, similar and export on the command line (recbce/cli/serving.py), end to end:
a run folder moved elsewhere, its data deleted, used from another folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from recbce.cli.app import app

runner = CliRunner()


def test_a_moved_run_serves_without_its_data_from_any_folder(make_config, tmp_path, monkeypatch):
    data = tmp_path / "data" / "moving.tsv"
    data.parent.mkdir()
    shutil.copy(tmp_path / "tiny.tsv", data)
    config = make_config(data={"path": str(data)})
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    before = tmp_path / "before.csv"
    runner.invoke(app, ["recommend", "--run", str(tmp_path / "runs/tiny"), "--all", "--out", str(before)])
    served = tmp_path / "elsewhere" / "served"
    served.parent.mkdir()
    shutil.move(tmp_path / "runs/tiny", served)
    data.unlink()
    (tmp_path / "somewhere").mkdir()
    monkeypatch.chdir(tmp_path / "somewhere")
    result = runner.invoke(app, ["recommend", "--run", str(served), "--all", "--out", "after.csv"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv("after.csv").equals(pd.read_csv(before)) and len(pd.read_csv(before)) == 1200
    result = runner.invoke(app, ["recommend", "--run", str(served), "--users", "1,2"])
    assert result.exit_code == 0 and "source" in result.output
    result = runner.invoke(app, ["similar", "--run", str(served), "--items", "3,7", "--k", "4",
                                 "--out", "s.csv"])
    assert result.exit_code == 0 and "wrote 8 rows to s.csv" in result.output
    assert pd.read_csv("s.csv")["item"].tolist() == [3] * 4 + [7] * 4
    result = runner.invoke(app, ["export", "--run", str(served), "--out", "vectors"])
    assert result.exit_code == 0 and "wrote vectors/export.json" in result.output
    assert json.loads(Path("vectors/export.json").read_text())["n_users"] == 120
    assert np.load("vectors/user_vectors.npy").shape == (120, 8)
    result = runner.invoke(app, ["evaluate", "--run", str(served)])
    assert result.exit_code == 2 and f"its data file {data} (data.path" in result.output
    assert "say where it is now (evaluate --data PATH" in result.output.replace("\n", "")


def test_unknown_ids_and_bad_options_are_one_line(make_config, tmp_path):
    assert runner.invoke(app, ["train", "-c", str(make_config()), "-q"]).exit_code == 0
    run = str(tmp_path / "runs/tiny")
    result = runner.invoke(app, ["similar", "--run", run, "--items", "3,nope"])
    assert result.exit_code == 2 and "unknown item ids: nope" in result.output
    result = runner.invoke(app, ["similar", "--run", run, "--items", " , "])
    assert result.exit_code == 2 and "--items: give at least one id" in result.output
    result = runner.invoke(app, ["recommend", "--run", run, "--users", "1", "--out",
                                 str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "use a .csv, .tsv or .parquet" in result.output
    result = runner.invoke(app, ["export", "--run", run, "--out", str(tmp_path / "tiny.tsv")])
    assert result.exit_code == 2 and "is a file" in result.output
    out = tmp_path / "fallback.csv"
    result = runner.invoke(app, ["recommend", "--run", run, "--users", "1,nobody", "--k", "2",
                                 "--popular-fallback", "--out", str(out)])
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out)
    assert recs["source"].tolist() == ["model", "model", "popular", "popular"]


def test_recommend_and_per_user(make_config, tmp_path):
    assert runner.invoke(app, ["train", "-c", str(make_config()), "-q"]).exit_code == 0
    run = str(tmp_path / "runs" / "tiny")
    result = runner.invoke(app, ["recommend", "--run", run, "--users", "1,2", "--k", "3"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "recs.csv"
    result = runner.invoke(app, ["recommend", "--run", run, "--all", "--k", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    from recbce.data.dataset import load_dataset
    from recbce.runs import RunFolder

    recs = pd.read_csv(out)
    config, _ = RunFolder(run).load()
    data = load_dataset(config.data, config.seed)
    assert len(recs) == 4 * data.n_users and recs.groupby("user").size().eq(4).all()
    seen = set(zip(data.train.users.tolist(), data.train.items.tolist(), strict=True))
    index = {u: i for i, u in enumerate(data.user_ids)}
    item_index = {v: i for i, v in enumerate(data.item_ids)}
    assert not any((index[u], item_index[i]) in seen for u, i in zip(recs.user, recs.item, strict=True))
    result = runner.invoke(app, ["recommend", "--run", run, "--users", "1,nobody"])
    assert result.exit_code == 2 and "unknown user ids: nobody" in result.output
    result = runner.invoke(app, ["recommend", "--run", run, "--users", "nobody", "--popular-fallback"])
    assert result.exit_code == 0 and "nobody" in result.output
    per_user = tmp_path / "per_user.csv"
    result = runner.invoke(app, ["evaluate", "--run", run, "--per-user", str(per_user)])
    assert result.exit_code == 0, result.output
    assert f"wrote per-user rows to {per_user}" in result.output.replace("\n", "")
    assert f"wrote {tmp_path / 'runs/tiny/eval-test.json'}" in result.output.replace("\n", "")
    rows = pd.read_csv(per_user)
    saved = json.loads((tmp_path / "runs/tiny/eval-test.json").read_text())
    assert abs(rows["ndcg@10"].mean() - saved["ndcg@10"]) < 1e-12



def test_recommend_skips_seen_items_when_few_are_left(tmp_path):
    # User a has seen 3 of 4 items (train and test): only one item can be recommended.
    data = tmp_path / "small.tsv"
    rows = [("a", 1, 1), ("a", 2, 2), ("a", 3, 3), ("b", 4, 1), ("b", 1, 2), ("c", 3, 1), ("c", 4, 2),
            ("c", 2, 3)]  # user, item, time: the latest of each user is its test item
    data.write_text("".join(f"{u}\t{i}\t1\t{t}\n" for u, i, t in rows))
    config = tmp_path / "c.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: s}}\ndata: {{path: {data}, format: tsv, "
                      "split: {method: leave_one_out, valid_ratio: 0.0}}\n"
                      "model: {dim: 4, scorer: dot, temperature: 1.0, bias_init: 0.0, history: 0.0}\n"
                      "sampler: {kind: uniform, ratio: 1}\n"
                      "train: {epochs: 1, batch_size: 4, patience: 0}\neval: {k: [1], metric: ndcg@1}\n")
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    out = tmp_path / "recs.csv"
    result = runner.invoke(app, ["recommend", "--run", str(tmp_path / "runs/s"), "--users", "a,b",
                                 "--k", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    recs = pd.read_csv(out, dtype={"item": str})
    assert recs[recs.user == "a"].item.tolist() == ["4"]
    assert sorted(recs[recs.user == "b"].item) == ["2", "3"]

