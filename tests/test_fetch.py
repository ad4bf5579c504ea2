"""Downloads against a real HTTP server on 127.0.0.1 that the test starts."""

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.data import fetch


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zipped:
        for name, text in entries.items():
            zipped.writestr(name, text)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_good_archive_with_pinned_checksum(server, tmp_path, monkeypatch):
    root, url = server
    digest = make_zip(root / "ml-100k.zip", {"ml-100k/u.data": "1\t2\t5\t9\n"})
    monkeypatch.setitem(fetch.DATASETS["ml-100k"], "md5", digest)
    result = CliRunner().invoke(app, ["data", "fetch", "ml-100k", "--cache", str(tmp_path / "c"),
                                      "--mirror", url, "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c/ml-100k/u.data").read_text() == "1\t2\t5\t9\n"
    assert not (tmp_path / "c/ml-100k.zip").exists()


def test_published_md5_file_is_used_when_nothing_is_pinned(server, tmp_path):
    root, url = server
    digest = make_zip(root / "ml-latest-small.zip", {"ml-latest-small/ratings.csv": "userId,movieId\n1,2\n"})
    (root / "ml-latest-small.zip.md5").write_text(f"MD5 (ml-latest-small.zip) = {digest}\n")
    path = fetch.fetch("ml-latest-small", tmp_path / "c", url, progress=False)
    assert path.read_text().startswith("userId")


def test_corrupted_archive_is_rejected_and_deleted(server, tmp_path):
    root, url = server
    make_zip(root / "ml-1m.zip", {"ml-1m/ratings.dat": "1::2::5::9\n"})  # not the published archive
    result = CliRunner().invoke(app, ["data", "fetch", "ml-1m", "--cache", str(tmp_path / "c"),
                                      "--mirror", url, "-q"])
    assert result.exit_code == 2 and "checksum mismatch" in result.output
    assert not list((tmp_path / "c").iterdir())


def test_malicious_archive_extracts_nothing(server, tmp_path, monkeypatch):
    root, url = server
    digest = make_zip(root / "ml-100k.zip", {"ml-100k/u.data": "1\t2\n", "../../evil.txt": "owned"})
    monkeypatch.setitem(fetch.DATASETS["ml-100k"], "md5", digest)
    with pytest.raises(fetch.FetchError, match="unsafe entry '../../evil.txt'"):
        fetch.fetch("ml-100k", tmp_path / "c", url, progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "c/ml-100k").exists()


def test_unknown_name_and_unreachable_server(tmp_path):
    with pytest.raises(fetch.FetchError, match="unknown data set 'ml-5'"):
        fetch.fetch("ml-5", tmp_path)
    with pytest.raises(fetch.FetchError, match="download failed"):
        fetch.fetch("ml-100k", tmp_path, "http://127.0.0.1:9", progress=False)


@pytest.mark.parametrize("entry", ["/tmp/recbce-absolute-evil.txt", "ml-100k/../../evil.txt", "link"])
def test_escaping_entries_and_links_are_refused(tmp_path, entry):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ml-100k/u.data", "1\t2\n")
        info = zipfile.ZipInfo(entry)
        if entry == "link":  # a symbolic link to outside, as unzip would create it
            info.external_attr = 0o120777 << 16
        zipped.writestr(info, "../../outside")
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(fetch.FetchError, match="unsafe entry"):
        fetch.extract(archive, target)
    assert not list(target.iterdir()) and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/recbce-absolute-evil.txt").exists()
