"""`recbce tune` end to end on tiny data: trials are run folders, the study continues, runs in
worker processes, marks what was killed, and refuses bad input before any trial runs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import recbce
from recbce.cli.app import app
from recbce.config import load_config
from recbce.errors import ConfigError
from recbce.evaluation.per_user import mean_and_error
from recbce.runs.status import read_status
from recbce.tuning.trials import error_of_mean
from tests.conftest import PRE_STARTER_MODEL, write_tiny_log

runner = CliRunner()
SPACE = """
train.lr: [0.05, 0.02, 0.00001]
loss.name: [bce, bpr, ccl]
model.dim: {low: 4, high: 8, step: 4}
"""


def write_config(folder, **train):
    data = folder / "tiny.tsv"
    if not data.exists():
        write_tiny_log(folder)
    raw = {"seed": 0, "run": {"dir": str(folder / "runs")},
           "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
           "model": {"dim": 8, **PRE_STARTER_MODEL},
           "sampler": {"kind": "uniform", "ratio": 4},
           "train": {"epochs": 5, "batch_size": 256, "lr": 0.01, "patience": 0, **train},
           "eval": {"k": [5, 10], "metric": "ndcg@10"}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    (folder / "space.yaml").write_text(SPACE)
    return path, folder / "space.yaml"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One study of 14 trials through the API: lr 1e-5 trials lose and are pruned, ccl trials fail
    (ccl needs a cosine scorer), the rest finish."""
    folder = tmp_path_factory.mktemp("study")
    config, space = write_config(folder)
    lines = []
    result = recbce.tune(config, space, trials=14, out=folder / "study", seed=0, log=lines.append)
    return result, folder, lines


def test_the_study_records_every_trial_as_a_run_folder(study):
    result, folder, _ = study
    frame = result.trials
    assert isinstance(frame, pd.DataFrame) and sorted(frame["trial"]) == list(range(14))
    states = set(frame["state"])
    assert {"complete", "pruned", "failed"} <= states, frame
    for row in frame.itertuples():
        run_dir = result.out / f"trial-{row.trial:04d}"
        if row.state == "failed":
            assert "loss.name ccl needs model.scorer: cosine" in row.error and not run_dir.exists()
            continue
        status = read_status(run_dir)["status"]
        assert status == ("pruned" if row.state == "pruned" else "finished")
        summary = json.loads((run_dir / "summary.json").read_text())
        assert "test" not in summary  # trials are never scored on test
        if row.state == "pruned":
            assert 3 <= row.epochs < 5  # epochs 1-2 are never cut
    listed = runner.invoke(app, ["runs", "list", str(result.out)])
    assert listed.exit_code == 0 and "trial-0000" in listed.output and "pruned" in listed.output


def test_the_best_trial_is_chosen_on_validation_and_scored_on_test_once(study):
    result, _, lines = study
    frame = result.trials
    complete = frame[frame["state"] == "complete"]
    best_row = complete.loc[complete["valid ndcg@10"].idxmax()]
    assert frame.iloc[0]["rank"] == 1 and frame.iloc[0]["trial"] == best_row["trial"]
    assert result.best_value == best_row["valid ndcg@10"]
    record = json.loads((result.out / "best.json").read_text())
    assert record["trial"] == best_row["trial"] and record["valid"] == result.best_value
    best_dir = result.out / f"trial-{int(best_row['trial']):04d}"
    assert record["test"] == json.loads((best_dir / "eval-test.json").read_text()) == result.test
    assert sum("on test, once" in line for line in lines) == 1
    scored = [path for path in result.out.glob("trial-*/eval-test.json")]
    assert scored == [best_dir / "eval-test.json"]
    assert (result.out / "tune.png").stat().st_size > 0
    mean, error = mean_and_error(best_dir, "valid")["ndcg@10"]  # the trial's users, run again
    assert mean == pytest.approx(result.best_value, abs=1e-12)
    assert best_row["se"] == pytest.approx(error, rel=1e-9) and error > 0
    assert complete["se"].notna().all() and frame[frame["state"] != "complete"]["se"].isna().all()


def test_best_yaml_trains_to_the_validation_figure_the_study_reports(study, tmp_path):
    result, _, _ = study
    run = recbce.train(result.out / "best.yaml", overrides={"run.dir": str(tmp_path)})
    assert run.summary["best_valid"] == result.best_value
    assert run.metrics == result.test


def test_the_same_command_continues_the_study_up_to_trials_in_all(study):
    result, folder, _ = study
    args = ["tune", "-c", str(folder / "config.yaml"), "-s", str(folder / "space.yaml"),
            "--out", str(result.out), "--trials", "16", "-q"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(result.out / "trials.csv")
    assert sorted(frame["trial"]) == list(range(16))
    again = runner.invoke(app, args)  # nothing left to run: the same table, no new trial
    assert again.exit_code == 0 and len(pd.read_csv(result.out / "trials.csv")) == 16


def test_a_trial_another_process_has_just_started_is_a_row_without_time(study, tmp_path):
    """A shared study read while a trial elsewhere has its folder but no epoch yet (CI met it
    under load): that trial's row has no seconds, and the summary is written."""
    result, folder, _ = study
    copy = tmp_path / "study"
    shutil.copytree(result.out, copy)
    frame = pd.read_csv(copy / "trials.csv")
    started = int(frame[(frame["state"] == "complete") & (frame["rank"] > 1)]["trial"].iloc[0])
    for name in ("metrics.jsonl", "summary.json"):
        (copy / f"trial-{started:04d}" / name).unlink()
    done = runner.invoke(app, ["tune", "-c", str(folder / "config.yaml"), "-s", str(folder / "space.yaml"),
                               "--out", str(copy), "--trials", str(len(frame)), "-q"])
    assert done.exit_code == 0, done.output
    row = pd.read_csv(copy / "trials.csv").set_index("trial").loc[started]
    assert pd.isna(row["seconds"]) and row["epochs"] == 0


def test_bad_input_is_one_line_before_any_trial(tmp_path):
    config, space = write_config(tmp_path)
    (tmp_path / "nv").mkdir()
    no_valid, _ = write_config(tmp_path / "nv")
    text = yaml.safe_load(no_valid.read_text())
    text["data"]["split"]["valid_ratio"] = 0
    no_valid.write_text(yaml.safe_dump(text))
    bad_space = tmp_path / "bad.yaml"
    bad_space.write_text("train.lrr: [0.1]\n")
    out = tmp_path / "out"
    cases = [
        (["-c", str(config), "-s", str(bad_space)], "did you mean 'lr'?"),
        (["-c", str(no_valid), "-s", str(space)], "has none: set data.split.valid_ratio"),
        (["-c", str(config), "-s", str(space), "--storage", "nosuchdb://x"], "--storage nosuchdb://x"),
        (["-c", str(config), "-s", str(space), "--pruner", "sometimes"], "--pruner must be one of"),
        (["-c", str(config), "-s", str(space), "--trials", "0"], "--trials, --workers and --seeds"),
        (["-c", str(config), "-s", str(space), "--seeds", "0"], "--trials, --workers and --seeds"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, ["tune", *args, "--out", str(out)])
        assert result.exit_code == 2 and expected in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert not out.exists()


@pytest.mark.filterwarnings("error::UserWarning")  # tune.png of a one-trial study draws cleanly
def test_a_study_with_another_space_is_refused(tmp_path):
    config, space = write_config(tmp_path, epochs=1)
    out = tmp_path / "out"
    first = runner.invoke(app, ["tune", "-c", str(config), "-s", str(space), "--out", str(out),
                                "--trials", "1", "-q"])
    assert first.exit_code in (0, 1), first.output  # its one trial may be a failing ccl
    other = tmp_path / "other.yaml"
    other.write_text("train.lr: [0.01, 0.02]\n")
    before = sorted(p.name for p in out.iterdir())
    result = runner.invoke(app, ["tune", "-c", str(config), "-s", str(other), "--out", str(out)])
    assert result.exit_code == 2 and "exists with another space" in result.output
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_trial_of_several_seeds_is_worth_the_mean_of_its_runs(tmp_path):
    """--seeds 2: a trial trains the config's seed and the next in two run folders; its value is
    their mean validation, its test (the best trial's, once) their mean test; the study cannot be
    continued with another --seeds."""
    config, _ = write_config(tmp_path, epochs=2)
    space = tmp_path / "lr.yaml"
    space.write_text("train.lr: [0.05, 0.02]\n")
    out = tmp_path / "out"
    result = recbce.tune(config, space, trials=2, out=out, seed=0, seeds=2, pruner="none")
    frame = result.trials.set_index("trial")
    for trial, row in frame.iterrows():
        folders = [out / f"trial-{trial:04d}", out / f"trial-{trial:04d}-run2"]
        assert [load_config(f / "config.yaml").seed for f in folders] == [0, 1]
        bests = [json.loads((f / "summary.json").read_text())["best_valid"] for f in folders]
        assert bests[0] != bests[1] and row["valid ndcg@10"] == pytest.approx(sum(bests) / 2, abs=1e-12)
        assert row["per run"] == f"{bests[0]:.4f} {bests[1]:.4f}"
        errors = [mean_and_error(f, "valid")["ndcg@10"][1] for f in folders]  # a seeded split
        assert row["se"] == pytest.approx((errors[0] ** 2 + errors[1] ** 2) ** 0.5 / 2, rel=1e-9)
    best = [out / f"trial-{int(frame['valid ndcg@10'].idxmax()):04d}{end}" for end in ("", "-run2")]
    tests = [json.loads((f / "eval-test.json").read_text()) for f in best]
    assert result.test == pytest.approx({m: (tests[0][m] + tests[1][m]) / 2 for m in tests[0]}, abs=1e-12)
    with pytest.raises(ConfigError, match="exists with another --seeds"):
        recbce.tune(config, space, trials=3, out=out, seed=0, seeds=1)


def test_one_recipe_for_several_data_sets_is_scored_relative_to_each_reference(tmp_path):
    """Two base configs (here the tiny log scored by two metrics): every trial trains both; its
    value is the mean of each validation figure over its reference; best.yaml and best-2.yaml
    train each, and each is scored on test once."""
    first, _ = write_config(tmp_path, epochs=2)
    (tmp_path / "b").mkdir()
    second, _ = write_config(tmp_path / "b", epochs=2)
    raw = yaml.safe_load(second.read_text())
    raw["eval"]["metric"] = "recall@5"
    second.write_text(yaml.safe_dump(raw))
    space = tmp_path / "lr.yaml"
    space.write_text("train.lr: [0.05, 0.02]\n")
    out = tmp_path / "out"
    result = recbce.tune([first, second], space, trials=2, out=out, references=[0.5, 0.25], pruner="none")
    assert result.metric == "relative" and "valid relative" in result.trials.columns
    for trial, row in result.trials.set_index("trial").iterrows():
        runs = [out / f"trial-{trial:04d}", out / f"trial-{trial:04d}-run2"]
        bests = [json.loads((f / "summary.json").read_text())["best_valid"] for f in runs]
        assert row["valid relative"] == pytest.approx((bests[0] / 0.5 + bests[1] / 0.25) / 2, abs=1e-12)
        metrics = ["ndcg@10", "recall@5"]
        errors = [mean_and_error(f, "valid")[m][1] for f, m in zip(runs, metrics, strict=True)]
        assert row["se"] == pytest.approx(((errors[0] / 0.5) ** 2 + (errors[1] / 0.25) ** 2) ** 0.5 / 2)
    best = int(result.trials.iloc[0]["trial"])
    assert [c.eval.metric for c in result.best_configs] == ["ndcg@10", "recall@5"]
    assert [c.run.name for c in result.best_configs] == ["best", "best-2"]
    folders = [out / f"trial-{best:04d}{end}" for end in ("", "-run2")]
    tests = [json.loads((folder / "eval-test.json").read_text()) for folder in folders]
    assert result.tests == tests and result.test == tests[0]
    assert [entry["best"] for entry in json.loads((out / "best.json").read_text())["configs"]] == \
        ["best.yaml", "best-2.yaml"]
    alone = runner.invoke(app, ["tune", "-c", str(first), "-c", str(second), "-s", str(space), "--out",
                                str(tmp_path / "none")])
    assert alone.exit_code == 2 and "2 configs need --reference 2 times" in alone.output
    one = runner.invoke(app, ["tune", "-c", str(first), "-s", str(space), "--reference", "0.5", "--out",
                              str(tmp_path / "none")])
    assert one.exit_code == 2 and "--reference is for several --config" in one.output
    assert not (tmp_path / "none").exists()


def test_runs_that_held_out_the_same_users_are_averaged_user_by_user(study):
    """Two runs of one fixed split: the standard error of their mean is taken over each user's
    mean (here one run twice: its own error), not as if the runs were independent."""
    result, _, _ = study
    folder = result.out / f"trial-{int(result.trials.iloc[0]['trial']):04d}"
    error = mean_and_error(folder, "valid")["ndcg@10"][1]
    assert error_of_mean([folder, folder], "ndcg@10") == pytest.approx(error, rel=1e-12)


def cli(*args):
    return [sys.executable, "-m", "recbce", *args]


def test_two_workers_share_the_study_file_and_never_repeat_a_trial(tmp_path):
    config, space = write_config(tmp_path, epochs=2)
    (tmp_path / "space.yaml").write_text("train.lr: {low: 0.001, high: 0.1, log: true}\n")
    out = tmp_path / "out"
    done = subprocess.run(cli("-q", "tune", "-c", str(config), "-s", str(space), "--out", str(out),
                              "--trials", "5", "--workers", "2"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out / "trials.csv")
    assert sorted(frame["trial"]) == list(range(5)) and set(frame["state"]) == {"complete"}
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-{n:04d}" for n in range(5)]
    threads = {yaml.safe_load((p / "config.yaml").read_text())["train"]["threads"]
               for p in out.glob("trial-*")}
    assert threads == {max(1, (os.cpu_count() or 1) // 2)}


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_a_killed_study_marks_its_trial_and_continues(tmp_path, stop):
    config, space = write_config(tmp_path, epochs=200, patience=3)
    (tmp_path / "space.yaml").write_text("train.lr: [0.01, 0.02]\n")
    out = tmp_path / "out"
    args = cli("-q", "tune", "-c", str(config), "-s", str(space), "--out", str(out), "--trials", "1",
               "--pruner", "none")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = out / "trial-0000" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(stop)
    _, stderr = process.communicate()
    if stop == signal.SIGINT:  # the study, not the trial alone, is what the user resumes
        assert process.returncode == 130, stderr
        assert "run the same command again" in stderr and "recbce train --resume" not in stderr, stderr
    assert metrics.exists(), "the trial never finished an epoch"
    done = runner.invoke(app, args[3:])  # the same command again, in this process
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(out / "trials.csv")
    states = dict(zip(frame["trial"], frame["state"], strict=True))
    assert states[0] == "interrupted" and states[1] == "complete", states
    assert read_status(out / "trial-0000")["status"] == "interrupted"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres():
    """A real PostgreSQL server in a temporary folder, on 127.0.0.1; its URL. initdb refuses
    to run as root, so as root the server runs as the unprivileged user nobody, in a folder of
    its own under the system's temporary folder (pytest's is private to root)."""
    import pwd
    import tempfile

    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on PATH (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver: pip install psycopg2-binary")
    folder = tempfile.mkdtemp(prefix="recbce-postgres-")
    as_user = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = os.path.join(folder, "data"), free_port()
    try:
        subprocess.run([*as_user, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, cwd=folder)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        subprocess.run([*as_user, "pg_ctl", "-D", data, "-o", options, "-l", os.path.join(folder, "log"),
                        "-w", "start"], check=True, capture_output=True, cwd=folder)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_share_a_postgresql_study(tmp_path, postgres):
    config, space = write_config(tmp_path, epochs=2)
    (tmp_path / "space.yaml").write_text("train.lr: {low: 0.001, high: 0.1, log: true}\n")
    out = tmp_path / "out"
    args = cli("-q", "tune", "-c", str(config), "-s", str(space), "--out", str(out), "--trials", "6",
               "--storage", postgres, "--study", "shared")
    first, second = (subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2))
    for process in (first, second):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    frame = pd.read_csv(out / "trials.csv")
    assert sorted(frame["trial"]) == list(range(6)) and set(frame["state"]) == {"complete"}
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-{n:04d}" for n in range(6)]
    import optuna

    study = optuna.load_study(study_name="shared", storage=postgres)
    pids = {t.user_attrs["pid"] for t in study.trials}
    assert pids == {first.pid, second.pid}  # both processes ran trials
    unopened = runner.invoke(app, ["tune", "-c", str(config), "-s", str(space), "--out",
                                   str(tmp_path / "none"), "--storage",
                                   postgres.replace(postgres.rsplit(":", 1)[1], "1/postgres")])
    assert unopened.exit_code == 2 and "cannot open" in unopened.output
    assert not (tmp_path / "none").exists()
