"""Scores of many (user, item) pairs as sparse-matrix products, for the per-pair training step.

A batch of B users, each scored against k items, is a sparse [B, n] matrix S whose row b
holds the items of user b. Its scores are S's pattern of P·Tᵀ (P the batch's user vectors,
T the item table): one sampled dense-dense product. The gradients are two sparse-dense
products: grad P = G·T and grad T = Gᵀ·P, G holding the scores' gradients on S's pattern.
Gathering the [B, k, d] item vectors instead (84 MB at B = 65,536, k = 5, d = 64), then
writing a gradient of that size and summing it back per item, was most of the step's time
(bench/results/train.md).
"""

from __future__ import annotations

import warnings

import torch

# Torch warns once that sparse CSR is "in beta"; the three products used here are tested
# against the dense gather (tests/test_pairs.py), so the notice would only alarm users.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


class PairPattern:
    """The CSR pattern of items [B, k]: per row, its distinct items in ascending order.

    CSR wants each row's columns sorted and distinct; a row may repeat an item (a negative
    drawn twice), so repeats share one stored entry: its score is read once and the
    repeats' gradients are summed into it.
    """

    def __init__(self, items: torch.Tensor, n_columns: int):
        ascending, order = items.sort(dim=1)
        first = torch.ones_like(ascending, dtype=torch.bool)
        first[:, 1:] = ascending[:, 1:] != ascending[:, :-1]
        per_row = first.sum(1)
        self.crow = offsets(per_row)
        self.columns = ascending[first]
        self.shape = (len(items), n_columns)
        # entry[b, j]: where pair (b, j) is stored; a repeat points at its first copy.
        in_order = first.cumsum(1) - 1 + self.crow[:-1].unsqueeze(1)
        self.entry = torch.empty_like(in_order).scatter_(1, order, in_order)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        # Valid by construction (tests/test_pairs.py checks the invariants): no check per step.
        return torch.sparse_csr_tensor(self.crow, self.columns, values, self.shape, check_invariants=False)

    def transposed(self, values: torch.Tensor) -> torch.Tensor:
        """The [n, B] transpose, as CSR too: entries ordered by item by a stable sort, so each
        item's rows stay ascending. (Multiplying CSR's own transpose, or a COO that sparse.mm
        sorts itself, took two to three times as long here.)"""
        order = torch.sort(self.columns.to(torch.int32), stable=True).indices  # int32 sorts faster
        crow = offsets(torch.bincount(self.columns, minlength=self.shape[1]))
        rows = torch.repeat_interleave(torch.arange(self.shape[0], device=values.device), self.crow.diff())
        return torch.sparse_csr_tensor(crow, rows[order], values[order], self.shape[::-1],
                                       check_invariants=False)

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """[B, k] per pair from the stored entries' values."""
        return values[self.entry]

    def collapse(self, per_pair: torch.Tensor) -> torch.Tensor:
        """Stored entries' values from [B, k] per pair: repeats summed."""
        summed = per_pair.new_zeros(len(self.columns))
        return summed.index_add_(0, self.entry.view(-1), per_pair.reshape(-1))


class PairScores(torch.autograd.Function):
    """scores[b, j] = p[b] · table[items[b, j]] for p [B, d], table [n, d], items [B, k]."""

    @staticmethod
    def forward(ctx, p: torch.Tensor, table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        pattern = PairPattern(items, len(table))
        empty = pattern.matrix(p.new_zeros(len(pattern.columns)))
        stored = torch.sparse.sampled_addmm(empty, p, table.T, beta=0).values()
        ctx.save_for_backward(p, table)
        ctx.pattern = pattern
        return pattern.gather(stored)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p, table = ctx.saved_tensors
        pattern = ctx.pattern
        values = pattern.collapse(grad.contiguous())
        grad_p = pattern.matrix(values) @ table if ctx.needs_input_grad[0] else None
        grad_table = pattern.transposed(values) @ p if ctx.needs_input_grad[1] else None
        return grad_p, grad_table, None


def offsets(counts: torch.Tensor) -> torch.Tensor:
    """CSR row offsets from per-row counts: [0, c0, c0 + c1, ...]."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def used_rows(items: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the distinct rows items uses, ascending; items renumbered into them), without a sort.

    Scoring against the used rows only keeps the embedding's gradient to one row per item,
    where the optimiser wants it."""
    used = torch.zeros(n_rows, dtype=torch.bool, device=items.device)
    used[items] = True
    renumbered = used.cumsum(0) - 1
    return used.nonzero().squeeze(1), renumbered[items]
