"""The peers' protocol (bench/peers/protocol.py) on scripted validation curves: where the plateau
rule and the cap stop a run, which checkpoint is kept, how the grid picks, what the report says."""

from __future__ import annotations

import numpy as np
import pytest

from bench.peers.protocol import (
    FALL,
    FLAT_SHARE,
    MIN_EPOCHS,
    MIN_SECONDS,
    TOLERANCE,
    contenders,
    plateau,
    seconds_to,
    settings_grid,
    train_to_plateau,
    tune,
)
from bench.peers.report import HEADER, render
from bench.peers.scorer import FactorScorer


class ScriptedPeer:
    """The peers' interface (train(epochs), scorer(), settings) over a scripted validation curve:
    an epoch takes `seconds` on a fake clock and writes its number into the factors, in place
    (as implicit updates its own), so a scorer says which epoch it saw."""

    pairs_per_positive = 2

    def __init__(self, curve, seconds: float = 1.0):
        self.curve, self.seconds, self.epoch, self.now = curve, seconds, 0, 0.0
        self.factors = np.zeros((3, 2), dtype=np.float32)
        self.settings = "scripted"

    def clock(self) -> float:
        return self.now

    def train(self, epochs: int) -> None:
        self.epoch += epochs
        self.now += self.seconds * epochs
        self.factors[:] = self.epoch

    def scorer(self) -> FactorScorer:
        return FactorScorer(self.factors, self.factors)

    def evaluate(self, scorer: FactorScorer) -> dict:
        return {"recall@20": self.curve(seen(scorer)), "ndcg@20": 0.0}

    def run(self, cap: float = 1000.0) -> tuple[dict, FactorScorer]:
        # The plateau rule itself, on 1 s epochs: no least length in seconds.
        return train_to_plateau(self, self.evaluate, cap, min_seconds=0.0, clock=self.clock)


def seen(scorer: FactorScorer) -> int:
    return int(scorer.user_factors[0, 0])


def test_plateau_stops_at_the_first_checkpoint_flat_for_a_quarter_of_the_run():
    peer = ScriptedPeer(lambda epoch: min(epoch, 40) / 100)  # rises until epoch 40, then flat
    result, kept = peer.run()
    history = result["history"]
    assert result["stopped"] == "plateau" and result["epochs"] == history[-1]["epoch"]
    # Checkpoints grow geometrically (1, 2, 3, 4, 5, 7, 9, 12, ...), so 40 is first seen later.
    assert [h["epoch"] for h in history[:8]] == [1, 2, 3, 4, 5, 7, 9, 12]
    best = result["best"]
    assert best["recall@20"] == 0.40 and best["epoch"] == min(h["epoch"] for h in history if h["epoch"] >= 40)
    # Stopped once the checkpoints before the last quarter already held the best, not before.
    now = history[-1]["train_seconds"]
    assert max(h["recall@20"] for h in history if h["train_seconds"] <= (1 - FLAT_SHARE) * now) == 0.40
    assert plateau(history) and not any(plateau(history[:i]) for i in range(1, len(history)))
    assert seen(kept) == best["epoch"] and peer.epoch == result["epochs"] > best["epoch"]


def test_a_rise_within_the_tolerance_counts_as_flat_and_one_above_it_does_not():
    def history(last):
        return [{"train_seconds": 10.0, "recall@20": 0.1}, {"train_seconds": 40.0, "recall@20": last}]

    assert plateau(history(0.1 * (1 + TOLERANCE)))
    assert not plateau(history(0.1 * (1 + 2 * TOLERANCE)))
    assert not plateau(history(0.1)[:1])  # nothing before the last quarter: no verdict
    # Below the best: flat within FALL, still moving beyond it.
    assert plateau(history(0.1 * (1 - FALL / 2)))
    assert not plateau(history(0.1 * (1 - 2 * FALL)))


def test_a_curve_that_dips_before_it_climbs_runs_through_the_dip():
    # implicit's BPR: the first checkpoint is its best for a while, then the curve climbs past.
    def curve(epoch):
        return 0.05 - epoch / 1000 if epoch <= 40 else min(0.01 + (epoch - 40) / 500, 0.2)

    result, kept = ScriptedPeer(curve).run()
    assert result["stopped"] == "plateau" and result["best"]["recall@20"] == pytest.approx(0.2)
    assert seen(kept) == result["best"]["epoch"] >= 135


def test_the_cap_stops_a_curve_that_never_flattens():
    peer = ScriptedPeer(lambda epoch: epoch / 1000, seconds=1.0)
    result, kept = peer.run(cap=50.0)
    assert result["stopped"] == "cap" and result["epochs"] == 50 and result["train_seconds"] == 50.0
    assert result["history"][-1]["epoch"] == 50  # the cap itself is a checkpoint
    assert result["best"]["epoch"] == 50 and seen(kept) == 50


def test_no_plateau_before_the_minimum_epochs():
    result, _ = ScriptedPeer(lambda epoch: 0.1).run()  # flat from the first epoch
    assert result["stopped"] == "plateau"
    assert result["epochs"] >= MIN_EPOCHS and result["history"][-2]["epoch"] < MIN_EPOCHS
    assert result["best"]["epoch"] == 1  # the first of equal bests


def test_a_curve_that_peaks_falls_and_climbs_again_runs_past_its_first_peak():
    # implicit's BPR with L2 0.01 on Gowalla (measured): a peak at 16 s, a fall of a tenth until
    # 60 s, the first peak passed at 140 s. The fall is not flat, so the run goes on through it.
    def curve(epoch):
        if epoch <= 16:
            return 0.085 * epoch / 16
        if epoch <= 60:
            return 0.085 - 0.008 * (epoch - 16) / 44
        return min(0.077 + 0.0001 * (epoch - 60), 0.103)

    result, kept = ScriptedPeer(curve).run(cap=1000.0)
    assert result["stopped"] == "plateau" and result["best"]["recall@20"] == pytest.approx(0.103)
    assert seen(kept) == result["best"]["epoch"] >= 320


def test_a_falling_curve_runs_to_its_cap_and_keeps_its_peak():
    # Peaks at epoch 12, then falls for good: never flat, so only the cap stops it.
    peer = ScriptedPeer(lambda epoch: 0.3 - abs(epoch - 12) / 1000)
    result, kept = peer.run(cap=200.0)
    assert result["stopped"] == "cap" and result["train_seconds"] == 200.0
    assert result["best"]["epoch"] == 12 and seen(kept) == 12


def test_times_to_the_best_and_to_98_percent_are_read_at_the_checkpoints():
    history = [{"train_seconds": t, "recall@20": r}
               for t, r in [(1.0, 0.02), (2.0, 0.0979), (4.0, 0.098), (8.0, 0.1), (16.0, 0.099)]]
    assert seconds_to(history, 1.0) == 8.0 and seconds_to(history, 0.98) == 4.0


def test_settings_grid_is_every_combination():
    assert settings_grid({"lr": (0.01, 0.05), "reg": (0.0, 1e-3)}) == [
        {"lr": 0.01, "reg": 0.0}, {"lr": 0.01, "reg": 1e-3},
        {"lr": 0.05, "reg": 0.0}, {"lr": 0.05, "reg": 1e-3}]
    assert settings_grid({}) == [{}]


def fake_result(valid: float, test: float | None, cap: float) -> dict:
    best = {"epoch": 3, "train_seconds": 2.0, "recall@20": valid, "ndcg@20": valid / 2}
    result = {"settings": "s", "cap": cap, "history": [best], "best": best, "stopped": "plateau",
              "epochs": 4, "train_seconds": 3.0, "pairs_per_positive": 2, "positives": 3_000_000}
    if test is not None:
        result["test"] = {"recall@20": test, "ndcg@20": test / 2}
    return result


def test_the_grid_picks_by_validation_never_by_test():
    # (validation, test) per learning rate: lr 0.02 is best on validation, 0.05 on test.
    figures = {0.01: (0.10, 0.12), 0.02: (0.14, 0.13), 0.05: (0.12, 0.20)}
    calls = []

    def run(setting, cap, screen, min_seconds=0.0):
        calls.append((setting["lr"], cap, screen))
        valid, test = figures[setting["lr"]]
        return fake_result(valid, None if screen else test, cap), 100.0, 5.0  # screening: no test

    tuned = tune([{"lr": lr} for lr in figures], run, screen_cap=30.0, cap=600.0)
    assert calls == [(0.01, 30.0, True), (0.02, 30.0, True), (0.05, 30.0, True), (0.02, 600.0, False)]
    assert tuned["result"]["setting"] == {"lr": 0.02} and tuned["result"]["test"]["recall@20"] == 0.13
    assert [g["valid"] for g in tuned["grid"]] == [0.10, 0.14, 0.12]
    assert tune([{}], run=lambda s, c, screen, min_seconds=0.0: (fake_result(0.1, 0.1, c), 1.0, 1.0),
                screen_cap=30.0, cap=600.0)["grid"] == []  # one setting: nothing to screen


def test_the_report_renders_every_peer_column_and_the_grid():
    figures = {0.01: (0.10, 0.12), 0.02: (0.14, 0.13)}
    def run(setting, cap, screen, min_seconds=0.0):
        return fake_result(*figures[setting["lr"]], cap), 321.0, 9.0

    tuned = tune([{"lr": lr, "reg": 0.0} for lr in figures], run, screen_cap=30.0, cap=600.0)
    measured = {"utc": "2026-12-04 20:40", "command": "python bench/bench_peers.py --peers fake-peer",
                "load": [1.0, 1.5], "wall": 90.0}
    text = render([{"name": "fake-peer", "kind": "peer", **tuned, "measured": measured}],
                  target=0.15, unmeasured=["other-peer"])
    # stored before bench/ ran its scripts as modules: shown as the same run is started today
    assert ("- fake-peer: 2026-12-04 20:40 UTC, `python -m bench.bench_peers --peers fake-peer`, "
            "load average 1.0 → 1.5, 1.5 min of wall time") in text
    assert "Not yet measured under this protocol: other-peer" in text
    assert HEADER.format(target=0.15) in text
    for column in ("valid R@20", "train s to own best", "train s to 98% of own best", "epochs", "stopped by"):
        assert column in HEADER
    row = next(line for line in text.splitlines() if line.startswith("| fake-peer"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["fake-peer", "s", "0.1400", "0.1300", "0.0650", "validation (setting and checkpoint)",
                     "2.0", "2.0", "— (test not tracked)", "8.00 M", "4.00 M",
                     "321", "4", "plateau (cap 600 s)"]
    assert "lr=0.02, reg=0: 0.1400 at 2.0 s (plateau) **chosen**" in text
    assert "lr=0.01, reg=0: 0.1000 at 2.0 s (plateau);" in text
    assert f"flat over the last {FLAT_SHARE:.0%}" in text and f"no more than {TOLERANCE:.1%}" in text
    assert f"more than {FALL:.0%} below the best" in text and "fake-peer 600 s" in text


def screen(lr: float, valid: float, stopped: str, to_best: float, train_seconds: float = 240.0) -> dict:
    return {"setting": {"lr": lr}, "valid": valid, "stopped": stopped, "to_best": to_best,
            "train_seconds": train_seconds}


def test_a_setting_still_rising_at_the_screening_cap_near_the_leader_is_a_contender():
    screened = [screen(0.01, 0.0996, "plateau", 25.0, 39.0),  # the leader, flat early
                screen(0.02, 0.0979, "cap", 235.0),  # rising at the cap, 98% of the leader
                screen(0.05, 0.0990, "cap", 20.0),  # capped, but its best is old: falling
                screen(0.1, 0.0900, "cap", 238.0)]  # rising, but under 95% of the leader
    assert contenders(screened) == [{"lr": 0.01}, {"lr": 0.02}]
    assert contenders(screened[:1]) == [{"lr": 0.01}]


def test_the_final_runs_validation_best_is_the_peers_even_when_test_says_otherwise():
    screens = {0.01: fake_result(0.0996, None, 240.0), 0.02: fake_result(0.0979, None, 240.0)}
    rising = {**screens[0.02]["best"], "train_seconds": 239.0}  # still rising at the screening cap
    screens[0.02].update(stopped="cap", train_seconds=240.0, best=rising)
    finals = {0.01: (0.0996, 0.12), 0.02: (0.1100, 0.10)}  # the contender passes the leader
    calls = []

    def run(setting, cap, screen, min_seconds=0.0):
        calls.append((setting["lr"], screen) if screen else (setting["lr"], screen, min_seconds))
        if screen:
            return screens[setting["lr"]], 100.0, 5.0
        return fake_result(*finals[setting["lr"]], cap), 100.0, 5.0

    tuned = tune([{"lr": 0.01}, {"lr": 0.02}], run, screen_cap=240.0, cap=1800.0)
    # Each final run trains at least as long as its screen took to its best (2.0 s, 239.0 s)
    # and at least MIN_SECONDS.
    assert calls == [(0.01, True), (0.02, True), (0.01, False, MIN_SECONDS), (0.02, False, 239.0)]
    assert tuned["result"]["setting"] == {"lr": 0.02} and tuned["result"]["test"]["recall@20"] == 0.10
    assert tuned["other_finals"] == [{"setting": {"lr": 0.01}, "valid": 0.0996, "to_best": 2.0,
                                      "stopped": "plateau", "train_seconds": 3.0}]
    text = render([{"name": "p", "kind": "peer", **tuned, "measured": {
        "utc": "t", "command": "c", "load": [0, 0], "wall": 1.0}}], target=0.15)
    assert "also run to its plateau as a contender, not chosen: lr=0.01: 0.0996 at 2.0 s (plateau)" in text


def test_no_plateau_verdict_before_the_least_length_of_a_final_run():
    # Flat from epoch 1: stops at the first checkpoint past MIN_EPOCHS without a least length,
    # by default at the first one past MIN_SECONDS.
    result, _ = ScriptedPeer(lambda epoch: 0.1).run()
    assert result["train_seconds"] < MIN_SECONDS
    peer = ScriptedPeer(lambda epoch: 0.1)
    result, _ = train_to_plateau(peer, peer.evaluate, 1000.0, clock=peer.clock)
    assert result["stopped"] == "plateau"
    assert result["history"][-2]["train_seconds"] < MIN_SECONDS <= result["train_seconds"]
    # Cornac's start: flat for 20 epochs of 0.15 s, then a climb; the floor lets it climb.
    peer = ScriptedPeer(lambda epoch: 0.025 if epoch <= 20 else min(0.025 + epoch / 10_000, 0.15), 0.15)
    result, _ = train_to_plateau(peer, peer.evaluate, 1000.0, clock=peer.clock)
    assert result["best"]["recall@20"] == pytest.approx(0.15)
