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

from recbce import synth


@pytest.fixture
def config_for(tmp_path):
    data = tmp_path / "data.tsv"
    synth.generate(n_users=400, n_items=200, min_per_user=10, max_per_user=40, seed=3).to_csv(
        data, sep="\t", header=False, index=False)

    def make(name: str):
        raw = {"run": {"dir": str(tmp_path / "runs"), "name": name},
               "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
               "model": {"dim": 16}, "sampler": {"ratio": 4},
               "train": {"epochs": 6, "batch_size": 32, "lr": 0.01, "checkpoint_every": 5,
                         "threads": 1}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path, tmp_path / "runs" / name

    return make


def recbce(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "recbce", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_until_training(run_dir, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not (run_dir / "run.json").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def final_metrics(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["test"]


def test_sigkill_at_random_moments_then_resume_is_bit_identical(config_for):
    path, reference = config_for("reference")
    assert recbce("train", "-c", str(path), "-q").wait(timeout=120) == 0
    expected = final_metrics(reference)
    rng = random.Random(1234)
    resumed_mid_run = 0
    for attempt in range(3):
        path, run_dir = config_for(f"killed{attempt}")
        process = recbce("train", "-c", str(path), "-q")
        wait_until_training(run_dir, process)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if not (run_dir / "checkpoint.pt").exists():
            continue  # killed before the first checkpoint: nothing to resume, a fresh start is right
        resumed_mid_run += json.loads((run_dir / "run.json").read_text())["status"] == "running"
        resumed = recbce("train", "--resume", str(run_dir), "-q")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert final_metrics(run_dir) == expected
    assert resumed_mid_run >= 2  # the kills really landed inside training


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(config_for):
    path, run_dir = config_for("interrupted")
    process = recbce("train", "-c", str(path), "-q")
    wait_until_training(run_dir, process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, err
    assert f"recbce train --resume {run_dir}" in (out + err).replace("\n", "")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    resumed = recbce("train", "--resume", str(run_dir), "-q")
    assert resumed.wait(timeout=120) == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    path, reference = config_for("reference")
    assert recbce("train", "-c", str(path), "-q").wait(timeout=120) == 0
    assert final_metrics(run_dir) == final_metrics(reference)


def test_unwritable_checkpoint_keeps_the_previous_one(config_for, monkeypatch):
    import errno

    import torch

    from recbce import checkpoint, runs
    from recbce.config import load_config
    from recbce.train import train

    path, run_dir = config_for("diskfull")
    train(load_config(path, ["train.epochs=1"]), progress=False)
    before = (run_dir / "checkpoint.pt").read_bytes()

    def full_disk(handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs, "_atomic", lambda p, write, real=runs._atomic: real(p, full_disk))
    with pytest.raises(OSError):
        checkpoint.save(run_dir, torch.nn.Linear(1, 1), torch.optim.SGD([torch.zeros(1)], lr=1),
                        torch.Generator(), checkpoint.Progress())
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert not list(run_dir.glob(".*.tmp"))
    torch.load(run_dir / "checkpoint.pt", weights_only=True)
