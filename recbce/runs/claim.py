"""Taking a run folder for a training: locked first, then created, resumed or replaced.

A folder is a recbce run only when its run.json carries recbce's marker
(recbce.runs.status). `--overwrite` replaces such a run by removing the files
recbce writes (RUN_FILES, RUN_PATTERNS, RUN_FOLDERS: the one list of them) and
nothing else; any other non-empty folder is refused, whatever it holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recbce.errors import RunError, RunExists
from recbce.runs.contents import LOCK_FILE, RUN_FILES, RUN_FOLDERS, RUN_PATTERNS
from recbce.runs.lock import RunLock
from recbce.runs.status import is_marked


def check_claimable(run_dir: Path, overwrite: bool) -> None:
    """The refusals of `claim` that need no lock, so that a training can say them before it
    loads anything (claim says them again under the lock): a link or a file, a folder recbce
    did not write, an existing run without `overwrite`."""
    run_dir = Path(run_dir)
    _refuse_foreign(run_dir)
    if not overwrite and run_dir.is_dir() and _holds_files(run_dir):
        raise RunExists(run_dir)


def claim(run_dir: Path, overwrite: bool) -> RunLock:
    """Lock a new run folder, creating it; an existing recbce run is replaced with `overwrite`."""
    run_dir = Path(run_dir)
    _refuse_foreign(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot create run directory {run_dir}: {err.strerror or err}") from None
    lock = RunLock.acquire(run_dir)
    try:
        if _holds_files(run_dir):
            if not overwrite:
                raise RunExists(run_dir)
            remove_run_files(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def reclaim(run_dir: Path) -> RunLock:
    """Lock an existing run folder to continue it (--resume)."""
    run_dir = Path(run_dir)
    _check_is_folder(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    return RunLock.acquire(run_dir)


def remove_run_files(run_dir: Path) -> None:
    """Remove what recbce wrote in the folder; anything else in it stays."""
    try:
        for name in RUN_FOLDERS:
            if (run_dir / name).is_dir() and not (run_dir / name).is_symlink():
                shutil.rmtree(run_dir / name)
        paths = [run_dir / name for name in RUN_FILES]
        paths += [p for pattern in RUN_PATTERNS for p in run_dir.glob(pattern)]
        for path in paths:
            path.unlink(missing_ok=True)
    except OSError as err:
        raise RunError(f"cannot replace run directory {run_dir}: {err.strerror or err}") from None


def _claimable(run_dir: Path) -> bool:
    """Empty, holding only a lock file, or a run recbce wrote."""
    contents = [p.name for p in run_dir.iterdir()]
    return not contents or contents == [LOCK_FILE] or is_marked(run_dir)


def _holds_files(run_dir: Path) -> bool:
    """Anything in the folder besides the lock."""
    return any(p.name != LOCK_FILE for p in run_dir.iterdir())


def _refuse_foreign(run_dir: Path) -> None:
    _check_is_folder(run_dir)
    if run_dir.exists() and not _claimable(run_dir):
        raise RunError(f"run directory {run_dir} exists and is not a recbce run (no run.json written "
                       "by recbce): refusing to touch it; choose another run.name, or remove "
                       "the folder yourself")


def _check_is_folder(run_dir: Path) -> None:
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise RunError(f"run directory {run_dir} is a link or a file, not a folder")
