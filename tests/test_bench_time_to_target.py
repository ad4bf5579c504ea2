"""The time-to-target benchmark's reading of a run: cumulative training seconds to a metric."""

from __future__ import annotations

from bench.bench_time_to_target import first_reaching

ROWS = [{"epoch": 1, "seconds": 10.5, "test/recall@20": 0.149},
        {"epoch": 2, "seconds": 9.5, "test/recall@20": 0.16},
        {"epoch": 3, "seconds": 11.0, "test/recall@20": 0.155}]


def test_the_first_epoch_at_or_above_the_target_with_the_seconds_summed_up_to_it():
    assert first_reaching(ROWS, 0.15) == (2, 20.0)
    assert first_reaching(ROWS, 0.149) == (1, 10.5)  # at the target counts


def test_a_target_never_reached_is_none_not_the_last_epoch():
    assert first_reaching(ROWS, 0.18) is None
