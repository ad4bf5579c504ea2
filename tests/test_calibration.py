"""Log loss and ECE against per-pair Python references; the sampled pairs; bce vs gbce; the CLI."""

import json
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import validate
from recbce.data import synth
from recbce.data.dataset import load_dataset
from recbce.evaluation.calibration import density, expected_calibration_error, labelled_pairs, log_loss
from recbce.runs.trained import load_trained
from recbce.training.loop import train
from tests.conftest import PRE_STARTER_MODEL


def reference_ece(probs, labels, bins):
    groups = {}
    for p, y in zip(probs, labels, strict=True):
        groups.setdefault(min(int(p * bins), bins - 1), []).append((p, y))
    return sum(len(g) / len(probs) * abs(sum(p for p, _ in g) / len(g) - sum(y for _, y in g) / len(g))
               for g in groups.values())


@settings(max_examples=40, deadline=None)
@given(logits=st.lists(st.floats(-30, 30), min_size=1, max_size=50), seed=st.integers(0, 1000),
       bins=st.integers(1, 20))
def test_log_loss_and_ece_equal_brute_force(logits, seed, bins):
    labels = torch.randint(0, 2, (len(logits),), generator=torch.Generator().manual_seed(seed)).double()
    s = torch.tensor(logits, dtype=torch.float64)
    probs = torch.sigmoid(s)
    # -log σ(x) = log(1 + e^-x) and -log(1 - σ(x)) = log(1 + e^x), written without cancellation.
    want = sum(math.log1p(math.exp(-x)) if y else math.log1p(math.exp(x))
               for x, y in zip(logits, labels.tolist(), strict=True)) / len(logits)
    assert math.isclose(log_loss(s, labels), want, rel_tol=1e-9, abs_tol=1e-12)
    got = expected_calibration_error(probs, labels, bins)
    assert math.isclose(got, reference_ece(probs.tolist(), labels.tolist(), bins), abs_tol=1e-12)


def test_ece_by_hand():
    # Bins of width 0.5: {0.1, 0.3} with labels {0, 1} -> |0.2 - 0.5|; {0.9} with 1 -> |0.9 - 1|.
    probs = torch.tensor([0.1, 0.3, 0.9], dtype=torch.float64)
    labels = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    assert math.isclose(expected_calibration_error(probs, labels, bins=2), 2 / 3 * 0.3 + 1 / 3 * 0.1)


def planted_config(tmp_path, loss: dict, epochs: int = 6):
    path = tmp_path / "planted.tsv"
    if not path.exists():
        frame = synth.generate(n_users=400, n_items=300, min_per_user=5, max_per_user=30, seed=3)
        frame.to_csv(path, sep="\t", header=False, index=False)
    return validate({
        "seed": 0, "run": {"dir": str(tmp_path / "runs"), "name": f"{loss['name']}{loss.get('gbce_t', '')}"},
        "data": {"path": str(path), "split": {"test_ratio": 0.2, "valid_ratio": 0.0}},
        "model": {"dim": 16, **PRE_STARTER_MODEL}, "sampler": {"kind": "uniform", "ratio": 4}, "loss": loss,
        "train": {"epochs": epochs, "batch_size": 256, "lr": 0.03, "eval_every": 0, "patience": 0},
    })


def test_pairs_follow_the_real_density_and_are_unobserved(tmp_path):
    dataset = load_dataset(planted_config(tmp_path, {"name": "bce"}).data, 0)
    pairs = labelled_pairs(dataset, dataset.test, seed=5)
    rho = density(dataset)
    n_pos = int(pairs.labels.sum())
    assert n_pos == len(dataset.test)
    assert abs(float(pairs.labels.mean()) - rho) < 1 / len(pairs.labels)
    negative = pairs.labels == 0
    observed = dataset.all_positives()
    assert not bool(observed.contains(pairs.users[negative], pairs.items[negative]).any())
    again = labelled_pairs(dataset, dataset.test, seed=5)
    assert torch.equal(again.items, pairs.items) and torch.equal(again.users, pairs.users)
    capped = labelled_pairs(dataset, dataset.test, seed=5, max_pairs=2000)
    assert len(capped.labels) <= 2001 and abs(float(capped.labels.mean()) - rho) < 2 / len(capped.labels)


def test_bce_is_overconfident_and_gbce_near_one_is_better_calibrated(tmp_path):
    # Planted data at density ~6%: bce with 4 negatives per positive learns odds of about 1 in 5,
    # above the real rate. gbce with t = 0.9 reweights the positives towards the real rate.
    # (t = 1 exactly gives the positives so little weight that a short run underfits: not tested.)
    results = {}
    for loss in ({"name": "bce"}, {"name": "gbce", "gbce_t": 0.9}):
        config = planted_config(tmp_path, loss)
        train(config, progress=False, log=lambda *_: None)
        result = CliRunner().invoke(app, ["evaluate", "--run", str(config.run_dir), "--calibration"])
        assert result.exit_code == 0, result.output
        results[loss["name"]] = json.loads((config.run_dir / "eval-test.json").read_text())
        assert (config.run_dir / "reliability-test.png").read_bytes()[:4] == b"\x89PNG"
    bce, gbce = results["bce"], results["gbce"]
    assert bce["calibration/mean_probability"] > 1.5 * bce["calibration/positive_rate"]
    assert gbce["calibration/ece"] < bce["calibration/ece"]
    assert gbce["calibration/log_loss"] < bce["calibration/log_loss"]


def test_calibration_is_reproducible(tmp_path):
    config = planted_config(tmp_path, {"name": "bce"}, epochs=1)
    train(config, progress=False, log=lambda *_: None)
    _, dataset, model = load_trained(config.run_dir)
    from recbce.evaluation.calibration import calibrate

    assert calibrate(model, dataset, dataset.test, 0) == calibrate(model, dataset, dataset.test, 0)


def test_the_equal_mass_ece_sees_what_an_equal_width_bin_averages_away():
    import pytest

    from recbce.evaluation.calibration import adaptive_calibration_error, expected_calibration_error

    # two groups inside the first equal-width bin [0, 1/15): 0.001 predicted, 3% observed, and
    # 0.06 predicted, 3.1% observed: the bin's means agree, the pairs do not
    probs = torch.cat([torch.full((1000,), 0.001, dtype=torch.float64),
                       torch.full((1000,), 0.06, dtype=torch.float64)])
    labels = torch.zeros(2000, dtype=torch.float64)
    labels[:30], labels[1000:1031] = 1.0, 1.0
    assert expected_calibration_error(probs, labels, bins=15) == pytest.approx(0.0, abs=1e-12)
    expected = 0.5 * abs(0.001 - 0.030) + 0.5 * abs(0.06 - 0.031)
    assert adaptive_calibration_error(probs, labels, bins=2) == pytest.approx(expected, rel=1e-9)
    assert adaptive_calibration_error(probs, labels, bins=1) == pytest.approx(0.0, abs=1e-12)


def test_metric_cells_show_counts_as_integers():
    from recbce.cli.console import cell

    assert cell(2_000_000) == "2,000,000" and cell(0.12345) == "0.1235" and cell(True) == "1.0000"
