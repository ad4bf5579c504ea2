"""`recbce init`'s starter is the recipe a config gets for every key it leaves out."""

import yaml

from recbce.config import load_config
from recbce.runs.folder import RunFolder
from recbce.starter import write_starter
from recbce.training.loop import train


def quiet(*args, **kwargs) -> None:
    """No training log."""


def test_a_config_of_only_the_data_path_trains_as_the_starter_does(tmp_path, tiny_data):
    runs = tmp_path / "runs"
    starter_path = write_starter(tmp_path / "starter.yaml")
    minimal_path = tmp_path / "minimal.yaml"
    minimal_path.write_text(yaml.safe_dump({"data": {"path": str(tiny_data)},
                                            "run": {"dir": str(runs), "name": "minimal"}}))
    starter = load_config(starter_path, [f"data.path={tiny_data}", f"run.dir={runs}", "run.name=starter"])
    minimal = load_config(minimal_path)
    assert starter.model_dump(exclude={"run"}) == minimal.model_dump(exclude={"run"})

    # the same shorter run of each (20 epochs of both would cost a minute), everything else as resolved
    starter = load_config(starter_path, [f"data.path={tiny_data}", f"run.dir={runs}", "run.name=starter",
                                         "train.epochs=4"])
    minimal = load_config(minimal_path, ["train.epochs=4"])

    ran = {name: train(config, progress=False, log=quiet) for name, config in
           (("starter", starter), ("minimal", minimal))}
    assert ran["starter"]["test"] == ran["minimal"]["test"]  # bit for bit
    assert ran["starter"]["best_epoch"] == ran["minimal"]["best_epoch"]
    # what each run recorded, the tiny catalogue's pool and the prior resolved alike
    recorded = {name: RunFolder(summary["run_dir"]).load()[0] for name, summary in ran.items()}
    assert recorded["starter"].model_dump(exclude={"run"}) == recorded["minimal"].model_dump(exclude={"run"})
    assert recorded["minimal"].sampler.ratio < 256 and isinstance(recorded["minimal"].model.bias_init, float)
