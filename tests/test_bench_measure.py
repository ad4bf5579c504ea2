"""bench/measure.py: the peak memory of a child is the child's, in MiB; a stage run in its own
process hands back what it measured."""

from __future__ import annotations

import sys

from bench.measure import in_child, peak_mib, run_process, timed


def allocate(mib: int, queue) -> None:
    """Touch `mib` MiB (filled, so the pages are resident), then report this process's peak."""
    block = b"\1" * (mib * 2**20)
    queue.put((len(block) // 2**20, peak_mib()))


def test_run_process_gives_the_exit_code_wall_time_and_the_childs_own_peak(tmp_path):
    script = "import sys; block = b'\\1' * (120 * 2**20); sys.exit(3)"
    code, wall, peak = run_process([sys.executable, "-c", script], cwd=tmp_path)
    assert code == 3 and wall > 0
    assert 120 <= peak < 120 + 200  # MiB: the block and an interpreter, not this test process


def test_the_peak_of_a_command_is_not_that_of_the_process_that_started_it(tmp_path):
    """Linux counts the image a child was forked from in its ru_maxrss: started straight from a
    process holding 400 MiB, a command of a few MiB would report 400."""
    held = bytearray(b"\1" * (400 * 2**20))
    code, _, peak = run_process([sys.executable, "-c", "pass"], cwd=tmp_path)
    assert code == 0 and peak < 100 and len(held) == 400 * 2**20


def test_in_child_returns_what_the_child_measured_in_its_own_process():
    allocated, peak = in_child(allocate, 64)
    assert allocated == 64 and peak >= 64


def test_a_spawned_childs_peak_is_not_its_parents():
    """A spawned child is forked, then exec'd: its ru_maxrss starts at its parent's image."""
    held = bytearray(b"\1" * (400 * 2**20))
    allocated, peak = in_child(allocate, 64)
    assert allocated == 64 and 64 <= peak < 300 and len(held) == 400 * 2**20


def test_timed_returns_the_seconds_and_the_result():
    seconds, result = timed(sorted, [3, 1, 2])
    assert result == [1, 2, 3] and 0 <= seconds < 1
