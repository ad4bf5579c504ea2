"""The score block: rows that start every 64 bytes, pairs masked by (row, item)."""

import torch

from recbce.evaluation.blocks import mask, score_block


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
