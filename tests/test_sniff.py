"""data.header: auto and columns found by name, on small files shaped like real exports."""

from __future__ import annotations

import pytest

from recbce.config import DataConfig
from recbce.data.layout import resolved
from recbce.data.readers import read_interactions
from recbce.errors import DataError

MOVIELENS_CSV = ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n"
                 "2,318,3.0,1445714835\n3,31,0.5,1306463578\n")
AMAZON_CSV = ("A39HTATAQ9V7YF,B00004TMFE,5.0,1369699200\nA3JM6GV9MNOF9X,B0000535UX,3.0,1355443200\n"
              "A1Z513UWSAAO0F,B00004TMFE,5.0,1404691200\n")
# Last.fm 1K: user, ISO time, artist-mbid, artist name, track-mbid (often empty), track name
LASTFM_1K_TSV = ("user_000001\t2009-05-04T23:08:57Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\t"
                 "Fuck Me Im Famous\nuser_000001\t2009-05-04T13:54:10Z\t"
                 "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8\t坂本龍一\t\tComposition 0919\n"
                 "user_000002\t2009-05-04T13:52:04Z\t"
                 "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8\t坂本龍一\t\tMc2\n")
# Amazon books: ASINs are ISBN-10s (all digits, leading zeros kept) beside B0 codes
AMAZON_BOOKS_CSV = ("A1D2C0WDCSHUWZ,0001234567,5.0,1369699200\nA3JM6GV9MNOF9X,B0000535UX,3.0,1355443200\n"
                    "A1D2C0WDCSHUWZ,1234567,4.0,1404691200\nA3JM6GV9MNOF9X,0001234567,2.0,1404691300\n")
# Last.fm 360K: user-mbid, artist-mbid, artist-name, plays; tab-separated, no header
LASTFM_TSV = ("00000c289a1829a808ac09c00daf10bc3c4e223b\t3bd73256-3905-4f3a-97e2-8b341527f805\t"
              "betty blowtorch\t2137\n00000c289a1829a808ac09c00daf10bc3c4e223b\t"
              "f2fb0ff0-5679-42ec-a55c-15109ce6e320\tdie Ärzte\t1099\n"
              "00001411dc427966b17297bf4d69e7e193135d89\t3bd73256-3905-4f3a-97e2-8b341527f805\t"
              "betty blowtorch\t12\n")


def load(path, **config):
    config = DataConfig(path=str(path), **config)
    return resolved(config), read_interactions(path, config)


def test_a_movielens_ratings_csv_is_read_by_its_header(tmp_path):
    for name in ("ratings.csv", "ml-latest.csv"):  # the movielens format and plain csv
        (tmp_path / name).write_text(MOVIELENS_CSV)
        config, frame = load(tmp_path / name)
        assert config.header is True, name
        assert frame.values.tolist()[0] == [1, 1, 4.0, 964982703], name
        assert len(frame) == 4 and list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert config.columns.model_dump() == {"user": "userId", "item": "movieId", "rating": "rating",
                                           "timestamp": "timestamp"}


def test_the_issue_s_header_of_other_names_in_another_order(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("ts,customer_id,product_id\n1700000000,17,9001\n1700000050,18,9001\n1700000100,17,9002\n")
    config, frame = load(path)
    assert config.header is True
    assert config.columns.model_dump() == {"user": "customer_id", "item": "product_id", "rating": None,
                                           "timestamp": "ts"}
    assert frame[["user", "item", "timestamp"]].values.tolist() == [
        [17, 9001, 1700000000], [18, 9001, 1700000050], [17, 9002, 1700000100]]


def test_an_amazon_csv_without_header_reads_by_position(tmp_path):
    path = tmp_path / "ratings_Beauty.csv"
    path.write_text(AMAZON_CSV)
    config, frame = load(path)
    assert config.header is False and config.columns.model_fields_set == set()
    assert len(frame) == 3
    assert frame.iloc[1].tolist() == ["A3JM6GV9MNOF9X", "B0000535UX", 3.0, 1355443200]
    (tmp_path / "with_header.csv").write_text("user,item,rating,timestamp\n" + AMAZON_CSV)
    config, same = load(tmp_path / "with_header.csv")
    assert config.header is True and same.equals(frame)


def test_a_lastfm_tsv_of_string_ids_takes_the_play_count_not_the_artist_name(tmp_path):
    path = tmp_path / "usersha1-artmbid-artname-plays.tsv"
    path.write_text(LASTFM_TSV)
    config, frame = load(path)
    assert config.header is False and config.columns.rating == 3
    assert list(frame.columns) == ["user", "item", "rating"]  # plays is not the timestamp as well
    assert frame["rating"].tolist() == [2137, 1099, 12]
    assert frame["item"].iloc[0] == "3bd73256-3905-4f3a-97e2-8b341527f805"
    # with a header, string ids throughout: no column of numbers tells, the common names do
    (tmp_path / "named.tsv").write_text("user\tartist\nann\tabba\nbob\tblur\n")
    config, frame = load(tmp_path / "named.tsv")
    assert config.header is True and frame.values.tolist() == [["ann", "abba"], ["bob", "blur"]]
    (tmp_path / "unnamed.tsv").write_text("ann\tabba\nbob\tblur\n")
    assert load(tmp_path / "unnamed.tsv")[0].header is False


def test_files_without_a_header_read_as_before(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("1\t10\t5\t100\n2\t20\t3\t200\n")
    config, frame = load(path)
    assert config.header is False and frame.values.tolist() == [[1, 10, 5, 100], [2, 20, 3, 200]]
    # one id field that parses is enough to say "not a header": a bad first row is named
    (tmp_path / "bad.tsv").write_text("abc\t3\n1\t2\n4\t5\n")
    with pytest.raises(DataError, match="line 1: user id 'abc' is not a number"):
        load(tmp_path / "bad.tsv")


def test_a_header_written_is_kept_and_written_columns_are_not_guessed(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(MOVIELENS_CSV)
    config, frame = load(path, columns={"item": "userId", "user": "movieId"})
    assert config.columns.model_dump()["rating"] == "rating"
    assert frame.iloc[0, :2].tolist() == [1, 1] and frame.iloc[2, :2].tolist() == [318, 2]
    with pytest.raises(DataError, match="line 1: user id 'userId' is not a number"):
        load(path, header=False)


def test_a_rating_or_timestamp_named_column_of_text_is_left_out(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("user_id,business_id,stars,time\nu1,b1,5,noon\nu2,b1,4,dusk\n")
    config, frame = load(path)
    assert config.columns.rating == "stars" and config.columns.timestamp is None
    assert frame.values.tolist() == [["u1", "b1", 5], ["u2", "b1", 4]]


def test_iso_dates_are_timestamps_in_seconds_by_name_or_by_position(tmp_path):
    path = tmp_path / "reviews.csv"  # Yelp's review columns
    path.write_text("user_id,business_id,stars,date\nu1,b1,5,2015-01-02\nu2,b1,4,2016-03-04 10:00:00\n")
    config, frame = load(path)
    assert config.columns.timestamp == "date"
    assert frame["timestamp"].tolist() == [1420156800.0, 1457085600.0]
    (tmp_path / "plain.tsv").write_text("u1\tb1\t5\t2015-01-02T00:00:01Z\nu2\tb1\t4\t2015-01-02\n")
    assert load(tmp_path / "plain.tsv")[1]["timestamp"].tolist() == [1420156801.0, 1420156800.0]
    (tmp_path / "bad.tsv").write_text("u1\tb1\t5\t2015-01-02\nu2\tb1\t4\tyesterday\n")
    with pytest.raises(DataError, match="line 2: timestamp 'yesterday' is not a number nor an ISO 8601 date"):
        load(tmp_path / "bad.tsv")


def test_json_lines_are_refused_in_one_line(tmp_path):
    line = '{"user_id": "u1", "business_id": "b1", "stars": 5, "date": "2015-01-02"}\n'
    for name in ("review.json", "review.csv"):
        (tmp_path / name).write_text(line * 3)
        with pytest.raises(DataError) as caught:
            load(tmp_path / name)
        assert "JSON lines are not read" in str(caught.value) and name in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_run_records_what_was_decided_and_reads_its_data_again_the_same_way(tmp_path, tiny_data,
                                                                               make_config):
    import pandas as pd
    import yaml

    import recbce

    frame = pd.read_csv(tiny_data, sep="\t", header=None)
    named = tmp_path / "named.csv"
    frame.set_axis(["customer_id", "product_id", *frame.columns[2:]], axis=1).to_csv(named, index=False)
    runs = {}
    for name, path in (("plain", tiny_data), ("named", named)):
        run = recbce.train(make_config(data={"path": str(path)}, run={"dir": str(tmp_path / "runs"),
                                                                      "name": name}, train={"epochs": 1}))
        runs[name] = run
        written = yaml.safe_load((run.run_dir / "config.yaml").read_text())["data"]
        assert written["header"] is (name == "named")
    assert written["columns"]["user"] == "customer_id" and written["columns"]["item"] == "product_id"
    assert runs["named"].metrics == runs["plain"].metrics  # the same interactions, read by name
    assert recbce.evaluate(runs["named"].run_dir) == pytest.approx(runs["named"].metrics)


def test_amazon_asins_of_digits_and_letters_read_as_text_keeping_leading_zeros(tmp_path):
    path = tmp_path / "ratings_Books.csv"
    path.write_text(AMAZON_BOOKS_CSV)
    with pytest.raises(DataError, match="line 2: item id 'B0000535UX' .*set data.ids: text"):
        load(path)
    config, frame = load(path, ids="text")
    assert frame["item"].tolist() == ["0001234567", "B0000535UX", "1234567", "0001234567"]
    assert frame["user"].iloc[0] == "A1D2C0WDCSHUWZ" and frame["rating"].tolist() == [5.0, 3.0, 4.0, 2.0]


def test_a_ratings_csv_that_is_not_movielens_reads_as_plain_csv(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(AMAZON_CSV)
    config, frame = load(path)
    assert config.header is False
    assert frame.iloc[1].tolist() == ["A3JM6GV9MNOF9X", "B0000535UX", 3.0, 1355443200]


def test_a_lastfm_1k_tsv_takes_its_time_column_and_the_artist_after_it(tmp_path):
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    path.write_text(LASTFM_1K_TSV)
    config, frame = load(path)
    assert config.header is False
    found = {f: getattr(config.columns, f) for f in config.columns.model_fields_set}
    assert found == {"item": 2, "timestamp": 1}
    assert list(frame.columns) == ["user", "item", "timestamp"]  # no rating: the empty column is not one
    assert frame["item"].iloc[1] == "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8"
    assert frame["timestamp"].iloc[0] == 1241478537.0
