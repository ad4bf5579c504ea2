"""Claiming a run folder: only recbce runs are replaced, and only recbce's files in them."""

import pytest

from recbce.errors import RunError
from recbce.runs.claim import RUN_FILES, claim, reclaim
from recbce.runs.status import write_status


def make_run(folder):
    claim(folder, overwrite=False).release()
    write_status(folder, "finished")
    for name in RUN_FILES:
        if name != "run.json":
            (folder / name).write_text("x")
    (folder / "eval-test.json").write_text("{}")
    (folder / ".model.pt.tmp").write_text("half")
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "events").write_text("x")


def test_overwrite_removes_only_what_recbce_wrote(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="exists: pass --overwrite"):
        claim(run, overwrite=False)
    claim(run, overwrite=True).release()
    assert sorted(p.name for p in run.iterdir()) == [".recbce.lock", "notes.txt"]


def test_a_folder_without_recbce_marker_is_never_touched(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.yaml").write_text("my: own\n")  # a config.yaml alone made it "a run" before
    (project / "main.py").write_text("print(1)\n")
    (project / "run.json").write_text('{"status": "finished"}')  # a run.json, but not recbce's
    for overwrite in (False, True):
        with pytest.raises(RunError, match="is not a recbce run"):
            claim(project, overwrite=overwrite)
    assert sorted(p.name for p in project.iterdir()) == ["config.yaml", "main.py", "run.json"]
    (tmp_path / "link").symlink_to(project)
    with pytest.raises(RunError, match="is a link or a file"):
        claim(tmp_path / "link", overwrite=True)


def test_an_empty_folder_is_claimed_and_a_held_one_refused(tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    lock = claim(run, overwrite=False)
    write_status(run, "running")
    with pytest.raises(RunError, match="in use by pid"):
        claim(run, overwrite=True)
    with pytest.raises(RunError, match="in use by pid"):
        reclaim(run)
    assert (run / "run.json").is_file()  # the refused --overwrite deleted nothing
    lock.release()
    reclaim(run).release()
    with pytest.raises(RunError, match="run directory not found"):
        reclaim(tmp_path / "none")


def test_a_fresh_run_into_an_existing_one_is_refused_before_its_data_is_read(make_config, tmp_path):
    """The refusal comes first: a data file that cannot be read is not the error shown, and
    the finished run is left as it was."""
    from recbce.config import load_config
    from recbce.errors import RunExists
    from recbce.training.loop import train

    train(load_config(make_config(train={"epochs": 1})), progress=False, log=lambda *_: None)
    run = tmp_path / "runs" / "tiny"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    broken = tmp_path / "broken.tsv"
    broken.write_text("not\ta\trating\tfile\tat\tall\n")
    with pytest.raises(RunExists, match="exists: pass --overwrite"):
        train(load_config(make_config(data={"path": str(broken)})), progress=False, log=lambda *_: None)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
