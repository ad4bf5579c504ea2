"""recbce.data.history: the sample of each user's items a training step averages."""

import torch

from recbce.data.dataset import Positives
from recbce.data.history import draw_history
from recbce.data.sampling import make_generator


def random_positives(n_users, n_items, density, seed):
    """Random CSR positives and their [users, items] mask; every user has an item."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_users, n_items, generator=g) < density
    mask[torch.arange(n_users), torch.randint(n_items, (n_users,), generator=g)] = True
    users, items = mask.nonzero(as_tuple=True)
    return Positives.from_pairs(users, items, n_users, n_items), mask


def test_history_draws_only_the_users_own_items_uniformly_and_reproducibly():
    positives, mask = random_positives(20, 30, 0.3, seed=5)
    users = torch.arange(20).repeat_interleave(2)
    drawn = draw_history(positives, users, 500, make_generator(3))
    assert drawn.shape == (40, 500)
    assert mask[users.unsqueeze(1), drawn].all()
    assert torch.equal(drawn, draw_history(positives, users, 500, make_generator(3)))
    # Each of a user's n items is drawn about 1000/n times (two rows of 500 per user).
    for user in (0, 7, 19):
        counts = torch.bincount(drawn[2 * user:2 * user + 2].reshape(-1), minlength=30)[mask[user]]
        expected = 1000 / len(counts)
        assert (counts - expected).abs().max() < 5 * expected**0.5


def test_history_of_a_single_item_user_is_that_item():
    positives = Positives.from_pairs(torch.tensor([0, 1, 1]), torch.tensor([7, 2, 3]), 2, 10)
    assert draw_history(positives, torch.tensor([0]), 64, make_generator(0)).eq(7).all()
