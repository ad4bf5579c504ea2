"""Errors a user can cause and fix. The CLI catches `RecbceError` once and prints it on one line."""


class RecbceError(Exception):
    """Base class: bad input, not a bug. `exit_code` 2 matches click's usage errors."""

    exit_code = 2


class ConfigError(RecbceError):
    """The config file or a `--set` override is invalid."""


class DataError(RecbceError):
    """An interaction file is missing, malformed or unusable."""


class RunError(RecbceError):
    """A run directory is missing, incomplete or would be overwritten."""


class ArgumentError(RecbceError):
    """A function argument has the wrong type or an impossible value (e.g. k=0)."""


class Diverged(RecbceError):
    """The training loss became NaN or infinite: the settings make training blow up."""


class MissingExtra(RecbceError):
    """An optional feature needs a package that is not installed (e.g. recbce[plot])."""
