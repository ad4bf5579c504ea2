"""eval.valid_users (recbce/evaluation/ranking.py): validation on a fixed sample of users, with
its standard error; test ranks everyone."""

from __future__ import annotations

import json

import torch

import recbce
from recbce.data.dataset import Split
from recbce.evaluation.ranking import sample_users


def test_the_sample_is_the_same_users_every_time_and_keeps_all_their_pairs():
    heldout = Split(torch.tensor([0, 0, 1, 2, 2, 2, 3, 4]), torch.arange(8), torch.arange(8) * 10)
    first, again = sample_users(heldout, 3, seed=7), sample_users(heldout, 3, seed=7)
    assert torch.equal(first.users, again.users) and torch.equal(first.items, again.items)
    assert len(torch.unique(first.users)) == 3
    for user in torch.unique(first.users):  # every pair of a chosen user, none of the others
        assert torch.equal(first.items[first.users == user], heldout.items[heldout.users == user])
    assert torch.equal(first.times, first.items * 10)
    assert sample_users(heldout, 5, seed=7) is heldout  # no more users than asked: all of them
    assert not torch.equal(sample_users(heldout, 3, seed=8).users, first.users) or \
        not torch.equal(sample_users(heldout, 3, seed=9).users, first.users)


def test_training_validates_on_the_sample_with_its_error_and_tests_everyone(make_config):
    lines = []
    config = make_config(eval={"metric": "recall@10", "valid_users": 40}, train={"epochs": 2})
    sampled = recbce.train(config, overwrite=True, log=lines.append, progress=False)
    records = [json.loads(line) for line in (sampled.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < record["valid/recall@10_se"] < 1 for record in records)
    assert any("±" in line and "40 sampled users" in line for line in lines)
    everyone = recbce.train(config, overwrite=True, progress=False, log=lambda *_: None,
                            overrides={"eval.valid_users": 10**6, "run.name": "everyone"})
    plain = recbce.train(config, overwrite=True, progress=False, log=lambda *_: None,
                         overrides={"eval.valid_users": None, "run.name": "plain"})
    assert everyone.metrics == plain.metrics  # a sample of every user is every user: the same run
    assert sampled.metrics["recall@10"] != 0  # test is scored (on every user, as the others)
    full = [json.loads(line) for line in (plain.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["valid/recall@10"] != full[-1]["valid/recall@10"]  # 40 users are not all
