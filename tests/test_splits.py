import pandas as pd
from conftest import SHARED_DATA

from recbce.data.splits import holdout, kcore, leave_one_out, temporal


def test_random_holdout_has_no_leakage_and_keeps_every_user():
    frame = pd.DataFrame({"user": [u for u in range(50) for _ in range(10)], "item": list(range(500))})
    train, test = holdout(frame, 0.2, seed=3)
    assert len(train) + len(test) == 500
    assert not set(zip(train.user, train.item, strict=True)) & set(zip(test.user, test.item, strict=True))
    assert test.groupby("user").size().eq(2).all() and train.user.nunique() == 50
    again, _ = holdout(frame, 0.2, seed=3)
    assert train.equals(again)


def test_leave_one_out_holds_out_latest():
    frame = pd.DataFrame({"user": [1, 1, 1, 2], "item": [5, 6, 7, 5], "timestamp": [3, 9, 1, 4]})
    train, test = leave_one_out(frame, "f")
    assert test[["user", "item"]].values.tolist() == [[1, 6]]
    assert len(train) == 3  # user 2 has one interaction and keeps it


def test_temporal_cut_is_global():
    frame = pd.DataFrame({"user": [1, 2, 1, 2, 3], "item": [1, 2, 3, 4, 5], "timestamp": [5, 1, 4, 2, 3]})
    train, test = temporal(frame, 0.4, "f")
    assert sorted(test.timestamp) == [4, 5] and train.timestamp.max() < test.timestamp.min()


def test_kcore_is_iterative():
    # Dropping item 9 (one interaction) leaves user 3 with one interaction, which must go too.
    frame = pd.DataFrame({"user": [1, 1, 2, 2, 3, 3], "item": [1, 2, 1, 2, 1, 9]})
    kept, dropped = kcore(frame, 2)
    assert set(kept.user) == {1, 2} and dropped == 2


def test_implicit_keeps_each_pairs_latest_row_in_file_order():
    from recbce.data.splits import implicit

    frame = pd.DataFrame({"user": ["a", "b", "a", "a", "b"], "item": [1, 1, 1, 2, 1],
                          "rating": [5, 2, 3, 4, 5], "timestamp": [9, 3, 4, 1, 2]})
    kept, dropped = implicit(frame, None, "f")
    assert kept.values.tolist() == [["a", 1, 5, 9], ["b", 1, 2, 3], ["a", 2, 4, 1]]
    assert dropped == {"duplicates": 2}
    kept, dropped = implicit(frame.drop(columns="timestamp"), 3, "f")  # no time: the file's last
    assert kept.values.tolist() == [["a", 1, 3], ["a", 2, 4], ["b", 1, 5]]
    assert dropped == {"below_min_rating": 1, "duplicates": 1}


def test_repeats_agrees_with_pandas_duplicated():
    import numpy as np

    from recbce.data.splits import repeats

    codes = np.random.default_rng(0).integers(0, 300, 2_000)
    later, shared = repeats(codes)
    assert (later == pd.Series(codes).duplicated(keep="last").to_numpy()).all()
    assert (shared == pd.Series(codes).duplicated(keep=False).to_numpy()).all()
    assert [len(mask) for mask in repeats(np.array([], dtype=np.int64))] == [0, 0]


def test_holdout_takes_floor_of_ratio_of_each_user_and_leaves_one():
    sizes = range(1, 31)
    frame = pd.DataFrame({"user": [u for u in sizes for _ in range(u)]})
    frame["item"] = range(len(frame))
    train, test = holdout(frame.sample(frac=1, random_state=0), 0.3, seed=1)
    held = test.groupby("user").size().reindex(list(sizes), fill_value=0)
    assert held.tolist() == [min(int(u * 0.3), u - 1) for u in sizes]
    assert sorted(train.item.tolist() + test.item.tolist()) == list(range(len(frame)))


def holdout_by_argsort(frame: pd.DataFrame, ratio: float, seed: int):
    """The holdout as it was before its linear-time sort (NumPy's comparison argsort): the
    reference the splits must equal, row for row."""
    import numpy as np

    rng = np.random.default_rng(seed)
    users = pd.factorize(frame["user"])[0].astype(np.int64)
    order = np.argsort((users << 32) | rng.integers(0, 2**32, len(frame)))
    sizes = np.bincount(users)
    quota = np.minimum(np.floor(sizes * ratio).astype(np.int64), sizes - 1)
    held = np.repeat(np.tile([True, False], len(sizes)), np.column_stack([quota, sizes - quota]).ravel())
    return frame.iloc[order[~held]], frame.iloc[order[held]]


def shared_frames():
    """ml-100k and Gowalla's train as read for training, where ../shared is beside the repo."""
    from recbce.config.sections import DataConfig
    from recbce.data.readers import read_interactions

    files = {"ml-100k": ("ml-100k/u.data", "movielens"), "gowalla": ("gowalla/train.txt", "adjacency")}
    for name, (path, fmt) in files.items():
        path = SHARED_DATA / path
        if path.is_file():
            yield name, read_interactions(path, DataConfig(path=str(path), format=fmt))


def test_holdout_is_the_comparison_sorts_split_row_for_row():
    """Generated logs (users in file order and shuffled, repeated pairs, one-row users) and the
    shipped data sets: the same train and held-out rows in the same order as before."""
    import numpy as np

    rng = np.random.default_rng(7)
    frames = [("generated", pd.DataFrame({"user": rng.integers(0, 5_000, 200_000),
                                          "item": rng.integers(0, 900, 200_000)})),
              ("sorted users", pd.DataFrame({"user": np.repeat(np.arange(3_000), 7), "item": 1})),
              *shared_frames()]
    for name, frame in frames:
        for ratio, seed in ((0.1, 0), (0.25, 3)):
            new, old = holdout(frame, ratio, seed), holdout_by_argsort(frame, ratio, seed)
            for part, reference in zip(new, old, strict=True):
                assert part.index.equals(reference.index), (name, ratio, seed)


def test_leave_one_out_and_temporal_are_the_pandas_sorts_splits_row_for_row():
    """Generated logs (integer and text ids, float times, many tied times, one-row users) and
    ml-100k: the same rows in the same order as pandas' stable sort_values gave before."""
    import numpy as np

    rng = np.random.default_rng(5)
    n = 100_000
    generated = pd.DataFrame({"user": rng.integers(0, 4_000, n), "item": rng.integers(0, 800, n),
                              "timestamp": rng.integers(0, 500, n)})  # many ties within a user
    frames = [("generated", generated),
              ("text ids, float times", generated.assign(user="u" + generated.user.astype(str),
                                                         timestamp=rng.random(n))),
              ("one row each", pd.DataFrame({"user": [9, 3, 5], "item": [1, 2, 3], "timestamp": [2, 2, 1]})),
              *[(name, frame) for name, frame in shared_frames() if "timestamp" in frame]]
    for name, frame in frames:
        ordered = frame.sort_values(["user", "timestamp"], kind="stable")
        last = ~ordered["user"].duplicated(keep="last").to_numpy()
        many = ordered.groupby("user", sort=False)["item"].transform("size").to_numpy() > 1
        for part, reference in zip(leave_one_out(frame, "f"), (ordered[~(last & many)], ordered[last & many]),
                                   strict=True):
            assert part.index.equals(reference.index), name
        ordered = frame.sort_values("timestamp", kind="stable")
        cut = len(ordered) - int(round(len(ordered) * 0.2))
        for part, reference in zip(temporal(frame, 0.2, "f"), (ordered.iloc[:cut], ordered.iloc[cut:]),
                                   strict=True):
            assert part.index.equals(reference.index), name


def test_pair_codes_of_any_ids_mark_the_same_repeats():
    """Small non-negative integer ids are coded as they are, other ids numbered first: either
    way equal pairs and only equal pairs share a code, so `implicit` keeps the same rows."""
    import numpy as np

    from recbce.data.splits import RAW_CODES_BELOW, implicit, pair_codes, repeats

    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 40, 3_000), rng.integers(0, 60, 3_000)
    expected = pd.Series(list(zip(users, items, strict=True))).duplicated(keep="last").to_numpy()
    for shift in (0, -20, RAW_CODES_BELOW):  # as they are; negative; too wide: numbered
        frame = pd.DataFrame({"user": users + shift, "item": items})
        assert (repeats(pair_codes(frame))[0] == expected).all(), shift
    unsigned = pd.DataFrame({"user": users.astype(np.uint64), "item": items.astype(np.uint64)})
    assert pair_codes(unsigned).dtype == np.int64 and (repeats(pair_codes(unsigned))[0] == expected).all()
    as_text = pd.DataFrame({"user": users.astype(str), "item": items.astype(str)})
    assert (repeats(pair_codes(as_text))[0] == expected).all()
    kept, _ = implicit(pd.DataFrame({"user": users, "item": items}), None, "f")
    kept_text, _ = implicit(as_text, None, "f")
    assert kept.index.equals(kept_text.index) and len(kept) == (~expected).sum()
