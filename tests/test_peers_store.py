"""The peers benchmark's store: one JSON per system, kept between runs, rendered together."""

from __future__ import annotations

import json
import sys

import pytest

import bench.bench_peers as bench_peers
from bench.peers.store import load_all, save, stamp, stem


def peer(name: str, recall: float) -> dict:
    history = [{"epoch": 10, "train_seconds": 5.0, "recall@20": recall, "ndcg@20": recall / 2}]
    return {"name": name, "kind": "peer", "rss_mib": 100.0, "wall": 6.0, "grid": [], "screen_cap": 1.0,
            "result": {"history": history, "best": history[0], "positives": 1000, "epochs": 10,
                       "train_seconds": 5.0, "pairs_per_positive": 2, "settings": f"{name} settings",
                       "stopped": "plateau", "cap": 60.0, "setting": {},
                       "test": {"recall@20": recall, "ndcg@20": recall / 2}}}


def test_each_system_has_its_own_file_and_a_rerun_replaces_it(tmp_path):
    assert stem({"name": "implicit-bpr", "kind": "peer"}) == "implicit-bpr"
    assert stem({"name": "recbce best", "kind": "recbce-time"}) == "recbce-best-time"
    save(stamp(peer("b-peer", 0.10), "cmd one", (0.5, 1.0), 60.0), tmp_path)
    save(stamp(peer("a-peer", 0.12), "cmd two", (0.5, 1.0), 60.0), tmp_path)
    save(stamp(peer("b-peer", 0.11), "cmd three", (2.0, 2.0), 30.0), tmp_path)
    systems = load_all(tmp_path, ["b-peer", "a-peer"])
    assert [s["name"] for s in systems] == ["b-peer", "a-peer"]  # the given order, not the files'
    assert systems[0]["result"]["test"]["recall@20"] == 0.11  # the later run's figures
    assert systems[0]["measured"]["command"] == "cmd three" and systems[0]["measured"]["wall"] == 30.0


def test_a_file_that_is_not_a_stored_system_is_named(tmp_path):
    (tmp_path / "stray.json").write_text(json.dumps({"name": "x", "kind": "peer"}))
    with pytest.raises(ValueError, match="stray.json"):
        load_all(tmp_path, [])


def test_rerendering_keeps_every_stored_system_and_names_the_unmeasured(tmp_path, monkeypatch):
    """`--peers --recbce` runs nothing: peers.md is rendered from the stored systems alone."""
    save(stamp(peer("implicit-bpr", 0.0987), "earlier run", (0.1, 0.2), 600.0), tmp_path / "peers")
    monkeypatch.setattr(bench_peers, "STORE", tmp_path / "peers")
    monkeypatch.setattr(bench_peers, "RESULT", tmp_path / "peers.md")
    monkeypatch.setattr(sys, "argv", ["bench_peers.py", "--peers", "--recbce"])
    bench_peers.main()
    text = (tmp_path / "peers.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| implicit-bpr"))
    assert "0.0987" in row and "implicit-bpr settings" in row
    assert "`earlier run`" in text
    assert "Not yet measured under this protocol: cornac-bpr, lightfm-warp" in text
    assert "recbce best" in text.split("Not yet measured")[1]


def test_a_malformed_recbce_pair_exits_naming_it():
    with pytest.raises(SystemExit, match="--recbce gowalla.yaml: expected NAME=CONFIG"):
        bench_peers.recbce_configs(["gowalla.yaml"])


def test_screening_and_final_runs_are_stored_and_reused_unless_rerun(tmp_path, monkeypatch):
    """A peer can be measured over several sittings: a stored screen or final run is not run again."""
    calls = []

    def worker(args):
        calls.append(args)
        return {"best": {"recall@20": 0.05 * len(calls)}}, 100.0, 7.0

    monkeypatch.setattr(bench_peers, "SCREENS", tmp_path / "screens")
    monkeypatch.setattr(bench_peers, "FINALS", tmp_path / "finals")
    monkeypatch.setattr(bench_peers, "run_worker", worker)
    setting = {"lr": 0.01, "reg": 0.0}
    first, _, wall = bench_peers.run_peer("implicit-bpr", setting, 240.0, screen=True)
    again, _, _ = bench_peers.run_peer("implicit-bpr", setting, 240.0, screen=True)
    assert len(calls) == 1 and again == first and wall == 7.0 and "measured" in first
    assert (tmp_path / "screens" / "implicit-bpr--lr=0.01,reg=0--cap240.json").is_file()
    bench_peers.run_peer("implicit-bpr", setting, 120.0, screen=True)  # another cap
    bench_peers.run_peer("implicit-bpr", setting, 240.0, screen=True, rescreen=True)
    assert len(calls) == 3
    final, _, _ = bench_peers.run_peer("implicit-bpr", setting, 1800.0, screen=False, min_seconds=90.5)
    assert "--screen" not in calls[-1] and final["best"]["recall@20"] == 0.2
    assert (tmp_path / "finals" / "implicit-bpr--lr=0.01,reg=0--cap1800--min90.5.json").is_file()
    assert bench_peers.run_peer("implicit-bpr", setting, 1800.0, screen=False, min_seconds=90.5)[0] == final
    assert len(calls) == 4  # reused, not run again
    # a screen measured again sets another least length: another key
    bench_peers.run_peer("implicit-bpr", setting, 1800.0, screen=False, min_seconds=120.0)
    bench_peers.run_peer("implicit-bpr", setting, 1800.0, screen=False, min_seconds=90.5, rescreen=True)
    assert len(calls) == 6
