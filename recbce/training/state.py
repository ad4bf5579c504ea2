"""One training run's working set, built once: the data, the model and how it learns.

The loop (recbce.training.loop) passes this one object around instead of a dozen
arguments; `Progress` (recbce.training.checkpoint) is the part a checkpoint carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from recbce.config import Config
from recbce.config.kinds import SAMPLER_KINDS, negatives_per_positive
from recbce.data.dataset import Dataset
from recbce.data.history import UserHistory, scoring_inputs
from recbce.data.sampling import build_sampler, make_generator
from recbce.models import Scorer, build_model
from recbce.training import distributed
from recbce.training.checkpoint import Progress
from recbce.training.losses import build_loss, prior_logit
from recbce.training.optim import SPARSE_OPTIMIZERS, Optimizer, build_optimizer

OnEvaluation = Callable[[int, float], bool]


@dataclass(frozen=True)
class Hooks:
    """What a caller adds to a training: a look at every validation (`on_evaluation(epoch,
    value)`, True to stop), and whether to score the test split at the end."""

    on_evaluation: OnEvaluation | None = None
    score_test: bool = True


@dataclass
class Training:
    config: Config
    dataset: Dataset
    context: distributed.Context
    generator: torch.Generator  # this process's only source of randomness
    model: Scorer  # the model itself: evaluated, checkpointed and saved
    trainer: torch.nn.Module  # what steps call: the model, or its DDP replica under torchrun
    optimizer: Optimizer
    sampler: object  # recbce.data.sampling: ItemSampler, InBatchSampler or SharedPoolSampler
    loss_fn: Callable
    history: UserHistory  # the items each step's user vectors mix in (model.history)
    state: Progress = field(default_factory=Progress)
    log: Callable = print
    show_progress: bool = False
    hooks: Hooks = Hooks()
    clock: float = 0.0  # perf_counter() at which the run's time (state.seconds) would be 0

    @property
    def run_dir(self):
        return self.config.run_dir


def prepare(config: Config, dataset: Dataset, context: distributed.Context = distributed.SINGLE,
            log: Callable = print, show_progress: bool = False) -> Training:
    """Everything a run needs, initialised from the run's seed (this process's stream)."""
    config = with_prior_bias(with_pool_size(config, dataset.n_items), dataset.n_items)
    generator = make_generator(config.seed, context.rank)
    model, optimizer = build(dataset, config, generator, context.device)
    return Training(
        config=config, dataset=dataset, context=context, generator=generator, model=model,
        trainer=distributed.replicate(model, context), optimizer=optimizer,
        sampler=build_sampler(config.sampler, dataset.positives, dataset.item_counts()),
        loss_fn=build_loss(config.loss, dataset.n_items), history=UserHistory(dataset, config.model),
        log=log, show_progress=show_progress,
    )


def with_pool_size(config: Config, n_items: int) -> Config:
    """`config` with a shared pool the config left out (sampler.ratio, 256) cut to a smaller
    catalogue: the pool is then every item, as the default means "a large pool", and the
    run's config.yaml records the size used. A ratio written above the catalogue stays an
    error (recbce.data.sampling.SharedPoolSampler); a popularity pool draws with replacement,
    so any size is one."""
    sampler = config.sampler
    if (not SAMPLER_KINDS[sampler.kind].pool or sampler.pool != "uniform"
            or "ratio" in sampler.model_fields_set or sampler.ratio <= n_items):
        return config
    return config.model_copy(update={"sampler": sampler.model_copy(update={"ratio": n_items})})


def with_prior_bias(config: Config, n_items: int) -> Config:
    """`config` with model.bias_init a number: "prior" resolved for this catalogue and sampler
    (the run's config.yaml then records the value it started from)."""
    if config.model.bias_init != "prior":
        return config
    negatives = negatives_per_positive(config)
    start = prior_logit(config.loss, negatives, n_items)
    return config.model_copy(update={"model": config.model.model_copy(update={"bias_init": start})})


def build(dataset: Dataset, config: Config, generator: torch.Generator, device: torch.device):
    """(model on `device`, its optimizer), the model initialised from `generator`."""
    sparse = config.train.optimizer in SPARSE_OPTIMIZERS
    model = build_model(config.model, dataset.n_users, dataset.n_items, scoring_inputs(dataset, config.model),
                        sparse=sparse, generator=generator).to(device)
    return model, build_optimizer(model, config.train)
