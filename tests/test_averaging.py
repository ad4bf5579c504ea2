"""Weight averaging (train.average_from): the running mean of the end-of-epoch parameters."""

import torch

from recbce.config import ModelConfig, load_config
from recbce.models.dot_product import DotProduct
from recbce.runs.trained import load_trained
from recbce.training import averaging
from recbce.training.loop import train


def model(seed: int) -> DotProduct:
    return DotProduct(5, 7, ModelConfig(dim=3, scorer="dot", temperature=1.0, history=0.0),
                      generator=torch.Generator().manual_seed(seed))


def test_update_keeps_the_exact_mean_of_every_model_seen():
    models = [model(seed) for seed in range(3)]
    average, count = None, 0
    for m in models:
        average, count = averaging.update(average, count, m)
    assert count == 3
    for name, value in average.items():
        expected = torch.stack([m.state_dict()[name] for m in models]).mean(0)
        torch.testing.assert_close(value, expected)
    assert not torch.equal(average["user.weight"], models[0].user.weight)  # a copy, not the first model


def test_averaged_is_the_model_itself_without_an_average_else_a_copy():
    first, second = model(0), model(1)
    assert averaging.averaged(first, None) is first
    copied = averaging.averaged(first, second.state_dict())
    assert torch.equal(copied.user.weight, second.user.weight)
    assert not torch.equal(first.user.weight, second.user.weight)  # the original is untouched


def parameters(run_dir) -> dict:
    return load_trained(run_dir)[2].state_dict()


def test_a_run_saves_the_mean_of_its_epochs_from_average_from_on(make_config):
    # eval_every 0: no validation choice, so each run saves its end (or its average)
    ends = {}
    for epochs in (2, 3):
        config = load_config(make_config(train={"epochs": epochs, "eval_every": 0}), [f"run.name=e{epochs}"])
        train(config, progress=False, log=lambda *_: None)
        ends[epochs] = parameters(config.run_dir)
    averaging_config = make_config(train={"epochs": 3, "eval_every": 0, "average_from": 2})
    config = load_config(averaging_config, ["run.name=avg"])
    train(config, progress=False, log=lambda *_: None)
    saved = parameters(config.run_dir)
    for name, value in saved.items():
        torch.testing.assert_close(value, (ends[2][name] + ends[3][name]) / 2)
