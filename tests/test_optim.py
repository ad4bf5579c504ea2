import math

import pytest
import torch

from recbce.training.optim import RowAdam


def embedding_pair(sparse: bool):
    torch.manual_seed(0)
    table = torch.nn.Embedding(12, 4, sparse=sparse)
    return table


def run_steps(table, optimizer, batches):
    for rows in batches:
        optimizer.zero_grad(set_to_none=True)
        (table(rows).sin().sum()).backward()
        optimizer.step()


def test_row_adam_equals_dense_adam_when_every_row_is_used():
    every_row = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 3, 3, 7])  # repeats sum up
    batches = [every_row, every_row.flip(0), every_row]
    dense, rows_sparse, rows_dense = embedding_pair(False), embedding_pair(True), embedding_pair(False)
    run_steps(dense, torch.optim.Adam(dense.parameters(), lr=0.05, weight_decay=0.01), batches)
    run_steps(rows_sparse, RowAdam(rows_sparse.parameters(), lr=0.05, weight_decay=0.01), batches)
    run_steps(rows_dense, RowAdam(rows_dense.parameters(), lr=0.05, weight_decay=0.01), batches)
    torch.testing.assert_close(rows_sparse.weight, dense.weight, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(rows_dense.weight, dense.weight, rtol=1e-6, atol=1e-6)
    assert not torch.equal(dense.weight, embedding_pair(False).weight)  # it did move


def test_row_adam_leaves_unused_rows_and_their_moments_alone():
    table = embedding_pair(True)
    before = table.weight.detach().clone()
    optimizer = RowAdam(table.parameters(), lr=0.05)
    run_steps(table, optimizer, [torch.tensor([1, 4, 4]), torch.tensor([4, 9])])
    moved = (table.weight != before).any(1)
    assert moved.nonzero().squeeze(1).tolist() == [1, 4, 9]
    state = optimizer.state[table.weight]
    assert state["exp_avg"][[0, 2, 3, 5]].abs().sum() == 0 and state["step"] == 2
    # Row 1 was used in step 1 only: lazy Adam leaves its moments as step 1 left them.
    assert state["exp_avg_sq"][1].abs().sum() > 0


@pytest.mark.parametrize("n_rows", [10, 10_000])  # a mask over the table; a sort of the indices
def test_row_gradient_sums_repeated_rows_and_lists_used_rows_ascending(n_rows):
    from recbce.training.optim import _row_gradient

    indices = torch.tensor([[7, 2, 7, 0]])
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [0.5, 0.5]])
    grad = torch.sparse_coo_tensor(indices, values, (n_rows, 2), check_invariants=True)
    rows, summed = _row_gradient(grad, n_rows)
    assert rows.tolist() == [0, 2, 7]
    assert summed.tolist() == [[0.5, 0.5], [3.0, 4.0], [6.0, 8.0]]


def test_both_ways_of_finding_rows_sum_as_a_zeroed_table_does_bit_for_bit():
    from recbce.training.optim import _distinct_rows, _row_gradient

    g = torch.Generator().manual_seed(0)
    indices = torch.randint(0, 500, (4000,), generator=g)
    values = torch.randn(4000, 8, generator=g, dtype=torch.float32)
    table = torch.zeros(500, 8).index_add_(0, indices, values)  # the plain way, in lookup order
    grad = torch.sparse_coo_tensor(indices.unsqueeze(0), values, (500, 8), check_invariants=True)
    rows, summed = _row_gradient(grad, 500)
    assert torch.equal(rows, torch.unique(indices)) and torch.equal(summed, table[rows])
    masked, sorted_ = _distinct_rows(indices, 500), _distinct_rows(indices, 10**6)
    assert all(torch.equal(a, b) for a, b in zip(masked, sorted_, strict=True))


def test_rows_are_moved_as_index_add_with_alpha_would_bit_for_bit():
    g = torch.Generator().manual_seed(1)
    table = torch.nn.Embedding(3000, 16, sparse=True)
    torch.nn.init.normal_(table.weight, generator=g)
    indices = torch.randint(0, 3000, (2000,), generator=g)
    before = table.weight.detach().clone()
    optimizer = RowAdam(table.parameters(), lr=0.02)
    (table(indices) * torch.randn(2000, 16, generator=g)).sum().backward()
    optimizer.step()
    state = optimizer.state[table.weight]
    rows = torch.unique(indices)
    m, v = state["exp_avg"][rows], state["exp_avg_sq"][rows]
    denom = v.sqrt().div_(math.sqrt(1 - 0.999)).add_(1e-8)
    expected = before.index_add_(0, rows, m / denom, alpha=-0.02 / (1 - 0.9))
    assert torch.equal(table.weight.detach(), expected)
