"""Same seed, same data, same config: the same metrics, bit for bit, across refactors.

tests/golden/metrics.json holds the test metrics that the code before the package's
redesign (commit d7f4c7d) gave for shipped configs; any change to what a run computes
(the order of random draws, of float operations) shows up here as a difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recbce.config import load_config
from recbce.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((Path(__file__).parent / "golden" / "metrics.json").read_text())
CASES = sorted(name for name in GOLDEN if not name.startswith("_"))


@pytest.mark.parametrize("name", CASES)
def test_a_run_gives_the_recorded_metrics_bit_for_bit(name, tmp_path, monkeypatch):
    case = GOLDEN[name]
    overrides = case["overrides"] + [f"run.dir={tmp_path}", "run.name=golden"]
    config = load_config(ROOT / case["config"], overrides)
    data = Path(config.data.path)
    if not (ROOT / data).exists() and not data.exists():
        pytest.skip(f"{name} reads {config.data.path}, absent here (../shared is not beside the checkout)")
    monkeypatch.chdir(ROOT)  # the shipped configs' data paths are relative to the project
    summary = train(config, progress=False, log=lambda *args, **kwargs: None)
    assert summary["best_epoch"] == case["best_epoch"]
    recorded = {name: summary["test"][name] for name in case["test"]}
    assert recorded == case["test"]
    # Metrics added since the recording (catalogue figures) are only added, never in place of one.
    added = {name.split("@")[0] for name in set(summary["test"]) - set(case["test"])}
    assert added == {"novelty", "tail", "gini", "entropy"}
