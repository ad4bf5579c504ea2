import torch

from recbce.data.dataset import Positives
from recbce.data.graph import normalized_adjacency


def dense_reference(users, items, n_users: int, n_items: int) -> torch.Tensor:
    """D^−1/2 A D^−1/2 written out densely, in float64."""
    size = n_users + n_items
    adjacency = torch.zeros(size, size, dtype=torch.float64)
    adjacency[users, n_users + items] = 1
    adjacency[n_users + items, users] = 1
    degree = adjacency.sum(1)
    scale = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))
    return scale.unsqueeze(1) * adjacency * scale.unsqueeze(0)


def pairs():
    # User 3 and item 5 have no training pair; (0, 1) is given twice.
    users = torch.tensor([0, 0, 0, 1, 1, 2, 4, 4, 0])
    items = torch.tensor([1, 4, 2, 2, 0, 1, 3, 1, 1])
    return users, items, 5, 6


def test_adjacency_is_the_symmetrically_normalised_graph():
    users, items, n_users, n_items = pairs()
    graph = normalized_adjacency(Positives.from_pairs(users, items, n_users, n_items), n_users)
    assert graph.layout == torch.sparse_csr and graph.dtype == torch.float32
    expected = dense_reference(users, items, n_users, n_items)
    torch.testing.assert_close(graph.to_dense().double(), expected, rtol=1e-6, atol=0)
    # Spot values: user 0 has 3 items; item 1 has users 0, 2, 4: Â = 1 / sqrt(3 · 3).
    assert abs(graph.to_dense()[0, n_users + 1].item() - 1 / 3) < 1e-7
    assert graph.to_dense()[3].abs().sum() == 0 and graph.to_dense()[n_users + 5].abs().sum() == 0


def test_adjacency_is_symmetric_and_holds_each_pair_twice():
    users, items, n_users, n_items = pairs()
    graph = normalized_adjacency(Positives.from_pairs(users, items, n_users, n_items), n_users)
    dense = graph.to_dense()
    assert torch.equal(dense, dense.T)
    assert graph.values().numel() == 2 * 8  # 8 distinct pairs, one entry each way


def test_adjacency_of_a_random_graph_matches_the_dense_reference():
    generator = torch.Generator().manual_seed(0)
    n_users, n_items = 40, 30
    users = torch.randint(0, n_users, (300,), generator=generator)
    items = torch.randint(0, n_items, (300,), generator=generator)
    graph = normalized_adjacency(Positives.from_pairs(users, items, n_users, n_items), n_users)
    expected = dense_reference(users, items, n_users, n_items)
    torch.testing.assert_close(graph.to_dense().double(), expected, rtol=1e-6, atol=0)
    # The largest eigenvalue of a normalised adjacency is 1: propagation neither grows nor shrinks.
    assert abs(torch.linalg.eigvalsh(expected).max().item() - 1) < 1e-9
