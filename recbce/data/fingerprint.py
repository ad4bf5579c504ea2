"""Fingerprints of the data files a run read: size, modification time and a content hash.

A run records them (data.json); `--resume` and `evaluate` compare them with the files
as they are now, so rows added or removed under the same ids stop the command instead
of silently changing what is trained or measured. The hash is blake2b over the whole
file: on Gowalla (5.7 MiB) about 0.01 s of CPU, under 2% of loading it (BENCHMARKS.md,
`make bench ONLY=fingerprint`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from recbce.config import DataConfig
from recbce.errors import DataError

CHUNK = 1 << 20


def data_files(config: DataConfig) -> list[str]:
    """The files loading `config` reads, as configured."""
    paths = [config.path]
    if config.split.method == "predefined":
        paths += [p for p in (config.split.test_path, config.split.valid_path) if p is not None]
    return paths


def take(config: DataConfig) -> list[dict]:
    return [fingerprint(path) for path in data_files(config)]


def fingerprint(path: str) -> dict:
    """{path, absolute, size, mtime_ns, blake2b} of one file; DataError if it cannot be read."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder, not a data file: name the file inside it") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    return {"path": str(path), "absolute": str(Path(path).resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "blake2b": digest.hexdigest()}


def difference(recorded: list[dict], current: list[dict], moved: dict[str, str] | None = None) -> str | None:
    """What differs between two fingerprints of the same files, on one line; None if the
    contents are the same (a new modification time alone, e.g. a copy or `touch`, is not a change).
    `moved`: {path now: path recorded} for files read from another place than the run's."""
    entries = [entry for entry in recorded if isinstance(entry, dict)]
    by_absolute = {entry.get("absolute"): entry for entry in entries}
    by_path = {entry.get("path"): entry for entry in entries}
    for now in current:  # matched by absolute path: a config may name the file either way
        was = (moved or {}).get(now["path"])
        then = (by_path.get(was) or by_absolute.get(str(Path(was).resolve())) if was
                else by_absolute.get(now["absolute"]) or by_path.get(now["path"]))
        if then is None:
            return f"{now['path']}: not among the files this run read"
        if then.get("size") != now["size"]:
            return (f"{now['path']} changed since this run read it ({then.get('size')} bytes then, "
                    f"{now['size']} now)")
        if then.get("blake2b") != now["blake2b"]:
            return f"{now['path']} changed since this run read it (same size, different content)"
    return None
