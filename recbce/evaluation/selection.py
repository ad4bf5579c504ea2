"""Each row's top k items, best first, equal scores ranked by item index (lowest first).

`ranked_top` is what evaluation, `recommend` and `similar` call. On wide rows it looks only
at each row's best tiles (`top_by_tiles`): it reads every score once to find each tile's
maximum, then ranks the few tiles that can hold the row's top k, instead of handing every
score to topk (`top_by_sorting`, the whole row). Both give the same lists, ties included.
"""

from __future__ import annotations

import math

import torch

# Catalogues below this many items rank whole rows as fast as through tiles, or faster
# (bench/bench_selection.py measures both, per catalogue size)
TILES_FROM_ITEMS = 8_192
# Rows with fewer tiles than this many times k+1 are ranked whole
MIN_TILES_PER_PLACE = 4


def ranked_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[rows, k] item indices of each row's k best scores, best first, ties by lowest index."""
    if scores.shape[1] < TILES_FROM_ITEMS:
        return top_by_sorting(scores, k)
    return top_by_tiles(scores, k, tile_width(scores.shape[1]))


def tile_width(n_items: int) -> int:
    """32 items a tile below 80,000 items, doubling with every doubling of the catalogue beyond,
    up to 256: wider tiles mean fewer maxima to rank and more candidates in each chosen tile
    (chosen where bench/bench_selection.py measured it fastest)."""
    return min(256, 32 * 2 ** max(0, int(math.log2(n_items / 40_000))))


def top_by_tiles(scores: torch.Tensor, k: int, width: int) -> torch.Tensor:
    """ranked_top through each row's k best tiles of `width` items.

    The k-th largest tile maximum is a score that k items reach, so it is at most the row's
    k-th best score: every item of the row's top k, and every item tied with its k-th, lies
    in one of the k tiles with the largest maxima (or in the last, partial tile, always
    ranked), unless another tile ties the k-th maximum. Those tiles, in item order, are all
    top_by_sorting needs to see for the same answer; rows with such a tie (or a NaN, or
    -inf at the cut) are ranked whole.
    """
    rows, n_items = scores.shape
    full = n_items // width
    if full < MIN_TILES_PER_PLACE * (k + 1):
        return top_by_sorting(scores, k)
    tiles = tiles_of(scores, width)
    maxima = tiles.amax(dim=2)
    best, chosen = maxima.topk(k, dim=1)
    whole = ((maxima >= best[:, -1:]).sum(1) > k) | maxima.isnan().any(1)
    chosen = chosen.sort(dim=1).values  # in item order, for the tie rule
    values = tiles[torch.arange(rows).unsqueeze(1), chosen].view(rows, k * width)
    items = (chosen.unsqueeze(2) * width + torch.arange(width)).view(rows, k * width)
    if full * width < n_items:  # the partial tile, after the others: item order is kept
        values = torch.cat([values, scores[:, full * width:]], dim=1)
        items = torch.cat([items, torch.arange(full * width, n_items).expand(rows, -1)], dim=1)
    top = items.gather(1, top_by_sorting(values, k))
    if whole.any():
        top[whole] = top_by_sorting(scores[whole], k)
    return top


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
