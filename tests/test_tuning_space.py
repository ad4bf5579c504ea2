"""The search space file: what it may say, and the one-line error for what it may not."""

import optuna
import pytest

from recbce.config import load_config
from recbce.errors import ConfigError
from recbce.tuning.space import draw, load_space


@pytest.fixture
def base(make_config):
    return load_config(make_config())


def space(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_kinds_follow_the_schema_and_conditions_come_after_their_keys(tmp_path, base):
    dims = load_space(space(tmp_path, """
loss.gbce_t: {low: 0.0, high: 1.0, when: {loss.name: gbce}}
train.lr: {low: 1e-3, high: 0.1, log: true}
model.dim: {low: 8, high: 32, step: 8}
loss.name: [bce, gbce]
"""), base)
    by_key = {d.key: d for d in dims}
    assert [d.key for d in dims] == ["train.lr", "model.dim", "loss.name", "loss.gbce_t"]
    assert by_key["train.lr"].kind == "float" and by_key["train.lr"].low == 1e-3  # "1e-3" read as YAML str
    assert by_key["model.dim"].kind == "int" and by_key["model.dim"].step == 8
    assert by_key["loss.name"].choices == ("bce", "gbce")
    assert by_key["loss.gbce_t"].when == {"loss.name": ("gbce",)}


def test_a_tied_key_is_drawn_only_where_its_condition_holds(tmp_path, base):
    dims = load_space(space(tmp_path, """
loss.name: [bce, gbce]
loss.gbce_t: {low: 0.0, high: 1.0, when: {loss.name: gbce}}
model.dim: {low: 8, high: 32, step: 8}
"""), base)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        drawn = draw(study.ask(), dims)
        seen.add(drawn["loss.name"])
        assert ("loss.gbce_t" in drawn) == (drawn["loss.name"] == "gbce")
        assert drawn["model.dim"] in (8, 16, 24, 32)
        if "loss.gbce_t" in drawn:
            assert 0.0 <= drawn["loss.gbce_t"] <= 1.0
    assert seen == {"bce", "gbce"}


@pytest.mark.parametrize("text, expected", [
    ("train.lrr: {low: 0.001, high: 0.1}", "unknown config key 'train.lrr' (did you mean 'lr'?)"),
    ("trian.lr: [0.1]", "unknown config key 'trian.lr' (did you mean 'train'?)"),
    ("train.lr: {low: -1.0, high: 0.1}", "train.lr: -1.0 is outside what the key allows"),
    ("loss.gbce_t: {low: 0.0, high: 2.0}", "loss.gbce_t: 2.0 is outside what the key allows"),
    ("loss.name: [bce, hinge]", "loss.name: 'hinge' is outside what the key allows"),
    ("{}", "the space is empty"),
    ("train.lr: {low: 0.1, high: 0.1}", "low (0.1) must be below high (0.1)"),
    ("model.dim: {low: 8.5, high: 32}", "low must be an integer"),
    ("loss.name: {low: 1, high: 2}", "a range needs a number key"),
    ("loss.gbce_t: {low: 0.0, high: 1.0, when: {loss.name: gbce}}", "when names loss.name, which is not"),
    ("loss.name: [bce]\nloss.gbce_t: {low: 0.0, high: 1.0, when: {loss.name: gbce}}",
     "'gbce' is not one of its choices"),
    ("train.lr: {low: 0.001, high: 0.1, log: true, step: 0.01}", "give log or step, not both"),
    ("train.lr: {low: 0.001, high: 0.1, lg: true}", "unknown field 'lg'"),
    ("run.name: [a, b]", "the run section is fixed for a study"),
    ("eval.metric: [recall@20]", "the eval section is fixed"),
    ("train: [1]", "train is a section"),
    ("- train.lr", "the space is empty"),
])
def test_bad_spaces_are_one_line_naming_the_file_and_key(tmp_path, base, text, expected):
    path = space(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_space(path, base)
    message = str(caught.value)
    assert expected in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize(("space", "base"), [("ml100k", "ml100k"), ("gowalla", "gowalla"),
                                           ("starter", "ml100k"), ("starter", "gowalla")])
def test_shipped_spaces_load_against_their_base_configs_and_every_draw_validates(space, base):
    """configs/spaces/SPACE.yaml with configs/BASE-starter.yaml (the starter's space with both
    data sets it is studied on): every key checked, and the configs 20 random draws make are
    ones the schema accepts."""
    from pathlib import Path

    from recbce.config import set_key, validate

    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "configs" / f"{base}-starter.yaml")
    dims = load_space(root / "configs" / "spaces" / f"{space}.yaml", config)
    assert len(dims) >= 5
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        raw = config.model_dump(exclude_unset=True)
        for key, value in draw(study.ask(), dims).items():
            set_key(raw, key, value)
        validate(raw)  # a ConfigError here: the space draws a combination the config refuses
