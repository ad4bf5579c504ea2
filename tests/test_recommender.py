"""Recommender (recbce/recommender/core.py): recommend, similar_items and score, in the data's
own ids, from a run folder alone, checked against the model's own scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import recbce
from recbce.errors import RecbceError
from recbce.evaluation import blocks
from recbce.evaluation.selection import ranked_top
from recbce.recommender import Recommender, UnknownIdError
from recbce.runs.trained import load_trained
from tests.conftest import PRE_STARTER_MODEL, write_tiny_log


def tiny_config(tmp_path, data, **model) -> dict:
    return {"seed": 0, "run": {"dir": str(tmp_path / "runs"), "name": "tiny"},
            "data": {"path": str(data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
            "model": {"dim": 8, **PRE_STARTER_MODEL, **model},
            "sampler": {"kind": "uniform", "ratio": 4},
            "train": {"epochs": 2, "batch_size": 256, "patience": 0}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run (integer ids 1..120 and 1..60), with the data set and model it was trained on."""
    tmp_path = tmp_path_factory.mktemp("rec")
    data = write_tiny_log(tmp_path)
    run = recbce.train(tiny_config(tmp_path, data))
    config, dataset, model = load_trained(run.run_dir)
    return Recommender.load(run.run_dir), dataset, model


def expected_top(model, dataset, users: list[int], k: int, exclude_seen: bool = True):
    """The model's own ranking: score_all, every observed pair at −inf, ties by item index."""
    rows = torch.tensor([dataset.user_ids.index(u) for u in users])
    scores = model.score_all(rows)
    if exclude_seen:
        row, item = dataset.all_positives().rows(rows)
        scores[row, item] = -torch.inf
    top = ranked_top(scores, k)
    return [[dataset.item_ids[i] for i in line] for line in top.tolist()], scores.gather(1, top)


def test_recommend_is_the_models_ranking_without_seen_items(trained):
    rec, dataset, model = trained
    frame = rec.recommend([3, 1, 2], k=5)
    assert list(frame.columns) == ["user", "rank", "item", "score", "source"]
    assert frame["user"].tolist() == [3] * 5 + [1] * 5 + [2] * 5  # the order asked, ranks 1..5 each
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5] * 3 and set(frame["source"]) == {"model"}
    items, scores = expected_top(model, dataset, [3, 1, 2], 5)
    assert frame.groupby("user", sort=False)["item"].apply(list).tolist() == items
    np.testing.assert_allclose(frame["score"].to_numpy().reshape(3, 5), scores.numpy(), rtol=1e-6)
    seen = set(zip(*[t.tolist() for t in dataset.all_positives().rows(torch.arange(dataset.n_users))],
                   strict=True))
    user_row = {u: i for i, u in enumerate(dataset.user_ids)}
    item_row = {v: i for i, v in enumerate(dataset.item_ids)}
    everyone = rec.recommend(None, k=4)
    assert len(everyone) == 4 * dataset.n_users
    pairs = zip(everyone.user, everyone.item, strict=True)
    assert not any((user_row[u], item_row[i]) in seen for u, i in pairs)


def test_exclude_seen_false_ranks_every_item(trained):
    rec, dataset, model = trained
    frame = rec.recommend([5], k=60, exclude_seen=False)
    assert len(frame) == 60 and sorted(frame["item"]) == sorted(dataset.item_ids)
    assert frame["item"].tolist() == expected_top(model, dataset, [5], 60, exclude_seen=False)[0][0]


def test_int_and_str_ids_both_work(trained):
    rec, _, _ = trained
    as_ints = rec.recommend([1, 2], k=3)
    as_text = rec.recommend(["1", " 2"], k=3)
    assert as_ints.equals(as_text) and as_ints["user"].dtype == np.int64
    assert rec.recommend(np.array([2]), k=3).equals(rec.recommend(2, k=3))
    assert rec.similar_items(["3"], k=2).equals(rec.similar_items([3], k=2))


def test_unknown_users_raise_or_get_popular_items_marked(trained):
    rec, dataset, _ = trained
    with pytest.raises(UnknownIdError, match=r"unknown user ids: nobody, 999 \(popular_fallback") as err:
        rec.recommend([1, "nobody", 999], k=3)
    assert err.value.ids == ["nobody", 999]
    frame = rec.recommend([1, "nobody"], k=3, popular_fallback=True)
    fallback = frame[frame["source"] == "popular"]
    assert fallback["user"].tolist() == ["nobody"] * 3 and (frame["source"] == "model").sum() == 3
    counts = dataset.item_counts()
    assert fallback["item"].tolist() == [dataset.item_ids[i] for i in counts.topk(3).indices.tolist()]
    assert fallback["score"].tolist() == counts.topk(3).values.float().tolist()


@pytest.mark.parametrize("k, message", [(0, "k must be >= 1, not 0"), (-3, "k must be >= 1, not -3"),
                                        ("5", "k must be an integer >= 1, not str '5'"),
                                        (2.0, "not float 2.0"), (True, "not bool True")])
def test_a_bad_k_is_one_named_error(trained, k, message):
    from recbce.errors import ArgumentError

    rec = trained[0]
    for method, call in (("recommend", lambda: rec.recommend([1], k=k)),
                         ("similar_items", lambda: rec.similar_items([4], k=k))):
        with pytest.raises(ArgumentError) as caught:
            call()
        assert str(caught.value).startswith(f"{method}: ") and message in str(caught.value)
        assert "\n" not in str(caught.value)
    assert len(rec.recommend([1], k=np.int64(2))) == 2  # numpy integers are integers


def test_similar_items_is_cosine_of_the_exported_item_vectors(trained):
    rec, dataset, model = trained
    vectors = model.export().items.numpy()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    frame = rec.similar_items([4, 9], k=3)
    assert list(frame.columns) == ["item", "rank", "similar", "score"]
    for item in (4, 9):
        row = dataset.item_ids.index(item)
        cosine = unit @ unit[row]
        cosine[row] = -np.inf  # never the item itself
        best = np.argsort(-cosine, kind="stable")[:3]
        got = frame[frame["item"] == item]
        assert got["similar"].tolist() == [dataset.item_ids[i] for i in best]
        np.testing.assert_allclose(got["score"], cosine[best], rtol=1e-5)
    with pytest.raises(UnknownIdError, match="unknown item ids: 1000"):
        rec.similar_items([4, 1000])


def test_score_gives_the_models_pair_scores(trained):
    rec, dataset, model = trained
    users, items = [1, 2, 2], [3, "4", 5]
    every = model.score_all(torch.arange(dataset.n_users))
    expected = [float(every[dataset.user_ids.index(u), dataset.item_ids.index(int(i))])
                for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(rec.score(users, items), expected, rtol=1e-5)
    assert rec.score(1, [3, 4, 5]).shape == (3,)  # one user against several items
    with pytest.raises(UnknownIdError, match="unknown item ids: 1000"):
        rec.score([1], [1000])
    with pytest.raises(RecbceError, match="3 items for 2 users: give one item per user"):
        rec.score([1, 2], [3, 4, 5])


def test_recommend_similar_and_new_users_by_item_tiles_are_the_whole_rows_lists(trained, monkeypatch):
    rec, _, _ = trained
    history = {"new": [1, 2, 3]}
    whole = (rec.recommend(None, k=7), rec.similar_items(rec.items.values[:30], k=5),
             rec.recommend_for_history(history, k=6))
    monkeypatch.setattr(blocks, "ITEM_TILE", 32)  # one subtile a tile, the 60 items in two tiles
    monkeypatch.setattr(blocks, "TILED_FROM_ITEMS", 33)
    monkeypatch.setattr(blocks, "TILE_USERS", 16)
    tiled = (rec.recommend(None, k=7), rec.similar_items(rec.items.values[:30], k=5),
             rec.recommend_for_history(history, k=6))
    for a, b in zip(whole, tiled, strict=True):
        pd.testing.assert_frame_equal(a, b)
