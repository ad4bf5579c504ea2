"""The search space: which config keys a study varies, and how. Read from a YAML file, checked
against the config schema before any trial runs, then drawn from by Optuna's trials.

    train.lr: {low: 1.0e-3, high: 0.1, log: true}   # a range: int or float from the key's type
    loss.name: [bce, gbce, softmax]                   # a list: a choice
    loss.gbce_t: {low: 0.0, high: 1.0, when: {loss.name: gbce}}   # drawn only for gbce
    sampler.ratio: {choices: [64, 256], when: {sampler.kind: shared}}

A key tied to a choice (`when`) is drawn only where every condition holds, so no trial draws
a value its config ignores; it is drawn after the keys it depends on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from recbce.config import Config, read_yaml
from recbce.config.files import describe_error, set_key, suggestion
from recbce.errors import ConfigError

# Sections a study may not vary: they say where runs go, what the data is and what is measured,
# so a trial that changed them would not be comparable with the others.
FIXED_SECTIONS = ("run", "data", "eval", "logging")
RANGE_FIELDS = {"low", "high", "log", "step", "when"}
CHOICE_FIELDS = {"choices", "when"}


@dataclass(frozen=True)
class Dimension:
    """One varied key: a choice (`choices`) or a range of `kind` int or float."""

    key: str
    kind: Literal["choice", "int", "float"]
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    when: dict[str, tuple] = field(default_factory=dict)

    def applies(self, drawn: dict[str, Any]) -> bool:
        return all(key in drawn and drawn[key] in allowed for key, allowed in self.when.items())

    def as_dict(self) -> dict:
        """The dimension as plain data (stored with the study, to recognise its space again)."""
        return {"key": self.key, "kind": self.kind, "choices": list(self.choices), "low": self.low,
                "high": self.high, "log": self.log, "step": self.step,
                "when": {key: list(values) for key, values in self.when.items()}}


def load_space(path: Path, base: Config) -> list[Dimension]:
    """The space file's dimensions, in drawing order; ConfigError naming the file and key."""
    raw = read_yaml(path, ConfigError)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: the space is empty: map config keys to a list of choices or "
                          "a {low, high} range, e.g. train.lr: {low: 0.001, high: 0.1, log: true}")
    written = base.model_dump(exclude_unset=True)
    dimensions = [parse_dimension(path, str(key), spec, written) for key, spec in raw.items()]
    check_conditions(path, dimensions)
    return drawing_order(path, dimensions)


def parse_dimension(path: Path, key: str, spec: Any, written: dict) -> Dimension:
    annotation = key_annotation(path, key)
    where = f"{path}: {key}"
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a list of choices or a mapping with low and high "
                          f"(got {spec!r})")
    when = parse_when(where, spec.get("when", {}))
    if "choices" in spec:
        return choice_dimension(where, key, spec, when, written)
    return range_dimension(where, key, spec, when, annotation, written)


def choice_dimension(where: str, key: str, spec: dict, when: dict, written: dict) -> Dimension:
    unknown = set(spec) - CHOICE_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r} of a choice (use choices, when)")
    choices = spec["choices"]
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}: choices must be a non-empty list")
    for value in choices:
        if not (value is None or isinstance(value, bool | int | float | str)):
            raise ConfigError(f"{where}: choice {value!r} is not a single value")
        check_value(where, key, value, written)
    if len(set(map(repr, choices))) != len(choices):
        raise ConfigError(f"{where}: a choice is listed twice")
    return Dimension(key, "choice", choices=tuple(choices), when=when)


def range_dimension(where: str, key: str, spec: dict, when: dict, annotation: Any,
                    written: dict) -> Dimension:
    unknown = set(spec) - RANGE_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r} (a range takes low, high, "
                          "log, step, when; a choice is a list)")
    kind = number_kind(annotation)
    if kind is None:
        raise ConfigError(f"{where}: a range needs a number key; give a list of choices instead")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs both low and high")
    low, high = (number(where, name, spec[name], kind) for name in ("low", "high"))
    if low >= high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false")
    if step is not None:
        step = number(where, "step", step, kind)
        if step <= 0:
            raise ConfigError(f"{where}: step must be above 0")
        if log:
            raise ConfigError(f"{where}: give log or step, not both")
    if log and low <= 0:
        raise ConfigError(f"{where}: log: true needs low above 0")
    for value in (low, high):
        check_value(where, key, value, written)
    return Dimension(key, kind, low=low, high=high, log=log, step=step, when=when)


def number(where: str, name: str, value: Any, kind: str) -> int | float:
    if isinstance(value, str) and kind == "float":  # PyYAML reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: {name} must be an integer (the key is an integer), not {value!r}")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{where}: {name} must be a number, not {value!r}")
    return float(value) if kind == "float" else value


def parse_when(where: str, when: Any) -> dict[str, tuple]:
    if not isinstance(when, dict):
        raise ConfigError(f"{where}: when must map a key of the space to its value(s), "
                          "e.g. when: {loss.name: gbce}")
    return {str(key): tuple(value) if isinstance(value, list) else (value,)
            for key, value in when.items()}


def check_conditions(path: Path, dimensions: list[Dimension]) -> None:
    by_key = {d.key: d for d in dimensions}
    for dimension in dimensions:
        for key, allowed in dimension.when.items():
            other = by_key.get(key)
            if other is None:
                raise ConfigError(f"{path}: {dimension.key}: when names {key}, which is not in the space")
            if other.kind != "choice":
                raise ConfigError(f"{path}: {dimension.key}: when names {key}, a range; tie a key "
                                  "to a choice only")
            missing = [value for value in allowed if value not in other.choices]
            if missing:
                raise ConfigError(f"{path}: {dimension.key}: when {key}: {missing[0]!r} is not "
                                  f"one of its choices ({', '.join(map(str, other.choices))})")


def drawing_order(path: Path, dimensions: list[Dimension]) -> list[Dimension]:
    """The file's order, except that a key comes after the keys its `when` names."""
    ordered: list[Dimension] = []
    pending = list(dimensions)
    while pending:
        ready = [d for d in pending if all(key in {o.key for o in ordered} for key in d.when)]
        if not ready:
            raise ConfigError(f"{path}: the when conditions of {pending[0].key} form a circle")
        ordered += ready
        pending = [d for d in pending if d not in ready]
    return ordered


def key_annotation(path: Path, key: str) -> Any:
    """The schema's type of a dotted config key; ConfigError (did you mean) if there is none."""
    parts = key.split(".")
    if parts[0] in FIXED_SECTIONS:
        raise ConfigError(f"{path}: {key}: the {parts[0]} section is fixed for a study (it says where "
                          "runs go, what the data is or what is measured); set it in the config")
    section: type[BaseModel] = Config
    for depth, part in enumerate(parts):
        info = section.model_fields.get(part)
        if info is None:
            raise ConfigError(f"{path}: unknown config key '{key}'{suggestion(parts[:depth + 1])}")
        annotation = info.annotation
        if depth == len(parts) - 1:
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                raise ConfigError(f"{path}: {key} is a section; name one of its keys")
            return annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise ConfigError(f"{path}: {'.'.join(parts[:depth + 1])} is not a section")
        section = annotation
    raise AssertionError("unreachable")


def number_kind(annotation: Any) -> str | None:
    """"float" if the key takes a float, "int" if it takes an int (not bool), else None."""
    members = get_args(annotation) if get_origin(annotation) in (Union, type(int | None)) else (annotation,)
    members = [get_origin(m) or m for m in members]
    if float in members:
        return "float"
    return "int" if any(m is int or (isinstance(m, type) and issubclass(m, int) and m is not bool)
                        for m in members) else None


def check_value(where: str, key: str, value: Any, written: dict) -> None:
    """ConfigError if the schema refuses `value` for `key` itself (a rule across keys is the
    trial's to meet: such a combination fails as a trial, not the study)."""
    raw = copy.deepcopy(written)
    set_key(raw, key, value)
    try:
        Config.model_validate(raw)
    except ValidationError as err:
        for error in err.errors():
            if tuple(map(str, error["loc"])) == tuple(key.split(".")):
                raise ConfigError(f"{where}: {value!r} is outside what the key allows: "
                                  f"{describe_error(error)}") from None


def draw(trial, dimensions: list[Dimension]) -> dict[str, Any]:
    """The trial's values, each from Optuna's `suggest_*` (so its sampler learns from them)."""
    drawn: dict[str, Any] = {}
    for d in dimensions:
        if not d.applies(drawn):
            continue
        if d.kind == "choice":
            drawn[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        elif d.kind == "int":
            drawn[d.key] = trial.suggest_int(d.key, d.low, d.high, step=d.step or 1, log=d.log)
        else:
            drawn[d.key] = trial.suggest_float(d.key, d.low, d.high, step=d.step, log=d.log)
    return drawn
