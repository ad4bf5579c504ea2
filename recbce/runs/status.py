"""run.json: recbce's marker in a run folder and the state of the run.

It says which recbce wrote the folder ("recbce": version; `--overwrite` replaces only
folders carrying it), the status (running, finished, interrupted, failed), and the
process id and host of the training, so a run whose process died without a word
(SIGKILL, power loss) is reported as such instead of "running" forever.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from recbce import __version__
from recbce.errors import RunError
from recbce.runs.contents import STATUS_FILE
from recbce.runs.files import write_json

MARKER = "recbce"
ENDED = "interrupted (process ended)"


def write_status(run_dir: Path, status: str, message: str = "") -> None:
    write_json(Path(run_dir) / STATUS_FILE, {
        MARKER: __version__,
        "status": status,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "message": message,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    })


def read_status(run_dir: Path) -> dict | None:
    """run.json as a dict (None if there is none); RunError if it is damaged or of another shape."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        status = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{path}: damaged (not valid JSON)") from None
    except OSError as err:
        raise RunError(f"{path}: cannot read: {err.strerror or err}") from None
    if not isinstance(status, dict) or not isinstance(status.get("status", ""), str):
        raise RunError(f"{path}: damaged (not a recbce run.json: expected an object with a status)")
    return status


def is_marked(run_dir: Path) -> bool:
    """Whether the folder's run.json was written by recbce (carries the marker)."""
    try:
        status = read_status(run_dir)
    except RunError:
        return False
    return status is not None and MARKER in status


def is_finished(run_dir: Path) -> bool:
    """Whether run.json says the run finished (nothing left to resume)."""
    status = read_status(run_dir)
    return status is not None and status.get("status") == "finished"


def effective_status(status: dict) -> str:
    """The recorded status, or ENDED for a "running" run whose process is gone (same host)."""
    recorded = str(status.get("status", "unknown"))
    if recorded == "running" and status.get("host") == socket.gethostname():
        pid = status.get("pid")
        if isinstance(pid, int) and not process_alive(pid):
            return ENDED
    return recorded


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OverflowError:
        return False
    return True
