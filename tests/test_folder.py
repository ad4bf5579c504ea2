"""A training's hold on its run folder, end to end: one writer, data checks, run.json."""

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.data import synth
from tests.conftest import PRE_STARTER_MODEL

runner = CliRunner()


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "data.tsv"
    synth.generate(n_users=150, n_items=80, min_per_user=5, max_per_user=20, seed=4).to_csv(
        data, sep="\t", header=False, index=False)
    raw = {"run": {"dir": str(tmp_path / "runs"), "name": "shared"},
           "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
           "model": {"dim": 8, **PRE_STARTER_MODEL}, "sampler": {"kind": "uniform", "ratio": 4},
           "train": {"epochs": 2, "batch_size": 64, "threads": 1, "patience": 0}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config, data, tmp_path / "runs" / "shared"


def one_line_error(result, *expected):
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for text in expected:
        assert text in line, line
    return line


def test_two_trainings_into_one_folder_at_once_the_second_is_refused(setup):
    config, _, run_dir = setup
    first = subprocess.Popen([sys.executable, "-m", "recbce", "train", "-c", str(config), "-q",
                              "--set", "train.epochs=100000", "--set", "train.eval_every=0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "checkpoint.pt").exists():  # training, past its first epoch
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        before = (run_dir / "config.yaml").read_text()
        second = runner.invoke(app, ["train", "-c", str(config), "-q", "--overwrite",
                                     "--set", "model.dim=4", "--set", "train.epochs=1"])
        one_line_error(second, f"run directory {run_dir} is in use by pid {first.pid} on")
        one_line_error(runner.invoke(app, ["train", "--resume", str(run_dir), "-q"]), "is in use by pid")
        assert (run_dir / "config.yaml").read_text() == before  # nothing deleted, nothing mixed in
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=300)
    assert first.returncode == 130, err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["dim"] == 8


def test_changed_data_stops_resume_and_evaluate_naming_the_file(setup):
    config, data, run_dir = setup
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    recorded = json.loads((run_dir / "data.json").read_text())["files"]
    assert [f["path"] for f in recorded] == [str(data)] and recorded[0]["size"] == data.stat().st_size
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    resolved["train"]["epochs"] = 3  # more to train, so a resume reads the data again
    (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved))
    original = data.read_text()
    lines = original.splitlines(keepends=True)
    for changed in ("".join(lines[:-40]), original + "".join(lines[:25])):  # rows removed, rows added
        data.write_text(changed)
        one_line_error(runner.invoke(app, ["train", "--resume", str(run_dir), "-q"]),
                       f"{data} changed since this run read it", "data.json")
        one_line_error(runner.invoke(app, ["evaluate", "--run", str(run_dir)]),
                       f"{data} changed since this run read it", "--accept-data-change")
    # Knowingly: the flag evaluates on the data as it is now (rows added, the ids the same).
    accepted = runner.invoke(app, ["evaluate", "--run", str(run_dir), "--accept-data-change"])
    assert accepted.exit_code == 0, accepted.output
    data.write_text(original)  # the same content again (a new mtime): accepted as it is
    assert runner.invoke(app, ["evaluate", "--run", str(run_dir)]).exit_code == 0


def test_evaluate_reads_moved_data_from_where_it_is_now_checked_against_data_json(setup, tmp_path):
    import recbce
    from recbce.errors import DataChanged

    config, data, run_dir = setup
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    before = json.loads((run_dir / "summary.json").read_text())["test"]
    moved = tmp_path / "elsewhere" / "renamed.tsv"
    moved.parent.mkdir()
    data.rename(moved)
    one_line_error(runner.invoke(app, ["evaluate", "--run", str(run_dir)]), str(data), "--data PATH")
    for place in (moved, moved.parent):  # the file, or the folder holding it (by its old name)
        if place == moved.parent:
            moved = moved.rename(moved.parent / data.name)
        result = runner.invoke(app, ["evaluate", "--run", str(run_dir), "--data", str(place)])
        assert result.exit_code == 0, result.output
        after = json.loads((run_dir / "eval-test.json").read_text())
        assert {name: after[name] for name in before} == before  # the same split, the same model
    assert recbce.evaluate(run_dir, data=moved)["ndcg@20"] == before["ndcg@20"]
    one_line_error(runner.invoke(app, ["evaluate", "--run", str(run_dir), "--data", str(tmp_path / "nope")]),
                   "nope not found")
    one_line_error(runner.invoke(app, ["evaluate", "--run", str(run_dir), "--data", str(tmp_path)]),
                   f"is not at {tmp_path / data.name}")
    text = moved.read_text()
    moved.write_text(text + text.splitlines(keepends=True)[0])  # a row added at the new place: refused
    one_line_error(runner.invoke(app, ["evaluate", "--run", str(run_dir), "--data", str(moved)]),
                   f"{moved} changed since this run read it", "--accept-data-change")
    with pytest.raises(DataChanged, match="changed since this run read it .*accept_data_change=True goes on"):
        recbce.evaluate(run_dir, data=moved)
    assert "ndcg@20" in recbce.evaluate(run_dir, data=moved, accept_data_change=True)


def test_a_run_json_of_the_wrong_shape_and_a_broken_config_are_one_line(setup):
    config, _, run_dir = setup
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    good = (run_dir / "run.json").read_text()
    (run_dir / "run.json").write_text("[]")
    one_line_error(runner.invoke(app, ["runs", "show", str(run_dir)]), "run.json: damaged")
    listed = runner.invoke(app, ["runs", "list", str(run_dir.parent)])
    assert listed.exit_code == 0 and "damaged" in listed.output
    (run_dir / "run.json").write_text(good)
    (run_dir / "config.yaml").write_text("model: [dim: 8\n  x: {\n")
    for args in (["evaluate", "--run", str(run_dir)], ["recommend", "--run", str(run_dir), "--all"],
                 ["runs", "show", str(run_dir)]):
        one_line_error(runner.invoke(app, args), "config.yaml: invalid YAML at line")


def test_a_model_pt_of_another_run_or_another_object_is_one_line(setup, tmp_path):
    import torch

    config, _, run_dir = setup
    assert runner.invoke(app, ["train", "-c", str(config), "-q"]).exit_code == 0
    other = ["--set", "run.name=other", "--set", "model.dim=4"]
    assert runner.invoke(app, ["train", "-c", str(config), "-q", *other]).exit_code == 0
    (run_dir / "model.pt").write_bytes((run_dir.parent / "other" / "model.pt").read_bytes())
    for command in (["evaluate", "--run", str(run_dir)], ["recommend", "--run", str(run_dir), "--all"]):
        one_line_error(runner.invoke(app, command), "model.pt: does not match the run's config.yaml",
                       "size mismatch")
    torch.save(torch.zeros(3), run_dir / "model.pt")
    for command in (["evaluate", "--run", str(run_dir)], ["recommend", "--run", str(run_dir), "--all"]):
        one_line_error(runner.invoke(app, command), "model.pt: not a recbce model")


def test_a_loss_that_becomes_nan_stops_the_run_naming_epoch_and_step(setup):
    config, _, run_dir = setup
    result = runner.invoke(app, ["train", "-c", str(config), "-q", "--set", "model.init_std=1.0e+300"])
    one_line_error(result, "the training loss became nan at epoch 1, step 1")
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed" and "epoch 1, step 1" in status["message"]


def test_a_failed_write_mid_run_is_one_line_and_run_json_says_failed(setup, monkeypatch):
    import errno
    import os

    from recbce.runs import files

    config, _, run_dir = setup
    real = files._atomic
    broken, read_only = {"model.pt"}, []

    def atomic(path, write):
        if path.name in broken:
            broken.update(read_only)  # from now on these fail too
            raise files.RunError(f"cannot write {path}: {os.strerror(errno.ENOSPC)}")
        real(path, write)

    monkeypatch.setattr(files, "_atomic", atomic)
    one_line_error(runner.invoke(app, ["train", "-c", str(config), "-q"]),
                   f"cannot write {run_dir / 'model.pt'}: No space left on device")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    read_only.append("run.json")  # the disk gone read-only: run.json cannot say so, the real error shows
    one_line_error(runner.invoke(app, ["train", "-c", str(config), "-q", "--overwrite"]), "model.pt")
