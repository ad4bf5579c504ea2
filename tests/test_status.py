"""run.json: marker, status, and runs whose process is gone."""

import json
import subprocess
import sys

import pytest

from recbce.errors import RunError
from recbce.runs.status import ENDED, effective_status, is_marked, read_status, write_status


def test_run_json_records_the_marker_pid_and_host(tmp_path):
    write_status(tmp_path, "running")
    status = read_status(tmp_path)
    assert status["recbce"] and status["status"] == "running" and isinstance(status["pid"], int)
    assert is_marked(tmp_path) and effective_status(status) == "running"  # this process lives


def test_a_running_run_whose_process_died_is_reported_ended(tmp_path):
    subprocess.run([sys.executable, "-c", "from recbce.runs.status import write_status; "
                    f"write_status({str(tmp_path)!r}, 'running')"], check=True)
    assert effective_status(read_status(tmp_path)) == ENDED == "interrupted (process ended)"
    other_host = {**read_status(tmp_path), "host": "elsewhere"}
    assert effective_status(other_host) == "running"  # another machine's pid says nothing here


@pytest.mark.parametrize("text", ["[]", '"x"', '{"status": 3}', "{"])
def test_a_run_json_of_the_wrong_shape_is_one_line(tmp_path, text):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(RunError, match="run.json: damaged") as err:
        read_status(tmp_path)
    assert "\n" not in str(err.value)
    assert not is_marked(tmp_path)


def test_old_run_json_without_marker_is_not_marked(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"status": "finished"}))
    assert not is_marked(tmp_path) and read_status(tmp_path)["status"] == "finished"
