"""Writes into run folders fail in one line (recbce/runs/claim.py: replacing run folders)."""

import errno
import os

import pytest
from typer.testing import CliRunner

from recbce import runs
from recbce.cli.app import app
from recbce.errors import RunError
from recbce.runs import files


def test_a_failed_write_is_one_line_and_leaves_no_temporary_file(tmp_path):
    with pytest.raises(RunError, match="cannot write .*missing/x.json: No such file or directory"):
        runs.write_json(tmp_path / "missing" / "x.json", {"a": 1})
    runs.write_text(tmp_path / "x.txt", "old")

    def disk_full(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(RunError, match="x.txt: No space left on device"):
        files._atomic(tmp_path / "x.txt", disk_full)
    assert (tmp_path / "x.txt").read_text() == "old" and not list(tmp_path.glob(".*.tmp"))


def test_two_writers_of_one_file_at_once_each_write_a_whole_file(tmp_path):
    """A second write of the same file starts and ends while the first is half written (two
    workers of a study writing its best trial's test metrics): both succeed, the last rename wins."""
    target = tmp_path / "eval-test.json"

    def first(handle):
        handle.write(b'{"from": ')
        runs.write_text(target, '{"from": "second"}')
        handle.write(b'"first"}')

    files._atomic(target, first)
    assert target.read_text() == '{"from": "first"}' and not list(tmp_path.glob(".*.tmp"))


def test_outputs_to_a_missing_folder_exit_2_through_the_cli(tmp_path):
    out = tmp_path / "missing" / "q.tsv"
    result = CliRunner().invoke(app, ["data", "generate", "--out", str(out), "--users", "5"])
    assert result.exit_code == 2 and result.output.strip() == (
        f"error: cannot write {out}: No such file or directory")


def test_torch_writer_failure_is_one_line_naming_the_file(tmp_path, monkeypatch):
    import torch

    def short_write(obj, handle):
        handle.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 2\n"
                           "frame #0: c10::ThrowEnforceNotMet(...)\n" * 40)

    runs.save_torch(tmp_path / "model.pt", {"a": torch.zeros(1)})
    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(RunError) as err:
        runs.save_torch(tmp_path / "model.pt", {"a": torch.ones(1)})
    message = str(err.value)
    assert message.startswith(f"cannot write {tmp_path / 'model.pt'}: torch could not write it")
    assert "unexpected pos" in message and "\n" not in message
    monkeypatch.undo()
    assert torch.load(tmp_path / "model.pt", weights_only=True)["a"].item() == 0  # old one intact


def test_a_failing_cleanup_does_not_hide_the_write_error(tmp_path, monkeypatch):
    from pathlib import Path

    def read_only(handle):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    def unlink(self, missing_ok=False):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(RunError, match="cannot write .*x.json: Read-only file system"):
        files._atomic(tmp_path / "x.json", read_only)


def test_every_command_that_writes_says_so_in_one_line_when_it_cannot(tmp_path):
    import json

    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a folder is needed where this file stands: every write below fails
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"recbce": "0", "status": "finished"}))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "loss": 0.5, "seconds": 1.0,
                                                   "examples_per_s": 10.0}) + "\n")
    for command in (["init", str(blocked / "x.yaml")],
                    ["plot", str(run), "--out", str(blocked / "x.png")],
                    ["data", "generate", "--out", str(blocked / "q.tsv"), "--users", "5"],
                    ["data", "fetch", "ml-100k", "--cache", str(blocked / "cache"),
                     "--mirror", "http://127.0.0.1:9"]):
        result = CliRunner().invoke(app, command)
        line = result.output.strip()
        assert result.exit_code == 2 and line.startswith(f"error: cannot write {blocked}"), (command, line)
        assert "\n" not in line


def test_tensorboard_that_cannot_write_is_one_line(make_config, tmp_path):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra (make install adds it)")
    from recbce.config import load_config
    from recbce.runs import tracking

    config = load_config(make_config(logging={"tensorboard": True}))
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "tensorboard").write_text("")
    with pytest.raises(RunError, match="cannot write .*tensorboard: File exists"):
        tracking.log_epoch(config, {"epoch": 1, "loss": 0.5})
