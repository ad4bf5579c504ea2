import math
import subprocess
import sys

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


class AsTorchOptimizer(torch.optim.Optimizer):
    """RowAdam's arithmetic on torch's Optimizer base, as RowAdam was before it left the base:
    what its checkpoints hold is torch's state_dict."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0})

    step = RowAdam.step
    _update = RowAdam._update


def test_row_adam_reads_and_writes_torch_s_optimizer_state_dicts():
    batches = [torch.tensor([1, 4, 4]), torch.tensor([4, 9]), torch.tensor([0, 1])]
    ours_table, torch_table = embedding_pair(True), embedding_pair(True)
    ours = RowAdam(ours_table.parameters(), lr=0.05)
    theirs = AsTorchOptimizer(torch_table.parameters(), lr=0.05)
    run_steps(ours_table, ours, batches[:2])
    run_steps(torch_table, theirs, batches[:2])
    written, expected = ours.state_dict(), theirs.state_dict()
    assert written["param_groups"] == expected["param_groups"]
    assert written["state"].keys() == expected["state"].keys() == {0}
    for name, value in expected["state"][0].items():
        assert torch.equal(written["state"][0][name], value), name
    # A checkpoint of either kind resumes in the other: the same next step, bit for bit.
    resumed_table = embedding_pair(True)
    resumed_table.load_state_dict(torch_table.state_dict())
    resumed = RowAdam(resumed_table.parameters(), lr=0.5)
    resumed.load_state_dict(theirs.state_dict())
    assert resumed.param_groups[0]["lr"] == 0.05
    run_steps(resumed_table, resumed, batches[2:])
    run_steps(torch_table, theirs, batches[2:])
    theirs_back = AsTorchOptimizer(embedding_pair(True).parameters(), lr=0.05)
    theirs_back.load_state_dict(resumed.state_dict())
    assert torch.equal(resumed_table.weight, torch_table.weight)
    back = theirs_back.state_dict()["state"][0]
    assert torch.equal(back["exp_avg"], theirs.state[torch_table.weight]["exp_avg"])
    with pytest.raises(ValueError, match="parameter groups"):
        RowAdam(torch.nn.Linear(2, 2).parameters()).load_state_dict(expected)


def test_training_with_row_adam_does_not_import_torch_s_compiler():
    # torch.optim.Optimizer's base imports torch._dynamo (about a second) on its first group.
    code = ("import sys, torch; from recbce.training.optim import RowAdam; t = torch.nn.Embedding(5, 2, "
            "sparse=True); o = RowAdam(t.parameters()); t(torch.tensor([1])).sum().backward(); o.step(); "
            "o.zero_grad(); o.load_state_dict(o.state_dict()); assert 'torch._dynamo' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
