"""Errors a user can cause and fix. The CLI catches `RecbceError` once and prints it on one line."""


class RecbceError(Exception):
    """Base class: bad input, not a bug. `exit_code` 2 matches click's usage errors."""

    exit_code = 2


class ConfigError(RecbceError):
    """The config file or a `--set` override is invalid."""


class DataError(RecbceError):
    """An interaction file is missing, malformed or unusable."""


class MixedIds(DataError):
    """An id column holds numbers and text: the data.ids: text setting reads it as written."""


class DataChanged(DataError):
    """A run's data files differ from those it trained on (its data.json); `flag`, if any, is
    what goes on anyway: the CLI's --accept-data-change, the API's accept_data_change=True."""

    def __init__(self, change: str, record, flag: str | None = None):
        self.change, self.record, self.flag = change, record, flag
        hint = f"; {flag} goes on with the data as it is now" if flag else ""
        super().__init__(f"{change} (recorded in {record}){hint}")

    def __reduce__(self):
        return type(self), (self.change, self.record, self.flag)


class RunError(RecbceError):
    """A run directory is missing, incomplete or would be overwritten."""


class RunExists(RunError):
    """The run folder already holds a run; `.run_dir` names it. `flag` is what replaces it:
    the CLI's --overwrite, the API's overwrite=True."""

    def __init__(self, run_dir, flag: str = "--overwrite"):
        self.run_dir, self.flag = run_dir, flag
        super().__init__(f"run directory {run_dir} exists: pass {flag} to replace it")

    def __reduce__(self):  # pickled whole: torchrun's rank 0 hands it to the other ranks
        return type(self), (self.run_dir, self.flag)


class ArgumentError(RecbceError):
    """A function argument has the wrong type or an impossible value (e.g. k=0)."""


class Diverged(RecbceError):
    """The training loss became NaN or infinite: the settings make training blow up."""


class MissingExtra(RecbceError):
    """An optional feature needs a package that is not installed (e.g. recbce[plot])."""
