import json
from pathlib import Path

from typer.testing import CliRunner

from recbce.cli.app import app

runner = CliRunner()


def test_train_then_evaluate(make_config, tmp_path):
    result = runner.invoke(app, ["train", "--config", str(make_config()), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "recall@20" in result.output and "popularity" in result.output
    run = tmp_path / "runs" / "tiny"
    result = runner.invoke(app, ["evaluate", "--run", str(run), "--k", "5,10"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "eval-test.json").read_text())
    assert set(saved) == {f"{m}@{k}" for k in (5, 10) for m in
                          ("recall", "ndcg", "hr", "precision", "map", "mrr", "coverage", "popularity",
                           "gini", "entropy", "novelty", "tail")}
    trained = json.loads((run / "summary.json").read_text())["test"]
    assert trained["ndcg@10"] == saved["ndcg@10"]  # the reloaded model is the trained one


def test_existing_run_is_not_overwritten(make_config):
    config = str(make_config())
    assert runner.invoke(app, ["train", "-c", config, "-q"]).exit_code == 0
    result = runner.invoke(app, ["train", "-c", config, "-q"])
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_config_error_is_one_line_exit_2(make_config):
    result = runner.invoke(app, ["train", "-c", str(make_config(train={"lrr": 1}))])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "did you mean 'lr'" in result.output
    assert "Traceback" not in result.output


def test_missing_data_file_and_run(tmp_path, make_config):
    result = runner.invoke(app, ["train", "-c", str(make_config(data={"path": "nope.tsv"}))])
    # relative data paths are read from the current folder, and the error says which file that is
    assert result.exit_code == 2 and f"data file not found: {Path.cwd() / 'nope.tsv'}" in result.output
    result = runner.invoke(app, ["evaluate", "--run", str(tmp_path / "none")])
    assert result.exit_code == 2 and "run directory not found" in result.output


def test_data_generate_writes_file(tmp_path):
    out = tmp_path / "gen.tsv"
    result = runner.invoke(app, ["data", "generate", "--out", str(out), "--users", "30", "--items", "40"])
    assert result.exit_code == 0, result.output
    assert Path(out).read_text().count("\n") > 30 * 9
    before = out.read_text()
    result = runner.invoke(app, ["data", "generate", "--out", str(out), "--seed", "5"])
    assert result.exit_code == 2 and "exists: pass --force to replace it" in result.output
    assert out.read_text() == before
    result = runner.invoke(app, ["data", "generate", "--out", str(out), "--seed", "5", "--force"])
    assert result.exit_code == 0 and out.read_text() != before


def command_paths(command, path=()):
    """Every command and group of the CLI, as argument paths: (), ("runs",), ("runs", "list"), ..."""
    yield path
    for name, child in getattr(command, "commands", {}).items():
        yield from command_paths(child, (*path, name))


def test_every_help_renders_with_an_example():
    import typer

    paths = list(command_paths(typer.main.get_command(app)))
    assert ("runs", "list") in paths and ("config", "validate") in paths and ("init",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="recbce")
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, f"recbce {' '.join(path)} --help has no Example"
        assert "<bool>" not in result.output, f"recbce {' '.join(path)} --help shows <bool>"
    result = runner.invoke(app, ["evaluate", "--help"], prog_name="recbce", env={"COLUMNS": "200"})
    assert "(needs recbce[plot])" in result.output  # printed as written, not read as markup


def test_shell_completion_completes_commands():
    def complete(words):
        env = {"_RECBCE_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        return runner.invoke(app, [], prog_name="recbce", env=env).output.split()

    assert complete("recbce ru") == ["runs"]
    assert complete("recbce config v") == ["validate"]


def test_config_validate_bad_and_good(tmp_path, make_config):
    bad = make_config(sampler={"ratio": -1})
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "sampler.ratio" in result.output and "greater than or equal to 0" in result.output
    result = runner.invoke(app, ["config", "validate", str(make_config())])
    assert result.exit_code == 0 and result.output.startswith("ok:")
    result = runner.invoke(app, ["config", "validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output


def test_config_validate_needs_the_data_files_unless_told_not_to(tmp_path, make_config):
    config = str(make_config(data={"split": {"method": "predefined", "test_path": "gone/test.txt",
                                             "valid_ratio": 0.0}}))
    result = runner.invoke(app, ["config", "validate", config])
    assert result.exit_code == 2 and "data.split.test_path gone/test.txt not found (from " in result.output
    assert "--no-data-check" in result.output
    result = runner.invoke(app, ["config", "validate", config, "--no-data-check"])
    assert result.exit_code == 0 and result.output.startswith("ok:")


def test_a_data_path_naming_a_folder_is_said_to_be_a_folder(tmp_path, make_config):
    config = str(make_config(data={"path": str(tmp_path)}))
    result = runner.invoke(app, ["config", "validate", config])
    assert result.exit_code == 2 and "not found" not in result.output
    assert f"data.path {tmp_path} is a folder, not a file" in result.output.replace("\n", "")
    result = runner.invoke(app, ["train", "-c", config, "-q"])
    assert result.exit_code == 2 and "a folder, not a data file" in result.output.replace("\n", "")


def test_init_writes_a_starter_that_validates(tmp_path):
    import yaml

    from recbce.config import Config

    path = tmp_path / "starter.yaml"
    assert runner.invoke(app, ["init", str(path)]).exit_code == 0
    assert path.read_text().count("#") > 20  # it explains itself
    result = runner.invoke(app, ["config", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert Config.model_validate(yaml.safe_load(path.read_text())).run.name == "my-first-run"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2 and "--force" in result.output
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0


def test_config_show_prints_the_resolved_config(make_config):
    import yaml

    from recbce.config import load_config, to_yaml

    path = make_config()
    result = runner.invoke(app, ["config", "show", "-c", str(path), "--set", "sampler.ratio=8"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["sampler"]["ratio"] == 8 and shown["logging"] == {"tensorboard": False}
    assert result.output == to_yaml(load_config(path, ["sampler.ratio=8"]))


def test_quiet_and_verbose(make_config):
    config = str(make_config(train={"epochs": 1}))
    result = runner.invoke(app, ["--quiet", "--verbose", "train", "-c", config])  # quiet wins
    assert result.exit_code == 0, result.output
    assert "epoch 1:" not in result.output and "resolved config" not in result.output
    assert "ex/s]" not in result.output  # no progress bar when output is not a terminal
    result = runner.invoke(app, ["-v", "train", "-c", config, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "resolved config" in result.output and "epoch 1:" in result.output
    assert "training curves:" in result.output


def test_progress_bars_follow_the_terminal_and_quiet_wins(monkeypatch):
    import sys

    from recbce.cli.app import show_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert show_progress(quiet=False) is True and show_progress(quiet=True) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert show_progress(quiet=False) is False
def test_a_user_history_model_reloads_as_trained(make_config, tmp_path):
    # Its user vectors depend on the training positives: `evaluate` rebuilds them from the
    # run's own split, so the reloaded model scores exactly as the trained one did.
    config = make_config(model={"dim": 8, "scorer": "cosine", "temperature": 0.2, "history": 0.5},
                         sampler={"kind": "shared", "ratio": 16}, loss={"name": "softmax"})
    assert runner.invoke(app, ["train", "--config", str(config), "--quiet"]).exit_code == 0
    run = tmp_path / "runs" / "tiny"
    result = runner.invoke(app, ["evaluate", "--run", str(run), "--k", "10"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "eval-test.json").read_text())
    assert json.loads((run / "summary.json").read_text())["test"]["ndcg@10"] == saved["ndcg@10"]


def test_usage_errors_are_one_line_exit_2(tmp_path):
    for args, expected in [
        (["recommend", "--run", str(tmp_path), "--k", "0", "--all"], "Invalid value for '--k'"),
        (["evaluate"], "Missing option '--run'"),
        (["nope"], "No such command 'nope'"),
        (["train", "--config"], "Option '--config' requires an argument"),
    ]:
        result = runner.invoke(app, args, prog_name="recbce")
        assert result.exit_code == 2, (args, result.output)
        line = result.output.strip()
        assert line.startswith("error: ") and expected in line and "\n" not in line, line
        assert "╭" not in line and "Usage" not in line
