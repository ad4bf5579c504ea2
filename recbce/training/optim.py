"""Row-wise ("lazy") Adam for embedding tables.

Dense Adam spends most of a recommender's step on rows the batch never used:
zeroing, sqrt and division over the whole tables. This optimiser updates only
the rows a batch touched (their moments too), with the global step for bias
correction, as TensorFlow's LazyAdam does. Rows not in a batch keep their
moments unchanged, which is the usual, well-tested approximation for embeddings.

A sparse gradient (what `nn.Embedding(sparse=True)` gives: one row per lookup,
repeats included) is summed per distinct row into a block of just those rows, in
lookup order, so the sums are those of adding the lookups into a zeroed table.
A dense gradient works too: its used rows are its non-zero ones.
"""

from __future__ import annotations

import math

import torch

from recbce.config import TrainConfig

# These take sparse embedding gradients (one row per lookup: cheap when few rows are used).
SPARSE_OPTIMIZERS = ("row_adam", "sparse_adam", "sgd", "adagrad")


class RowAdam:
    """Not a torch.optim.Optimizer: that base imports torch's compiler (torch._dynamo) when its
    first parameter group is added, about a second of every command that trains, for machinery
    RowAdam does not use. It has what the loop and the checkpoints use, in torch's formats:
    step, zero_grad, param_groups, state (by parameter), state_dict and load_state_dict (so
    checkpoints written when it was a torch.optim.Optimizer load as they are)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.param_groups = [{"params": list(params), "lr": lr, "betas": betas, "eps": eps,
                              "weight_decay": weight_decay}]
        self.state: dict[torch.Tensor, dict] = {}

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self._params():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.detach_().zero_()

    def state_dict(self) -> dict:
        index = {param: i for i, param in enumerate(self._params())}
        groups, first = [], 0
        for group in self.param_groups:
            groups.append({**group, "params": list(range(first, first + len(group["params"])))})
            first += len(group["params"])
        return {"state": {index[param]: state for param, state in self.state.items()},
                "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["param_groups"]
        if [len(g["params"]) for g in saved] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("loaded state dict's parameter groups do not match the optimizer's")
        params = self._params()
        self.state = {params[i]: {name: value.clone() for name, value in state.items()}
                      for i, state in state_dict["state"].items()}
        self.param_groups = [{**group, "params": own["params"]}
                             for group, own in zip(saved, self.param_groups, strict=True)]

    def _params(self) -> list[torch.Tensor]:
        return [param for group in self.param_groups for param in group["params"]]

    def _update(self, param: torch.Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float64)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        rows, grad = _row_gradient(param.grad, len(param))
        if group["weight_decay"]:
            grad = grad.add(param[rows], alpha=group["weight_decay"])
        m = state["exp_avg"].index_select(0, rows).lerp_(grad, 1 - beta1)
        v = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)
        step = float(state["step"])
        bias1, bias2 = 1 - beta1**step, 1 - beta2**step
        denom = v.sqrt_().div_(math.sqrt(bias2)).add_(group["eps"])
        # Not param.index_add_(..., alpha=): with an alpha it takes torch's slow path. Selecting
        # the rows, adding in place and copying them back is the same arithmetic (tested).
        moved = param.index_select(0, rows).add_(m.div_(denom), alpha=-group["lr"] / bias1)
        param.index_copy_(0, rows, moved)


Optimizer = RowAdam | torch.optim.Optimizer  # what build_optimizer gives


def _row_gradient(grad: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(used rows, ascending; summed gradient per row) from a sparse or dense embedding gradient."""
    if not grad.is_sparse:
        rows = torch.nonzero(grad.ne(0).any(1)).squeeze(1)
        return rows, grad.index_select(0, rows)
    indices, values = grad._indices()[0], grad._values()
    rows, slot = _distinct_rows(indices, n_rows)
    return rows, values.new_zeros(len(rows), values.shape[1]).index_add_(0, slot, values)


def _distinct_rows(indices: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the sorted distinct values of `indices`, all in [0, n_rows); each index's position among
    them). By a table-long mask when the indices are many for the table (a linear pass beats
    sorting them), else by sorting (a mask costs O(rows of the table) per step, which grows
    with the data at a fixed batch: bench_scale). Both give the same result."""
    if len(indices) * 8 < n_rows:
        return torch.unique(indices, return_inverse=True)
    marked = torch.zeros(n_rows, dtype=torch.bool)
    marked[indices] = True
    rows = marked.nonzero().squeeze(1)
    slot = torch.empty(n_rows, dtype=torch.long)
    slot[rows] = torch.arange(len(rows))
    return rows, slot[indices]

def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> Optimizer:
    params = list(model.parameters())
    if config.optimizer == "row_adam":
        return RowAdam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sparse_adam":
        return torch.optim.SparseAdam(params, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
