import pandas as pd
import pytest
import torch

from recbce.config import DataConfig
from recbce.data import Positives, holdout, leave_one_out, load_dataset, read_interactions
from recbce.errors import DataError


def test_positives_contains_and_rows():
    users = torch.tensor([0, 0, 2, 1, 2, 0])
    items = torch.tensor([3, 1, 0, 2, 0, 1])  # (2, 0) and (0, 1) twice
    pos = Positives.from_pairs(users, items, n_users=3, n_items=4)
    assert pos.counts().tolist() == [2, 1, 1]
    query_u = torch.tensor([[0, 0], [1, 2]])
    query_i = torch.tensor([[1, 2], [2, 3]])
    assert pos.contains(query_u, query_i).tolist() == [[True, False], [True, False]]
    rows, got = pos.rows(torch.tensor([2, 0]))
    assert rows.tolist() == [0, 1, 1] and got.tolist() == [0, 1, 3]


def test_random_holdout_has_no_leakage_and_keeps_every_user():
    frame = pd.DataFrame({"user": [u for u in range(50) for _ in range(10)], "item": list(range(500))})
    train, test = holdout(frame, 0.2, seed=3)
    assert len(train) + len(test) == 500
    assert not set(zip(train.user, train.item, strict=False)) & set(zip(test.user, test.item, strict=False))
    assert test.groupby("user").size().eq(2).all() and train.user.nunique() == 50


def test_leave_one_out_holds_out_latest():
    frame = pd.DataFrame({"user": [1, 1, 1, 2], "item": [5, 6, 7, 5], "timestamp": [3, 9, 1, 4]})
    train, test = leave_one_out(frame, "f")
    assert test[["user", "item"]].values.tolist() == [[1, 6]]
    assert len(train) == 3  # user 2 has one interaction and keeps it


def test_unseen_test_items_are_dropped(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tx\na\ty\nb\tx\n")
    (tmp_path / "test.tsv").write_text("a\tz\nb\ty\nc\tx\n")
    config = DataConfig(path=str(tmp_path / "train.tsv"),
                        split={"method": "predefined", "test_path": str(tmp_path / "test.tsv")})
    data = load_dataset(config, seed=0)
    assert (data.n_users, data.n_items, len(data.train), len(data.test)) == (2, 2, 3, 1)
    assert data.user_ids == ["a", "b"] and data.item_ids == ["x", "y"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", "the file is empty"),
        ("1\n2\n", "expected at least 2 columns"),
        ("1\t2\tfive\t100\n", "line 1: rating 'five' is not a number"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=expected) as caught:
        read_interactions(path, "tsv")
    assert str(path) in str(caught.value)


def test_missing_file():
    with pytest.raises(DataError, match="data file not found"):
        read_interactions("/nonexistent/x.tsv", "tsv")
