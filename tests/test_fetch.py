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
from recbce.data import fetch, fetch_splits


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    # Polled often: shutdown() waits for the next poll (half a second by default).
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
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


# --- the LightGCN splits (recbce/data/fetch_splits.py) ------------------------------------------

TRAIN = "0 0 1 2\n1 2 3\n2 1\n"
TEST = "0 3\n1 4\n2 0 2\n"


def serve_split(root, name="gowalla", train=TRAIN, test=TEST):
    (root / name).mkdir()
    (root / name / "train.txt").write_text(train)
    (root / name / "test.txt").write_text(test)


def test_lightgcn_split_is_checked_and_the_settings_printed(server, tmp_path, monkeypatch):
    root, url = server
    serve_split(root)
    monkeypatch.setitem(fetch_splits.SPLITS, "gowalla",
                        fetch_splits.Counts(users=3, items=5, train=6, test=4))
    result = CliRunner().invoke(app, ["data", "fetch", "gowalla", "--cache", str(tmp_path / "c"),
                                      "--mirror", url, "-q"])
    assert result.exit_code == 0, result.output
    train, test = tmp_path / "c/gowalla/train.txt", tmp_path / "c/gowalla/test.txt"
    assert train.read_text() == TRAIN and test.read_text() == TEST
    assert f"--set data.path={train} --set data.split.test_path={test}" in result.output.replace("\n", "")
    (root / "gowalla/train.txt").unlink()  # already there: checked again, not downloaded
    assert fetch_splits.fetch_split("gowalla", tmp_path / "c", url, progress=False) == (train, test)


def test_lightgcn_split_with_other_counts_is_deleted(server, tmp_path):
    root, url = server
    serve_split(root, "yelp2018")
    with pytest.raises(fetch.FetchError, match=r"yelp2018: the download does not match the published "
                       r"counts: users 3 \(published 31,668\), items 5 \(published 38,048\)"):
        fetch_splits.fetch_split("yelp2018", tmp_path / "c", url, progress=False)
    assert not list((tmp_path / "c/yelp2018").iterdir())


def test_lightgcn_split_with_a_bad_line_names_it(server, tmp_path, monkeypatch):
    root, url = server
    serve_split(root, "amazon-book", train="0 1 2\n1 x 3\n")
    monkeypatch.setitem(fetch_splits.SPLITS, "amazon-book",
                        fetch_splits.Counts(users=2, items=4, train=4, test=4))
    result = CliRunner().invoke(app, ["data", "fetch", "amazon-book", "--cache", str(tmp_path / "c"),
                                      "--mirror", url, "-q"])
    assert result.exit_code == 2 and "train.txt: line 2 is not 'user item item ...'" in result.output
    assert not list((tmp_path / "c/amazon-book").iterdir())
    result = CliRunner().invoke(app, ["data", "fetch", "netflix"])
    assert result.exit_code == 2
    assert "known: ml-100k, ml-1m, ml-20m, ml-latest-small, gowalla, yelp2018" in result.output


def test_the_published_gowalla_counts_match_the_shared_copy():
    shared = Path(__file__).resolve().parents[2] / "shared/data/gowalla"
    if not (shared / "train.txt").is_file():
        pytest.skip(f"{shared} is absent here (../shared is not beside the checkout)")
    fetch_splits.check("gowalla", shared / "train.txt", shared / "test.txt")  # raises on any difference
