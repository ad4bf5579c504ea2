"""Each row's top k items, best first, equal scores ranked by item index (lowest first).

`ranked_top` is what evaluation, `recommend` and `similar` call. On wide rows it looks only
at each row's best tiles: it reads every score once to find each tile's maximum, then ranks
the few tiles that can hold the row's top k (`shortlist`), instead of handing every score to
topk (`top_by_sorting`, the whole row). Both give the same lists, ties included. A shortlist
needs the scores only while it is drawn up: blocks of rows draw theirs while their scores are
in the cache and rank them together (`ranked`), one set of operations for many blocks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# Catalogues below this many items rank whole rows as fast as through tiles, or faster
# (bench/bench_selection.py measures both, per catalogue size)
TILES_FROM_ITEMS = 8_192
# Rows with fewer tiles than this many times k+1 are ranked whole
MIN_TILES_PER_PLACE = 4
# Items a tile: fewer, wider tiles mean fewer maxima to rank and more candidates in each
# chosen one (bench/bench_selection.py measures every width from 16 to 256, per catalogue size)
TILE_WIDTH = 16


class Shortlist(NamedTuple):
    """Each row's candidates for its top k, in item order: their scores and items ([rows, c]);
    and the rows ranked whole instead (`exact`: their row numbers, their top k, its scores)."""

    values: torch.Tensor
    items: torch.Tensor
    exact: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def ranked_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[rows, k] item indices of each row's k best scores, best first, ties by lowest index."""
    return ranked(shortlist(scores, k), k)[0]


def shortlist(scores: torch.Tensor, k: int) -> Shortlist:
    """What `ranked` needs of `scores` for each row's top k: the best tiles' items on wide rows,
    else the row's top k itself."""
    if scores.shape[1] >= TILES_FROM_ITEMS:
        return tile_shortlist(scores, k, TILE_WIDTH)
    return whole_row_shortlist(scores, k)


def ranked(short: Shortlist, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([rows, k] items, [rows, k] their scores) of each row's top k, best first, from its
    shortlist (or shortlists joined by `join`)."""
    chosen = top_by_sorting(short.values, k)
    top, top_scores = short.items.gather(1, chosen), short.values.gather(1, chosen)
    rows, exact_top, exact_scores = short.exact
    if len(rows):
        top[rows], top_scores[rows] = exact_top, exact_scores
    return top, top_scores


def join(shortlists: list[Shortlist]) -> Shortlist:
    """The shortlists of consecutive blocks of rows as one (the same k and catalogue)."""
    if len(shortlists) == 1:
        return shortlists[0]
    exact_rows, start = [], 0
    for short in shortlists:  # each block's row numbers, after the rows before it
        exact_rows.append(short.exact[0] + start)
        start += len(short.values)
    exact = (torch.cat(exact_rows), *(torch.cat([short.exact[i] for short in shortlists]) for i in (1, 2)))
    return Shortlist(torch.cat([short.values for short in shortlists]),
                     torch.cat([short.items for short in shortlists]), exact)


def whole_row_shortlist(scores: torch.Tensor, k: int) -> Shortlist:
    """The shortlist of whole rows: each row's top k itself, in item order."""
    top = top_in_item_order(scores, k)
    return Shortlist(scores.gather(1, top), top, _no_rows(scores, k))


def _no_rows(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.zeros(0, dtype=torch.long), torch.zeros(0, k, dtype=torch.long),
            scores.new_zeros(0, k))


def top_by_tiles(scores: torch.Tensor, k: int, width: int) -> torch.Tensor:
    """ranked_top through each row's k best tiles of `width` items."""
    return ranked(tile_shortlist(scores, k, width), k)[0]


def tile_shortlist(scores: torch.Tensor, k: int, width: int) -> Shortlist:
    """Each row's k best tiles of `width` items.

    Tile j holds the items j, j + T, j + 2T, ... (T tiles; the last n_items mod width items
    are a tail, always taken): the tiles' maxima are then a maximum over rows of a [width, T]
    matrix, which vectorises. The k-th largest tile maximum is a score that k items reach, so
    it is at most the row's k-th best score: every item of the row's top k, and every item tied
    with its k-th, lies in one of the k tiles with the largest maxima, unless a (k+1)-th tile
    ties the k-th maximum. Those tiles' items, in item order, are all top_by_sorting needs to
    see for the same answer; rows with such a tie (or a NaN, or -inf at the cut) are ranked
    whole.
    """
    rows, n_items = scores.shape
    n_tiles = n_items // width
    if n_tiles < MIN_TILES_PER_PLACE * (k + 1):
        return whole_row_shortlist(scores, k)
    if scores.stride(1) != 1:
        scores = scores.contiguous()
    tiles = scores.as_strided((rows, width, n_tiles), (scores.stride(0), n_tiles, 1))
    maxima = tiles.amax(dim=1)
    # A tie at the cut: the (k+1)-th largest maximum equals the k-th. torch's topk takes its
    # fast partial sort only while 64 x k <= n, so on fewer tiles counting those that reach
    # the k-th is cheaper than asking for one more (docs/results.md). topk ranks NaN first.
    if 64 * (k + 1) <= n_tiles:
        best, chosen = maxima.topk(k + 1, dim=1)
        tie, chosen = best[:, k] == best[:, k - 1], chosen[:, :k]
    else:
        best, chosen = maxima.topk(k, dim=1)
        tie = (maxima >= best[:, k - 1:k]).sum(1, dtype=torch.int32) > k
    whole = tie | best[:, 0].isnan()
    chosen = chosen.sort(dim=1).values
    # the chosen tiles' items in item order: item i·T + j comes before i·T + j' for j < j'
    values = tiles.gather(2, chosen.unsqueeze(1).expand(rows, width, k)).view(rows, width * k)
    items = (chosen.unsqueeze(1) + n_tiles * torch.arange(width).unsqueeze(1)).view(rows, width * k)
    if n_tiles * width < n_items:  # the tail, after the tiles' items: item order is kept
        values = torch.cat([values, scores[:, n_tiles * width:]], dim=1)
        items = torch.cat([items, torch.arange(n_tiles * width, n_items).expand(rows, -1)], dim=1)
    exact = _no_rows(scores, k)
    if whole.any():
        exact_rows = whole.nonzero().squeeze(1)
        ranked_whole = scores[exact_rows]
        exact_top = top_by_sorting(ranked_whole, k)
        exact = exact_rows, exact_top, ranked_whole.gather(1, exact_top)
    return Shortlist(values, items, exact)


def tiles_of(scores: torch.Tensor, width: int) -> torch.Tensor:
    """[rows, n_items // width, width]: a view of each row's whole tiles (the partial last one
    left out), whatever the rows' stride."""
    if scores.stride(1) != 1:
        scores = scores.contiguous()
    rows, n_items = scores.shape
    return scores.as_strided((rows, n_items // width, width), (scores.stride(0), width, 1))


def top_by_sorting(scores: torch.Tensor, k: int) -> torch.Tensor:
    """ranked_top over whole rows: the row's top k in item order, then ordered by score, stably
    over item indices."""
    top = top_in_item_order(scores, k)
    return top.gather(1, by_score(scores.gather(1, top)))


def top_in_item_order(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[rows, k] the items top_by_sorting ranks, in item order.

    topk leaves the order of ties open. Rows where ties straddle the k-th place take the
    lowest-indexed tied items (found by a running count).
    """
    # One more than asked: ties straddle the cut exactly where the (k+1)-th score equals the k-th.
    values, top = scores.topk(min(k + 1, scores.shape[1]), dim=1)
    kth, top = values[:, k - 1:k], top[:, :k]
    straddle = torch.nonzero(values[:, -1] == kth[:, 0]).squeeze(1) if values.shape[1] > k else []
    if len(straddle):
        block, cut = scores[straddle], kth[straddle]
        above, tied = block > cut, block == cut
        room = k - above.sum(1, keepdim=True)
        take = above | (tied & (tied.cumsum(1, dtype=torch.int32) <= room))
        top[straddle] = take.nonzero()[:, 1].view(len(straddle), k)
    return top.sort(dim=1).values


def by_score(values: torch.Tensor) -> torch.Tensor:
    """The order of each row of `values` (scores of items in item order) by score, best first,
    equal scores in item order."""
    return values.sort(dim=1, descending=True, stable=True).indices
