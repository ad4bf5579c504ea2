"""The user's own ids <-> a run's row indices, for whole lists at once.

Ids come from the data file: integers when its column is numeric, else strings. Either
kind is accepted for either: "42" finds user 42 (the command line passes text), and 42
finds user "42".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbce.errors import RecbceError


class UnknownIdError(RecbceError):
    """Ids the run never saw in training; `.ids` holds them all."""

    def __init__(self, kind: str, ids: list, hint: str = ""):
        self.kind, self.ids = kind, list(ids)
        more = f" ... ({len(self.ids)} in all)" if len(self.ids) > 5 else ""
        shown = ", ".join(map(str, self.ids[:5])) + more
        super().__init__(f"unknown {kind} ids: {shown}{hint}")


class IdIndex:
    """One kind of id (user or item): `values[i]` is row i's id; `find` maps ids to rows."""

    def __init__(self, ids: list, kind: str):
        self.kind = kind
        self.index = pd.Index(ids)
        self.values = self.index.to_numpy()  # int64 for integer ids, object for strings

    def __len__(self) -> int:
        return len(self.index)

    def find(self, wanted) -> np.ndarray:
        """Row of each wanted id, −1 where it is unknown."""
        wanted = as_list(wanted)
        rows = self.index.get_indexer(pd.Index(wanted, dtype=object)) if wanted else np.zeros(0, np.int64)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            rows[missing] = self.index.get_indexer(self.converted([wanted[i] for i in missing]))
        return rows.astype(np.int64)

    def require(self, wanted, hint: str = "") -> np.ndarray:
        """Rows of the wanted ids; UnknownIdError naming the ones the run does not know."""
        wanted = as_list(wanted)
        rows = self.find(wanted)
        if (rows < 0).any():
            raise UnknownIdError(self.kind, [wanted[i] for i in np.flatnonzero(rows < 0)], hint)
        return rows

    def converted(self, ids: list) -> pd.Index:
        """Ids read as the run's kind: text as integers for integer ids, anything as text else."""
        if pd.api.types.is_integer_dtype(self.index.dtype):
            numbers = pd.to_numeric(pd.Series(ids, dtype=object).astype(str).str.strip(), errors="coerce")
            whole = numbers.notna() & (numbers == numbers.round())
            return pd.Index(numbers.where(whole, np.nan))
        return pd.Index([str(i) for i in ids], dtype=object)


def as_list(ids) -> list:
    """A single id or any sequence of ids, as a list."""
    if ids is None:
        return []
    if isinstance(ids, str | bytes | int | np.integer):
        return [ids]
    return list(ids.tolist() if isinstance(ids, np.ndarray | pd.Index | pd.Series) else ids)
