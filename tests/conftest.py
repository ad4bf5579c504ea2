"""Shared fixtures: tiny data sets and configs built inside each test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recbce.data import synth

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def write_tiny_log(folder: Path) -> Path:
    """folder/tiny.tsv: a small planted-taste log, 120 users (ids 1..120), 60 items (1..60);
    for module-scoped fixtures, which cannot take the function-scoped `tiny_data`."""
    path = folder / "tiny.tsv"
    frame = synth.generate(n_users=120, n_items=60, min_per_user=5, max_per_user=20, seed=1)
    frame.to_csv(path, sep="\t", header=False, index=False)
    return path


# The model defaults before the starter recipe became them (issue 25), written out so that each
# test keeps training what it was written for.
PRE_STARTER_MODEL = {"scorer": "dot", "temperature": 1.0, "bias_init": 0.0, "history": 0.0}


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A small planted-taste log: 120 users, 60 items."""
    return write_tiny_log(tmp_path)


@pytest.fixture
def make_config(tmp_path: Path, tiny_data: Path):
    """Write a config for the tiny data, with nested overrides; returns its path."""

    def make(**sections) -> Path:
        raw = {
            "seed": 0,
            "run": {"dir": str(tmp_path / "runs"), "name": "tiny"},
            "data": {"path": str(tiny_data), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
            "model": {"dim": 8, **PRE_STARTER_MODEL},
            "sampler": {"kind": "uniform", "ratio": 4},
            "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "patience": 0},
        }
        for section, values in sections.items():
            if isinstance(values, dict):
                raw.setdefault(section, {}).update(values)
            else:
                raw[section] = values
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return make
