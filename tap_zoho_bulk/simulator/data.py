"""Deterministic CRM records that cost no memory, change over time, and stream out as Bulk CSV.

Record i of module m is never stored. Its values come from per-field *pools* of typed values (and
their pre-rendered CSV cells) drawn once from (seed, m): fields are split into groups of up to
`GROUP_WIDTH`, and a record picks one entry per group by cheap arithmetic on a 32-bit hash of
(seed, m, i). Only what must be unique per record is computed per record: `Id`, autonumbers,
`Created_Time` and `Modified_Time` (whose offsets vary, so text order is not time order).

Work happens column-wise over batches of indices (`_Batch`), because a list comprehension per
column is several times faster in CPython than interpreting a row plan per record; criteria are
compiled to per-pool-entry truth tables and evaluated the same way.

Change over time is recorded, not materialised: `mutate` appends add-batches (index ranges with a
creation interval), per-record change lists (epoch, new Modified_Time, variant) and per-record
removal lists (epoch, deleted or restored), so memory is O(number of mutations). A `Snapshot` is
an epoch; reading at a snapshot ignores later mutations. Deleted records leave every read at
their epoch on and go to a recycle bin (`deleted`), where they turn permanent when purged or after
`RECYCLE_BIN_DAYS`.

Computed fields are not pooled either: a dynamic formula (`Days_Open`: calendar days from the
record's Created_Time to the day the data is read, in the org's time zone) follows the snapshot's
`evaluated_at`, and a rollup summary (`Total_Deal_Amount`: SUM of the live Deals' Amount per
Account) follows the child module's data. Neither moves Modified_Time, as in Zoho.
"""

from __future__ import annotations

import bisect
import heapq
import json
import operator
import random
import threading
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import reduce
from itertools import compress, islice
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple, TypedDict, TypeVar

from . import criteria as crit
from .catalog import ORG_PREFIX, USERS, Module, default_modules, resolve_path
from .criteria import QueryError, error
from .export import LINE_END, DateTimeText, quote, render, zipped_csv
from .values import (
    OTHER_OFFSETS,
    TWO_YEARS,
    PoolContext,
    aware,
    draw_pool,
    offset_seconds,
)

__all__ = ["Dataset", "DeletedRecord", "PageInfo", "QueryError", "Snapshot", "display_fields"]

GROUP_WIDTH = 8
"""Fields sharing one pool index; a record's values within a group move together."""
POOL_SIZE = 1009
"""Entries per field pool (of the first group; later groups have a few more)."""
BATCH = 4096
"""Records handled per column pass; bounds memory per request to a few MB."""
MAX_FIELDS = 200
"""More requested fields than this and Zoho exports all fields (reference §7)."""
SMALL_MODULES: Mapping[str, int] = {"Visit_Logs": 10}
"""Modules that default to `records // divisor` records."""
RECYCLE_BIN_DAYS = 60
"""Days a deleted record stays in the recycle bin before it counts as deleted for good."""
DAY = 86_400

Amount = Mapping[str, int] | int
"""How many records, in every exportable module (int) or per module."""
Targets = Mapping[str, int | Sequence[str]] | int
"""Which records: a count in every exportable module (int), or per module a count or ids."""


class Changes(TypedDict, total=False):
    """The keyword arguments of `Dataset.mutate` besides `now` (and of the admin `mutate`)."""

    add: Amount
    modify: Amount
    delete: Targets
    permanent: bool
    purge: Targets
    restore: Targets


_M32 = 0xFFFFFFFF
_USERS_BY_ID = {u.id: u for u in USERS}


@dataclass(frozen=True)
class Snapshot:
    """A fixed view of the data: what a job sees however the data changes afterwards."""

    epoch: int
    as_of: datetime
    """The simulated time of the last mutation included (construction time at first)."""
    counts: Mapping[str, int] = field(compare=False, hash=False)
    """Record indices allocated per module (deleted records included)."""
    evaluated_at: int = 0
    """When the data was read (epoch seconds): what Now() means to dynamic formulas."""


@dataclass(frozen=True)
class PageInfo:
    count: int
    more_records: bool


class _Added(NamedTuple):
    epoch: int
    first: int
    size: int
    after: int  # records are created in (after, until]
    until: int


class _Change(NamedTuple):
    epoch: int
    modified: int
    variant: int


class _Removal(NamedTuple):
    epoch: int
    deleted: bool  # False: restored from the recycle bin


class _Deletion(NamedTuple):
    deleted_at: int
    deleted_by: str  # user id
    purged: bool  # deleted for good (purged from the bin, or deleted permanently)
    display_name: str
    created_by: str | None  # user id


@dataclass(frozen=True)
class DeletedRecord:
    """One entry of a module's deleted-records list (what `GET .../deleted` lists)."""

    id: str
    type: str
    """`recycle` (in the recycle bin) or `permanent`."""
    deleted_at: int
    """Epoch seconds of the deletion."""
    deleted_by: str
    """User id."""
    display_name: str | None
    """The record's name; None once deleted for good (only the deletion is remembered)."""
    created_by: str | None
    """User id of the record's creator; None once deleted for good."""


def _stable(*parts: object) -> int:
    """A 32-bit number fixed by `parts` across runs and Python versions (unlike hash())."""
    return zlib.crc32("/".join(map(str, parts)).encode())


class _Model:
    """One module's generator: pools, record hashing, and the module's mutation history."""

    def __init__(self, dataset: Dataset, module: Module, position: int) -> None:
        self.module = module
        self.name = module.api_name
        self.base = dataset.base_counts[module.api_name]
        self.id_base = _id_base(position)
        self.salt = _stable(dataset.seed, module.api_name)
        self.now = dataset.start
        self.offsets = dataset.offsets
        self.dataset = dataset
        self.added: list[_Added] = []
        self.changes: dict[int, tuple[_Change, ...]] = {}
        self.changed: list[int] = []  # sorted keys of `changes`, for range queries
        self.removals: dict[int, tuple[_Removal, ...]] = {}
        self.removed: list[int] = []  # sorted keys of `removals`
        self.deletions: dict[int, _Deletion] = {}  # the recycle bin and the permanent log

        computed = {"id", "Created_Time", "Modified_Time"}
        pooled = [
            f
            for f in (*module.fields, *module.properties)
            if f.bulk_exportable
            and f.data_type != "autonumber"
            and not f.dynamic
            and f.rollup is None
            and not (f.api_name in computed and f.data_type in {"datetime", "bigint"})
        ]
        self.fields = {f.api_name: f for f in (*module.fields, *module.properties)}
        self.group_of: dict[str, int] = {}
        self.sizes: list[int] = []
        self.shifts: list[int] = []
        self.values: dict[str, list[object]] = {}
        self.cells: dict[str, list[bytes]] = {}
        ctx = PoolContext(dataset.start, dataset.offsets, dataset._lookup_drawers())
        for g in range(0, len(pooled), GROUP_WIDTH):
            number = g // GROUP_WIDTH
            size = POOL_SIZE + 37 * number  # unequal sizes keep groups from repeating together
            self.sizes.append(size)
            self.shifts.append(5 * number % 17)
            for f in pooled[g : g + GROUP_WIDTH]:
                rng = random.Random(f"{dataset.seed}/{self.name}/{f.api_name}")  # noqa: S311
                pool = draw_pool(f, rng, size, ctx)
                self.group_of[f.api_name] = number
                self.values[f.api_name] = pool
                self.cells[f.api_name] = [render(v, dataset.separator).encode() for v in pool]

    def record_id(self, index: int) -> str:
        return str(self.id_base + index)

    def index_of(self, record_id: object) -> int:
        return int(str(record_id)) - self.id_base

    def kind(self, api_name: str) -> str:
        """Where a field's values come from: "id", "auto", "created", "modified", "pool",
        "days" (a dynamic formula) or "rollup"."""
        if api_name == "id":
            return "id"
        if api_name in self.group_of:
            return "pool"
        f = self.fields[api_name]
        if f.data_type == "autonumber":
            return "auto"
        if f.dynamic:
            return "days"
        if f.rollup is not None:
            return "rollup"
        return "created" if api_name == "Created_Time" else "modified"

    def gone(self, epoch: int) -> list[int]:
        """Sorted indices of the records deleted (and not restored) as of `epoch`."""
        out: list[int] = []
        for index in list(self.removed):  # readers find an index only once its removals exist
            latest = [r for r in self.removals[index] if r.epoch <= epoch]
            if latest and latest[-1].deleted:
                out.append(index)
        return out


def _id_base(position: int) -> int:
    """Record ids: org prefix, 2-digit module code, 10-digit index (19 digits in all)."""
    return int(ORG_PREFIX) * 10**12 + (10 + position) * 10**10 + 1


class _Batch:
    """Per-record state of records [start, stop) at one snapshot, computed column by column.

    Columns are computed on first use and cached, so a criteria scan on Modified_Time never
    touches the pools and a page without time columns never formats a time.
    """

    def __init__(self, model: _Model, start: int, stop: int, snapshot: Snapshot) -> None:
        self.model = model
        self.start = start
        self.stop = stop
        self.snapshot = snapshot
        epoch = self.epoch = snapshot.epoch
        self.indices = range(start, stop)
        salt = model.salt
        # One multiply-xorshift per record (a bijection on 32 bits, so distinct per index);
        # bits of it pick pool entries, offsets and sparseness. Small ints keep this fast.
        self.hashes = [(x := ((i ^ salt) * 0x9E3779B1) & _M32) ^ (x >> 15) for i in self.indices]
        self.sparse = [at for at, h in enumerate(self.hashes) if not (h >> 26) & 15]
        self._cache: dict[object, list[int]] = {}
        lo = bisect.bisect_left(model.changed, start)
        hi = bisect.bisect_left(model.changed, stop)
        self.changes: list[tuple[int, _Change]] = []
        for index in model.changed[lo:hi]:
            latest = [c for c in model.changes[index] if c.epoch <= epoch]
            if latest:
                self.changes.append((index, latest[-1]))

    def group(self, number: int) -> list[int]:
        """Pool entry of group `number` per record (0 = the sparse entry)."""
        cached = self._cache.get(number)
        if cached is not None:
            return cached
        span = self.model.sizes[number] - 1
        shift = self.model.shifts[number]
        column = [(h >> shift) % span + 1 for h in self.hashes]
        for at in self.sparse:
            column[at] = 0
        for index, change in self.changes:
            if number in _changed_groups(change.variant, len(self.model.sizes)):
                column[index - self.start] = 1 + _rehash(index, change.variant) % span
        self._cache[number] = column
        return column

    def created(self) -> list[int]:
        cached = self._cache.get("created")
        if cached is not None:
            return cached
        last = self.model.now - 1
        base = self.hashes[: max(0, self.model.base - self.start)]
        column = [last - ((h * 0x2C1B3C6D) & _M32) % TWO_YEARS for h in base]
        for at in range(len(base), len(self.hashes)):
            added = self._added(self.start + at)
            column.append(added.after + 1 + self.hashes[at] % (added.until - added.after))
        self._cache["created"] = column
        return column

    def modified(self) -> list[int]:
        """Modified_Time: a quarter of base records were never edited after creation."""
        cached = self._cache.get("modified")
        if cached is not None:
            return cached
        now = self.model.now
        created = self.created()
        base = self.hashes[: max(0, self.model.base - self.start)]
        column = [
            c if h >> 30 == 0 else c + ((h * 0x297A2D39) & _M32) % (now - c)
            for h, c in zip(base, created, strict=False)  # created also holds added records
        ]
        for at in range(len(base), len(self.hashes)):
            until, c = self._added(self.start + at).until, created[at]
            column.append(c + (self.hashes[at] >> 3) % (until - c + 1))
        for index, change in self.changes:
            column[index - self.start] = change.modified
        self._cache["modified"] = column
        return column

    def computed(self, kind: str, name: str) -> Sequence[object]:
        """A per-record column by `_Model.kind`: created, modified, days or rollup."""
        if kind == "created":
            return self.created()
        if kind == "modified":
            return self.modified()
        return self.days() if kind == "days" else self.rollup(name)

    def days(self) -> list[int]:
        """A dynamic formula: calendar days from Created_Time to the read, in the org's zone."""
        cached = self._cache.get("days")
        if cached is not None:
            return cached
        own = self.model.offsets[0]
        today = (self.snapshot.evaluated_at + own) // DAY
        column = [today - (c + own) // DAY for c in self.created()]
        self._cache["days"] = column
        return column

    def rollup(self, name: str) -> list[Decimal | None]:
        """A rollup summary's value per record (None: no child record to sum)."""
        sums = self.model.dataset._rollup(self.model, name, self.snapshot)
        return [sums.get(i) for i in self.indices]

    def offset(self) -> list[int]:
        """Index into the dataset's offsets per record: 0 (its own) six times in seven."""
        cached = self._cache.get("offset")
        if cached is not None:
            return cached
        others = len(self.model.offsets) - 1
        column = [1 + (h >> 12) % others if (h >> 22) % 7 == 3 else 0 for h in self.hashes]
        self._cache["offset"] = column
        return column

    def _added(self, index: int) -> _Added:
        added = self.model.added
        return added[bisect.bisect_right(added, index, key=lambda a: a.first) - 1]


def _changed_groups(variant: int, groups: int) -> tuple[int, int]:
    """The (up to two) groups whose values a change rewrites."""
    return variant % groups, (variant >> 8) % groups


def _rehash(index: int, variant: int) -> int:
    return (((index ^ variant) * 0x9E3779B1) & _M32) >> 3


_Mask = Callable[[_Batch], list[bool]]
_Piece = Callable[[_Batch, list[bool] | None, int], list[bytes]]
"""One or more CSV columns: (batch, kept-records mask, how many) → text per kept record."""
_T = TypeVar("_T")


class Dataset:
    """Deterministic, O(1)-memory CRM data: record i of module m is computed from (seed, m, i)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        records: int = 1000,
        per_module: Mapping[str, int] | None = None,
        utc_offset: str = "+05:30",
        multiselect_separator: str = ";",
        now: datetime | None = None,
        modules: Sequence[Module] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (epoch seconds; default real time) is what Now() reads for dynamic formulas
        and what ages the recycle bin: the simulator passes its simulated clock."""
        catalog = tuple(modules) if modules is not None else default_modules()
        self.modules: Mapping[str, Module] = MappingProxyType({m.api_name: m for m in catalog})
        unknown = set(per_module or {}) - set(self.modules)
        if unknown:
            raise ValueError(f"unknown modules in per_module: {sorted(unknown)}")
        if records < 0 or any(n < 0 for n in (per_module or {}).values()):
            raise ValueError("record counts must not be negative")
        self.seed = seed
        self.separator = multiselect_separator
        own = offset_seconds(utc_offset)
        self.offsets = (own, *(s for s in map(offset_seconds, OTHER_OFFSETS) if s != own))
        start = (now or datetime.now(UTC)).replace(microsecond=0)
        if start.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.start = crit.epoch_of(start)
        self.base_counts: Mapping[str, int] = {
            m.api_name: self._default_count(m, records, per_module or {}) for m in catalog
        }
        self._positions = {m.api_name: n for n, m in enumerate(catalog)}
        self._models: dict[str, _Model] = {}
        self._lock = threading.RLock()
        self._clock = self.start
        self._read_at: int | None = self.start
        """Latest known read of the data since the last mutation; None: a read at unknown time."""
        self._snapshot = Snapshot(0, start, MappingProxyType(dict(self.base_counts)))
        self._times = DateTimeText(self.offsets)
        self._compiled: OrderedDict[tuple[object, ...], crit.Criteria] = OrderedDict()
        self._boundaries: OrderedDict[tuple[object, ...], dict[int, int]] = OrderedDict()
        self._rollups: OrderedDict[tuple[object, ...], Mapping[int, Decimal]] = OrderedDict()
        self._now = clock or time.time

    @staticmethod
    def _default_count(module: Module, records: int, per_module: Mapping[str, int]) -> int:
        if module.api_name in per_module:
            return per_module[module.api_name]
        if not module.fields:
            return 0
        return records // SMALL_MODULES.get(module.api_name, 1)

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, *, at: datetime | None = None) -> Snapshot:
        """The current state, frozen: later mutations do not show through it.

        Taking a snapshot is reading the data, and a later mutation must not stamp records
        before that read (they would sit in the past of a reader that could not see them, and
        an incremental client would never get them). `at` says when the read happened; without
        it the next mutation assumes the read may have been a moment ago and stamps its records
        at its own `now`.
        """
        with self._lock:
            if at is None:
                self._read_at = None
            elif self._read_at is not None:
                self._read_at = max(self._read_at, crit.epoch_of(at))
            return replace(self._snapshot, evaluated_at=int(self._now()))

    def record_count(self, module: str, snapshot: Snapshot | None = None) -> int:
        """Records of the module at the snapshot, deleted ones left out."""
        snap = snapshot or self._current()
        with self._lock:
            model = self._models.get(module)
        return snap.counts[module] - (len(model.gone(snap.epoch)) if model is not None else 0)

    def _current(self) -> Snapshot:
        """The current snapshot for the oracle's own use: not a read that constrains mutations."""
        with self._lock:
            return replace(self._snapshot, evaluated_at=int(self._now()))

    def _day(self, snapshot: Snapshot) -> int:
        """The org's calendar day of the read, which dynamic formulas depend on."""
        return (snapshot.evaluated_at + self.offsets[0]) // DAY

    def records(self, module: str, snapshot: Snapshot | None = None) -> Iterator[dict[str, object]]:
        """Typed oracle records for tests: {"Id": str, field api_name: value}; values are
        None | str | int | bool | Decimal | date | aware datetime | list[str]. Includes every
        bulk-exportable field (not the rejected ones)."""
        snap = snapshot or self._current()
        model = self._model(module)
        names = [f.api_name for f in self.modules[module].exportable_fields()]
        alive = self._alive(model, snap)
        for start in range(0, snap.counts[module], BATCH):
            batch = _Batch(model, start, min(start + BATCH, snap.counts[module]), snap)
            keep = None if alive is None else alive(batch)
            columns = [self._typed_column(batch, name) for name in names]
            rows = zip(batch.indices, zip(*columns, strict=True), strict=True)
            for at, (index, row) in enumerate(rows):
                if keep is None or keep[at]:
                    yield {"Id": model.record_id(index), **dict(zip(names, row, strict=True))}

    def _typed_column(self, batch: _Batch, name: str) -> list[object]:
        model = batch.model
        kind = model.kind(name)
        if kind == "pool":
            values = model.values[name]
            return [values[k] for k in batch.group(model.group_of[name])]
        if kind == "id":
            return [model.record_id(i) for i in batch.indices]
        if kind == "auto":
            prefix = model.fields[name].auto_number_prefix
            return [f"{prefix}{i + 1}" for i in batch.indices]
        if kind == "days":
            return [Decimal(d) for d in batch.days()]
        if kind == "rollup":
            return list(batch.rollup(name))
        times = batch.created() if kind == "created" else batch.modified()
        return [aware(t, self.offsets[o]) for t, o in zip(times, batch.offset(), strict=True)]

    def value(self, module: str, index: int, path: str, snapshot: Snapshot | None = None) -> object:
        """The typed value of one field (dotted paths included) of record `index`."""
        snap = snapshot or self._current()
        model = self._model(module)
        head, dot, tail = path.partition(".")
        current = self._typed_column(_Batch(model, index, index + 1, snap), head)[0]
        if not dot or current is None:
            return current
        lookup = model.fields[head]
        if lookup.data_type in {"ownerlookup", "userlookup"}:
            return _USERS_BY_ID[str(current)].attribute(tail)
        target = self._model(lookup.lookup_module or "")
        return self.value(target.name, target.index_of(current), tail, snap)

    # -- query validation ----------------------------------------------------------------------

    def resolve_columns(self, module: str, fields: Sequence[str] | None) -> list[str]:
        """Column list of the CSV *after* `Id`: the requested fields in request order, or all
        exportable fields when `fields` is None/empty or has more than 200 entries.

        Duplicates are dropped, and so is `id`, which is always the leading `Id` column.
        """
        if not fields or len(fields) > MAX_FIELDS:
            return [f.api_name for f in self.modules[module].exportable_fields()]
        return [name for name in dict.fromkeys(fields) if name != "id"]

    def validate_query(
        self,
        module: str,
        fields: Sequence[str] | None,
        criteria: Mapping[str, object] | None,
    ) -> QueryError | None:
        """Zoho's validation of a bulk read query: module, then fields, then criteria."""
        found = self.modules.get(module)
        if found is None:
            return error(
                "MODULE_NOT_AVAILABLE", "the module name given seems to be invalid", api_name=module
            )
        if not (found.api_supported and found.bulk_exportable):
            return error(
                "MODULE_NOT_SUPPORTED", "the module is not supported for bulk read", api_name=module
            )
        if fields and len(fields) <= MAX_FIELDS:
            for name in fields:
                target = resolve_path(self.modules, found, name) if isinstance(name, str) else None
                if target is None:
                    return error(
                        "FIELD_NOT_AVAILABLE", "the field is not available", api_name=str(name)
                    )
                if not target.bulk_exportable:
                    return error(
                        "FIELD_NOT_SUPPORTED",
                        "the field is not supported for bulk read",
                        api_name=name,
                    )
        if criteria:
            parsed = self._parse(found, criteria)
            if isinstance(parsed, QueryError):
                return parsed
        return None

    def _parse(self, module: Module, criteria: Mapping[str, object]) -> crit.Criteria | QueryError:
        return crit.parse(
            criteria,
            lambda name: resolve_path(self.modules, module, name),
            offset=self.offsets[0],
            separator=self.separator,
        )

    # -- pages ---------------------------------------------------------------------------------

    def count_page(
        self,
        *,
        module: str,
        criteria: Mapping[str, object] | None,
        page: int,
        per_page: int,
        snapshot: Snapshot,
    ) -> PageInfo:
        """Same PageInfo as write_page without writing (the server fills `result` at COMPLETED)."""
        model = self._model(module)
        total = snapshot.counts[module]
        skip = _skipped(page, per_page)
        mask = self._mask(model, criteria, snapshot)
        if mask is None:
            return PageInfo(max(0, min(per_page, total - skip)), total > skip + per_page)
        start = self._locate(model, criteria, mask, snapshot, skip)
        count, after = self._count_matches(model, mask, snapshot, start, per_page)
        self._remember(model, criteria, snapshot, skip + count, after)
        return PageInfo(count, self._any_match(model, mask, snapshot, after))

    def write_page(
        self,
        dest: BinaryIO,
        *,
        job_id: str,
        module: str,
        columns: Sequence[str],
        criteria: Mapping[str, object] | None,
        page: int,
        per_page: int,
        snapshot: Snapshot,
    ) -> PageInfo:
        """Stream a ZIP holding `{job_id}.csv` (header `Id` + columns) of the matching records
        number per_page*(page-1) .. per_page*page-1 (in index order) into dest. Never builds the
        whole file in memory. Returns PageInfo(count=records in file, more_records=bool)."""
        model = self._model(module)
        total = snapshot.counts[module]
        skip = _skipped(page, per_page)
        mask = self._mask(model, criteria, snapshot)
        render_rows = self._renderer(model, columns, snapshot)
        start = skip if mask is None else self._locate(model, criteria, mask, snapshot, skip)
        written = 0
        index = start
        member = f"{job_id}.csv"
        with zipped_csv(dest, member, stamp=snapshot.as_of, large=per_page > 1_000_000) as out:
            out.write(",".join(map(quote, ("Id", *columns))).encode() + LINE_END)
            while written < per_page and index < total:
                batch = _Batch(model, index, min(index + BATCH, total), snapshot)
                keep = None if mask is None else mask(batch)
                taken, index = _take(batch, keep, per_page - written)
                if taken:
                    out.write(render_rows(batch, keep, taken))
                    written += taken
        if mask is None:
            return PageInfo(written, total > skip + per_page)
        self._remember(model, criteria, snapshot, skip + written, index)
        return PageInfo(written, self._any_match(model, mask, snapshot, index))

    # -- queries (COQL) ------------------------------------------------------------------------

    def select(
        self,
        module: str,
        *,
        snapshot: Snapshot,
        where: crit.Criteria,
        order: Sequence[tuple[str, bool]],
        offset: int,
        count: int,
    ) -> tuple[list[int], bool]:
        """Indices of the live records matching `where` at positions offset..offset+count-1
        in `order` ((path, descending) pairs, ties and an empty order by ascending id), and
        whether more follow. Streams the module: by id nothing is kept but the page; any
        other order keeps the offset+count+1 best sort keys in a bounded heap."""
        model = self._model(module)
        matches = _Compiler(self, model, snapshot).compile(where)
        alive = self._alive(model, snapshot)
        mask = matches if alive is None else _both(alive, matches)
        if all(path == "id" for path, _ in order) and len({d for _, d in order}) <= 1:
            descending = bool(order) and order[0][1]
            found = self._scan_by_id(model, mask, snapshot, offset + count + 1, descending)
        else:
            found = self._scan_ordered(model, mask, snapshot, order, offset + count + 1)
        return found[offset : offset + count], len(found) > offset + count

    def _scan_by_id(
        self, model: _Model, mask: _Mask, snapshot: Snapshot, wanted: int, descending: bool
    ) -> list[int]:
        """The first `wanted` matching indices by id, ascending or descending."""
        starts = range(0, snapshot.counts[model.name], BATCH)
        found: list[int] = []
        for start in reversed(starts) if descending else starts:
            batch = _Batch(model, start, min(start + BATCH, starts.stop), snapshot)
            kept = list(compress(batch.indices, mask(batch)))
            found += reversed(kept) if descending else kept
            if len(found) >= wanted:
                break
        return found[:wanted]

    def _scan_ordered(
        self,
        model: _Model,
        mask: _Mask,
        snapshot: Snapshot,
        order: Sequence[tuple[str, bool]],
        wanted: int,
    ) -> list[int]:
        """The `wanted` first matching indices in `order`, through a heap of that size."""
        total = snapshot.counts[model.name]
        tables: dict[str, list[object]] = {}

        def rows() -> Iterator[tuple[Any, ...]]:
            for start in range(0, total, BATCH):
                batch = _Batch(model, start, min(start + BATCH, total), snapshot)
                keep = mask(batch)
                columns = [
                    map(
                        _Descending if descending else _ascending,
                        compress(self._sort_column(batch, path, tables), keep),
                    )
                    for path, descending in order
                ]
                yield from zip(*columns, compress(batch.indices, keep), strict=True)

        return [row[-1] for row in heapq.nsmallest(wanted, rows())]

    def _sort_column(
        self, batch: _Batch, path: str, tables: dict[str, list[object]]
    ) -> Sequence[object]:
        """Comparable sort keys of `path` per record of the batch (None: an empty value)."""
        model = batch.model
        head, dot, tail = path.partition(".")
        kind = model.kind(head)
        if dot or kind == "pool":
            table = tables.get(path)
            if table is None:
                values = (
                    self._dotted_values(model, head, tail, batch.snapshot)
                    if dot
                    else model.values[head]
                )
                table = tables[path] = [_sort_key(v, self.separator) for v in values]
            return [table[k] for k in batch.group(model.group_of[head])]
        if kind in ("id", "auto"):  # both grow with the index
            return batch.indices
        if kind == "rollup":
            return [_sort_key(v, self.separator) for v in batch.rollup(head)]
        return batch.computed(kind, head)  # epoch seconds, or whole days

    def rows(
        self, module: str, indices: Sequence[int], paths: Sequence[str], snapshot: Snapshot
    ) -> list[list[object]]:
        """Typed values of `paths` (dotted ones included) for each record index, in order.

        Nearby indices share one batch, so a page of consecutive records costs a few column
        passes; scattered ones (an ordered page) cost a one-record batch each."""
        model = self._model(module)
        dotted: dict[str, list[object]] = {}
        for path in paths:
            head, dot, tail = path.partition(".")
            if dot and path not in dotted:
                dotted[path] = self._dotted_values(model, head, tail, snapshot)
        runs: list[list[int]] = []
        for index in sorted(set(indices)):
            if runs and index - runs[-1][-1] < 64 and index - runs[-1][0] < BATCH:
                runs[-1].append(index)
            else:
                runs.append([index])
        by_index: dict[int, list[object]] = {}
        for run in runs:
            batch = _Batch(model, run[0], run[-1] + 1, snapshot)
            columns: list[Sequence[object]] = []
            for path in paths:
                head = path.partition(".")[0]
                if path in dotted:
                    table = dotted[path]
                    columns.append([table[k] for k in batch.group(model.group_of[head])])
                else:
                    columns.append(self._typed_column(batch, path))
            for index in run:
                by_index[index] = [column[index - run[0]] for column in columns]
        return [by_index[index] for index in indices]

    # -- criteria scanning ---------------------------------------------------------------------

    def _mask(
        self, model: _Model, criteria: Mapping[str, object] | None, snapshot: Snapshot
    ) -> _Mask | None:
        """Which records of a batch a read returns: live ones matching the criteria (None:
        every record, the fast path)."""
        alive = self._alive(model, snapshot)
        matches = self._criteria_mask(model, criteria, snapshot)
        if alive is None or matches is None:
            return alive or matches
        return _both(alive, matches)

    def _alive(self, model: _Model, snapshot: Snapshot) -> _Mask | None:
        """False for the records deleted as of the snapshot; None when there are none."""
        gone = model.gone(snapshot.epoch)
        if not gone:
            return None

        def alive(batch: _Batch) -> list[bool]:
            keep = [True] * (batch.stop - batch.start)
            lo = bisect.bisect_left(gone, batch.start)
            hi = bisect.bisect_left(gone, batch.stop)
            for index in gone[lo:hi]:
                keep[index - batch.start] = False
            return keep

        return alive

    def _criteria_mask(
        self, model: _Model, criteria: Mapping[str, object] | None, snapshot: Snapshot
    ) -> _Mask | None:
        if not criteria:
            return None
        key = (model.name, _criteria_key(criteria))
        with self._lock:
            parsed = self._compiled.get(key)
        if parsed is None:
            result = self._parse(model.module, criteria)
            if isinstance(result, QueryError):
                raise ValueError(f"invalid criteria ({result.code}); validate_query first")
            parsed = result
            with self._lock:
                self._compiled[key] = parsed
                _trim(self._compiled, 64)
        return _Compiler(self, model, snapshot).compile(parsed)

    def _count_matches(
        self, model: _Model, mask: _Mask, snapshot: Snapshot, start: int, limit: int
    ) -> tuple[int, int]:
        """How many of at most `limit` matches follow `start`, and the index after the last."""
        total = snapshot.counts[model.name]
        found = 0
        index = start
        while found < limit and index < total:
            batch = _Batch(model, index, min(index + BATCH, total), snapshot)
            taken, index = _take(batch, mask(batch), limit - found)
            found += taken
        return found, index

    def _any_match(self, model: _Model, mask: _Mask, snapshot: Snapshot, start: int) -> bool:
        return self._count_matches(model, mask, snapshot, start, 1)[0] > 0

    def _locate(
        self,
        model: _Model,
        criteria: Mapping[str, object] | None,
        mask: _Mask,
        snapshot: Snapshot,
        skip: int,
    ) -> int:
        """Index where the (skip+1)-th match can be searched from; resumes from known pages."""
        key = (model.name, _criteria_key(criteria), snapshot.epoch, self._day(snapshot))
        with self._lock:
            known = dict(self._boundaries.get(key, {0: 0}))
        seen = max((n for n in known if n <= skip), default=0)
        index = known.get(seen, 0)
        if seen < skip:
            found, index = self._count_matches(model, mask, snapshot, index, skip - seen)
            self._remember(model, criteria, snapshot, seen + found, index)
        return index

    def _remember(
        self,
        model: _Model,
        criteria: Mapping[str, object] | None,
        snapshot: Snapshot,
        matches: int,
        index: int,
    ) -> None:
        key = (model.name, _criteria_key(criteria), snapshot.epoch, self._day(snapshot))
        with self._lock:
            self._boundaries.setdefault(key, {0: 0})[matches] = index
            self._boundaries.move_to_end(key)
            _trim(self._boundaries, 256)

    # -- rendering -----------------------------------------------------------------------------

    def _renderer(
        self, model: _Model, columns: Sequence[str], snapshot: Snapshot
    ) -> Callable[[_Batch, list[bool] | None, int], bytes]:
        """Rows → CSV bytes for these columns; consecutive columns of one group share a piece."""
        pieces: list[_Piece] = [self._id_piece(model)]
        run: list[list[bytes]] = []
        run_group = -1

        def close_run() -> None:
            if run:
                pieces.append(
                    _pool_piece(run_group, [b",".join(c) for c in zip(*run, strict=True)])
                )
                run.clear()

        for name in columns:
            source = self._column_source(model, name, snapshot)
            if isinstance(source, tuple):
                group, cells = source
                if group != run_group:
                    close_run()
                    run_group = group
                run.append(cells)
            else:
                close_run()
                run_group = -1
                pieces.append(source)
        close_run()

        # One %-format per row is faster than joining each row's pieces (no tuple-of-joins).
        row = b",".join([b"%s"] * len(pieces)) + LINE_END

        def rows(batch: _Batch, keep: list[bool] | None, taken: int) -> bytes:
            columns_bytes = [piece(batch, keep, taken) for piece in pieces]
            return b"".join(map(row.__mod__, zip(*columns_bytes, strict=True)))

        return rows

    def _column_source(
        self, model: _Model, name: str, snapshot: Snapshot
    ) -> tuple[int, list[bytes]] | _Piece:
        """A pooled column as (group, cells per pool entry), or a per-record column function."""
        head, dot, tail = name.partition(".")
        if head not in model.fields or not model.fields[head].bulk_exportable:
            raise ValueError(f"column {name!r} is not exportable from {model.name}")
        kind = model.kind(head)
        if dot:
            targets = self._dotted_values(model, head, tail, snapshot)
            return model.group_of[head], [render(v, self.separator).encode() for v in targets]
        if kind == "pool":
            return model.group_of[name], model.cells[name]
        if kind == "auto":
            prefix = model.fields[name].auto_number_prefix.encode() + b"%d"
            return lambda b, keep, n: [prefix % (i + 1) for i in _pick(b.indices, keep, n)]
        if kind == "id":
            return self._id_piece(model)
        if kind in ("days", "rollup"):
            sep = self.separator
            return lambda b, keep, n: [
                render(v, sep).encode() for v in _pick(b.computed(kind, name), keep, n)
            ]
        which = _Batch.created if kind == "created" else _Batch.modified
        text = self._times.column

        def time_piece(batch: _Batch, keep: list[bool] | None, n: int) -> list[bytes]:
            return text(_pick(which(batch), keep, n), _pick(batch.offset(), keep, n))

        return time_piece

    @staticmethod
    def _id_piece(model: _Model) -> _Piece:
        base = model.id_base
        return lambda batch, keep, n: [b"%d" % (base + i) for i in _pick(batch.indices, keep, n)]

    def _dotted_values(
        self, model: _Model, head: str, tail: str, snapshot: Snapshot
    ) -> list[object]:
        """Typed value of `head.tail` per pool entry of `head` (lookups are pooled)."""
        lookup = model.fields[head]
        if lookup.data_type in {"ownerlookup", "userlookup"}:
            return [
                None if v is None else _USERS_BY_ID[str(v)].attribute(tail)
                for v in model.values[head]
            ]
        target = self._model(lookup.lookup_module or "")
        return [
            None if v is None else self.value(target.name, target.index_of(v), tail, snapshot)
            for v in model.values[head]
        ]

    # -- models --------------------------------------------------------------------------------

    def _model(self, module: str) -> _Model:
        with self._lock:
            model = self._models.get(module)
            if model is None:
                if module not in self.modules:
                    raise KeyError(module)
                model = _Model(self, self.modules[module], self._positions[module])
                self._models[module] = model
            return model

    def _lookup_drawers(self) -> Mapping[str, Callable[[random.Random], str | None]]:
        """For each module: draw the id of one of its base records (None when it has none)."""

        def drawer(position: int, count: int) -> Callable[[random.Random], str | None]:
            base = _id_base(position)
            return lambda rng: str(base + rng.randrange(count)) if count else None

        return {
            name: drawer(position, self.base_counts[name])
            for name, position in self._positions.items()
        }

    def _rollup(self, model: _Model, name: str, snapshot: Snapshot) -> Mapping[int, Decimal]:
        """A rollup summary per parent index: SUM of the summed field over the live child
        records whose lookup points at the parent. Lookups and amounts are pooled, so this
        counts (lookup entry, amount entry) pairs: memory stays within the pool sizes."""
        key = (model.name, name, snapshot.epoch)
        with self._lock:
            cached = self._rollups.get(key)
        if cached is not None:
            return cached
        rollup = model.fields[name].rollup
        assert rollup is not None
        child_name, lookup, summed = rollup
        child = self._model(child_name)
        targets, amounts = child.values[lookup], child.values[summed]
        by_target, by_amount = child.group_of[lookup], child.group_of[summed]
        alive = self._alive(child, snapshot)
        pairs: Counter[tuple[int, int]] = Counter()
        total = snapshot.counts[child_name]
        for start in range(0, total, BATCH):
            batch = _Batch(child, start, min(start + BATCH, total), snapshot)
            entries = zip(batch.group(by_target), batch.group(by_amount), strict=True)
            pairs.update(entries if alive is None else compress(entries, alive(batch)))
        sums: dict[int, Decimal] = {}
        for (target_entry, amount_entry), times in pairs.items():
            target, amount = targets[target_entry], amounts[amount_entry]
            if target is None or not isinstance(amount, Decimal):
                continue
            index = model.index_of(target)
            sums[index] = sums.get(index, Decimal(0)) + times * amount
        with self._lock:
            self._rollups[key] = sums
            _trim(self._rollups, 16)
        return sums

    # -- change over time ------------------------------------------------------------------------

    def mutate(
        self,
        *,
        now: datetime,
        add: Amount = 0,
        modify: Amount = 0,
        delete: Targets = 0,
        permanent: bool = False,
        purge: Targets = 0,
        restore: Targets = 0,
    ) -> dict[str, dict[str, object]]:
        """Change over time: add N new records per module (Created_Time and Modified_Time stamped
        inside (previous mutation time or construction `now`, now]) and modify N existing records
        per module (Modified_Time moved into that interval, a few values changed). Returns what
        was done. Stays O(number of mutations) memory. Existing snapshots are unaffected.

        The interval starts no earlier than the last read of the data (see `snapshot`), so a
        read at an unknown time narrows it to the second `now`, as does a `now` in the same
        second as the previous mutation; stamps are never later than `now`. An int applies to
        every bulk-exportable module. The result maps each touched module to {"added": n,
        "modified": n} plus, for each removal asked for, the ids concerned.

        Removals take a count or, per module, a count or a list of record ids:
        `delete` moves live records (N picked at random among those that existed before this
        call and that it does not modify) to the recycle bin, or straight to the permanent log
        with `permanent`; they leave every read from now on, deleted at the second `now` by a
        user of the org. `purge` deletes records of the recycle bin for good (N: the oldest
        first) and `restore` brings them back as they were: Modified_Time does not move.
        Records deleted `RECYCLE_BIN_DAYS` ago (on the dataset's clock) count as permanent.
        An unknown id, or one in the wrong state, raises ValueError before anything changes.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        until = crit.epoch_of(now)
        adds = self._per_module(add)
        modifies = self._per_module(modify)
        removals = {
            "deleted": self._per_module(delete),
            "purged": self._per_module(purge),
            "restored": self._per_module(restore),
        }
        with self._lock:
            after = self._clock
            wanted: list[object] = [*adds.values(), *modifies.values()]
            wanted += [amount for r in removals.values() for amount in r.values()]
            if not any(wanted):
                self._clock = max(after, until)
                return {}
            # Stamps never go back past the previous mutation or the last read of the data (see
            # `snapshot`), nor forward past `now`: a record from the future would miss the window
            # of a client reading right now. Within one second that leaves just the second `now`.
            until = max(until, after)
            plans = {
                name: self._plan_removals(name, *(r.get(name, 0) for r in removals.values()))
                for name in self.modules
                if any(r.get(name) for r in removals.values())
            }  # checks every id before anything changes
            if self._read_at is None:
                after = until
            elif self._read_at > after:
                after = self._read_at
            after = min(after, until - 1)
            self._read_at = until
            epoch = self._snapshot.epoch + 1
            counts = dict(self._snapshot.counts)
            done: dict[str, dict[str, object]] = {}
            for name in self.modules:
                n_add, n_modify = adds.get(name, 0), modifies.get(name, 0)
                if not (n_add or n_modify or name in plans):
                    continue
                model = self._model(name)
                existing = counts[name]
                gone = set(model.gone(epoch - 1))
                rng = random.Random(f"{self.seed}/{name}/mutation/{epoch}")  # noqa: S311
                # Deleted records are never modified; with none, this is the sample it always was.
                picked = rng.sample(range(existing), min(n_modify + len(gone), existing))
                chosen = [index for index in picked if index not in gone][:n_modify]
                for index in chosen:
                    change = _Change(
                        epoch, after + 1 + rng.randrange(until - after), rng.getrandbits(30)
                    )
                    known = index in model.changes
                    model.changes[index] = (*model.changes.get(index, ()), change)
                    if not known:  # readers find the index only once its changes exist
                        bisect.insort(model.changed, index)
                if n_add:
                    model.added.append(_Added(epoch, existing, n_add, after, until))
                counts[name] = existing + n_add
                done[name] = {"added": n_add, "modified": len(chosen)}
                if name in plans:
                    probe = Snapshot(epoch, self._snapshot.as_of, counts)
                    ids = self._apply_removals(
                        model, plans[name], probe, until, gone | set(chosen), permanent=permanent
                    )
                    done[name] |= {what: ids[what] for what, r in removals.items() if r.get(name)}
            self._clock = until
            as_of = datetime.fromtimestamp(until, UTC)
            self._snapshot = Snapshot(epoch, as_of, MappingProxyType(counts))
            return done

    def _plan_removals(
        self,
        name: str,
        delete: int | Sequence[str],
        purge: int | Sequence[str],
        restore: int | Sequence[str],
    ) -> tuple[int | list[int], int | list[int], int | list[int]]:
        """Resolve the ids of one module's removals to indices, or say what is wrong with them."""
        model = self._model(name)
        total = self._snapshot.counts[name]
        gone = set(model.gone(self._snapshot.epoch))
        binned = set(self._recycle_bin(model))

        def indices(
            ids: int | Sequence[str], what: str, ok: Callable[[int], bool]
        ) -> int | list[int]:
            if isinstance(ids, int):
                return ids
            out: list[int] = []
            for record_id in dict.fromkeys(map(str, ids)):
                index = model.index_of(record_id) if record_id.isdigit() else -1
                if not (0 <= index < total and model.record_id(index) == record_id and ok(index)):
                    raise ValueError(f"{name} {record_id}: not {what}")
                out.append(index)
            return out

        planned = (
            indices(delete, "a live record", lambda i: i not in gone),
            indices(purge, "in the recycle bin", lambda i: i in binned),
            indices(restore, "in the recycle bin", lambda i: i in binned),
        )
        if isinstance(planned[1], list) and isinstance(planned[2], list):
            both = set(planned[1]) & set(planned[2])
            if both:
                raise ValueError(
                    f"{name}: purged and restored at once: {model.record_id(min(both))}"
                )
        return planned

    def _recycle_bin(self, model: _Model) -> list[int]:
        """Indices in the recycle bin (not purged, not expired), oldest deletion first."""
        expired = self._now() - RECYCLE_BIN_DAYS * DAY
        binned = [
            (d.deleted_at, index)
            for index, d in model.deletions.items()
            if not d.purged and d.deleted_at > expired
        ]
        return [index for _, index in sorted(binned)]

    def _apply_removals(
        self,
        model: _Model,
        plan: tuple[int | list[int], int | list[int], int | list[int]],
        probe: Snapshot,
        at: int,
        spared: set[int],
        *,
        permanent: bool,
    ) -> dict[str, list[str]]:
        """Carry out one module's planned removals at epoch `probe.epoch`; the ids per removal."""
        delete, purge, restore = plan
        rng = random.Random(f"{self.seed}/{model.name}/delete/{probe.epoch}")  # noqa: S311
        if isinstance(delete, int):
            existing = self._snapshot.counts[model.name]
            picked = rng.sample(range(existing), min(delete + len(spared), existing))
            delete = [index for index in picked if index not in spared][:delete]
        binned = self._recycle_bin(model)
        if isinstance(purge, int):
            kept = set(restore) if isinstance(restore, list) else set()
            purge = [index for index in binned if index not in kept][:purge]
        if isinstance(restore, int):
            purged = set(purge)
            restore = [index for index in binned if index not in purged][:restore]
        names = display_fields(model.module)
        for index in delete:
            batch = _Batch(model, index, index + 1, probe)
            shown = [self._typed_column(batch, n)[0] for n in names]
            creator = self._typed_column(batch, "Created_By")[0]
            model.deletions[index] = _Deletion(
                deleted_at=at,
                deleted_by=rng.choice(USERS).id,
                purged=permanent,
                display_name=" ".join(str(v) for v in shown if v not in (None, "")),
                created_by=None if creator is None else str(creator),
            )
            self._remove(model, index, _Removal(probe.epoch, deleted=True))
        for index in purge:
            model.deletions[index] = model.deletions[index]._replace(purged=True)
        for index in restore:
            del model.deletions[index]
            self._remove(model, index, _Removal(probe.epoch, deleted=False))
        return {
            "deleted": [model.record_id(i) for i in delete],
            "purged": [model.record_id(i) for i in purge],
            "restored": [model.record_id(i) for i in restore],
        }

    @staticmethod
    def _remove(model: _Model, index: int, removal: _Removal) -> None:
        known = index in model.removals
        model.removals[index] = (*model.removals.get(index, ()), removal)
        if not known:  # readers find the index only once its removals exist
            bisect.insort(model.removed, index)

    def deleted(
        self, module: str, *, kind: str = "all", since: float | None = None
    ) -> list[DeletedRecord]:
        """A module's deleted records, latest deletion first: `kind` "recycle" (still in the
        recycle bin), "permanent" or "all"; `since` keeps those deleted after that instant."""
        expired = self._now() - RECYCLE_BIN_DAYS * DAY
        with self._lock:
            model = self._models.get(module)
            if model is None:
                return []
            entries = list(model.deletions.items())
        out: list[DeletedRecord] = []
        for index, d in entries:
            gone_for_good = d.purged or d.deleted_at <= expired
            if kind != "all" and (kind == "permanent") != gone_for_good:
                continue
            if since is not None and d.deleted_at <= since:
                continue
            out.append(
                DeletedRecord(
                    id=model.record_id(index),
                    type="permanent" if gone_for_good else "recycle",
                    deleted_at=d.deleted_at,
                    deleted_by=d.deleted_by,
                    display_name=None if gone_for_good else d.display_name,
                    created_by=None if gone_for_good else d.created_by,
                )
            )
        out.sort(key=lambda r: (r.deleted_at, int(r.id)), reverse=True)
        return out

    def _per_module(self, amount: Mapping[str, _T] | int) -> dict[str, _T | int]:
        if isinstance(amount, int):
            return {
                m.api_name: amount
                for m in self.modules.values()
                if m.api_supported and m.bulk_exportable and m.fields
            }
        unknown = set(amount) - set(self.modules)
        if unknown:
            raise ValueError(f"unknown modules: {sorted(unknown)}")
        return dict(amount)


def display_fields(module: Module) -> tuple[str, ...]:
    """The fields a record's display name is made of (Zoho's "display_name")."""
    if module.field("Last_Name") is not None:
        return ("First_Name", "Last_Name")
    for name in ("Account_Name", "Deal_Name", "Subject", "Name", "Note_Title"):
        f = module.field(name)
        if f is not None and f.data_type == "text":
            return (name,)
    return ()


class _Compiler:
    """Criteria → a function from a batch to one bool per record."""

    def __init__(self, dataset: Dataset, model: _Model, snapshot: Snapshot) -> None:
        self.dataset = dataset
        self.model = model
        self.snapshot = snapshot

    def compile(self, node: crit.Criteria) -> _Mask:
        if isinstance(node, crit.Group):
            members = [self.compile(m) for m in node.members]
            combine = operator.and_ if node.operator == "and" else operator.or_

            def group(batch: _Batch) -> list[bool]:
                return reduce(lambda a, b: list(map(combine, a, b)), (m(batch) for m in members))

            return group
        return self.leaf(node)

    def leaf(self, condition: crit.Condition) -> _Mask:
        model = self.model
        head, dot, tail = condition.api_name.partition(".")
        kind, test, sep = condition.kind, condition.test, self.dataset.separator
        source = model.kind(head)
        if dot or source == "pool":
            number = model.group_of[head]
            values = (
                self.dataset._dotted_values(model, head, tail, self.snapshot)
                if dot
                else model.values[head]
            )
            table = [test(crit.key_of(kind, v, sep)) for v in values]
            return lambda batch: [table[k] for k in batch.group(number)]
        if source == "id":
            base = model.id_base
            return lambda batch: [test(base + i) for i in batch.indices]
        if source == "auto":
            prefix = model.fields[head].auto_number_prefix.casefold()
            return lambda batch: [test(f"{prefix}{i + 1}") for i in batch.indices]
        return lambda batch: list(map(test, batch.computed(source, head)))


def _both(first: _Mask, second: _Mask) -> _Mask:
    """Records both masks keep."""
    return lambda batch: list(map(operator.and_, first(batch), second(batch)))


def _sort_key(value: object, separator: str) -> object:
    """A typed value as something that orders like Zoho sorts it: text without case, times as
    instants, dates as days, a multi-select as its joined text (None stays None)."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, datetime):
        return crit.epoch_of(value)
    if isinstance(value, date):
        return value.toordinal()
    if isinstance(value, list):
        return separator.join(value).casefold()
    return value


def _ascending(key: object) -> tuple[object, ...]:
    """Empty values first, then the keys in ascending order."""
    return (0,) if key is None else (1, key)


class _Descending:
    """Reverses the order of a sort key: empty values last, then descending keys."""

    __slots__ = ("key",)

    def __init__(self, key: object) -> None:
        self.key = _ascending(key)

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    __hash__ = None  # type: ignore[assignment]


def _pool_piece(group: int, cells: list[bytes]) -> _Piece:
    return lambda batch, keep, n: [cells[k] for k in _pick(batch.group(group), keep, n)]


def _pick(column: Sequence[_T], keep: list[bool] | None, n: int) -> list[_T]:
    """The first `n` kept entries of a batch column."""
    if keep is None:
        if n >= len(column) and isinstance(column, list):
            return column
        return list(islice(column, n))
    return list(islice(compress(column, keep), n))


def _take(batch: _Batch, keep: list[bool] | None, limit: int) -> tuple[int, int]:
    """How many records of the batch to take (≤ limit) and the index after the last taken."""
    if keep is None:
        taken = min(limit, batch.stop - batch.start)
        return taken, batch.start + taken
    matches = keep.count(True)
    if matches <= limit:
        return matches, batch.stop
    taken = 0
    for at, ok in enumerate(keep):
        if ok:
            taken += 1
            if taken == limit:
                return taken, batch.start + at + 1
    return taken, batch.stop


def _skipped(page: int, per_page: int) -> int:
    """Matching records before the page; pages and sizes start at 1."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page must be at least 1")
    return per_page * (page - 1)


def _criteria_key(criteria: Mapping[str, object] | None) -> str:
    return json.dumps(criteria, sort_keys=True, default=str)


def _trim(cache: OrderedDict[tuple[object, ...], _T], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)
