"""Data fingerprints: same content passes, any change in size or content is named."""

import os

import pytest

from recbce.config import DataConfig
from recbce.data.fingerprint import data_files, difference, take
from recbce.errors import DataError


def test_files_of_a_predefined_split_are_all_fingerprinted(tmp_path):
    config = DataConfig(path="a.txt", split={"method": "predefined", "test_path": "b.txt",
                                                     "valid_ratio": 0.0})
    assert data_files(config) == ["a.txt", "b.txt"]
    assert data_files(DataConfig(path="a.tsv")) == ["a.tsv"]


def test_a_change_of_content_or_size_is_named_and_a_touch_is_not(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("1\t2\n3\t4\n")
    config = DataConfig(path=str(path))
    before = take(config)
    assert before[0]["size"] == 8 and len(before[0]["blake2b"]) == 32
    os.utime(path, ns=(1, 1))
    assert difference(before, take(config)) is None
    path.write_text("1\t2\n3\t5\n")
    same_size = f"{path} changed since this run read it (same size, different content)"
    assert difference(before, take(config)) == same_size
    path.write_text("1\t2\n")
    assert difference(before, take(config)) == f"{path} changed since this run read it (8 bytes then, 4 now)"


def test_missing_and_unreadable_files_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="data file not found"):
        take(DataConfig(path=str(tmp_path / "none.tsv")))
    path = tmp_path / "d.tsv"
    path.write_text("1\t2\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root: refuse the read as the OS would for anyone else
        import builtins

        from recbce.data import fingerprint

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(fingerprint, "open", denied, raising=False)
        assert builtins.open is not denied
    with pytest.raises(DataError, match="d.tsv: cannot read: Permission denied"):
        take(DataConfig(path=str(path)))
