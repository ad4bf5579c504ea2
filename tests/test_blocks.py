"""The score block: rows that start every 64 bytes, pairs masked by (row, item)."""

import pytest
import torch

from recbce.data.dataset import Positives, Split
from recbce.evaluation import blocks
from recbce.evaluation.blocks import mask, ranked_lists, score_block, top_over_item_tiles
from recbce.evaluation.ranking import evaluate
from recbce.evaluation.selection import ranked_top


def test_each_row_of_the_block_starts_on_a_64_byte_boundary():
    for n_items in (1, 15, 16, 17, 40_981):
        block = score_block(3, n_items)
        assert block.shape == (3, n_items) and block.stride(1) == 1
        assert block.stride(0) >= n_items and block.stride(0) * 4 % 64 == 0
        assert all(block[row].data_ptr() % 64 == 0 for row in range(3))


def test_masking_by_flat_position_hits_the_same_pairs_as_a_contiguous_block():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(5, 37, generator=generator)
    positions = torch.tensor([0, 36, 37, 100, 184])  # row * 37 + item, sorted
    block = score_block(5, 37)
    block.copy_(values)
    expected = values.clone()
    expected.view(-1).index_fill_(0, positions, -torch.inf)
    assert torch.equal(mask(block, positions, 37), expected)
    assert torch.equal(mask(block, positions[:0], 37), expected)  # nothing to mask


class SlicedScores:
    """A scorer of fixed scores that, like recbce's models, scores a slice of the items."""

    def __init__(self, scores):
        self.scores = scores

    def score_all(self, users, out=None, items=slice(None)):
        return out.copy_(self.scores[users][:, items]) if out is not None else self.scores[users][:, items]


@pytest.fixture
def small_item_tiles(monkeypatch):
    """Tiles of 64 items (two subtiles of 32) from 128 items on, 16 users a block."""
    monkeypatch.setattr(blocks, "ITEM_TILE", 64)
    monkeypatch.setattr(blocks, "TILED_FROM_ITEMS", 128)
    monkeypatch.setattr(blocks, "TILE_USERS", 16)


def scores_of(kind: str, rows: int, n_items: int, generator) -> torch.Tensor:
    if kind == "few levels":  # ties within and across tiles
        return torch.randint(0, 5, (rows, n_items), generator=generator).float()
    scores = torch.randn(rows, n_items, generator=generator)
    if kind == "best last":  # every row's best items in the last, partial tile
        scores[:, -20:] += 10
    return scores


@pytest.mark.parametrize("kind", ["continuous", "few levels", "best last"])
@pytest.mark.parametrize("n_items", [130, 300, 1_000])
def test_item_tiles_give_the_lists_of_whole_rows(small_item_tiles, kind, n_items):
    generator = torch.Generator().manual_seed(n_items)
    scores = scores_of(kind, 40, n_items, generator)
    excluded = torch.nonzero((torch.rand(40, n_items, generator=generator) < 0.2).view(-1)).squeeze(1)
    excluded = torch.cat([excluded, torch.arange(3 * n_items, 4 * n_items)]).unique()  # row 3: all
    k = 20
    whole = mask(scores.clone(), excluded, n_items)
    expected = ranked_top(whole, k)
    model = SlicedScores(scores)
    found = top_over_item_tiles(lambda items, out: model.score_all(torch.arange(40), out, items), 40,
                                n_items, excluded, k, score_block(40, blocks.ITEM_TILE))
    assert torch.equal(found[0], expected)
    assert torch.equal(found[1], whole.gather(1, expected))


def test_a_nan_leaves_the_tiles_for_whole_rows(small_item_tiles):
    scores = torch.randn(4, 300, generator=torch.Generator().manual_seed(1))
    scores[2, 200] = torch.nan
    model = SlicedScores(scores)
    found = top_over_item_tiles(lambda items, out: model.score_all(torch.arange(4), out, items), 4,
                                300, torch.tensor([], dtype=torch.long), 10, score_block(4, 64))
    assert found is None
    plan = blocks.Plan(tiled=True, rows=4, whole_rows=2, buffer=score_block(4, 64))
    top, _, _ = ranked_lists(lambda rows, items, out: model.score_all(torch.arange(4)[rows], out, items), 4,
                             torch.tensor([], dtype=torch.long), 300, 10, plan)
    assert torch.equal(top, ranked_top(scores, 10)) and top[2, 0] == 200


def test_evaluate_by_item_tiles_gives_the_metrics_of_whole_rows(small_item_tiles, monkeypatch):
    generator = torch.Generator().manual_seed(7)
    n_users, n_items = 50, 500
    model = SlicedScores(torch.randn(n_users, n_items, generator=generator))
    seen = torch.rand(n_users, n_items, generator=generator) < 0.1
    held = (torch.rand(n_users, n_items, generator=generator) < 0.02) & ~seen
    exclude = Positives.from_pairs(*seen.nonzero(as_tuple=True), n_users, n_items)
    heldout = Split(*held.nonzero(as_tuple=True))
    counts = seen.sum(0)
    tiled = evaluate(model, heldout, exclude, [5, 20], item_counts=counts, per_user=True)
    monkeypatch.setattr(blocks, "TILED_FROM_ITEMS", 10**9)
    whole = evaluate(model, heldout, exclude, [5, 20], item_counts=counts, per_user=True)
    assert tiled[0] == whole[0]
    assert all(torch.equal(tiled[1][name], whole[1][name]) for name in whole[1])


@pytest.mark.parametrize("kind", ["continuous", "few levels", "best last"])
def test_blocks_ranked_together_give_each_blocks_own_lists(monkeypatch, kind):
    """Whole rows scored 3 at a time, their shortlists ranked 12 at a time: rows ranked whole
    (a tie at the cut, a NaN) in later blocks keep their own lists."""
    monkeypatch.setattr(blocks, "CACHE_BLOCK_BYTES", 3 * 9_001 * 4)
    monkeypatch.setattr(blocks, "MIN_CACHE_BLOCK_USERS", 1)
    monkeypatch.setattr(blocks, "RANKED_TOGETHER", 12)
    generator = torch.Generator().manual_seed(3)
    scores = scores_of(kind, 14, 9_001, generator)
    scores[7, 4_000] = torch.nan
    excluded = torch.nonzero((torch.rand(14, 9_001, generator=generator) < 0.2).view(-1)).squeeze(1)
    plan = blocks.plan(14, 9_001, max_memory_mb=64)
    assert (plan.whole_rows, plan.rows, plan.tiled) == (3, 12, False)
    whole = mask(scores.clone(), excluded, 9_001)
    model = SlicedScores(scores)
    for start in (0, 12):
        rows = torch.arange(start, min(start + plan.rows, 14))
        here = blocks.window(excluded, start * 9_001, len(rows) * 9_001)
        def score(r, items, out, rows=rows):
            return model.score_all(rows[r], out, items)
        top, top_scores, _ = ranked_lists(score, len(rows), here, 9_001, 20, plan)
        expected = torch.cat([ranked_top(whole[rows[i:i + 3]], 20) for i in range(0, len(rows), 3)])
        assert torch.equal(top, expected)
        assert torch.equal(top_scores.nan_to_num(), whole[rows].gather(1, expected).nan_to_num())
