"""Row-wise ("lazy") Adam for embedding tables with sparse gradients.

Dense Adam spends most of a recommender's step on rows the batch never used:
zeroing, sqrt and division over the whole tables. This optimiser updates only
the rows a batch touched (their moments too), with the global step for bias
correction, as TensorFlow's LazyAdam does. Rows not in a batch keep their
moments unchanged, which is the usual, well-tested approximation for embeddings.
"""

from __future__ import annotations

import torch


class RowAdam(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                rows, grad = _row_gradient(param.grad)
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * param[rows]
                m = state["exp_avg"][rows].mul_(beta1).add_(grad, alpha=1 - beta1)
                v = state["exp_avg_sq"][rows].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                state["exp_avg"][rows] = m
                state["exp_avg_sq"][rows] = v
                step = float(state["step"])
                bias1, bias2 = 1 - beta1**step, 1 - beta2**step
                denom = (v / bias2).sqrt_().add_(group["eps"])
                param[rows] -= group["lr"] / bias1 * m / denom
        return None


def _row_gradient(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(unique rows, summed gradient per row) from a sparse or dense embedding gradient."""
    if not grad.is_sparse:
        rows = torch.nonzero(grad.abs().sum(1)).squeeze(1)
        return rows, grad[rows]
    indices, values = grad._indices()[0], grad._values()
    rows, inverse = torch.unique(indices, return_inverse=True)
    summed = torch.zeros(len(rows), values.shape[1], dtype=values.dtype, device=values.device)
    summed.index_add_(0, inverse, values)
    return rows, summed
