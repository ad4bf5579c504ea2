"""The config schema: validated once at load, then passed down as plain objects.

sections: each section's keys, defaults and ranges; schema: the whole config and the rules
across sections; files: YAML in and out, `--set` overrides, one-line errors. Import from here.
"""

from recbce.config.files import apply_override, load_config, read_yaml, set_key, to_yaml, validate
from recbce.config.kinds import SHARED_POOL
from recbce.config.schema import (
    Config,
    data_paths,
    model_supported,
    prior_problem,
    prior_supported,
    validates,
    with_absolute_data_paths,
    with_data_paths,
)
from recbce.config.sections import (
    RANKING_METRICS,
    SAMPLED_METRICS,
    ColumnsConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    LossConfig,
    ModelConfig,
    RunConfig,
    SamplerConfig,
    SplitConfig,
    TrainConfig,
    metric_names,
)

__all__ = [
    "RANKING_METRICS", "SAMPLED_METRICS", "SHARED_POOL", "ColumnsConfig", "Config", "DataConfig",
    "EvalConfig", "LoggingConfig", "LossConfig",
    "ModelConfig", "RunConfig", "SamplerConfig", "SplitConfig", "TrainConfig", "apply_override",
    "data_paths", "load_config", "metric_names", "model_supported", "prior_problem",
    "prior_supported", "read_yaml", "set_key", "to_yaml", "validate", "validates",
    "with_absolute_data_paths", "with_data_paths",
]
