import pytest
import yaml

from recbce.config import DataConfig
from recbce.data.readers import read_interactions
from recbce.errors import DataError


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
    (tmp_path / "x.txt").write_text("ann::book\nbob::pen\n")  # several characters: not a regex
    frame = read(tmp_path / "x.txt", format="delimited", sep="::")
    assert frame.values.tolist() == [["ann", "book"], ["bob", "pen"]]


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
        (b"\n1\t2\n", {}, "line 1: a blank line"),
        (b"1::2\n3::4::5\n", {"format": "delimited", "sep": "::"}, "Expected 2 fields in line 2"),
        (b"1\t99999999999999999999\n", {}, "line 1: item id 99999999999999999999 does not fit"),
        (b"1\t2\n2\t99999999999999999999999\n", {}, "line 2: item id"),
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


# Each malformed file through the real commands: one line naming the file (and the line), exit 2.
MALFORMED = {
    "empty": (b"", {}, "the file is empty"),
    "missing_column": (b"user,item\n1,2\n", {"format": "csv", "header": True,
                                             "columns": {"user": "user", "item": "movie"}},
                       "no column 'movie' for item"),
    "non_numeric_id": (b"0 1 2\n1 2 3\n2 x 3\n", {"format": "adjacency"}, "line 3: expected integer ids"),
    "nan_rating": (b"1\t2\t5\n3\t4\tNaN\n", {}, "line 2: rating is missing"),
    "ragged_rows": (b"1\t2\n3\t4\n5\t6\t7\t8\t9\n", {}, "ragged rows: Expected 2 fields in line 3"),
    "binary": (bytes(range(256)) * 4, {}, "a binary file"),
    "binary_no_nul": (b"\x81\xfe\xff\x90" * 64, {}, "not UTF-8 text"),
    "header_only": (b"user,item,rating\n", {"format": "csv", "header": True,
                                            "columns": {"user": "user", "item": "item"}},
                    "only a header"),
    "mixed_id_types": (b"1\t2\n2\t3\nbob\t4\n", {}, "line 3: user id 'bob' is not a number"),
}


@pytest.mark.parametrize("command", ["stats", "train"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_through_the_cli(tmp_path, case, command):
    from typer.testing import CliRunner

    from recbce.cli.app import app

    content, data, expected = MALFORMED[case]
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "runs")}, "train": {"epochs": 1},
                                      "data": {"path": str(path), "format": "tsv", **data}}))
    args = ["data", "stats", "-c", str(config)] if command == "stats" else ["train", "-c", str(config), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"error: {path}: ") and expected in message
    assert not (tmp_path / "runs").exists()  # validated before any work was written


def test_malformed_input_exits_2_from_a_real_process(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bad.tsv"
    path.write_bytes(b"1\t2\t5\n3\t4\tnan\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"path": str(path)}}))
    done = subprocess.run([sys.executable, "-m", "recbce", "data", "stats", "-c", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}: line 2: rating is missing" and not done.stdout


def test_an_unreadable_file_is_one_line(tmp_path, monkeypatch):
    import os

    from recbce.data import readers

    path = tmp_path / "d.tsv"
    path.write_text("1\t2\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make the parser meet the OS's refusal

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(readers.pd, "read_csv", denied)
        monkeypatch.setattr(readers, "open", denied, raising=False)
        monkeypatch.setattr(readers.Path, "open", denied)
    with pytest.raises(DataError, match="d.tsv: cannot read: Permission denied"):
        read_interactions(path, DataConfig(path=str(path)))


def test_a_large_file_read_in_chunks_keeps_string_ids_and_names_a_late_mixed_row(tmp_path):
    # 400,000 lines: the C parser reads them in several chunks, each typed on its own.
    numeric = "".join(f"{n}\t{n % 97}\n" for n in range(400_000))
    (tmp_path / "late.tsv").write_text(numeric + "bob\t4\n")
    with pytest.raises(DataError, match="line 400001: user id 'bob' is not a number"):
        read(tmp_path / "late.tsv")
    (tmp_path / "names.tsv").write_text("".join(f"u{n:07d}\ti{n % 97}\n" for n in range(400_000)))
    frame = read(tmp_path / "names.tsv")
    assert frame["user"].iloc[7] == "u0000007" and frame["item"].iloc[-1] == f"i{399_999 % 97}"
    assert len(frame) == 400_000 and frame["user"].is_unique
