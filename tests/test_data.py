import pytest
import torch
from conftest import ROOT, SHARED_DATA

from recbce.config import DataConfig
from recbce.data.dataset import Positives, load_dataset
from recbce.data.readers import read_interactions


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


def test_positives_rows_match_a_loop_over_users_with_repeats_and_empty_users():
    g = torch.Generator().manual_seed(0)
    pos = Positives.from_pairs(torch.randint(0, 40, (300,), generator=g) * 2,  # odd users: no pairs
                               torch.randint(0, 25, (300,), generator=g), n_users=80, n_items=25)
    users = torch.randint(0, 80, (60,), generator=g)
    rows, items = pos.rows(users)
    expected = [(r, i) for r, u in enumerate(users.tolist())
                for i in pos.indices[pos.indptr[u]:pos.indptr[u + 1]].tolist()]
    assert list(zip(rows.tolist(), items.tolist(), strict=True)) == expected


def test_predefined_split_drops_unseen_and_maps_string_ids(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tx\na\ty\nb\tx\n")
    (tmp_path / "test.tsv").write_text("a\tz\nb\ty\nc\tx\n")
    config = DataConfig(path=str(tmp_path / "train.tsv"),
                        split={"method": "predefined", "test_path": str(tmp_path / "test.tsv"),
                               "valid_ratio": 0.0})
    data = load_dataset(config, seed=0)
    assert (data.n_users, data.n_items, len(data.train), len(data.test)) == (2, 2, 3, 1)
    assert data.user_ids == ["a", "b"] and data.item_ids == ["x", "y"]
    assert data.report["unseen_heldout"] == 2


def test_min_rating_duplicates_and_kcore_are_reported(tmp_path):
    rows = ["1\t1\t5\t1", "1\t1\t4\t2", "1\t2\t5\t3", "2\t1\t1\t4", "2\t2\t5\t5", "3\t3\t5\t6",
            "1\t3\t5\t7", "2\t3\t5\t8"]
    (tmp_path / "r.tsv").write_text("\n".join(rows) + "\n")
    config = DataConfig(path=str(tmp_path / "r.tsv"), min_rating=4, kcore=2,
                        split={"test_ratio": 0.3, "valid_ratio": 0.0})
    data = load_dataset(config, seed=0)
    assert data.report["below_min_rating"] == 1 and data.report["duplicates"] == 1
    assert data.report["kcore"] == 2  # item 1 (user 1 only), then user 3 (item 3 only)
    assert set(data.user_ids) == {1, 2}


def test_splits_never_leak(tiny_data):
    for method in ("random", "leave_one_out", "temporal"):
        config = DataConfig(path=str(tiny_data), split={"method": method, "valid_ratio": 0.1})
        data = load_dataset(config, seed=0)
        for heldout in (data.test, data.valid):
            assert not data.positives.contains(heldout.users, heldout.items).any(), method


@pytest.mark.skipif(not (SHARED_DATA / "gowalla").is_dir(), reason="../shared/data/gowalla is absent")
def test_gowalla_counts_match_the_published_split():
    config = DataConfig(path=str(SHARED_DATA / "gowalla/train.txt"), format="adjacency",
                        split={"method": "predefined", "test_path": str(SHARED_DATA / "gowalla/test.txt"),
                               "valid_ratio": 0.0})
    data = load_dataset(config, seed=0)
    assert (data.n_users, data.n_items, len(data.train), len(data.test)) == (29858, 40981, 810128, 217242)


@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="../shared/data/ml-100k is absent")
def test_ml100k_counts():
    config = DataConfig(path=str(SHARED_DATA / "ml-100k/u.data"),
                        split={"method": "leave_one_out", "valid_ratio": 0.0})
    raw = read_interactions(config.path, config)
    assert (raw.user.nunique(), raw.item.nunique(), len(raw)) == (943, 1682, 100_000)
    data = load_dataset(config, seed=0)
    assert data.n_users == 943 and len(data.test) + data.report["unseen_heldout"] == 943
    assert len(data.train) + 943 == 100_000


def stats_rows(config, *overrides) -> dict:
    """`recbce data stats` run through the real CLI, its table read back as {statistic: value}."""
    from typer.testing import CliRunner

    from recbce.cli.app import app

    args = ["data", "stats", "-c", str(config)] + [f"--set={o}" for o in overrides]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cells = [line.strip("│ ").split("│") for line in result.output.splitlines() if line.startswith("│")]
    return {c[0].strip(): c[1].strip() for c in cells if len(c) == 2}


@pytest.mark.skipif(not (SHARED_DATA / "gowalla").is_dir(), reason="../shared/data/gowalla is absent")
def test_data_stats_prints_the_gowalla_counts(monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's paths are relative to the project root
    rows = stats_rows("configs/gowalla.yaml", "data.split.valid_ratio=0")
    assert (rows["users"], rows["items"]) == ("29,858", "40,981")
    assert (rows["train"], rows["test"], rows["interactions"]) == ("810,128", "217,242", "1,027,370")


@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="../shared/data/ml-100k is absent")
def test_data_stats_prints_the_ml100k_counts(monkeypatch):
    monkeypatch.chdir(ROOT)
    rows = stats_rows("configs/ml100k.yaml")
    assert (rows["users"], rows["items"], rows["interactions"]) == ("943", "1,682", "100,000")
    assert (rows["valid"], rows["test"]) == ("943", "943")  # leave-one-out: one of each per user
