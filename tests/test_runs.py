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
