"""`recbce init --data FILE`: the data section found from the file, printed and written."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import load_config
from recbce.data.dataset import describe
from tests.test_sniff import AMAZON_BOOKS_CSV, AMAZON_CSV, LASTFM_TSV, MOVIELENS_CSV


def init(tmp_path, name: str, content: str):
    data = tmp_path / name
    data.write_text(content)
    result = CliRunner().invoke(app, ["init", str(tmp_path / "c.yaml"), "--data", str(data)])
    return result, data


@pytest.mark.parametrize("name, content, expected, printed", [
    ("ratings.csv", MOVIELENS_CSV, {"format": "movielens", "header": True}, "movielens"),
    ("ml-latest.csv", MOVIELENS_CSV, {"format": "csv", "header": True, "columns": {
        "user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"}},
     "columns: user = 'userId', item = 'movieId', rating = 'rating', timestamp = 'timestamp'"),
    ("ratings_Beauty.csv", AMAZON_CSV, {"format": "csv", "header": False}, "no header"),
    ("ratings.csv", AMAZON_CSV, {"format": "csv", "header": False}, "no header"),  # not MovieLens'
    ("ratings_Books.csv", AMAZON_BOOKS_CSV, {"format": "csv", "header": False, "ids": "text"},
     "ids: read as text"),
    ("lastfm.tsv", LASTFM_TSV, {"format": "tsv", "header": False, "columns": {"rating": 3}},
     "user = 0, item = 1, rating = 3"),
    ("export.dat", "7;a;1\n8;b;2\n7;b;3\n", {"format": "delimited", "sep": ";", "header": False},
     "separated by ';'"),
    ("train.txt", "0 1 2 3\n1 2\n2 0 1\n", {"format": "adjacency", "header": False}, "adjacency"),
])
def test_init_writes_the_data_section_that_reads_the_file(tmp_path, name, content, expected, printed):
    result, data = init(tmp_path, name, content)
    assert result.exit_code == 0, result.output
    assert printed in result.output and "rows:" in result.output
    written = yaml.safe_load((tmp_path / "c.yaml").read_text())["data"]
    assert written["path"] == str(data)
    assert {key: written.get(key) for key in expected} == expected
    config = load_config(tmp_path / "c.yaml")
    rows = content.count("\n") - (1 if expected["header"] and expected["format"] != "adjacency" else 0)
    if expected["format"] != "adjacency":
        assert f"read {rows:,} rows" in result.output
    assert describe(config.data, 0)["interactions"] > 0  # data stats reads it


def test_init_refuses_json_lines_and_unreadable_files_in_one_line(tmp_path):
    result, _ = init(tmp_path, "review.json", '{"user_id": "u", "business_id": "b"}\n')
    assert result.exit_code == 2 and "JSON lines are not read" in result.output
    assert not (tmp_path / "c.yaml").exists()
    result, _ = init(tmp_path, "odd.csv", "a b c\nd\n")
    assert result.exit_code == 2 and "cannot find a separator" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["init", str(tmp_path / "c.yaml"), "--data", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder" in result.output


def test_init_with_data_end_to_end(tmp_path, monkeypatch):
    (tmp_path / "orders.csv").write_text("ts,customer_id,product_id\n" + "".join(
        f"{1700000000 + n},{n % 7},{n % 5}\n" for n in range(60)))
    monkeypatch.chdir(tmp_path)  # the paths as a user types them, relative to where they are
    env = {"COLUMNS": "200"}
    run = CliRunner().invoke(app, ["init", "c.yaml", "--data", "orders.csv"], env=env)
    assert run.exit_code == 0, run.output
    assert "timestamp = 'ts'" in run.output and "read 60 rows: 7 users, 5 items" in run.output
    check = CliRunner().invoke(app, ["data", "stats", "-c", "c.yaml"], env=env)
    assert check.exit_code == 0, check.output
    assert re.search(r"interactions\s+│\s+35 ", check.output)  # 35 distinct pairs of the 60 rows


def test_config_validate_reads_the_first_rows_and_says_which_settings_read_them(tmp_path):
    import recbce
    from recbce.errors import DataError

    data = tmp_path / "orders.csv"
    data.write_text("customer_id,product_id,ts\n17,9001,1700000000\n18,9001,1700000050\n")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({"data": {"path": str(data)}}))  # the config: only the path
    bad.write_text(yaml.safe_dump({"data": {"path": str(data), "header": False}}))
    result = CliRunner().invoke(app, ["config", "validate", str(good)])
    assert result.exit_code == 0 and result.output.startswith("ok:")
    result = CliRunner().invoke(app, ["config", "validate", str(bad)])
    line = result.output.strip().replace("\n", "")
    assert result.exit_code == 2 and line.startswith(f"error: {bad}: {data}: line 1: user id 'customer_id'")
    assert ("it reads with data.header: true, data.columns: {user: customer_id, item: product_id, "
            "timestamp: ts}") in line
    with pytest.raises(DataError) as caught:
        recbce.check_config(bad)
    assert line == f"error: {caught.value}"
    assert recbce.check_config(bad, data=False).data.header is False
    assert recbce.check_config(good).data.path == str(data)


def test_config_validate_checks_a_predefined_test_file_as_well(tmp_path, tiny_data):
    test = tmp_path / "test.tsv"
    test.write_text("1\t8\n2\tnine\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"path": str(tiny_data), "split": {
        "method": "predefined", "test_path": str(test)}}}))
    result = CliRunner().invoke(app, ["config", "validate", str(config)])
    assert result.exit_code == 2 and f"{test}: line 2: item id 'nine'" in result.output.replace("\n", "")
