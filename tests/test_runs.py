"""Run folders: replaced only when asked and only if they are runs; writes fail in one line."""

import errno
import os

import pytest
from typer.testing import CliRunner

from recbce import runs
from recbce.cli.app import app
from recbce.errors import RunError
from recbce.runs import files


def test_overwrite_replaces_a_run_but_never_another_folder(tmp_path):
    run = tmp_path / "run"
    runs.prepare_run_dir(run, overwrite=False)
    runs.write_text(run / "config.yaml", "seed: 0\n")
    with pytest.raises(RunError, match="exists: pass --overwrite"):
        runs.prepare_run_dir(run, overwrite=False)
    runs.prepare_run_dir(run, overwrite=True)
    assert run.is_dir() and not any(run.iterdir())
    precious = tmp_path / "src"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(RunError, match="not a recbce run"):
        runs.prepare_run_dir(precious, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"
    (tmp_path / "link").symlink_to(precious)
    with pytest.raises(RunError, match="is a link or a file"):
        runs.prepare_run_dir(tmp_path / "link", overwrite=True)
    assert (precious / "thesis.tex").exists()


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
