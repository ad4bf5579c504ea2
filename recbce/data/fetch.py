"""`recbce data fetch NAME`: known public data sets, downloaded, verified, unpacked safely.

The archive is downloaded to a temporary name, its MD5 compared with the
publisher's, and only then extracted, member by member, refusing any entry
whose path would land outside the target folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from recbce.errors import RecbceError

GROUPLENS = "https://files.grouplens.org/datasets/movielens"

# MD5 of each archive. GroupLens publishes one beside each archive (<url>.md5, e.g.
# "MD5 (ml-20m.zip) = cd245b17..."). Each pinned value below was checked (code search,
# 2026-11) against public code that verifies the real GroupLens download with it:
#   ml-100k  0e33842e...: the Keras MovieLens example's DATASETS table (also in
#            eli-osherovich/papers_with_code); quoted as the published MD5 in several READMEs.
#   ml-1m    c4d9eecf...: PaddlePaddle's dataset cache script; DataRec's MovieLens1M
#            (CHECKSUM); the Keras example.
#   ml-20m   cd245b17...: DataRec's MovieLens20M (CHECKSUM); the Keras example; a data
#            provenance note quoting GroupLens's ml-20m.zip.md5 sidecar line verbatim.
# ml-latest-small changes whenever GroupLens refreshes it, so nothing is pinned for it:
# its published .md5 file is downloaded alongside and checked instead.
DATASETS = {
    "ml-100k": {"archive": "ml-100k.zip", "md5": "0e33842e24a9c977be4e0107933c0723",
                "ratings": "ml-100k/u.data"},
    "ml-1m": {"archive": "ml-1m.zip", "md5": "c4d9eecfca2ab87c1945afe126590906",
              "ratings": "ml-1m/ratings.dat"},
    "ml-20m": {"archive": "ml-20m.zip", "md5": "cd245b17a1ae2cc31bb14903e1204af3",
               "ratings": "ml-20m/ratings.csv"},
    "ml-latest-small": {"archive": "ml-latest-small.zip", "md5": None,
                        "ratings": "ml-latest-small/ratings.csv"},
}


class FetchError(RecbceError):
    """A download failed, did not match its checksum, or its archive is unsafe."""


def default_cache() -> Path:
    return Path(os.environ.get("RECBCE_DATA", Path.home() / ".cache" / "recbce"))


def fetch(name: str, cache: Path | None = None, base_url: str = GROUPLENS,
          progress: bool = True) -> Path:
    """Path of the data set's ratings file, downloading and unpacking it if needed."""
    if name not in DATASETS:
        raise FetchError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    spec, cache = DATASETS[name], Path(cache or default_cache())
    ratings = cache / spec["ratings"]
    if ratings.is_file():
        return ratings
    try:
        return store(spec, cache, base_url, progress)
    except OSError as err:  # the cache cannot be written: not a folder, read-only, disk full
        where = err.filename or cache
        raise FetchError(f"cannot write {where}: {err.strerror or err}") from None


def store(spec: dict, cache: Path, base_url: str, progress: bool) -> Path:
    """Download, check and unpack into `cache`; the ratings file's path."""
    ratings = cache / spec["ratings"]
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / spec["archive"]
    url = f"{base_url}/{spec['archive']}"
    expected = spec["md5"] or published_md5(f"{url}.md5")
    download(url, archive, progress)
    actual = md5(archive)
    if actual != expected:
        archive.unlink()
        raise FetchError(f"{url}: checksum mismatch (md5 {actual}, expected {expected}); "
                         "the download was deleted")
    extract(archive, cache)
    archive.unlink()
    if not ratings.is_file():
        raise FetchError(f"{url}: the archive has no {spec['ratings']}")
    return ratings


def published_md5(url: str) -> str:
    """The hash in a GroupLens .md5 file: 'MD5 (name.zip) = <hex>' or '<hex>  name.zip'."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            text = response.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f"{url}: cannot download the checksum: {err}") from None
    words = [w for w in text.replace("=", " ").split() if len(w) == 32]
    if not words or any(c not in "0123456789abcdef" for c in words[0].lower()):
        raise FetchError(f"{url}: no MD5 found in the checksum file")
    return words[0].lower()


def download(url: str, target: Path, progress: bool) -> None:
    """Stream to a temporary name, then rename: no half-written archive under the real name."""
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                      disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        partial.replace(target)
    except (urllib.error.URLError, OSError) as err:
        with contextlib.suppress(OSError):  # a failing cleanup must not hide why the download failed
            partial.unlink(missing_ok=True)
        raise FetchError(f"{url}: download failed: {err}") from None


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def extract(archive: Path, target: Path) -> None:
    """Unzip into `target`, refusing absolute paths, '..' and links that escape it."""
    root = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                destination = (root / member.filename).resolve()
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if is_link or not destination.is_relative_to(root):
                    raise FetchError(f"{archive}: unsafe entry {member.filename!r} (outside the "
                                     "target folder or a link); nothing was extracted")
            for member in members:
                destination = (root / member.filename).resolve()
                if member.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as err:
        raise FetchError(f"{archive}: not a valid zip archive: {err}") from None
