"""The items before each pair (recbce.data.timeline) and the model.context mix built on them."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from recbce.config import ModelConfig, load_config
from recbce.data.dataset import Dataset, Positives, Split
from recbce.data.history import ScoringInputs
from recbce.data.timeline import Timeline, known_before, latest
from recbce.errors import ConfigError, DataError
from recbce.evaluation.ranking import evaluate_heldout, evaluate_split, heldout_and_exclusions
from recbce.models import Batch
from recbce.models.dot_product import DotProduct
from recbce.runs.trained import load_trained
from recbce.training.loop import train


def test_before_reads_each_pairs_predecessors_in_time_order_latest_first():
    # user 0 at times 30, 10, 20 (file order); user 1 at 5, 5 (a tie keeps file order)
    split = Split(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([7, 3, 5, 1, 2]),
                  torch.tensor([30.0, 10.0, 20.0, 5.0, 5.0]))
    before = Timeline.of(split).before(torch.arange(5), 2)
    assert before.tolist() == [[5, 3], [-1, -1], [3, -1], [-1, -1], [1, -1]]
    assert Timeline.of(split).before(torch.tensor([0]), 1).tolist() == [[5]]  # any subset of pairs


def test_latest_keeps_each_users_n_last_items_across_splits():
    train = Split(torch.tensor([0, 0, 0, 1]), torch.tensor([1, 2, 3, 4]), torch.tensor([1.0, 2.0, 3.0, 1.0]))
    valid = Split(torch.tensor([0, 1]), torch.tensor([5, 6]), torch.tensor([4.0, 2.0]))
    dataset = Dataset(train, valid, valid, list(range(2)), list(range(7)),
                      Positives.from_pairs(train.users, train.items, 2, 7))
    assert known_before(dataset, "valid", 2).indices.tolist() == [2, 3, 4]
    assert known_before(dataset, "test", 2).indices.tolist() == [3, 5, 4, 6]  # + the validation items
    assert latest(train, 1, 3, 7).counts().tolist() == [1, 1, 0]  # a user with nothing has none


def test_data_without_timestamps_is_refused_by_name():
    with pytest.raises(DataError, match="timestamp"):
        Timeline.of(Split(torch.tensor([0]), torch.tensor([0])))


def test_mean_of_a_padded_history_leaves_the_pads_out():
    config = ModelConfig(dim=4, scorer="cosine", temperature=0.1, history=0.5, context=2)
    positives = Positives.from_pairs(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 5)
    model = DotProduct(2, 5, config, ScoringInputs(history=positives),
                       generator=torch.Generator().manual_seed(0))
    history = torch.tensor([[3, 1], [4, -1], [-1, -1]])
    rows = model.item(model.history_items(history))
    mean = model.history_mean(rows, history)
    weight = model.item.weight
    torch.testing.assert_close(mean, torch.stack([(weight[3] + weight[1]) / 2, weight[4], torch.zeros(4)]))
    # the shared-pool step and the per-pair forward agree on the same padded history
    users, items, pool = torch.tensor([0, 1, 1]), torch.tensor([2, 3, 0]), torch.tensor([1, 4])
    pos, neg = model(Batch(users, items, pool=pool, history=history))
    torch.testing.assert_close(pos, model.score_pairs(users, items, history))
    torch.testing.assert_close(neg, model.score_pairs(users, pool.expand(3, -1), history))


def test_context_needs_the_mix_and_a_split_in_time_order(make_config):
    with pytest.raises(ConfigError, match="model.history"):
        load_config(make_config(model={"context": 3}))
    with pytest.raises(ConfigError, match="leave_one_out or temporal"):
        load_config(make_config(model={"context": 3, "history": 0.5}))


def walks(tmp_path, n_users: int = 200, n_items: int = 40, length: int = 12):
    """A planted order: each user walks the items i, i+1, i+2, ... from a random start, one
    step per second. Which items a user has says little; the last one says what comes next."""
    rng = np.random.default_rng(0)
    start = rng.integers(0, n_items, n_users)
    steps = np.arange(length)
    frame = pd.DataFrame({"user": np.repeat(np.arange(n_users), length),
                          "item": ((start[:, None] + steps) % n_items).ravel(),
                          "rating": 1, "timestamp": np.tile(steps, n_users)})
    path = tmp_path / "walks.tsv"
    frame.sample(frac=1, random_state=0).to_csv(path, sep="\t", header=False, index=False)
    return path


def walk_config(tmp_path, context: int) -> str:
    """Context 0: the same mix, over a sample of all the user's items."""
    raw = {"seed": 0, "run": {"dir": str(tmp_path / "runs"), "name": f"context{context}"},
           "data": {"path": str(walks(tmp_path)), "split": {"method": "leave_one_out", "valid_ratio": 0.1}},
           "model": {"dim": 16, "bias": False, "scorer": "cosine", "temperature": 0.1, "history": 0.5,
                     "context": context, "history_sample": 4},
           "sampler": {"kind": "shared", "ratio": 32}, "loss": {"name": "softmax"},
           "train": {"epochs": 15, "batch_size": 128, "lr": 0.02, "patience": 0},
           "eval": {"k": [1, 5], "metric": "hr@1"}}
    path = tmp_path / f"context{context}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture(scope="module")
def walk_runs(tmp_path_factory):
    """The planted walks trained with the mix over the item just before each pair (context 1),
    and with the same mix over a sample of all the user's items (context 0)."""
    tmp_path = tmp_path_factory.mktemp("walks")
    with_context = load_config(walk_config(tmp_path, 1))
    train(with_context, progress=False)
    without = train(load_config(walk_config(tmp_path, 0)), progress=False)
    return with_context.run_dir, without


def test_context_recovers_a_planted_order_that_the_users_items_alone_cannot(walk_runs):
    run_dir, without = walk_runs
    with_context = json.loads((run_dir / "summary.json").read_text())
    assert with_context["test"]["hr@1"] > 0.9
    assert without["test"]["hr@1"] < 0.3


def test_evaluation_reads_what_is_known_before_each_split_and_restores_the_model(walk_runs):
    config, dataset, model = load_trained(walk_runs[0])
    kept, read = model.history, []
    score_all = model.score_all
    model.score_all = lambda users, out=None, items=slice(None): (
        read.append(model.history), score_all(users, out=out, items=items))[1]
    for split in ("valid", "test"):
        read.clear()
        assert evaluate_split(model, dataset, split, config.eval)["hr@1"] > 0.9
        assert read and all(torch.equal(h.keys, known_before(dataset, split, 1).keys) for h in read)
        assert model.history is kept
    # Before validation the latest item is the one before the validation item; before test it
    # is the validation item itself (which, left in validation's history, would be its answer).
    by_user = dataset.valid.users.argsort()
    assert torch.equal(known_before(dataset, "test", 1).indices, dataset.valid.items[by_user])
    heldout, exclude = heldout_and_exclusions(dataset, "valid")
    peeking = evaluate_heldout(model, dataset, heldout, exclude, config.eval, None, False, 0)["hr@1"]
    assert peeking == 1.0
