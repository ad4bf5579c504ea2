from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import Config, ModelConfig, load_config
from recbce.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    assert isinstance(load_config(path), Config)


def test_scientific_notation_string_becomes_float(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-3\n")  # PyYAML reads 1e-3 as the string '1e-3'
    assert load_config(path).train.lr == pytest.approx(1e-3)


def test_set_overrides_nested_keys_with_yaml_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sampler:\n  ratio: 4\n")
    config = load_config(path, ["sampler.ratio=16", "model.bias=false", "train.lr=2e-2"])
    assert (config.sampler.ratio, config.model.bias, config.train.lr) == (16, False, 0.02)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("train:\n  lrr: 0.1\n", "unknown key 'train.lrr' (did you mean 'lr'?)"),
        ("sampler:\n  ratio: many\n", "sampler.ratio: Input should be a valid integer"),
        ("train:\n  lr: -1\n", "train.lr: Input should be greater than 0"),
        ("sampler:\n  ratio: -2\n", "sampler.ratio: Input should be greater than or equal to 0"),
        ("eval:\n  k: [0, 10]\n", "eval.k: every K must be >= 1"),
        ("loss:\n  name: hinge\n", "loss.name: Input should be 'bce', 'bce_pos_only'"),
        ("loss:\n  name: bce_pos_only\n", "bce_pos_only trains without negatives: set sampler.ratio: 0"),
        ("sampler:\n  ratio: 0\n", "sampler.ratio: 0 draws no negatives: set an integer >= 1"),
        ("sampler:\n  ratio: 2.5\n", "sampler.ratio: Input should be a valid integer"),
        ("loss:\n  name: ccl\n", "ccl needs model.scorer: cosine"),
        ("model:\n  scorer: dot\nloss:\n  name: decoupled_softmax\n",
         "decoupled_softmax needs model.scorer: cosine"),
        ("loss:\n  gbce_t: 1.5\n", "loss.gbce_t: Input should be less than or equal to 1"),
        ("run:\n  name: ../escape\n", "run.name: must be a plain folder name"),
        ("train: [1, 2\n", "invalid YAML at line"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("train:\n  lr: 1.0e+400\n", "train.lr: Input should be a finite number"),
        ("train:\n  lr: .inf\n", "train.lr: Input should be a finite number"),
        ("model:\n  init_std: .nan\n", "model.init_std: Input should be a finite number"),
        ("train:\n  lr: 1e400\n", "train.lr: Input should be a finite number"),  # a string to pydantic
        ("eval:\n  max_memory_mb: -.inf\n", "eval.max_memory_mb: Input should be a finite number"),
        ("data:\n  split: {test_ratio: 0.5, valid_ratio: 0.5}\n",
         "data.split: test_ratio + valid_ratio must be below 1 (got 0.5 + 0.5)"),
        ("train:\n  lr: 0.1\n  lr: 0.2\n", "invalid YAML: duplicate key 'lr' at line 3"),
        ("model:\n  bias_init: low\n", "model.bias_init: should be a number or 'prior' (got 'low')"),
        ("model:\n  bias_init: true\n", "should be a number or 'prior'"),
        ("model:\n  bias_init: -1e3\n", "should be between -50 and 50 (a logit), or 'prior'"),
        ("model:\n  bias_init: prior\nloss:\n  name: bpr\n", "loss.name bpr has no single one: set a number"),
        ("model:\n  bias_init: prior\n  bias: false\n", "prior sets the item biases: set model.bias: true"),
        ("model:\n  bias_init: prior\nloss:\n  neg_weight: 0\n", "loss.neg_weight > 0"),
        ("model:\n  dim: [" + ", ".join(["1"] * 5000) + "]\n", "model.dim: Input should be a valid integer"),
    ],
)
def test_each_kind_of_error_names_the_key(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message and str(path) in message
    assert "\n" not in message
    # The same file through the real CLI: that one line, exit code 2, no traceback.
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and result.output.strip().count("\n") == 0


def test_bias_init_takes_a_number_a_yaml_exponent_or_prior(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  bias_init: -1e1\n")  # a string to PyYAML
    assert load_config(path).model.bias_init == -10.0
    assert load_config(path, ["model.bias_init=prior"]).model.bias_init == "prior"


def test_an_override_error_names_the_override_not_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.01\ndata:\n  split: {test_ratio: 0.5}\n")

    def message(overrides):
        with pytest.raises(ConfigError) as caught:
            load_config(path, overrides)
        return str(caught.value)

    assert message(["train.lrr=0.1"]) == "--set 'train.lrr=0.1': unknown key 'train.lrr' (did you mean 'lr'?)"
    assert message(["model.dim=8", "train.lr=fast"]).startswith("--set 'train.lr=fast': train.lr: ")
    assert message(["train={lrr: 1}"]).startswith("--set 'train={lrr: 1}': unknown key 'train.lrr'")
    # the section an override changed: the override is named
    split = message(["data.split.valid_ratio=0.6"])
    assert split.startswith("--set 'data.split.valid_ratio=0.6': data.split")
    # an error in the file itself, with unrelated overrides, still names the file
    path.write_text("train:\n  lrr: 0.01\n")
    assert message(["model.dim=8"]) == f"{path}: unknown key 'train.lrr' (did you mean 'lr'?)"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_override_syntax(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(path, ["train.lr"])
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        load_config(path, ["trian.lr=1"])


def test_ratios_summing_to_one_are_fine_where_they_do_not_share_rows():
    for method in ("leave_one_out", "predefined"):
        split = {"method": method, "test_ratio": 0.5, "valid_ratio": 0.5, "test_path": "t.tsv"}
        assert Config.model_validate({"data": {"split": split}}).data.split.valid_ratio == 0.5


def test_an_error_never_echoes_a_whole_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  dim: [" + ", ".join(["123456"] * 5000) + "]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(str(caught.value)) < 300


def test_an_alias_bomb_config_is_one_line_at_once(tmp_path):
    levels = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7))
    path = tmp_path / "bomb.yaml"
    path.write_text(levels + "model: {dim: [" + ",".join(["*h"] * 10) + "]}\n")  # 10^9 leaves
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "expands to more than" in result.output


def test_an_unreadable_config_is_one_line(tmp_path, monkeypatch):
    import errno
    import os

    from recbce import yaml_loader

    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: refuse the read the way the OS would

        def denied(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        monkeypatch.setattr(yaml_loader, "open", denied, raising=False)
    with pytest.raises(ConfigError, match="c.yaml: cannot read: Permission denied"):
        load_config(path)
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0


def test_overrides_are_yaml_through_the_same_loader(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="train.lr: Input should be a finite number"):
        load_config(path, ["train.lr=.inf"])


# The defaults are the starter recipe (recbce init); those that depend on other keys follow
# what the config wrote.

def loaded(tmp_path, text: str) -> Config:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_a_config_that_leaves_every_key_out_gets_the_starter_recipe(tmp_path):
    config = loaded(tmp_path, "data: {path: d.tsv}\n")
    model, sampler, train = config.model, config.sampler, config.train
    assert (model.kind, model.scorer, model.temperature, model.bias, model.bias_init, model.history) == (
        "mf", "cosine", 0.1, True, "prior", 0.5)
    assert (sampler.kind, sampler.ratio, config.loss.name) == ("shared", 256, "bce")
    assert (train.epochs, train.batch_size, train.lr, train.patience) == (20, 1024, 0.01, 3)
    assert config.data.split.valid_ratio == 0.1


@pytest.mark.parametrize(("kind", "history"), [("mf", 0.5), ("lightgcn", 0.0)])
def test_history_left_out_follows_the_model_kind(tmp_path, kind, history):
    assert loaded(tmp_path, f"model: {{kind: {kind}}}\n").model.history == history


def test_history_written_for_lightgcn_is_still_refused(tmp_path):
    with pytest.raises(ConfigError, match="model.history and model.context are not implemented"):
        loaded(tmp_path, "model: {kind: lightgcn, history: 0.5}\n")


@pytest.mark.parametrize(("text", "start"), [
    ("loss: {name: bce}", "prior"),
    ("loss: {name: gbce, gbce_t: 0.5}", "prior"),
    ("sampler: {kind: uniform}", "prior"),
    ("loss: {name: bpr}", 0.0),
    ("loss: {name: softmax}", 0.0),
    ("model: {bias: false}", 0.0),
    ("loss: {name: bce, neg_weight: 0}", 0.0),
    ("sampler: {kind: in_batch}\ntrain: {batch_size: 1}", 0.0),
])
def test_bias_init_left_out_is_the_prior_only_where_it_is_defined(tmp_path, text, start):
    bias_init = loaded(tmp_path, text + "\n").model.bias_init
    assert bias_init == start and type(bias_init) is type(start)


@pytest.mark.parametrize(("kind", "ratio"), [("shared", 256), ("uniform", 4), ("popularity", 4),
                                             ("in_batch", 4)])
def test_sampler_ratio_left_out_follows_the_kind(tmp_path, kind, ratio):
    assert loaded(tmp_path, f"sampler: {{kind: {kind}}}\n").sampler.ratio == ratio
    assert loaded(tmp_path, f"sampler: {{kind: {kind}, ratio: 8}}\n").sampler.ratio == 8


@pytest.mark.parametrize(("text", "patience"), [
    ("data: {split: {valid_ratio: 0.1}}", 3),
    ("data: {split: {method: leave_one_out}}", 3),
    ("data: {split: {valid_ratio: 0}}", 0),
    ("data: {split: {method: predefined, test_path: t.tsv, valid_ratio: 0}}", 0),
    ("data: {split: {method: predefined, test_path: t.tsv, valid_ratio: 0, valid_path: v.tsv}}", 3),
    ("train: {eval_every: 0}", 0),
    # written, it is kept: a refit on all of train keeps its config's patience (the run notes it)
    ("data: {split: {valid_ratio: 0}}\ntrain: {patience: 2}", 2),
])
def test_patience_left_out_counts_only_where_the_run_validates(tmp_path, text, patience):
    assert loaded(tmp_path, text + "\n").train.patience == patience


def test_a_rule_follows_a_later_assignment_of_the_key_it_depends_on():
    model = ModelConfig()
    model.kind = "lightgcn"  # validate_assignment runs the section's rule again
    assert model.history == 0.0 and "history" not in model.model_fields_set
