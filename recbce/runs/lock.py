"""One writer per run folder: an OS lock on <run>/.recbce.lock, held while a training runs.

flock(2) locks belong to the open file, so the kernel drops them when the process ends,
however it ends: a SIGKILLed run leaves no stale lock and can be resumed at once. The file
itself stays (deleting it would let a second process lock a new file while the first still
holds the old one); it holds the pid and host of the last holder, for the error message.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from recbce.errors import RunError
from recbce.runs.contents import LOCK_FILE


class RunLock:
    """The held lock of one run folder; `release()` (or the process ending) lets it go."""

    def __init__(self, run_dir: Path, fd: int):
        self.run_dir = run_dir
        self.fd: int | None = fd

    @classmethod
    def acquire(cls, run_dir: Path) -> RunLock:
        path = Path(run_dir) / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise RunError(f"cannot lock {path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunError(f"run directory {run_dir} is in use by {holder} (a training writes "
                           "there); wait for it to end or choose another run.name") from None
        except OSError as err:
            os.close(fd)
            raise RunError(f"cannot lock {path}: {err.strerror or err}") from None
        _write_holder(fd)
        return cls(Path(run_dir), fd)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file drops the lock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def holder_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _write_holder(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder_text() + "\n").encode(), 0)
    except OSError:  # the lock is what matters; the note is only for messages
        pass


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    # The holder writes its line just after it locks: a reader can come in between.
    return text if text.startswith("pid ") else "another process"
