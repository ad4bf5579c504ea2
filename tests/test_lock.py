"""The run folder lock: one holder at a time, named to the next; gone with its process."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from recbce.errors import RunError
from recbce.runs.lock import LOCK_FILE, RunLock


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with RunLock.acquire(tmp_path):
        with pytest.raises(RunError) as err:
            RunLock.acquire(tmp_path)
        message = str(err.value)
        assert f"is in use by pid {os.getpid()} on {socket.gethostname()}" in message
        assert "\n" not in message
    RunLock.acquire(tmp_path).release()  # released: free again
    assert (tmp_path / LOCK_FILE).is_file()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from recbce.runs.lock import RunLock; "
         f"RunLock.acquire({str(tmp_path)!r}); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=f"in use by pid {holder.pid} on"):
            RunLock.acquire(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    RunLock.acquire(tmp_path).release()


def test_an_unlockable_folder_is_one_line(tmp_path):
    with pytest.raises(RunError, match="cannot lock .*missing.*No such file"):
        RunLock.acquire(tmp_path / "missing")
