"""Records as the reader hands them out: a few dozen at a time, as typed columns.

Its own module because records leave the results layer in this form, to be encoded here or in a
worker process: consumers need the batch, not the reader that made it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

#: The column that carries the record id. Zoho documents `id` but its files say `Id`; records
#: always carry `Id`.
ID_PROPERTY = "Id"


@dataclass(frozen=True)
class Batch:
    """A few dozen records as typed columns, in the schema's property order.

    Columns are what reading produces; records are built only in the form a consumer needs:
    dicts for singer-sdk's loop, or msgspec structs, which take a sixth of the work of dicts to
    build and encode to the same JSON object.
    """

    keys: tuple[str, ...]
    columns: list[Sequence[Any]]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, key: str) -> Sequence[Any]:
        return self.columns[self.keys.index(key)]

    def select(self, keep: Sequence[bool]) -> Batch:
        """The records whose `keep` is true."""
        return Batch(self.keys, [list(itertools.compress(c, keep)) for c in self.columns])

    def records(self) -> list[dict[str, Any]]:
        rows = zip(*self.columns, strict=True)
        return list(map(dict, map(zip, itertools.repeat(self.keys), rows)))

    def structs(self) -> list[msgspec.Struct]:
        """The records as structs that encode exactly as `records()` do."""
        return list(map(_record_struct(self.keys), *self.columns))


@functools.cache
def _record_struct(keys: tuple[str, ...]) -> type[msgspec.Struct]:
    # Not tracked by the garbage collector: records hold no reference cycles.
    return msgspec.defstruct(
        "Record",
        [(f"f{i}", Any) for i in range(len(keys))],
        rename={f"f{i}": key for i, key in enumerate(keys)},
        gc=False,
    )
