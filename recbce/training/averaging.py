"""Weight averaging: the running mean of the parameters over the last epochs.

With `train.average_from: E`, from the end of epoch E on the run keeps the mean of the
parameters as they stood at the end of each epoch (stochastic weight averaging, Izmailov
et al., UAI 2018), and evaluates, selects and saves that mean instead of the last step's
weights. At a constant learning rate the late epochs circle around a good region; their
mean sits nearer its middle. What it is worth on Gowalla: docs/results.md, "Averaging the
weights of the late epochs".
"""

from __future__ import annotations

import copy

import torch


def update(average: dict[str, torch.Tensor] | None, count: int, model: torch.nn.Module):
    """(the mean over `count` + 1 epochs, count + 1): `average` moved towards the model's
    current parameters by 1 / (count + 1)."""
    current = model.state_dict()
    if average is None:  # kept on the CPU, where a resumed checkpoint puts it back
        return {name: value.detach().to("cpu", copy=True) for name, value in current.items()}, 1
    count += 1
    for name, value in current.items():
        average[name].add_(value.detach().cpu() - average[name], alpha=1 / count)
    return average, count


def averaged(model: torch.nn.Module, average: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """The model itself without an average, else a copy of it holding the average."""
    if average is None:
        return model
    copied = copy.deepcopy(model)
    copied.load_state_dict(average)
    return copied
