"""Atomic writes: every file is written to a temporary name, flushed to disk and renamed,
so a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import torch

from recbce.errors import RunError


def _atomic(path: Path, write) -> None:
    """Temporary file, flushed and fsynced, renamed over `path`, then the folder fsynced:
    a crash at any instant leaves the old file or the new one, never part of one. The temporary
    name is the writer's own: processes that write one file at once (the workers of a study
    scoring its best trial) each rename a whole file, the last one wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as err:  # disk full, folder missing or read-only: the user's to fix
        raise RunError(f"cannot write {path}: {err.strerror or first_line(err)}") from err
    finally:
        _remove(tmp)


def _remove(tmp: Path) -> None:
    """Clean up the temporary file; if even that fails (a read-only disk), the write's own
    error is the one to report, so this one is dropped."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(err).__name__


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    _atomic(Path(path), lambda handle: handle.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda handle: handle.write(data))


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, records: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def write_parquet(path: Path, frame) -> None:
    _atomic(Path(path), lambda handle: frame.to_parquet(handle, index=False))


def save_torch(path: Path, obj) -> None:
    def write(handle) -> None:
        try:
            torch.save(obj, handle)
        except RuntimeError as err:  # torch's zip writer reports a short write (a full disk) so
            raise OSError(f"torch could not write it ({first_line(err)}); is the disk full?") from err

    _atomic(Path(path), write)
