"""Config files: read YAML, apply `--set key=value` overrides, validate once, and say what is
wrong in one line naming the file and key; and write a config back as YAML."""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from recbce import yaml_loader
from recbce.config.schema import Config
from recbce.errors import ConfigError


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML file, apply `key.sub=value` overrides, validate."""
    raw = read_yaml(path, ConfigError)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    blame = {apply_override(raw, override): f"--set {override!r}" for override in overrides}
    return validate(raw, source=str(path), blame=blame)


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


def validate(raw: dict[str, Any], source: str = "config", blame: dict[str, str] | None = None) -> Config:
    """`blame`: {dotted key: where it was set}; an error on a key an override set (or inside it,
    or on the section holding it) names the override, not `source`."""
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        error = err.errors()[0]
        raise ConfigError(f"{culprit(error, source, blame or {})}: {describe_error(error)}") from None


def culprit(error: dict[str, Any], source: str, blame: dict[str, str]) -> str:
    """Where the value in error came from: the last override touching its key, else `source`."""
    where = [str(part) for part in error["loc"]]
    for key in reversed(list(blame)):
        parts = key.split(".")
        if where and (parts[:len(where)] == where or where[:len(parts)] == parts):
            return blame[key]
    return source


def apply_override(raw: dict[str, Any], override: str) -> str:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (so 3 is an int).
    Returns the key set."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. train.lr=0.01")
    try:
        parsed = yaml_loader.load(value)
    except yaml_loader.YamlError:
        parsed = value
    set_key(raw, key.strip(), parsed, f"--set {override!r}")
    return key.strip()


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
