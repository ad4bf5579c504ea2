"""The config's sections, one pydantic model each: every key, its default and its range.

Every section forbids unknown keys, so a typo is an error ("did you mean ...?") rather than a
silently ignored setting. The defaults are the starter recipe (`recbce init`, docs/results.md
"The starter recipe"); the few that depend on other keys of the same section are resolved here
from what the config wrote (pydantic's model_fields_set), those that depend on other sections in
recbce.config.schema.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
    model_validator,
)

from recbce.config.kinds import (
    LOSS_NAMES,
    MODEL_KINDS,
    MODEL_NAMES,
    SAMPLER_KINDS,
    SAMPLER_NAMES,
    SHARED_POOL,
)


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
    """Where each field is: a 0-based position, or a name when the file has a header. Left out,
    with a header: found by common names (user_id, movieId, rating, ts, ...: recbce.data.sniff)."""

    user: NonNegativeInt | str = 0
    item: NonNegativeInt | str = 1
    rating: NonNegativeInt | str | None = None  # None: position 2 if the file has it
    timestamp: NonNegativeInt | str | None = None  # None: position 3 if the file has it


class DataConfig(Section):
    path: str = "data/quickstart.tsv"
    format: Literal["auto", "csv", "tsv", "delimited", "movielens", "adjacency", "parquet"] = "auto"
    sep: str | None = None  # delimited text: the separator
    # delimited text: the first line names the columns. auto: decided from the file's first lines
    # (recbce.data.sniff); a run's config.yaml records true or false, as it read the file.
    header: bool | Literal["auto"] = "auto"
    columns: ColumnsConfig = ColumnsConfig()
    # auto: user and item ids are integers when every one is, else text (a column of both is
    # refused, row named); text: every id as written, e.g. Amazon's ASINs, where ISBN-like codes
    # such as 0001234567 sit beside B000123ABC and must keep their leading zeros.
    ids: Literal["auto", "text"] = "auto"
    min_rating: float | None = None  # implicit feedback: keep ratings >= this
    kcore: int = Field(0, ge=0, le=2**31)  # keep users and items with >= kcore interactions, iteratively
    split: SplitConfig = SplitConfig()


class ModelConfig(Section):
    # Which model (recbce.models.MODELS): mf = matrix factorisation; lightgcn = embeddings
    # propagated over the user-item graph (He et al., SIGIR 2020).
    kind: Literal[MODEL_NAMES] = "mf"  # what each requires: recbce.config.kinds
    dim: int = Field(64, ge=1, le=2**16)
    bias: bool = True
    # The item biases' starting value (a logit). "prior": where a sigmoid loss (bce, gbce) has no
    # gradient for a constant score, σ(b) = w⁺/(w⁺ + k·w⁻) with k negatives per positive
    # (−log k = −6.9 for k = 1,024 and unit weights): the model starts at the loss's base rate
    # instead of spending its first epochs pushing every score down (docs/results.md, "The starter recipe").
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
        # A kind that cannot mix a user's items in (lightgcn: its graph already does) refuses
        # the mix (model_supported), so its default is none; a value written is kept, and refused.
        if "history" not in self.model_fields_set:
            self.__dict__["history"] = 0.0 if MODEL_KINDS[self.kind].no_history else 0.5
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


class SamplerConfig(Section):
    kind: Literal[SAMPLER_NAMES] = "shared"  # what each does: recbce.config.kinds
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
        if "ratio" not in self.model_fields_set:
            self.__dict__["ratio"] = SAMPLER_KINDS[self.kind].default_ratio
        return self


class LossConfig(Section):
    name: Literal[LOSS_NAMES] = "bce"  # what each requires: recbce.config.kinds
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
    # budget (BYTES_PER_SCORE per user x item at its peak, recbce/evaluation/blocks.py), so
    # memory stays bounded whatever the catalogue; batch_users, if set, caps the users per block.
    max_memory_mb: float = Field(256, ge=1, le=2**20)
    batch_users: int | None = Field(None, ge=1, le=2**31)
    protocol: Literal["full", "sampled"] = "full"
    sampled_negatives: int = Field(100, ge=1, le=2**20)  # sampled protocol: negatives per held-out item
    auc: bool = False  # full protocol: also AUC (costs a pass over every relevant item's row)
    # `recbce evaluate` also reports log loss and ECE of σ(ŷ) on held-out positives plus
    # unobserved pairs at the data's real rate, and writes reliability-<split>.png (see
    # recbce/evaluation/calibration.py); meaningful for the sigmoid losses (bce, gbce).
    calibration: bool = False
    # Validation on large data: a fixed random sample of this many validation users (seeded by
    # `seed`, the same users at every evaluation) instead of all of them; the log shows the
    # sample's standard error. Selection, early stopping and a tuner's pruning read it; test
    # always ranks every user.
    valid_users: int | None = Field(None, ge=1, le=2**31)

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

# The ranking metrics at each K, in the order they are reported: what recbce.evaluation.metrics
# computes per user (full ranking) and recbce.evaluation.sampled under the sampled protocol.
RANKING_METRICS = ("recall", "ndcg", "hr", "precision", "map", "mrr")
SAMPLED_METRICS = ("hr", "ndcg", "mrr")


def metric_names(config: EvalConfig) -> list[str]:
    """The metrics an evaluation with this config reports, usable as eval.metric."""
    if config.protocol == "sampled":
        return [f"sampled_{m}@{k}" for k in config.k for m in SAMPLED_METRICS]
    return [f"{m}@{k}" for k in config.k for m in RANKING_METRICS]
