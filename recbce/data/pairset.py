"""Which (user, item) pairs are observed, answered for a whole batch at once: the per-row
samplers ask it to reject drawn negatives that are a user's positives."""

from __future__ import annotations

import numpy as np
import torch

from recbce.data.dataset import Positives

SLOTS_PER_PAIR = 16  # bit-table size: 1/16 to 1/32 of absent pairs need the exact check
FIBONACCI = -0x61C8864680B583EB  # 2^64 / golden ratio, as a signed int64: spreads keys over slots


class PairSet:
    """Exact membership of (user, item) pairs, answered for a whole batch at once.

    A binary search in the sorted keys costs a cache miss per step, so most queries
    are first answered by one lookup in a bit table indexed by a hash of the key:
    a clear bit means absent for sure. Only the queries landing on a set bit (the
    true pairs and about 1/SLOTS_PER_PAIR of the others) are searched. The table
    costs 2 to 4 bytes per pair, less than the keys themselves.
    """

    def __init__(self, positives: Positives):
        self.keys, self.n_items = positives.keys, positives.n_items
        bits = max(8, (SLOTS_PER_PAIR * len(self.keys)).bit_length())
        self.shift, self.mask = 64 - bits, (1 << bits) - 1
        slots = torch.unique(self.slot(self.keys))
        # Distinct powers of two add up to their bitwise or: no carry, no overflow.
        self.table = torch.zeros(1 << (bits - 3), dtype=torch.uint8)
        self.table.index_add_(0, slots >> 3, (1 << (slots & 7)).to(torch.uint8))

    def slot(self, keys: torch.Tensor) -> torch.Tensor:
        # Fibonacci hashing: the top bits of key * 2^64/phi (int64 products wrap around).
        return (keys * FIBONACCI >> self.shift) & self.mask

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Boolean tensor shaped like `items`: is (user, item) a stored pair?"""
        keys = users * self.n_items + items  # users may broadcast: [B, 1] with [B, k]
        query = keys.view(-1)
        slots = self.slot(query)
        # index_select rather than [] indexing: several times faster on a batch of this size.
        found = (self.table.index_select(0, slots >> 3) >> (slots & 7)) & 1 == 1
        candidates = found.nonzero().squeeze(1)
        if len(candidates):
            maybe = query.index_select(0, candidates)
            # numpy's search runs on one thread: torch's splits a thousand queries over the
            # cores and then waits, for milliseconds, whenever another job holds one of them.
            pos = torch.from_numpy(np.searchsorted(self.keys.numpy(), maybe.numpy()))
            pos.clamp_(max=len(self.keys) - 1)
            found[candidates] = self.keys.index_select(0, pos) == maybe
        # keys.shape, not torch.broadcast_shapes: that imports sympy on its first call.
        return found.view(keys.shape)
