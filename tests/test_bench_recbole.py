"""RecBole's BPR and LightGCN peers (bench/peers/recbole.py) and where their workers run.

RecBole needs numpy < 2, so its peers run in their own virtualenv (`make bench-recbole`); the
tests that train them run tests/recbole_checks.py with that interpreter and skip without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench.peers import venv as recbole_venv
from bench.peers.recbole import PEERS, recbole_rows, write_atomic_file
from bench.peers.systems import PEERS as ALL_PEERS
from recbce.data import synth
from recbce.data.dataset import index

needs_venv = pytest.mark.skipif(not recbole_venv.PYTHON.is_file(),
                                reason=f"{recbole_venv.MISSING} (CI has none)")


def test_rows_invert_recboles_id_to_token_array():
    tokens = np.array(["[PAD]", "3", "0", "2", "1"])
    assert recbole_rows(tokens, 4).tolist() == [2, 4, 3, 1]
    with pytest.raises(ValueError, match="1 ids have no training pair"):
        recbole_rows(tokens[:4], 4)


def test_atomic_file_holds_the_training_pairs_by_recbce_index(tmp_path):
    dataset = index(synth.generate(n_users=20, n_items=15, min_per_user=2, max_per_user=5, seed=2), None,
                    synth.generate(n_users=20, n_items=15, min_per_user=1, max_per_user=2, seed=3))
    write_atomic_file(dataset, tmp_path)
    header, *rows = (tmp_path / "recbce" / "recbce.inter").read_text().splitlines()
    assert header == "user_id:token\titem_id:token"
    pairs = [tuple(map(int, row.split("\t"))) for row in rows]
    assert pairs == list(zip(dataset.train.users.tolist(), dataset.train.items.tolist(), strict=True))


def test_recbole_peers_are_registered_and_run_in_their_virtualenv(monkeypatch, tmp_path):
    assert set(PEERS) == set(recbole_venv.PEERS) and set(PEERS) <= set(ALL_PEERS)
    assert recbole_venv.worker_python(["peer", "implicit-bpr"]) == sys.executable
    assert recbole_venv.worker_python(["recbce-time", "configs/gowalla-bce.yaml"]) == sys.executable
    monkeypatch.setattr(recbole_venv, "PYTHON", tmp_path / "python")
    with pytest.raises(SystemExit, match="make bench-recbole"):
        recbole_venv.worker_python(["peer", "recbole-lightgcn"])
    (tmp_path / "python").touch()
    assert recbole_venv.worker_python(["peer", "recbole-bpr"]) == str(tmp_path / "python")


@pytest.fixture(scope="module")
def checked() -> dict:
    """Each RecBole peer trained for one epoch, then one more, on tiny data, in RecBole's venv."""
    env = {**os.environ, "PYTHONPATH": str(recbole_venv.ROOT)}  # this checkout's bench/ and recbce/
    done = subprocess.run([str(recbole_venv.PYTHON), "tests/recbole_checks.py"], cwd=recbole_venv.ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@needs_venv
@pytest.mark.parametrize("name", list(PEERS))
def test_recbole_peer_scores_recbce_indices_as_recbole_does(checked, name):
    result = checked[name]
    assert result["shape"] == [result["n_users"], result["n_items"]]
    assert result["pairs_match"]  # RecBole trained on exactly recbce's pairs, read back through the rows
    assert result["max_diff_to_own_scores"] < 1e-5  # its own full_sort_predict, ids looked up by token
    assert result["score_spread"] > 0


@needs_venv
@pytest.mark.parametrize("name", list(PEERS))
def test_recbole_peer_second_epoch_continues(checked, name):
    result = checked[name]
    batches = result["batches"]
    assert result["steps_after_first"] and set(result["steps_after_first"]) == {batches}
    assert set(result["steps_after_second"]) == {2 * batches}  # the same Adam state, not a new one
    assert result["moved_first"] > 0 and result["moved_second"] > 0 and result["epochs_done"] == 2


@needs_venv
def test_recbole_peer_settings_reach_recbole(checked):
    """recbole_checks.py builds both with lr=0.01, reg=1e-3: Adam's rate, and BPR's weight decay
    or LightGCN's own penalty."""
    bpr, lightgcn = checked["recbole-bpr"], checked["recbole-lightgcn"]
    assert bpr["optimizer_lr"] == lightgcn["optimizer_lr"] == 0.01
    assert bpr["optimizer_weight_decay"] == 1e-3 and bpr["model_reg_weight"] is None
    assert lightgcn["model_reg_weight"] == 1e-3 and lightgcn["optimizer_weight_decay"] == 0.0
    assert "learning_rate=0.01, weight_decay=0.001" in bpr["settings"]
    assert "n_layers=3, reg_weight=0.001, learning_rate=0.01" in lightgcn["settings"]
