"""A run killed at any moment and resumed ends exactly like one never interrupted."""

import json
import os
import random
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


@pytest.fixture(scope="module")
def resume_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("resume") / "data.tsv"
    synth.generate(n_users=250, n_items=150, min_per_user=10, max_per_user=40, seed=3).to_csv(
        data, sep="\t", header=False, index=False)
    return data


def write_config(folder, data, name: str):
    raw = {"run": {"dir": str(folder / "runs"), "name": name},
           "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
           "model": {"dim": 16, **PRE_STARTER_MODEL}, "sampler": {"kind": "uniform", "ratio": 4},
           # average_from 2: the kills in epoch 3 land after the weight average began,
           # so the checkpoint must carry it for the resumed run to end bit-identical
           "train": {"epochs": 4, "batch_size": 32, "lr": 0.01, "checkpoint_every": 20,
                     "threads": 1, "average_from": 2, "patience": 0}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, folder / "runs" / name


@pytest.fixture
def config_for(tmp_path, resume_data):
    return lambda name: write_config(tmp_path, resume_data, name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, resume_data):
    """The uninterrupted run, trained once in this process: (test metrics, epochs)."""
    from recbce.config import load_config
    from recbce.training.loop import train

    path, run_dir = write_config(tmp_path_factory.mktemp("reference"), resume_data, "reference")
    train(load_config(path), progress=False, log=lambda message: None)
    return final_metrics(run_dir), epochs_done(run_dir)


def recbce(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "recbce", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(condition, process, what: str, timeout: float = 300) -> None:
    """Poll until `condition()`; fail if the process ends first. Progress, not time, decides
    when the test acts, so a slow or loaded machine changes nothing but the duration."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.002)


def epochs_done(run_dir) -> int:
    try:
        return (run_dir / "metrics.jsonl").read_text().count("\n")
    except FileNotFoundError:
        return 0


def checkpoint_id(run_dir):
    """Changes with every checkpoint written (a new file renamed into place; inode numbers
    alone can be reused, so the modification time in nanoseconds goes with it)."""
    try:
        stat = os.stat(run_dir / "checkpoint.pt")
        return stat.st_ino, stat.st_mtime_ns
    except FileNotFoundError:
        return None


def kill_at(run_dir, process, epoch: int, checkpoints: int) -> None:
    """SIGKILL once `epoch` epochs are done and `checkpoints` more checkpoints were seen."""
    wait_for(lambda: epochs_done(run_dir) >= epoch, process, f"epoch {epoch}")
    seen = set()

    def enough_checkpoints() -> bool:
        seen.add(checkpoint_id(run_dir))
        return len(seen - {None}) > checkpoints

    wait_for(enough_checkpoints, process, f"{checkpoints} more checkpoints")
    process.send_signal(signal.SIGKILL)
    process.wait()


def final_metrics(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["test"]


def checkpoint_epoch(run_dir) -> int:
    """The epoch in progress that checkpoint.pt records (0 if none is there yet). Read from
    the file, not inferred from when it changed: on a fast machine the checkpoint after the
    last epoch can land before a poll sees that epoch's line in metrics.jsonl."""
    import torch

    try:
        return torch.load(run_dir / "checkpoint.pt", weights_only=True)["progress"]["epoch"]
    except FileNotFoundError:
        return 0


def kill_in_final_phase(run_dir, process, epochs: int, delay: float) -> None:
    """SIGKILL `delay` seconds after the checkpoint that follows the last epoch: while the
    model, the test metrics, the curves or run.json are being written."""
    wait_for(lambda: epochs_done(run_dir) >= epochs, process, f"epoch {epochs}")
    wait_for(lambda: checkpoint_epoch(run_dir) > epochs, process, "the last checkpoint")
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_sigkill_at_seeded_moments_then_resume_is_bit_identical(config_for, reference):
    from recbce.runs.registry import read_run

    expected, epochs = reference
    rng = random.Random(1234)
    # Kill points: in the first and third of 4 epochs (~7 checkpoints each, every 20 steps),
    # a seeded number of checkpoints past the epoch's start: mid-epoch, random step; then
    # twice after the last epoch, at seeded moments of the final phase (None).
    for attempt, epoch in enumerate((0, 2, None, None)):
        path, run_dir = config_for(f"killed{attempt}")
        process = recbce("train", "-c", str(path), "-q")
        if epoch is None:
            kill_in_final_phase(run_dir, process, epochs, delay=rng.uniform(0, 0.3))
        else:
            kill_at(run_dir, process, epoch, checkpoints=rng.randint(1, 6))
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
        assert read_run(run_dir).status == "interrupted (process ended)"
        # the kill needs a process of its own; the resume runs here (test_sigint_... resumes
        # from a process), one process start fewer per kill point
        resumed = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "-q"])
        assert resumed.exit_code == 0, resumed.output
        assert f"resuming {run_dir} at epoch" in resumed.output.replace("\n", "")
        assert final_metrics(run_dir) == expected, f"kill point {attempt}"
        assert epochs_done(run_dir) == epochs  # no epoch trained twice or beyond the last
        summary = json.loads((run_dir / "summary.json").read_text())
        history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        # the time of every session counts: at least the sum of the epochs' own times
        assert summary["train_seconds"] >= sum(r["seconds"] for r in history)


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(config_for, reference):
    path, run_dir = config_for("interrupted")
    process = recbce("train", "-c", str(path), "-q")
    wait_for(lambda: checkpoint_id(run_dir) is not None, process, "a first checkpoint")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert f"recbce train --resume {run_dir}" in (out + err).replace("\n", "")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    resumed = recbce("train", "--resume", str(run_dir), "-q")
    assert resumed.wait(timeout=300) == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    assert final_metrics(run_dir) == reference[0]


def test_unwritable_checkpoint_keeps_the_previous_one(config_for, monkeypatch):
    import errno

    import torch

    from recbce.config import load_config
    from recbce.errors import RunError
    from recbce.runs import files
    from recbce.training import checkpoint
    from recbce.training.loop import train

    path, run_dir = config_for("diskfull")
    train(load_config(path, ["train.epochs=1"]), progress=False)
    before = (run_dir / "checkpoint.pt").read_bytes()

    def full_disk(handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "_atomic", lambda p, write, real=files._atomic: real(p, full_disk))
    with pytest.raises(RunError, match="checkpoint.pt: No space left on device"):
        checkpoint.save(run_dir, torch.nn.Linear(1, 1), torch.optim.SGD([torch.zeros(1)], lr=1),
                        torch.Generator(), checkpoint.Progress())
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert not list(run_dir.glob(".*.tmp"))
    torch.load(run_dir / "checkpoint.pt", weights_only=True)


def test_resume_after_an_early_stop_only_finishes_the_run(config_for):
    from recbce.config import load_config
    from recbce.training.loop import train

    path, run_dir = config_for("early")
    config = load_config(path, ["train.epochs=30", "train.patience=1", "train.checkpoint_every=0",
                                "train.lr=0.05", "train.batch_size=256"])
    summary = train(config, progress=False, log=lambda message: None)
    assert summary["epochs"] < 30, "early stopping never came: the test needs it"
    history = (run_dir / "metrics.jsonl").read_text()
    # As if killed after the last checkpoint, before the run was finished:
    (run_dir / "model.pt").unlink()
    (run_dir / "summary.json").unlink()
    resumed = train(config, resume=True, progress=False, log=lambda message: None)
    assert (run_dir / "metrics.jsonl").read_text() == history  # no epoch past the early stop
    assert resumed["test"] == summary["test"] and resumed["epochs"] == summary["epochs"]
    assert resumed["train_seconds"] == summary["train_seconds"]  # the checkpoint's time, exactly


def test_ctrl_c_in_the_final_evaluation_exits_130_and_resume_finishes(config_for, monkeypatch):
    from typer.testing import CliRunner

    from recbce.cli.app import app
    from recbce.training import loop

    path, run_dir = config_for("final")
    real = loop.evaluate_split

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises once the training loop's handler is gone

    def loop_running() -> bool:  # validation inside the loop runs; the final test evaluation is hit
        import inspect

        return any(frame.function == "end_epoch" for frame in inspect.stack())

    monkeypatch.setattr(loop, "evaluate_split",
                        lambda *a, **k: real(*a, **k) if loop_running() else pressed())

    args = ["train", "-c", str(path), "-q", "--set", "train.epochs=2", "--set", "train.checkpoint_every=0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130, result.output
    assert "interrupted in the final evaluation" in result.output and "--resume" in result.output
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert epochs_done(run_dir) == 2
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_train_resume_of_a_finished_run_says_so_and_touches_nothing(config_for, monkeypatch):
    from typer.testing import CliRunner

    from recbce.cli.app import app
    from recbce.training import loop

    path, run_dir = config_for("finished")
    args = ["train", "-c", str(path), "-q", "--set", "train.epochs=1", "--set", "train.checkpoint_every=0"]
    assert CliRunner().invoke(app, args).exit_code == 0
    def files():
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir() if p.is_file()}

    before = files()
    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    expected = f"{run_dir}: already finished: nothing to resume (recbce runs show {run_dir})"
    assert result.output.replace("\n", "") == expected
    assert files() == before and "summary.json" in before
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    resolved["train"]["epochs"] = 2  # given one more epoch, the finished run has something to train
    (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved))
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 2


def test_resuming_a_finished_run_keeps_its_training_time(tmp_path):
    from recbce.config import load_config
    from recbce.training.loop import train

    data = tmp_path / "d.tsv"
    synth.generate(n_users=60, n_items=40, min_per_user=5, max_per_user=10, seed=1).to_csv(
        data, sep="\t", header=False, index=False)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "runs"), "name": "done"},
                                    "data": {"path": str(data), "split": {"valid_ratio": 0.0}},
                                    "model": {"dim": 4, **PRE_STARTER_MODEL},
                                    "sampler": {"kind": "uniform", "ratio": 4},
                                    "train": {"epochs": 2, "batch_size": 64, "patience": 0}}))
    first = train(load_config(path), progress=False, log=lambda *a, **k: None)
    again = train(load_config(path), resume=True, progress=False, log=lambda *a, **k: None)
    assert first["train_seconds"] > 0
    assert again["train_seconds"] == first["train_seconds"]
    saved = json.loads((tmp_path / "runs/done/summary.json").read_text())
    assert saved["train_seconds"] == first["train_seconds"]


def test_ctrl_c_in_the_last_validation_is_honoured_and_resume_finishes(config_for, monkeypatch):
    from typer.testing import CliRunner

    from recbce.cli.app import app
    from recbce.training import loop

    path, run_dir = config_for("last")
    real = loop.end_epoch

    def end_epoch(run):
        if run.state.epoch == run.config.train.epochs:
            os.kill(os.getpid(), signal.SIGINT)  # caught by the loop's handler: a flag, no exception
        return real(run)

    monkeypatch.setattr(loop, "end_epoch", end_epoch)
    args = ["train", "-c", str(path), "-q", "--set", "train.epochs=2", "--set", "train.checkpoint_every=0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130, result.output
    assert "interrupted after the last epoch; checkpoint saved. Finish with:" in result.output
    assert not (run_dir / "summary.json").exists() and epochs_done(run_dir) == 2
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert epochs_done(run_dir) == 2 and (run_dir / "summary.json").exists()


def test_a_run_folder_moved_before_resuming_continues_where_it_is_now(config_for, tmp_path):
    import shutil

    from recbce.config import load_config
    from recbce.runs.folder import RunFolder
    from recbce.training.loop import train

    path, run_dir = config_for("moved")
    config = load_config(path, ["train.epochs=2", "train.checkpoint_every=0"])
    summary = train(config, progress=False, log=lambda message: None)
    (run_dir / "model.pt").unlink()  # as if killed after its last checkpoint
    (run_dir / "summary.json").unlink()
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(run_dir, moved)
    resumed_config = RunFolder(moved).config_to_resume()
    assert resumed_config.run_dir == moved and resumed_config.train == config.train
    resumed = train(resumed_config, resume=True, progress=False, log=lambda message: None)
    assert (moved / "model.pt").is_file() and not run_dir.exists()
    assert resumed["test"] == summary["test"]


def test_a_checkpoint_of_before_the_epoch_log_rename_still_resumes(tmp_path):
    """Checkpoints written before the epoch records were called epoch_log (key "history")."""
    import torch

    from recbce.training import checkpoint

    model, generator = torch.nn.Linear(2, 1), torch.Generator()
    optimizer = torch.optim.SGD(model.parameters(), lr=1)
    records = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]
    checkpoint.save(tmp_path, model, optimizer, generator, checkpoint.Progress(epoch=3, epoch_log=records))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    saved["progress"]["history"] = saved["progress"].pop("epoch_log")
    torch.save(saved, tmp_path / "checkpoint.pt")
    progress = checkpoint.load(tmp_path, model, optimizer, generator)
    assert progress.epoch == 3 and progress.epoch_log == records
