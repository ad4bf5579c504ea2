"""The config schema: validated once at load, then passed down as plain objects.

Every section forbids unknown keys, so a typo is an error ("did you mean ...?")
rather than a silently ignored setting. The defaults are the starter recipe (`recbce init`,
docs/results.md "The starter recipe"); the few that depend on other keys are resolved from
what the config wrote (pydantic's model_fields_set), each rule beside its key.
"""

from __future__ import annotations

import difflib
import importlib.util
import reprlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationError,
    field_validator,
    model_validator,
)

from recbce import yaml_loader
from recbce.errors import ConfigError


class Section(BaseModel):
    # allow_inf_nan=False: `1.0e+400` reads as infinity, and no setting means anything infinite
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def defaulted(section: Section, **values: Any) -> Section:
    """A copy of `section` with these fields' defaults resolved from other keys. A copy: a
    section may be shared (a class default). Written into __dict__, not set: assignment would
    validate again and count the fields as written, and a config validated again (the API's
    overrides) must resolve them again from what was really written."""
    copy = section.model_copy()
    copy.__dict__.update(values)
    return copy


class SplitConfig(Section):
    # random: per-user holdout of test_ratio (seeded); leave_one_out: each user's latest
    # interaction; temporal: the globally latest test_ratio of interactions; predefined: files.
    method: Literal["random", "leave_one_out", "temporal", "predefined"] = "random"
    test_ratio: float = Field(0.2, gt=0, lt=1)
    # Validation is carved from what is left for training, by the same method (leave_one_out:
    # the latest remaining interaction, when valid_ratio > 0; predefined: valid_path or random).
    valid_ratio: float = Field(0.1, ge=0, lt=1)
    test_path: str | None = None
    valid_path: str | None = None

    @model_validator(mode="after")
    def _room_for_training(self) -> SplitConfig:
        # the ratios are fractions of the same rows only for these two (predefined reads its
        # test split from a file, leave_one_out holds out one interaction per user)
        if self.method in ("random", "temporal") and self.test_ratio + self.valid_ratio >= 1:
            raise ValueError(f"test_ratio + valid_ratio must be below 1 (got {self.test_ratio} + "
                             f"{self.valid_ratio}): nothing would be left to train on")
        return self


class ColumnsConfig(Section):
    """Where each field is: a 0-based position, or a name when the file has a header."""

    user: NonNegativeInt | str = 0
    item: NonNegativeInt | str = 1
    rating: NonNegativeInt | str | None = None  # None: position 2 if the file has it
    timestamp: NonNegativeInt | str | None = None  # None: position 3 if the file has it


class DataConfig(Section):
    path: str = "data/quickstart.tsv"
    format: Literal["auto", "csv", "tsv", "delimited", "movielens", "adjacency", "parquet"] = "auto"
    sep: str | None = None  # delimited text: the separator
    header: bool = False  # delimited text: the first line names the columns
    columns: ColumnsConfig = ColumnsConfig()
    min_rating: float | None = None  # implicit feedback: keep ratings >= this
    kcore: int = Field(0, ge=0, le=2**31)  # keep users and items with >= kcore interactions, iteratively
    split: SplitConfig = SplitConfig()


class ModelConfig(Section):
    # Which model (recbce.models.MODELS): mf = matrix factorisation; lightgcn = embeddings
    # propagated over the user-item graph (He et al., SIGIR 2020).
    kind: Literal["mf", "lightgcn"] = "mf"
    dim: int = Field(64, ge=1, le=2**16)
    bias: bool = True
    # The item biases' starting value (a logit). "prior": where a sigmoid loss (bce, gbce) has no
    # gradient for a constant score, σ(b) = w⁺/(w⁺ + k·w⁻) with k negatives per positive
    # (−log k = −6.9 for k = 1,024 and unit weights): the model starts at the loss's base rate
    # instead of spending its first epochs pushing every score down (docs/results.md, issue 25).
    # Left out: "prior" where prior_supported accepts the config, else 0.0 (Config resolves it:
    # it depends on the loss and sampler); 0.0 here, so a ModelConfig alone is ready to build.
    bias_init: float | Literal["prior"] = 0.0
    init_std: float = Field(0.1, gt=0)
    scorer: Literal["dot", "cosine"] = "cosine"
    temperature: float = Field(0.1, gt=0)  # cosine only: score = cos(p_u, q_v) / temperature
    # p_u = (1 − history)·e_u + history·mean of the user's training item vectors (SimpleX);
    # training steps estimate the mean from history_sample items drawn per user.
    # Left out: 0.5 for kind mf, 0 for lightgcn (see _history_by_kind).
    history: float = Field(0.5, ge=0, le=1)
    history_sample: int = Field(8, ge=1, le=2**16)
    # > 0: the mix takes the n items the user had just before the scored one, by timestamp
    # (recbce.data.timeline), instead of a sample of all; needs a leave_one_out or temporal split.
    context: int = Field(0, ge=0, le=2**16)
    layers: int = Field(3, ge=0, le=64)  # lightgcn only: propagation steps over the graph

    @model_validator(mode="after")
    def _history_by_kind(self) -> ModelConfig:
        # lightgcn's graph already mixes each user's items in and it refuses the mix
        # (lightgcn_supported), so its default is none; a value written is kept, and refused.
        if "history" not in self.model_fields_set:
            self.__dict__["history"] = 0.5 if self.kind == "mf" else 0.0
        return self

    @field_validator("bias_init", mode="before")
    @classmethod
    def _number_or_prior(cls, value: Any) -> Any:
        if value == "prior":
            return value
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ValueError("should be a number or 'prior'") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("should be a number or 'prior'")
        if not -50 <= value <= 50:
            raise ValueError("should be between -50 and 50 (a logit), or 'prior'")
        return value


SHARED_POOL = 256  # sampler.ratio's default for kind shared (the starter recipe's pool)


class SamplerConfig(Section):
    kind: Literal["uniform", "popularity", "in_batch", "shared"] = "shared"
    # Negatives per positive. in_batch ignores it (the batch's other positives are the
    # negatives); shared: the size of the one pool of items every row of a batch shares.
    # Left out: 256 for shared, 4 for the others (see _ratio_by_kind); a shared pool left out
    # is cut to a smaller catalogue once it is known (training.state.with_pool_size).
    ratio: int = Field(SHARED_POOL, ge=0, le=2**16)
    exclude_positives: bool = True
    alpha: float = Field(0.75, ge=0)  # popularity: P(item) ∝ count^alpha
    # shared only: how the pool is drawn. uniform: distinct items; popularity: ∝ count^alpha,
    # with replacement (pair it with loss.logq, which divides each score by its expected count)
    pool: Literal["uniform", "popularity"] = "uniform"

    @model_validator(mode="after")
    def _ratio_by_kind(self) -> SamplerConfig:
        # One pool serves the whole batch, so 256 items cost little; the per-row samplers draw
        # `ratio` items for every positive, so theirs stays the usual 4.
        if "ratio" not in self.model_fields_set:
            self.__dict__["ratio"] = SHARED_POOL if self.kind == "shared" else 4
        return self


class LossConfig(Section):
    name: Literal["bce", "bce_pos_only", "softmax", "decoupled_softmax", "bpr", "gbce", "ccl"] = "bce"
    pos_weight: float = Field(1.0, ge=0)
    neg_weight: float = Field(1.0, ge=0)  # bce, ccl
    temperature: float = Field(1.0, gt=0)  # softmax, decoupled_softmax
    gbce_t: float = Field(0.0, ge=0, le=1)  # gbce calibration: 0 is plain bce
    margin: float = Field(0.8, ge=-1, le=1)  # ccl
    l2: float = Field(0.0, ge=0)  # on the batch's embeddings, as in the BPR/LightGCN papers
    logq: bool = False  # subtract log sampling probability from scores (non-uniform samplers)


class TrainConfig(Section):
    epochs: int = Field(20, ge=1, le=2**31)
    batch_size: int = Field(1024, ge=1, le=2**31)
    # row_adam: Adam on the rows a batch used only (fast); adam: dense; sgd/adagrad/sparse_adam: torch's
    optimizer: Literal["row_adam", "adam", "sparse_adam", "sgd", "adagrad"] = "row_adam"
    lr: float = Field(1e-2, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    threads: int | None = Field(None, ge=1, le=1024)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda if torch sees a GPU
    eval_every: int = Field(1, ge=0, le=2**31)  # epochs between validation runs; 0: only the final test
    # Stop after this many validation evaluations without gain; 0: never. Left out: 3 where the
    # run validates, else 0 (Config resolves it: it depends on data.split).
    patience: int = Field(3, ge=0, le=2**31)
    checkpoint_every: int = Field(0, ge=0, le=2**31)  # steps between mid-epoch checkpoints; 0: epoch ends
    # >= 1: from this epoch on, evaluate, select and save the mean of the parameters over the
    # epochs so far (weight averaging, recbce.training.averaging); 0: the last step's parameters. Past
    # the last epoch it averages nothing (a refit for fewer epochs keeps the config as it is).
    average_from: int = Field(0, ge=0, le=2**31)


class EvalConfig(Section):
    k: list[int] = [10, 20]
    metric: str = "ndcg@20"  # for model selection and early stopping, e.g. recall@20
    # Full ranking scores a block of users x every item at once. The block is sized to this
    # budget (about 16 bytes per user x item at its peak: see recbce/evaluate.py), so memory
    # stays bounded whatever the catalogue; batch_users, if set, caps the users per block.
    max_memory_mb: float = Field(256, ge=1, le=2**20)
    batch_users: int | None = Field(None, ge=1, le=2**31)
    protocol: Literal["full", "sampled"] = "full"
    sampled_negatives: int = Field(100, ge=1, le=2**20)  # sampled protocol: negatives per held-out item
    auc: bool = False  # full protocol: also AUC (costs a pass over every relevant item's row)
    # `recbce evaluate` also reports log loss and ECE of σ(ŷ) on held-out positives plus
    # unobserved pairs at the data's real rate, and writes reliability-<split>.png (see
    # recbce/calibration.py); meaningful for the sigmoid losses (bce, gbce).
    calibration: bool = False

    @field_validator("k")
    @classmethod
    def _positive_ks(cls, ks: list[int]) -> list[int]:
        if not ks or min(ks) < 1 or max(ks) > 2**31:
            raise ValueError("every K must be >= 1 and <= 2^31")
        return sorted(set(ks))


class RunConfig(Section):
    dir: str = "runs"
    name: str = "run"

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # A run name is one folder inside `dir`: no way to write elsewhere.
        if not name or name in {".", ".."} or "/" in name or "\\" in name:
            raise ValueError("must be a plain folder name (no '/', '..')")
        return name


class LoggingConfig(Section):
    tensorboard: bool = False  # event files in <run>/tensorboard (needs recbce[tensorboard])

    @field_validator("tensorboard")
    @classmethod
    def _tensorboard_installed(cls, wanted: bool) -> bool:
        # Checked here, so a missing package stops the run before any training, with one line.
        if wanted and importlib.util.find_spec("tensorboard") is None:
            raise ValueError("needs the tensorboard package: pip install 'recbce[tensorboard]'")
        return wanted


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
        positives_only = self.loss.name == "bce_pos_only"
        if positives_only and (self.sampler.ratio != 0 or self.sampler.kind == "in_batch"):
            raise ValueError("loss.name bce_pos_only trains without negatives: set sampler.ratio: 0 "
                             "(with kind uniform or popularity)")
        if not positives_only and self.sampler.ratio == 0 and self.sampler.kind != "in_batch":
            raise ValueError("sampler.ratio: 0 draws no negatives: set an integer >= 1 "
                             "(0 only with loss.name bce_pos_only)")
        if self.sampler.pool != "uniform" and self.sampler.kind != "shared":
            raise ValueError("sampler.pool applies to kind: shared only; for per-row "
                             "popularity negatives set sampler.kind: popularity")
        if self.loss.name == "ccl" and (self.model.scorer != "cosine" or self.model.bias):
            raise ValueError("loss.name ccl needs model.scorer: cosine and model.bias: false "
                             "(its margin is a cosine)")
        if self.loss.name == "decoupled_softmax" and self.model.scorer != "cosine":
            raise ValueError("loss.name decoupled_softmax needs model.scorer: cosine (with dot "
                             "scores it falls without bound as the vectors grow)")
        if self.model.context and not self.model.history:
            raise ValueError("model.context sets which items model.history mixes in: set "
                             "model.history > 0 (the weight of the mix) as well")
        if self.model.context and self.data.split.method not in ("leave_one_out", "temporal"):
            raise ValueError("model.context needs data.split.method leave_one_out or temporal: "
                             "held-out items must come after the training items they follow")
        if self.model.kind == "lightgcn":
            lightgcn_supported(self)
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


def lightgcn_supported(config: Config) -> None:
    """Settings model.kind lightgcn does not implement, refused before anything trains."""
    if config.model.history or config.model.context:
        raise ValueError("model.history and model.context are not implemented for model.kind "
                         "lightgcn (the graph already mixes in each user's items): set them to 0")
    if config.train.optimizer == "sparse_adam":
        raise ValueError("train.optimizer sparse_adam needs sparse gradients; model.kind lightgcn's "
                         "are dense (propagation reaches every row): use row_adam or adam")


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
    if loss.name not in ("bce", "gbce"):
        return (f"model.bias_init: prior is where a sigmoid loss (bce, gbce) starts at its base "
                f"rate; loss.name {loss.name} has no single one: set a number")
    if loss.name == "bce" and (loss.pos_weight == 0 or loss.neg_weight == 0):
        return "model.bias_init: prior needs loss.pos_weight and loss.neg_weight > 0"
    if config.sampler.kind == "in_batch" and config.train.batch_size < 2:
        return "model.bias_init: prior needs negatives: in_batch takes train.batch_size >= 2"
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
    split = config.data.split
    absolute = {key: str(Path(path).expanduser().resolve()) for key, path in data_paths(config).items()}
    split = split.model_copy(update={"test_path": absolute.get("data.split.test_path"),
                                     "valid_path": absolute.get("data.split.valid_path")})
    data = config.data.model_copy(update={"path": absolute["data.path"], "split": split})
    return config.model_copy(update={"data": data})


def metric_names(config: EvalConfig) -> list[str]:
    """The metrics an evaluation with this config reports, usable as eval.metric."""
    if config.protocol == "sampled":
        return [f"sampled_{m}@{k}" for k in config.k for m in ("hr", "ndcg", "mrr")]
    return [f"{m}@{k}" for k in config.k for m in ("recall", "ndcg", "hr", "precision", "map", "mrr")]


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML file, apply `key.sub=value` overrides, validate."""
    raw = read_yaml(path, ConfigError)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for override in overrides:
        apply_override(raw, override)
    return validate(raw, source=str(path))


def read_yaml(path: str | Path, error: type[Exception] = ConfigError):
    """A YAML file's content through recbce.yaml_loader; `error` (one line naming the file) if
    it is missing, unreadable, not text or not acceptable YAML."""
    path = Path(path)
    if not path.is_file():
        raise error(f"config file not found: {path}")
    try:
        return yaml_loader.load_file(path)
    except yaml_loader.YamlError as err:
        raise error(f"{path}: {err}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file") from None
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror or err}") from None


def validate(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_error(err.errors()[0])}") from None


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (so 3 is an int)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. train.lr=0.01")
    try:
        parsed = yaml_loader.load(value)
    except yaml_loader.YamlError:
        parsed = value
    set_key(raw, key.strip(), parsed, f"--set {override!r}")


def set_key(raw: dict[str, Any], key: str, value: Any, source: str | None = None) -> None:
    """Set `a.b.c` to `value` in a nested dict, making the sections on the way."""
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source or f'override {key!r}'}: {part} is not a section")
        node = child
    node[leaf] = value


def describe_error(error: dict[str, Any]) -> str:
    """One line naming the key, for the first pydantic error."""
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'{suggestion(loc)}"
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        return message
    value = error.get("input")
    shown = f" (got {SHORT.repr(value)})" if not isinstance(value, dict) else ""
    return f"{key}: {message}{shown}"


# A value in an error is shown cut short: a list of a million items is not echoed back.
SHORT = reprlib.Repr()
SHORT.maxlevel, SHORT.maxlist, SHORT.maxdict, SHORT.maxstring, SHORT.maxother = 2, 4, 4, 60, 60


def suggestion(loc: list[str]) -> str:
    """' (did you mean 'x'?)' for a misspelt key, from the fields of its section."""
    section: type[BaseModel] = Config
    for part in loc[:-1]:
        field = section.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        section = annotation
    close = difflib.get_close_matches(loc[-1], list(section.model_fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(), sort_keys=False)
