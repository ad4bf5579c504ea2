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


def test_row_gradient_sums_repeated_rows_and_lists_used_rows_ascending():
    from recbce.training.optim import _row_gradient

    indices = torch.tensor([[7, 2, 7, 0]])
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [0.5, 0.5]])
    grad = torch.sparse_coo_tensor(indices, values, (10, 2))
    scratch = torch.zeros(10, 2)
    rows, summed = _row_gradient(grad, scratch)
    assert rows.tolist() == [0, 2, 7]
    assert summed.tolist() == [[0.5, 0.5], [3.0, 4.0], [6.0, 8.0]]
    assert not scratch.any()  # left zeroed for the next step
