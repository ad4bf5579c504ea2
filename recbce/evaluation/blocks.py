"""The block of scores that evaluation, `recommend` and `similar` fill a chunk of rows at a time.

Its rows start on a 64-byte boundary: a catalogue of an odd number of items (Gowalla's
40,981) otherwise puts the matrix product's rows at unaligned addresses, which MKL wrote
at about half the speed (docs/results.md, "Selecting the top K without ordering every
score"). The block is a view of the first n_items columns of a wider buffer, so its row
stride is not n_items: pairs are masked by (row, item), never through a flat view.
"""

from __future__ import annotations

import torch

ALIGN_ITEMS = 16  # float32 scores per 64 bytes


def score_block(rows: int, n_items: int) -> torch.Tensor:
    """An uninitialised [rows, n_items] float32 block whose rows start every 64 bytes."""
    stride = -(-n_items // ALIGN_ITEMS) * ALIGN_ITEMS
    return torch.empty(rows, stride)[:, :n_items]


def mask(block: torch.Tensor, positions: torch.Tensor, n_items: int) -> torch.Tensor:
    """`block` with the pairs at flat `positions` (row · n_items + item) set to −inf."""
    if len(positions):
        block.index_put_((positions // n_items, positions % n_items), torch.tensor(-torch.inf))
    return block
