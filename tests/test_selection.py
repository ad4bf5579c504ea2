"""Each row's top k: through the best tiles or over whole rows, the lists of a stable sort."""

import pytest
import torch

from recbce.evaluation.selection import TILE_WIDTH, ranked_top, top_by_sorting, top_by_tiles


def by_stable_sort(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The definition: best first, equal scores by item index (NaN as topk ranks it, first)."""
    keys = torch.where(scores.isnan(), torch.inf, scores)
    nan_first = scores.isnan().to(torch.int8)
    order = keys.sort(dim=1, descending=True, stable=True).indices
    order = order.gather(1, nan_first.gather(1, order).sort(dim=1, descending=True, stable=True).indices)
    return order[:, :k]


def scores_of(kind: str, rows: int, n_items: int, generator) -> torch.Tensor:
    if kind == "continuous":
        return torch.randn(rows, n_items, generator=generator)
    if kind == "few levels":  # ties everywhere, across tiles and at the cut
        return torch.randint(0, 4, (rows, n_items), generator=generator).float()
    scores = torch.randn(rows, n_items, generator=generator)
    if kind == "excluded":  # most items of some rows, every item of one, masked as evaluation does
        scores[: rows // 2][torch.rand(rows // 2, n_items, generator=generator) < 0.97] = -torch.inf
        scores[-1] = -torch.inf
    if kind == "popular tail":  # the best items all in the last, partial tile
        scores[:, -(n_items % 64 or 1):] += 100
    return scores


@pytest.mark.parametrize("kind", ["continuous", "few levels", "excluded", "popular tail"])
@pytest.mark.parametrize("n_items", [7, 150, 1_000, 4_099, 9_001])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_the_tiles_give_the_lists_of_a_stable_sort(kind, n_items, k):
    generator = torch.Generator().manual_seed(n_items * 31 + k)
    scores = scores_of(kind, 33, n_items, generator)
    k = min(k, n_items)
    expected = by_stable_sort(scores, k)
    assert torch.equal(top_by_sorting(scores, k), expected)
    for width in (TILE_WIDTH, 32, 64):
        assert torch.equal(top_by_tiles(scores, k, width), expected), width
    assert torch.equal(ranked_top(scores, k), expected)


def test_a_row_with_nan_is_ranked_as_the_whole_row_ranks_it():
    scores = torch.randn(4, 2_000, generator=torch.Generator().manual_seed(0))
    scores[1, 1_500] = torch.nan
    assert torch.equal(top_by_tiles(scores, 10, 16), top_by_sorting(scores, 10))
    assert top_by_tiles(scores, 10, 16)[1, 0] == 1_500
