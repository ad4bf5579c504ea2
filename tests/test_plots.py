"""Training curves: the PNG every run saves, `recbce plot` overlays, and life without matplotlib."""

import struct
import sys

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.runs.plots import DPI, FIGSIZE

runner = CliRunner()
PIXELS = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) from the PNG header: the signature, then the IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def has_colour(path, rgb: tuple[int, int, int]) -> bool:
    import matplotlib.image

    pixels = (matplotlib.image.imread(path)[..., :3] * 255).round()
    return bool((abs(pixels - rgb).sum(axis=-1) < 30).any())


def train(config, *args):
    result = runner.invoke(app, ["train", "-c", str(config), "-q", *args])
    assert result.exit_code == 0, result.output
    return result


def test_every_run_saves_its_curves(make_config, tmp_path):
    train(make_config())
    curves = tmp_path / "runs" / "tiny" / "curves.png"
    assert png_size(curves) == PIXELS
    import matplotlib.image

    assert matplotlib.image.imread(curves).shape[:2] == (PIXELS[1], PIXELS[0])


def test_plot_overlays_runs_in_distinct_colours(make_config, tmp_path):
    train(make_config(), "--set", "run.name=ratio1", "--set", "sampler.ratio=1")
    train(make_config(), "--set", "run.name=ratio4")
    runs = tmp_path / "runs"
    out = tmp_path / "figures" / "overlay.png"  # a folder that does not exist yet
    result = runner.invoke(app, ["plot", str(runs / "ratio1"), str(runs / "ratio4"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert png_size(out) == PIXELS
    second_line = (255, 127, 14)  # matplotlib's second default colour: only an overlay has it
    assert has_colour(out, second_line) and not has_colour(runs / "ratio1" / "curves.png", second_line)


def test_plot_of_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "not a run folder" in result.output
    assert not (tmp_path / "x.png").exists()


@pytest.fixture
def without_matplotlib(monkeypatch):
    """Make every `import matplotlib...` fail, as on an install without the plot extra."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_without_matplotlib_training_works_and_plot_says_how_to_install(
        make_config, tmp_path, without_matplotlib):
    result = train(make_config())
    run = tmp_path / "runs" / "tiny"
    assert not (run / "curves.png").exists() and (run / "summary.json").exists()
    notes = [line for line in result.output.splitlines() if "recbce[plot]" in line]
    assert len(notes) == 1 and notes[0].startswith("note: no curves.png")
    result = runner.invoke(app, ["plot", str(run)])
    assert result.exit_code == 2
    assert result.output.strip() == "error: plots need matplotlib: pip install 'recbce[plot]'"


def test_the_examples_per_second_axis_has_no_offset_over_its_title(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    from recbce.runs import plots
    from recbce.runs.registry import RunRecord

    drawn = {}
    monkeypatch.setattr(plots, "write_png", lambda figure, out: drawn.setdefault("figure", figure))
    history = [{"epoch": e, "loss": 0.5 / e, "examples_per_s": 12_345_678.0 + e * 1000.0,
                "valid/ndcg@20": 0.1 * e} for e in (1, 2, 3)]
    plots.draw([RunRecord(path=tmp_path / "fast", config={"eval": {"metric": "ndcg@20"}}, epoch_log=history)],
               tmp_path / "curves.png")
    figure = drawn["figure"]
    figure.canvas.draw()
    speed = figure.axes[2]
    assert speed.get_title().startswith("examples/s")
    assert speed.yaxis.get_offset_text().get_text() == ""
    assert any("12" in label.get_text() for label in speed.get_yticklabels())
