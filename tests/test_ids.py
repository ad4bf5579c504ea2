"""Ids <-> rows (recbce/recommender/ids.py): whole lists at once, int or str either way."""

from __future__ import annotations

import numpy as np
import pytest

from recbce.recommender.ids import IdIndex, UnknownIdError


def test_integer_ids_accept_text():
    index = IdIndex([10, 20, 30], "user")
    assert index.find([30, "10", " 20 ", np.int64(20), "x", 40, "2.5"]).tolist() == [2, 0, 1, 1, -1, -1, -1]
    assert index.values.dtype == np.int64


def test_text_ids_accept_integers():
    index = IdIndex(["7", "a", "b c"], "item")
    assert index.find([7, "a", "b c", "B"]).tolist() == [0, 1, 2, -1]
    assert index.find("a").tolist() == [1] and index.find([]).tolist() == []


def test_unknown_ids_are_named():
    index = IdIndex(list(range(3)), "user")
    with pytest.raises(UnknownIdError, match=r"unknown user ids: 5, x, 7, 8, 9 \.\.\. \(6 in all\)!") as err:
        index.require([0, 5, "x", 7, 8, 9, 10], hint="!")
    assert err.value.ids == [5, "x", 7, 8, 9, 10]
