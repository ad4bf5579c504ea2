import pytest

from recbce.config import DataConfig
from recbce.errors import DataError
from recbce.readers import read_interactions


def read(path, **config):
    return read_interactions(path, DataConfig(path=str(path), **config))


def test_formats(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t5\t100\n2\t20\t3\t200\n")
    (tmp_path / "ratings.dat").write_text("1::10::5::100\n2::20::3::200\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,5.0,100\n2,20,3.0,200\n")
    for name in ("u.data", "ratings.dat", "ratings.csv"):
        frame = read(tmp_path / name)
        assert frame.values.tolist() == [[1, 10, 5, 100], [2, 20, 3, 200]], name
    (tmp_path / "log.txt").write_text("0 1 2 3\n1 2\n\n2 0 1\n")
    frame = read(tmp_path / "log.txt")
    assert frame.values.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [2, 0], [2, 1]]
    (tmp_path / "x.psv").write_text("who|what|when\nann|book|3\nbob|pen|4\n")
    frame = read(tmp_path / "x.psv", format="delimited", sep="|", header=True,
                 columns={"user": "who", "item": "what", "timestamp": "when"})
    assert frame.values.tolist() == [["ann", "book", 3], ["bob", "pen", 4]]


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow (the parquet extra) is not installed")
    import pandas as pd

    pd.DataFrame({"u": ["a", "b"], "i": [1, 2]}).to_parquet(tmp_path / "x.parquet")
    frame = read(tmp_path / "x.parquet", columns={"user": "u", "item": "i"})
    assert frame.values.tolist() == [["a", 1], ["b", 2]]


@pytest.mark.parametrize(
    "content, options, expected",
    [
        (b"", {}, "the file is empty"),
        (b"1\t2\n", {"columns": {"user": 0, "item": 1, "rating": 2}}, "no column 2 for rating"),
        (b"u,i\n1,2\n", {"format": "csv", "header": True, "columns": {"user": "user", "item": "i"}},
         "no column 'user' for user"),
        (b"1\t2\t5\n3\t4\tnan\n", {}, "line 2: rating is missing"),
        (b"1\t2\t5\n3\t4\tgood\n", {}, "line 2: rating 'good' is not a number"),
        (b"1\t2\n3\t4\n5\t6\t7\t8\t9\n", {}, "ragged rows: Expected 2 fields in line 3, saw 5"),
        (b"1\t2\n3\n", {}, "line 2: item is missing"),
        (b"\x89PNG\r\n\x1a\n\0\0\0", {}, "a binary file"),
        (b"user,item\n", {"format": "csv", "header": True}, "only a header"),
        (b"1\t2\nabc\t3\n4\t5\n", {}, "line 2: user id 'abc' is not a number while other ids are"),
        (b"0 1 2\n1 x 3\n", {"format": "adjacency"}, "line 2: expected integer ids"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, content, options, expected):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    options.setdefault("format", "tsv")
    with pytest.raises(DataError) as caught:
        read(path, **options)
    message = str(caught.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_missing_file():
    with pytest.raises(DataError, match="data file not found"):
        read("/nonexistent/x.tsv")
