"""From raw interactions to implicit feedback, filtered and split without leakage.

Every function takes and returns pandas frames (columns user, item[, rating,
timestamp]) and is vectorised: no loop over users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recbce.errors import DataError


def implicit(frame: pd.DataFrame, min_rating: float | None, path) -> tuple[pd.DataFrame, dict]:
    """Keep ratings >= min_rating, drop repeated (user, item) pairs keeping the latest."""
    dropped = {}
    if min_rating is not None:
        if "rating" not in frame:
            raise DataError(f"{path}: data.min_rating is set but the file has no rating column")
        keep = frame["rating"].to_numpy() >= min_rating
        dropped["below_min_rating"] = int((~keep).sum())
        frame = frame[keep]
    # Keep each pair's latest row (by timestamp, else the last in the file), in file order.
    codes = pair_codes(frame)
    repeated, shared = repeats(codes)
    if repeated.any() and "timestamp" in frame:  # order only the rows of repeated pairs by time
        rows = np.flatnonzero(shared)
        rows = rows[np.argsort(frame["timestamp"].to_numpy()[rows], kind="stable")]
        repeated = np.zeros(len(frame), dtype=bool)
        repeated[rows] = repeats(codes[rows])[0]
    dropped["duplicates"] = int(repeated.sum())
    if dropped["duplicates"]:
        frame = frame[~repeated]
    return frame, dropped


# Integer ids whose pair codes stay below this are coded as they are: the radix sort that
# finds repeated pairs takes about as many passes as with dense codes, and the two hash
# factorisations (the costliest step of `implicit`, docs/results.md) are saved
RAW_CODES_BELOW = 2**42


def pair_codes(frame: pd.DataFrame) -> np.ndarray:
    """One int64 per (user, item) pair: equal pairs, equal codes, whatever the id types.
    Only equality matters: non-negative integer ids in a small enough range are used as
    they are, other ids are first numbered (pandas' factorize)."""
    users, items = frame["user"].to_numpy(), frame["item"].to_numpy()
    if len(frame) and all(ids.dtype.kind in "iu" and ids.min() >= 0 for ids in (users, items)):
        width = int(items.max()) + 1
        if (int(users.max()) + 1) * width < RAW_CODES_BELOW:
            return users.astype(np.int64) * width + items.astype(np.int64)  # uint64 + int64: float
    users = pd.factorize(users)[0]
    items, item_ids = pd.factorize(items)
    return users.astype(np.int64) * max(len(item_ids), 1) + items


def repeats(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the code occurs again further down, the code occurs more than once), per row.

    One stable sort rather than a hash table (pandas `duplicated`): equal codes end up
    side by side in file order, and a sort's memory access stays sequential where a
    hash table of tens of millions of pairs misses the cache on every row."""
    ordered, order = torch.sort(torch.from_numpy(codes), stable=True)
    same_as_next = torch.nonzero(ordered[1:] == ordered[:-1]).squeeze(1)
    later = torch.zeros(len(codes), dtype=torch.bool)
    earlier = torch.zeros(len(codes), dtype=torch.bool)
    later[order[same_as_next]] = True  # only the repeated rows are written: few, in most logs
    earlier[order[same_as_next + 1]] = True
    return later.numpy(), (later | earlier).numpy()


def kcore(frame: pd.DataFrame, k: int) -> tuple[pd.DataFrame, int]:
    """Iteratively drop users and items with fewer than k interactions; (frame, rows dropped)."""
    before = len(frame)
    while k > 1:
        user_counts = frame.groupby("user")["item"].transform("size").to_numpy()
        item_counts = frame.groupby("item")["user"].transform("size").to_numpy()
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            break
        frame = frame[keep]
    return frame, before - len(frame)


def holdout(frame: pd.DataFrame, ratio: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Move a seeded random `ratio` of each user's rows out; every user keeps at least one."""
    if ratio <= 0:
        return frame, None
    rng = np.random.default_rng(seed)
    users = pd.factorize(frame["user"])[0].astype(np.int64)
    # One sort on (user, random tie-breaker): rows grouped by user, random within a user.
    # torch's stable sort of integers is a radix sort, linear in the rows; its order is NumPy's
    # argsort's wherever the keys differ (they tie only for one user's equal 32-bit draws).
    keys = torch.from_numpy((users << 32) | rng.integers(0, 2**32, len(frame)))
    order = torch.sort(keys, stable=True).indices.numpy()
    # The groups come in user-code order, so each user's held rows are the first `quota`
    # of a run of `sizes` rows: a repeat of (True x quota, False x rest) per user.
    sizes = np.bincount(users)
    quota = np.minimum(np.floor(sizes * ratio).astype(np.int64), sizes - 1)
    runs = np.column_stack([quota, sizes - quota]).ravel()
    held = np.repeat(np.tile([True, False], len(sizes)), runs)
    return frame.iloc[order[~held]], frame.iloc[order[held]]


def leave_one_out(frame: pd.DataFrame, path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction (by timestamp) is held out; single-row users keep theirs."""
    _need_timestamp(frame, path, "leave_one_out")
    order, users = by_user_then_time(frame)
    ordered = frame.iloc[order]
    last = np.ones(len(users), dtype=bool)
    last[:-1] = users[1:] != users[:-1]
    many = np.bincount(users)[users] > 1
    return ordered[~(last & many)], ordered[last & many]


def temporal(frame: pd.DataFrame, ratio: float, path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A global cut-off: the latest `ratio` of all interactions are held out."""
    _need_timestamp(frame, path, "temporal")
    ordered = frame.iloc[by_time(frame).numpy()]
    cut = len(ordered) - int(round(len(ordered) * ratio))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def by_time(frame: pd.DataFrame) -> torch.Tensor:
    """Row positions by timestamp, ties in file order (a stable sort: radix for integer times)."""
    times = frame["timestamp"].to_numpy(copy=True)  # torch wants it writable; pandas lends read-only
    return torch.sort(torch.from_numpy(times), stable=True).indices


def by_user_then_time(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(row positions ordered by user id, then timestamp, ties in file order; each row's user
    rank in that order): the order of pandas' stable sort_values(["user", "timestamp"]), from
    two stable passes, the second on the user's rank among the distinct ids (only those are
    compared), so the rows are never sorted by comparison."""
    time_order = by_time(frame)
    ranks = torch.from_numpy(pd.factorize(frame["user"], sort=True)[0].astype(np.int64))
    user_order = torch.sort(ranks[time_order], stable=True).indices
    order = time_order[user_order]
    return order.numpy(), ranks[order].numpy()


def _need_timestamp(frame: pd.DataFrame, path, method: str) -> None:
    if "timestamp" not in frame:
        raise DataError(f"{path}: the {method} split needs a timestamp column")
