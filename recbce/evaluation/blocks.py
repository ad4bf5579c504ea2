"""The block of scores that evaluation, `recommend` and `similar` fill a chunk of rows at a time.

Its rows start on a 64-byte boundary: a catalogue of an odd number of items (Gowalla's
40,981) otherwise puts the matrix product's rows at unaligned addresses, which MKL wrote
at about half the speed (docs/results.md, "Selecting the top K without ordering every
score"). The block is a view of the first n_items columns of a wider buffer, so its row
stride is not n_items: pairs are masked by (row, item), never through a flat view.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from recbce.evaluation.selection import by_score, join, ranked, shortlist, tiles_of, top_in_item_order

ALIGN_ITEMS = 16  # float32 scores per 64 bytes

# Bytes held per scored (user, item) at the peak of a chunk: the float32 score block plus,
# for rows whose ties cross the cut-off, comparison masks and an int32 running count.
BYTES_PER_SCORE = 16


# A block of scores is written by the matrix product and read back at once by topk: a block
# that fits in the processor's cache is read back from there instead of from memory.
CACHE_BLOCK_BYTES = 16 * 2**20
# Below this many users a block's fixed costs (a matrix product too thin to be efficient, the
# per-block bookkeeping) outweigh what the cache saves: a large catalogue's block is not cut
# to fit the cache (500,000 items: 8 users a block made ranking twice as slow as 33).
MIN_CACHE_BLOCK_USERS = 64


def chunk_users(n_items: int, max_memory_mb: float, batch_users: int | None = None) -> int:
    """Users per chunk: as many as the memory budget holds, no more than a cache-sized block
    (or MIN_CACHE_BLOCK_USERS where that block is smaller), at most `batch_users` if given."""
    budget = int(max_memory_mb * 2**20 // BYTES_PER_SCORE // n_items)
    fits = min(budget, max(CACHE_BLOCK_BYTES // 4 // n_items, MIN_CACHE_BLOCK_USERS))
    return max(1, min(fits, batch_users) if batch_users else fits)


def score_block(rows: int, n_items: int) -> torch.Tensor:
    """An uninitialised [rows, n_items] float32 block whose rows start every 64 bytes."""
    stride = -(-n_items // ALIGN_ITEMS) * ALIGN_ITEMS
    return torch.empty(rows, stride)[:, :n_items]


def mask(block: torch.Tensor, positions: torch.Tensor, n_items: int) -> torch.Tensor:
    """`block` with the pairs at flat `positions` (row · n_items + item) set to −inf."""
    if len(positions):
        block.index_put_((positions // n_items, positions % n_items), torch.tensor(-torch.inf))
    return block


# A catalogue this large is scored a tile of ITEM_TILE items at a time for blocks of
# TILE_USERS users: each tile's scores stay in the cache for the selection, and the item
# table is read once for every TILE_USERS users instead of once a block of a few dozen
# (below it, whole rows were as fast: docs/results.md)
ITEM_TILE = 2_048
TILED_FROM_ITEMS = 131_072
TILE_USERS = 1_024
SUBTILE = 32  # items a maximum is kept for, to skip what cannot enter a row's top k


def top_over_item_tiles(score, rows: int, n_items: int, excluded: torch.Tensor, k: int,
                        buffer: torch.Tensor):
    """([rows, k] items, [rows, k] scores) of each row's top k, ties to the lowest item, or None
    if a score is NaN. `score(items, out)` gives the rows' scores of a slice of items into
    `out`; `excluded`: sorted positions row · n_items + item, ranked at −inf. A tile after the
    first only offers its scores above the row's k-th best so far (an equal score comes from a
    later, so lower-ranked, item), read from the subtiles whose maximum beats it, merged with
    the best so far; those are kept in item order (the tie rule's order) and ranked at the end."""
    by_item = excluded[(excluded % n_items).argsort(stable=True)]
    masked_rows, masked_items = by_item // n_items, by_item % n_items
    best_scores = best_items = None
    for start in range(0, n_items, ITEM_TILE):
        stop = min(n_items, start + ITEM_TILE)
        tile = score(slice(start, stop), buffer[:rows, :stop - start])
        lo, hi = torch.searchsorted(masked_items, torch.tensor([start, stop])).tolist()
        tile.index_put_((masked_rows[lo:hi], masked_items[lo:hi] - start), torch.tensor(-torch.inf))
        if best_scores is None:  # the best so far are kept in item order, ranked at the end
            best_items = top_in_item_order(tile, min(k, stop - start))
            best_scores, best_items = tile.gather(1, best_items), best_items + start
            if best_scores.isnan().any():  # topk ranks NaN first: it would be among these
                return None
            continue
        offered = candidates(tile, best_scores.amin(dim=1, keepdim=True))  # the k-th best
        if offered is None:
            return None
        rows_offered, scores, columns = offered
        if not len(rows_offered):
            continue
        best_scores[rows_offered], best_items[rows_offered] = merge(
            best_scores[rows_offered], best_items[rows_offered], scores, columns, start, k)
    order = by_score(best_scores)
    return best_items.gather(1, order), best_scores.gather(1, order)


def candidates(tile: torch.Tensor, kth: torch.Tensor):
    """(rows, scores, columns): the rows of `tile` with a score above their `kth`, and [those
    rows, c] those scores and their columns, in column order, −inf padded; None if a score is NaN.
    Only the subtiles whose maximum beats `kth` (and a last, partial subtile) are read again."""
    n_rows, n_columns = tile.shape
    full = n_columns // SUBTILE
    subtiles = tiles_of(tile, SUBTILE)
    maxima = subtiles.amax(dim=2)
    tail = tile[:, full * SUBTILE:]
    if maxima.isnan().any() or tail.isnan().any():
        return None
    row, which = (maxima > kth).nonzero(as_tuple=True)  # row-major: each row's in column order
    values = subtiles[row, which]
    # equal scores come from later items: they cannot enter
    hot, at = (values > kth[row]).nonzero(as_tuple=True)
    row, values, columns = row[hot], values[hot, at], which[hot] * SUBTILE + at
    if tail.shape[1]:  # after the subtiles' columns; a stable sort by row keeps column order
        tail_row, tail_at = (tail > kth).nonzero(as_tuple=True)
        row = torch.cat([row, tail_row])
        row, order = torch.sort(row, stable=True)
        values = torch.cat([values, tail[tail_row, tail_at]])[order]
        columns = torch.cat([columns, tail_at + full * SUBTILE])[order]
    rows, counts = torch.unique_consecutive(row, return_counts=True)
    width = int(counts.max()) if len(rows) else 0
    which_row = torch.repeat_interleave(torch.arange(len(rows)), counts)
    slot = torch.arange(len(row)) - (torch.cumsum(counts, 0) - counts)[which_row]
    scores = torch.full((len(rows), width), -torch.inf)
    scores[which_row, slot] = values
    padded = torch.zeros((len(rows), width), dtype=torch.long)
    padded[which_row, slot] = columns
    return rows, scores, padded


def merge(best_scores, best_items, scores, columns, start: int, k: int):
    """The top k, in item order, of the best so far (items before `start`, in item order) and a
    tile's candidates (in column order): ties go to the lowest item, the first in this order."""
    values = torch.cat([best_scores, scores], dim=1)
    top = top_in_item_order(values, k)
    return values.gather(1, top), torch.cat([best_items, columns + start], dim=1).gather(1, top)


# Whole rows are scored a cache-sized block at a time, but their shortlists are ranked (and
# evaluation's metrics computed) this many rows at a time: one set of small operations for
# several blocks instead of one a block (Gowalla: 102 users a block).
RANKED_TOGETHER = 1_024


class Plan(NamedTuple):
    """How a run of rows is ranked: by item tiles or whole rows, `rows` ranked together,
    `whole_rows` scored a block when whole (a NaN falls back to them), into the one reused
    `buffer`."""

    tiled: bool
    rows: int
    whole_rows: int
    buffer: torch.Tensor


def plan(n_rows: int, n_items: int, max_memory_mb: float, batch_users: int | None = None,
         tiles: bool = True) -> Plan:
    """Item tiles from TILED_FROM_ITEMS items on (where `tiles`), else whole rows as the memory
    budget allows, RANKED_TOGETHER at a time (one block at a time without `tiles`: AUC reads
    the block's scores); at most `batch_users` rows. The buffer is reused over the blocks: a
    fresh one each time is memory the OS pages in again."""
    whole_rows = chunk_users(n_items, max_memory_mb, batch_users)
    tiled = tiles and n_items >= TILED_FROM_ITEMS
    if tiled:
        rows = min(TILE_USERS, batch_users or TILE_USERS)
        return Plan(True, rows, whole_rows, score_block(min(rows, n_rows), ITEM_TILE))
    together = min(RANKED_TOGETHER, batch_users or RANKED_TOGETHER)
    rows = whole_rows * max(1, together // whole_rows) if tiles else whole_rows  # whole blocks
    return Plan(False, rows, whole_rows, score_block(min(whole_rows, n_rows), n_items))


def ranked_lists(score, n_rows: int, excluded: torch.Tensor, n_items: int, k: int, plan: Plan):
    """(top [n_rows, k] items, their scores, the rows' whole scores or None): the ranked lists
    of a block of rows. `score(rows, items, out)` writes the scores of those rows (a slice) and
    items into `out`; `excluded` (sorted positions row · n_items + item within the block) are
    at −inf. By item tiles where `plan` says so, unless a score is NaN; else, or then, whole
    rows, scored `plan.whole_rows` at a time, their shortlists ranked together."""
    block = plan.buffer
    if plan.tiled:
        found = top_over_item_tiles(lambda items, out: score(slice(0, n_rows), items, out), n_rows,
                                    n_items, excluded, k, block)
        if found is not None:
            return *found, None
        block = score_block(min(plan.whole_rows, n_rows), n_items)
    shortlists, scores = [], None
    for start in range(0, n_rows, plan.whole_rows):
        stop = min(start + plan.whole_rows, n_rows)
        here = window(excluded, start * n_items, (stop - start) * n_items)
        scores = mask(score(slice(start, stop), slice(None), block[:stop - start]), here, n_items)
        shortlists.append(shortlist(scores, k))
    top, top_scores = ranked(join(shortlists), k)
    return top, top_scores, scores if len(shortlists) == 1 else None


def window(flat: torch.Tensor, offset: int, size: int) -> torch.Tensor:
    """The positions in [offset, offset + size) of a sorted flat array, shifted to start at 0."""
    lo, hi = torch.searchsorted(flat, torch.tensor([offset, offset + size])).tolist()
    return flat[lo:hi] - offset
