"""`recbce data fetch gowalla | yelp2018 | amazon-book`: the fixed train/test splits of the
NGCF and LightGCN papers, from the LightGCN authors' public repository.

Each split is two text files, one line per user: `user item item ...` (0-based ids). No
checksum is published, so a download is checked instead by its shape (every line a run of
non-negative integers) and by the counts the papers publish (users, items, and the train
and test interactions). A file that fails is deleted; nothing half-checked stays behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recbce.data.fetch import DATASETS, FetchError, default_cache, download

LIGHTGCN = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data"
FILES = ("train.txt", "test.txt")


@dataclass(frozen=True)
class Counts:
    users: int
    items: int
    train: int
    test: int


# Published sizes (LightGCN paper, Table 1; the repository's README), checked on every fetch.
SPLITS = {
    "gowalla": Counts(users=29_858, items=40_981, train=810_128, test=217_242),
    "yelp2018": Counts(users=31_668, items=38_048, train=1_237_259, test=324_147),
    "amazon-book": Counts(users=52_643, items=91_599, train=2_380_730, test=603_378),
}


def known_names() -> list[str]:
    return [*DATASETS, *SPLITS]


def fetch_split(name: str, cache: Path | None = None, base_url: str = LIGHTGCN,
                progress: bool = True) -> tuple[Path, Path]:
    """(train.txt, test.txt) of a LightGCN split under <cache>/<name>, downloaded if needed,
    checked against the published counts either way."""
    if name not in SPLITS:
        raise FetchError(f"unknown data set {name!r}; known: {', '.join(known_names())}")
    folder = Path(cache or default_cache()) / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / file for file in FILES]
    for path in paths:
        if not path.is_file():
            download(f"{base_url}/{name}/{path.name}", path, progress)
    try:
        check(name, *paths)
    except FetchError:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return paths[0], paths[1]


def check(name: str, train: Path, test: Path) -> None:
    """Shape and counts of a downloaded split, against SPLITS[name]."""
    expected = SPLITS[name]
    train_users, train_items, n_train = read_counts(train)
    _, test_items, n_test = read_counts(test)
    found = Counts(users=train_users, items=max(train_items, test_items), train=n_train, test=n_test)
    if found != expected:
        wrong = [f"{field} {getattr(found, field):,} (published {getattr(expected, field):,})"
                 for field in ("users", "items", "train", "test")
                 if getattr(found, field) != getattr(expected, field)]
        raise FetchError(f"{name}: the download does not match the published counts: {', '.join(wrong)}; "
                         "the files were deleted")


def read_counts(path: Path) -> tuple[int, int, int]:
    """(users: highest user id + 1, items: highest item id + 1, interactions) of one file;
    a FetchError naming the line where a line is not `user item item ...` in integers."""
    max_user = max_item = -1
    interactions = 0
    try:
        with open(path, encoding="ascii") as handle:
            for number, line in enumerate(handle, 1):
                fields = line.split()
                if not fields or not all(field.isdigit() for field in fields):
                    raise FetchError(f"{path}: line {number} is not 'user item item ...' in integers; "
                                     "the files were deleted")
                ids = list(map(int, fields))
                max_user = max(max_user, ids[0])
                max_item = max(max_item, *ids[1:], -1)
                interactions += len(ids) - 1
    except UnicodeDecodeError:
        raise FetchError(f"{path}: not a text file; the files were deleted") from None
    return max_user + 1, max_item + 1, interactions
