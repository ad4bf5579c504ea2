"""The whole config (recbce.config.sections under one root) and the rules across sections:
settings that only make sense together, and defaults that depend on another section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from recbce.config.kinds import LOSS_KINDS, MODEL_KINDS, SAMPLER_KINDS, negatives_per_positive
from recbce.config.sections import (
    DataConfig,
    EvalConfig,
    LoggingConfig,
    LossConfig,
    ModelConfig,
    RunConfig,
    SamplerConfig,
    Section,
    TrainConfig,
    defaulted,
    metric_names,
)


class Config(Section):
    seed: int = Field(0, ge=0, lt=2**63)  # numpy and torch generators take 0..2^63-1
    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    sampler: SamplerConfig = SamplerConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        self._resolve_defaults()
        loss_kind(self)
        if self.sampler.pool != "uniform" and not SAMPLER_KINDS[self.sampler.kind].pool:
            raise ValueError("sampler.pool applies to kind: shared only; for per-row "
                             "popularity negatives set sampler.kind: popularity")
        if self.model.context and not self.model.history:
            raise ValueError("model.context sets which items model.history mixes in: set "
                             "model.history > 0 (the weight of the mix) as well")
        if self.model.context and self.data.split.method not in ("leave_one_out", "temporal"):
            raise ValueError("model.context needs data.split.method leave_one_out or temporal: "
                             "held-out items must come after the training items they follow")
        model_supported(self)
        if self.model.bias_init == "prior":
            prior_supported(self)
        if self.eval.metric not in metric_names(self.eval):
            raise ValueError(f"eval.metric {self.eval.metric!r} is not computed; choose one of "
                             f"{', '.join(metric_names(self.eval))}")
        return self

    def _resolve_defaults(self) -> None:
        """The defaults that depend on other sections, where the config left the key out."""
        # prior only where it is defined: elsewhere "prior" written is an error (prior_supported)
        # and left out it is 0.0, what every loss started from before the prior existed.
        if "bias_init" not in self.model.model_fields_set:
            self.__dict__["model"] = defaulted(self.model, bias_init="prior" if prior_problem(self) is None
                                               else 0.0)
        # Patience counts validation evaluations: without them it could never act, so the
        # config.yaml of such a run records 0 rather than a setting that did nothing.
        if "patience" not in self.train.model_fields_set:
            self.__dict__["train"] = defaulted(self.train, patience=3 if validates(self) else 0)

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir) / self.run.name


def loss_kind(config: Config) -> None:
    """What the loss requires of the sampler and the scorer (recbce.config.kinds)."""
    name, kind = config.loss.name, LOSS_KINDS[config.loss.name]
    sampler = config.sampler
    draws = SAMPLER_KINDS[sampler.kind].ratio  # else the batch's other positives are the negatives
    if not kind.negatives and (sampler.ratio != 0 or not draws):
        per_row = [other for other, spec in SAMPLER_KINDS.items() if spec.ratio and not spec.pool]
        raise ValueError(f"loss.name {name} trains without negatives: set sampler.ratio: 0 "
                         f"(with kind {' or '.join(per_row)})")
    if kind.negatives and sampler.ratio == 0 and draws:
        without = [other for other, spec in LOSS_KINDS.items() if not spec.negatives]
        raise ValueError("sampler.ratio: 0 draws no negatives: set an integer >= 1 "
                         f"(0 only with loss.name {' or '.join(without)})")
    if kind.no_bias and (config.model.scorer != "cosine" or config.model.bias):
        raise ValueError(f"loss.name {name} needs model.scorer: cosine and model.bias: false ({kind.cosine})")
    if kind.cosine and config.model.scorer != "cosine":
        raise ValueError(f"loss.name {name} needs model.scorer: cosine ({kind.cosine})")


def model_supported(config: Config) -> None:
    """Settings the model kind does not implement (recbce.config.kinds), refused before anything
    trains."""
    name, kind = config.model.kind, MODEL_KINDS[config.model.kind]
    if kind.no_history and (config.model.history or config.model.context):
        raise ValueError(f"model.history and model.context are not implemented for model.kind "
                         f"{name} ({kind.no_history}): set them to 0")
    if kind.dense_gradients and config.train.optimizer == "sparse_adam":
        raise ValueError(f"train.optimizer sparse_adam needs sparse gradients; model.kind {name}'s "
                         f"are dense ({kind.dense_gradients}): use row_adam or adam")


# The config keys that name a data file, as (section path, field).
DATA_PATH_KEYS = (("data", "path"), ("data.split", "test_path"), ("data.split", "valid_path"))


def prior_supported(config: Config) -> None:
    """model.bias_init: prior needs an item bias and a sigmoid loss whose base rate it can start at."""
    problem = prior_problem(config)
    if problem is not None:
        raise ValueError(problem)


def prior_problem(config: Config) -> str | None:
    """Why model.bias_init: prior is undefined for this config, or None."""
    loss = config.loss
    if not config.model.bias:
        return "model.bias_init: prior sets the item biases: set model.bias: true"
    if not LOSS_KINDS[loss.name].base_rate:
        having = ", ".join(name for name, kind in LOSS_KINDS.items() if kind.base_rate)
        return (f"model.bias_init: prior is where a sigmoid loss ({having}) starts at its base "
                f"rate; loss.name {loss.name} has no single one: set a number")
    if loss.name == "bce" and (loss.pos_weight == 0 or loss.neg_weight == 0):
        return "model.bias_init: prior needs loss.pos_weight and loss.neg_weight > 0"
    if negatives_per_positive(config) < 1:
        return (f"model.bias_init: prior needs negatives: sampler.kind {config.sampler.kind} takes "
                "train.batch_size >= 2")
    return None


def validates(config: Config) -> bool:
    """Whether a run of this config evaluates a validation split during training."""
    split = config.data.split
    has_split = split.valid_ratio > 0 or (split.method == "predefined" and split.valid_path is not None)
    return has_split and config.train.eval_every > 0


def data_paths(config: Config) -> dict[str, str]:
    """{'data.path': ..., 'data.split.test_path': ...}: every data file the config names."""
    found = {}
    for section, name in DATA_PATH_KEYS:
        node = config
        for part in section.split("."):
            node = getattr(node, part)
        if getattr(node, name) is not None:
            found[f"{section}.{name}"] = getattr(node, name)
    return found


def with_absolute_data_paths(config: Config) -> Config:
    """The config with its data paths resolved against the current folder: a run records
    where its data was, so that it can be found again from any folder."""
    return with_data_paths(config, {key: str(Path(path).expanduser().resolve())
                                    for key, path in data_paths(config).items()})


def with_data_paths(config: Config, paths: dict[str, str]) -> Config:
    """The config with the data files named by `paths` ({'data.path': ..., ...}) replaced."""
    split = config.data.split
    split = split.model_copy(update={key.rpartition(".")[2]: path for key, path in paths.items()
                                     if key.startswith("data.split.")})
    data = config.data.model_copy(update={"path": paths.get("data.path", config.data.path), "split": split})
    return config.model_copy(update={"data": data})
