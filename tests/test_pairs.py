import pytest
import torch

from recbce.models.pairs import PairPattern, PairScores, used_rows

# Row 0 repeats item 2 three times and row 2 twice: repeats share one stored entry.
ITEMS = torch.tensor([[2, 0, 2, 2], [4, 3, 1, 0], [1, 5, 5, 3]])


def assert_valid_csr(matrix: torch.Tensor) -> None:
    """Torch's own check: offsets consistent, columns sorted and distinct within each row."""
    torch.sparse_csr_tensor(matrix.crow_indices(), matrix.col_indices(), matrix.values(), matrix.shape,
                            check_invariants=True)


def test_pattern_is_a_valid_csr_matrix_with_repeats_stored_once():
    pattern = PairPattern(ITEMS, 6)
    matrix = pattern.matrix(torch.ones(len(pattern.columns)))
    assert_valid_csr(matrix)
    assert matrix.to_dense().tolist() == [[1, 0, 1, 0, 0, 0], [1, 1, 0, 1, 1, 0], [0, 1, 0, 1, 0, 1]]
    stored = torch.arange(len(pattern.columns), dtype=torch.float64)
    assert pattern.columns[pattern.entry].tolist() == ITEMS.tolist()  # every pair finds its item
    # collapse sums the repeats of an entry: the adjoint of gather.
    per_pair = torch.randn(ITEMS.shape, dtype=torch.float64)
    torch.testing.assert_close((pattern.gather(stored) * per_pair).sum(),
                               (stored * pattern.collapse(per_pair)).sum())


def test_pair_scores_equal_the_gathered_dot_products_and_their_gradients():
    generator = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    table = torch.randn(6, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    torch.testing.assert_close(PairScores.apply(p, table, ITEMS), (p.unsqueeze(1) * table[ITEMS]).sum(-1))
    assert torch.autograd.gradcheck(lambda p, table: PairScores.apply(p, table, ITEMS), (p, table))


def test_pair_scores_on_a_random_batch_match_the_gather():
    generator = torch.Generator().manual_seed(1)
    items = torch.randint(0, 7, (50, 6), generator=generator)  # many repeats per row
    p, table = torch.randn(50, 8, generator=generator), torch.randn(7, 8, generator=generator)
    weights = torch.randn(50, 6, generator=generator)
    grads = []

    def ours(p, t):
        return PairScores.apply(p, t, items)

    def gathered(p, t):
        return (p.unsqueeze(1) * t[items]).sum(-1)

    for score in (ours, gathered):
        p_, t_ = p.clone().requires_grad_(), table.clone().requires_grad_()
        (score(p_, t_) * weights).sum().backward()
        grads.append((p_.grad, t_.grad))
    for from_pairs, from_gather in zip(*grads, strict=True):
        torch.testing.assert_close(from_pairs, from_gather)


@pytest.mark.parametrize("n_rows", [6, 10])
def test_used_rows_are_distinct_ascending_and_renumber_the_items(n_rows):
    rows, renumbered = used_rows(ITEMS, n_rows)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5]
    torch.testing.assert_close(rows[renumbered], ITEMS)
    rows, renumbered = used_rows(ITEMS[:1], n_rows)
    assert rows.tolist() == [0, 2] and renumbered.tolist() == [[1, 0, 1, 1]]


def test_transposed_pattern_is_a_valid_csr_matrix_of_the_transpose():
    pattern = PairPattern(ITEMS, 6)
    values = torch.arange(1, len(pattern.columns) + 1, dtype=torch.float64)
    transposed = pattern.transposed(values)
    assert_valid_csr(transposed)
    torch.testing.assert_close(transposed.to_dense(), pattern.matrix(values).to_dense().T)
