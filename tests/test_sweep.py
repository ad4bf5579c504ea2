import csv
import json
import struct
import sys

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.errors import ConfigError
from recbce.evaluation.per_user import mean_and_error
from recbce.training import sweep

runner = CliRunner()
GRID = ["--grid", "loss.name=bpr,bce", "--grid", "sampler.ratio=1,2"]


def quick_config(make_config):
    return str(make_config(train={"epochs": 1, "batch_size": 256, "lr": 0.01}, eval={"k": [5, 20]}))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_grid_parsing_and_names():
    grid = sweep.parse_grid(["loss.name=bce,bpr", "sampler.ratio=1, 4,16"])
    assert grid == {"loss.name": ["bce", "bpr"], "sampler.ratio": [1, 4, 16]}
    points = sweep.expand(grid)
    assert len(points) == 6 and points[1] == {"loss.name": "bce", "sampler.ratio": 4}
    assert sweep.run_name(points[1]) == "name-bce_ratio-4"
    assert sweep.plot_axes(grid) == ("sampler.ratio", ["loss.name"])
    for bad in (["loss.name"], ["=1,2"], ["a=1", "a=2"], []):
        with pytest.raises(ConfigError):
            sweep.parse_grid(bad)


def test_sweep_runs_the_grid_and_tabulates_it(make_config, tmp_path):
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), *GRID, "--out", str(out),
                                 "--metric", "recall@20", "-q"])
    assert result.exit_code == 0, result.output
    assert "4 of 4 runs finished, 0 failed" in result.output
    rows = {row["run"]: row for row in read_csv(out / "sweep.csv")}
    assert list(rows) == ["name-bpr_ratio-1", "name-bpr_ratio-2", "name-bce_ratio-1", "name-bce_ratio-2"]
    for name, row in rows.items():
        summary = json.loads((out / name / "summary.json").read_text())
        assert row["status"] == "finished" and row["error"] == ""
        assert float(row["recall@20"]) == pytest.approx(summary["test"]["recall@20"], abs=1e-12)
        assert float(row["train_s"]) >= 0 and float(row["examples_per_s"]) > 0
        mean, error = mean_and_error(out / name)["recall@20"]  # over test users, run again
        assert mean == pytest.approx(summary["test"]["recall@20"], abs=1e-12)
        assert float(row["recall@20_se"]) == pytest.approx(error, rel=1e-9) and error > 0
    markdown = (out / "sweep.md").read_text().splitlines()
    assert len(markdown) == 2 + 4
    assert markdown[0].startswith("| run | loss.name | sampler.ratio | status | picked | valid/ndcg@20 | "
                                  "valid/recall@20 | ")
    # validation's pick: the best validation ndcg@20 (eval.metric), each run's best over its epochs
    best_valid = {}
    for name, row in rows.items():
        epochs = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        for metric in ("ndcg@20", "recall@20"):
            assert float(row[f"valid/{metric}"]) == max(e[f"valid/{metric}"] for e in epochs)
        best_valid[name] = float(row["valid/ndcg@20"])
    pick = max(best_valid, key=best_valid.get)
    assert [name for name, row in rows.items() if row["picked"] == "yes"] == [pick]
    # the terminal table: grid values as columns, valid beside test, the pick marked; 80 columns
    table = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(table) == 4 and all(len(line) <= 80 for line in result.output.splitlines())
    for line, (name, row) in zip(table, rows.items(), strict=True):
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        assert cells == ["*" if name == pick else "", row["loss.name"], row["sampler.ratio"],
                         f"{float(row['valid/recall@20']):.4f}", f"{float(row['valid/ndcg@20']):.4f}",
                         f"{float(row['recall@20']):.4f} ±{float(row['recall@20_se']):.4f}",
                         f"{float(row['train_s']):.1f}"]
    assert "* validation's pick (best valid ndcg@20)" in result.output
    size = (round(sweep.PLOT_SIZE[0] * sweep.PLOT_DPI), round(sweep.PLOT_SIZE[1] * sweep.PLOT_DPI))
    assert png_size((out / "sweep.png").read_bytes()) == size


def test_validation_picks_the_best_valid_selection_metric():
    def outcome(name, valid, status="finished", selection="ndcg@20"):
        return sweep.Outcome({}, name, status=status, selection=selection, valid={"ndcg@20": valid})

    a, b, c = outcome("a", 0.2), outcome("b", 0.3), outcome("c", 0.3)
    assert sweep.picked([a, b, c]) is b  # the first of equals
    assert sweep.picked([a, outcome("d", 0.9, status="failed")]) is a
    assert sweep.picked([a, outcome("e", 0.9, selection="recall@20")]) is None  # not comparable
    assert sweep.picked([sweep.Outcome({}, "f", status="finished", selection="ndcg@20")]) is None
    assert sweep.short_keys(["loss.name", "model.temperature", "loss.temperature"]) == {
        "loss.name": "name", "model.temperature": "model.temperature", "loss.temperature": "loss.temperature"}


def test_every_cell_is_checked_before_any_trains(make_config, tmp_path, monkeypatch):
    from recbce.training import loop

    trained = []
    monkeypatch.setattr(loop, "train", lambda *a, **k: trained.append(a))
    out = tmp_path / "sweep"
    # the last cell (bce_pos_only with negatives) is the impossible one
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", "sampler.ratio=1,2",
                                 "--grid", "loss.name=bce,bce_pos_only", "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error: grid cell 2/4 (sampler.ratio=1, loss.name=bce_pos_only): ")
    assert "\n" not in line and "bce_pos_only" in line and "no run was started" in line
    assert trained == [] and not out.exists()
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", "train.lr=0.01,fast",
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert "grid cell 2/2 (train.lr=fast): --grid train.lr=fast: train.lr" in result.output
    assert trained == [] and not out.exists()


@pytest.mark.parametrize("value", ["0.01:0.1", "1:16", "1e-3:1e-1"])
def test_a_range_in_the_grid_is_refused_with_a_hint(make_config, tmp_path, value):
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", f"train.lr={value}",
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and f"--grid train.lr={value}: a grid takes a list of values, not a range" in line
    assert f"train.lr={value.replace(':', ',')}" in line and not out.exists()


def test_a_crashing_run_is_a_row_and_the_sweep_goes_on(make_config, tmp_path, monkeypatch):
    import recbce.training.loop

    real_train = recbce.training.loop.train

    def crash_on_bpr(config, **kwargs):
        if config.loss.name == "bpr":
            raise RuntimeError("boom in bpr\nsecond line")
        return real_train(config, **kwargs)

    monkeypatch.setattr(recbce.training.loop, "train", crash_on_bpr)
    for name in [m for m in sys.modules if m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # also: no matplotlib, tables still written
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", "loss.name=bpr,bce",
                                 "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "pip install 'recbce[plot]'" in result.output and not (out / "sweep.png").exists()
    rows = read_csv(out / "sweep.csv")
    assert [(r["status"], r["error"]) for r in rows] == [("failed", "boom in bpr"), ("finished", "")]


def test_sweep_input_errors_are_one_line_before_any_run(make_config, tmp_path):
    config, out = quick_config(make_config), tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "-c", config, *GRID, "--out", str(out), "--metric", "ndcg@50"])
    assert result.exit_code == 2 and "--metric 'ndcg@50' is not computed" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["sweep", "-c", config, "--grid", "sampler.ratio", "--out", str(out)])
    assert result.exit_code == 2 and "expected KEY=V1,V2" in result.output
    (out / "ratio-2").mkdir(parents=True)
    result = runner.invoke(app, ["sweep", "-c", config, "--grid", "sampler.ratio=2", "--out", str(out)])
    assert result.exit_code == 2 and "pass --overwrite" in result.output
    assert result.output.strip().count("\n") == 0


def test_a_sweep_whose_runs_all_fail_still_writes_its_table_and_exits_1(make_config, tmp_path, monkeypatch):
    from recbce.training import loop

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(loop, "train", crash)
    out = tmp_path / "never-made"
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", "sampler.ratio=1,2",
                                 "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "0 of 2 runs finished, 2 failed" in result.output
    assert [r["status"] for r in read_csv(out / "sweep.csv")] == ["failed", "failed"]
    assert (out / "sweep.md").is_file() and not (out / "sweep.png").exists()  # no empty plot


def test_global_quiet_silences_the_sweep_and_its_bars(make_config, tmp_path, monkeypatch):
    from recbce.training import loop

    seen, real = [], loop.train
    monkeypatch.setattr(loop, "train", lambda *a, **k: seen.append(k["progress"]) or real(*a, **k))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # bars would show on a terminal...
    result = runner.invoke(app, ["-q", "sweep", "-c", quick_config(make_config), "--grid", "sampler.ratio=1",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert seen == [False]  # ...but not under the global -q
    assert "epoch 1" not in result.output and "[1/1]" not in result.output
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # a redirected log: no bars either
    result = runner.invoke(app, ["sweep", "-c", quick_config(make_config), "--grid", "sampler.ratio=1",
                                 "--out", str(tmp_path / "s"), "--overwrite"])
    assert result.exit_code == 0 and seen == [False, False] and "[1/1]" in result.output


def test_markdown_cells_keep_small_values_readable():
    text = sweep.to_markdown(["value"], [[1e-5], [0.0], [0.12345], [1234.5], [None], ["a|b"]])
    assert text.splitlines()[2:] == ["| 1e-05 |", "| 0.0000 |", "| 0.1235 |", "| 1,234.5 |", "|  |",
                                     "| a\\|b |"]
