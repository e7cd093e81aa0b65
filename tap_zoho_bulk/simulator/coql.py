"""COQL, Zoho's CRM Object Query Language: `POST /crm/{version}/coql {"select_query": "..."}`.

`parse` turns the query text into a `Statement` (or Zoho's SYNTAX_ERROR), `plan` checks it against
the catalog and the version's limits (INVALID_QUERY, LIMIT_EXCEEDED, DUPLICATE_DATA) and compiles
its WHERE clause into the same condition tests Bulk Read criteria use (`criteria.condition`), and
`execute` reads the records from the Dataset at a snapshot and writes them as JSON: the same
records and values a Bulk Read job created at that moment would export, typed as JSON.

Grammar (keywords in any case; a field may be written bare or in quotes, a value in single or
double quotes with backslash escapes, or bare)::

    SELECT field [, field]* FROM Module WHERE condition
        [ORDER BY field [ASC|DESC] [, field [ASC|DESC]]*]
        [LIMIT count | LIMIT offset, count] [OFFSET offset] [;]
    condition := operand [(AND|OR) operand]      more than two criteria need parentheses
    operand   := "(" condition ")" | field comparison
    comparison := = | != | < | <= | > | >= value | [NOT] BETWEEN value AND value
                | [NOT] IN (value [, value]*) | [NOT] LIKE value | IS [NOT] NULL

A field is an API name, `id`, or a lookup followed through at most two relations
(`Owner.last_name`, `Account_Name.Parent_Account.Account_Name`). Which comparators a field takes
follows Zoho's table per field type; see `_COMPARATORS`. GROUP BY, aggregates, aliases, custom
views in FROM and JOINs are not simulated (SYNTAX_ERROR).

Limits per version (Zoho's "COQL Limitations" pages and Kaizen #183): LIMIT up to 200 records a
call before v4 and 2,000 from v4; offset + LIMIT up to 10,000 before v7 and 100,000 from v7;
50 SELECT fields and 50 IN values before v7, 500 and 100 from v7; 25 criteria, 10 ORDER BY
fields, 5 dynamic formula fields. LIMIT defaults to 200; credits follow it (`credits`).

Semantics chosen where Zoho does not document them (tests pin them down): without ORDER BY
records come by ascending id (Zoho promises no order); ORDER BY puts empty values first when
ascending and last when descending, ties by ascending id; comparisons are those of Bulk Read
criteria (text without case, a negated comparator matching empty values too); field API names
are exact but `id` and module names may be written in any case; a date-time without offset is
read in the org's; multi-line fields cannot be filtered, nor multi-line and multi-select fields
sorted; a lookup's `name` (v7+) is its record's display name, a user's their last name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from json import dumps
from typing import Literal

from . import criteria as crit
from .catalog import LOOKUP_TYPES, USER_FIELDS, Field, Module
from .data import Dataset, Snapshot, display_fields
from .jobs import ApiError, ApiVersion

__all__ = ["Plan", "Statement", "credits", "execute", "limits", "parse", "plan", "query_of"]

DEFAULT_LIMIT = 200
MAX_CRITERIA = 25
MAX_ORDER_BY = 10
MAX_DYNAMIC_FORMULAS = 5
MAX_RELATIONS_PER_FIELD = 2
"""`Account_Name.Parent_Account.Account_Name` follows two lookups; a third is refused."""
NOT_SUPPORTED = frozenset({"fileupload", "multiselectlookup"})
"""Data types COQL cannot read at all (Zoho: file upload and multi-select lookup fields)."""
NOT_SORTABLE = frozenset({"textarea", "multiselectpicklist"})
"""What fields metadata marks `"sortable": false` (catalog.py)."""


@dataclass(frozen=True)
class Limits:
    """What one API version of COQL allows."""

    per_call: int
    reach: int
    select_fields: int
    in_values: int
    relations: int


def limits(version: ApiVersion) -> Limits:
    """The limits of COQL in this API version."""
    if version.major >= 7:
        return Limits(per_call=2_000, reach=100_000, select_fields=500, in_values=100, relations=15)
    if version.major >= 4:
        return Limits(per_call=2_000, reach=10_000, select_fields=50, in_values=50, relations=2)
    return Limits(per_call=200, reach=10_000, select_fields=50, in_values=50, relations=2)


def credits(count: int) -> int:
    """API credits of a COQL call by its LIMIT: 1 up to 200, 2 up to 1,000, 3 up to 2,000."""
    return 1 if count <= 200 else 2 if count <= 1_000 else 3


# -- errors ------------------------------------------------------------------------------------

_INVALID_QUERY_FORMED = "invalid query formed"


def _syntax(details: Mapping[str, object]) -> ApiError:
    return ApiError(400, "SYNTAX_ERROR", _INVALID_QUERY_FORMED, dict(details))


def _invalid(message: str, **details: object) -> ApiError:
    return ApiError(400, "INVALID_QUERY", message, details)


def _exceeded(by: str, limit: int) -> ApiError:
    return ApiError(400, "LIMIT_EXCEEDED", "limit exceeded", {"by": by, "limit": limit})


def _duplicate(column: str, clause: str) -> ApiError:
    # Zoho documents 401 for a repeated SELECT column and 400 for a repeated ORDER BY field.
    status = 401 if clause == "select" else 400
    return ApiError(
        status, "DUPLICATE_DATA", "duplicate data", {"column_name": column, "clause": clause}
    )


def _bad_column(column: str, clause: str) -> ApiError:
    return _invalid("column given seems to be invalid", column_name=column, clause=clause)


def _bad_type(column: str, field: Field, clause: str) -> ApiError:
    return _invalid(
        "data type not supported", column_name=column, data_type=field.data_type, clause=clause
    )


def _bad_value(column: str, field: Field) -> ApiError:
    return _invalid(
        "value given seems to be invalid for the column",
        column_name=column,
        expected_data_type=field.value_type,
        clause="where",
    )


def query_of(body: object) -> str | ApiError:
    """The select_query of a request body, or why the body is refused."""
    if not isinstance(body, dict):
        return ApiError(400, "REQUEST_BODY_NOT_SUPPORTED", "request body contains invalid format")
    if "select_query" not in body:
        return ApiError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "select_query"},
        )
    query = body["select_query"]
    if not isinstance(query, str):
        return ApiError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "select_query", "expected_data_type": "string"},
        )
    if not query.strip():
        return _invalid(_INVALID_QUERY_FORMED, reason="the select query is empty")
    return query


# -- syntax ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<number>-?\d+(?:\.\d+)?(?![\w$]))
    |(?P<name>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)
    |(?P<symbol><=|>=|!=|[=<>(),;])""",
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset(
    {
        "select", "from", "where", "and", "or", "not", "between", "in", "like", "is", "null",
        "order", "by", "asc", "desc", "limit", "offset", "group", "as", "having",
    }
)  # fmt: skip
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)

TokenKind = Literal["string", "number", "name", "symbol", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    at: int

    @property
    def keyword(self) -> str | None:
        """The keyword this token is (lower case), if it is one."""
        lowered = self.text.lower()
        return lowered if self.kind == "name" and lowered in _KEYWORDS else None


@dataclass(frozen=True)
class Value:
    """A literal: its text (quotes removed) and whether it was quoted."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class Leaf:
    """`field comparator values`; comparator as written in lower case (`not between`...)."""

    column: str
    comparator: str
    values: tuple[Value, ...]
    at: Token


@dataclass(frozen=True)
class Node:
    operator: str  # "and" | "or"
    left: Leaf | Node
    right: Leaf | Node


Expression = Leaf | Node


@dataclass(frozen=True)
class Statement:
    """A parsed query, not yet checked against the catalog."""

    columns: tuple[str, ...]
    module: str
    where: Expression
    order: tuple[tuple[str, bool], ...]
    """(field, descending) in ORDER BY order."""
    limit: int | None
    offset: int | None


class _SyntaxError(Exception):
    def __init__(self, details: Mapping[str, object]) -> None:
        super().__init__("syntax")
        self.details = details


def _tokens(text: str) -> Iterator[Token]:
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise _SyntaxError(_near(text, at, text[at]))
        kind = match.lastgroup
        if kind != "space":
            yield Token(kind, match.group(), at)  # type: ignore[arg-type]
        at = match.end()
    yield Token("end", "", len(text))


def _near(text: str, at: int, near: str) -> dict[str, object]:
    """Parse_Error_Details of coql.json: 1-based line and column of the offending token."""
    line_start = text.rfind("\n", 0, at) + 1
    return {"line": text.count("\n", 0, at) + 1, "column": at - line_start + 1, "near": near}


def parse(text: str) -> Statement | ApiError:
    """The statement of a query text, or the SYNTAX_ERROR Zoho answers with."""
    try:
        return _Parser(text).statement()
    except _SyntaxError as failed:
        return _syntax(failed.details)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def fail(self, token: Token | None = None) -> _SyntaxError:
        token = token or self.token
        if token.kind == "end":  # point at what came last, as there is nothing after it
            token = self.tokens[max(0, self.at - 1)]
        return _SyntaxError(_near(self.text, token.at, token.text))

    def ended(self) -> bool:
        return self.token.kind == "end"

    def take(self) -> Token:
        token = self.token
        self.at += 1
        return token

    def accept(self, *keywords: str) -> bool:
        if self.token.keyword in keywords:
            self.at += 1
            return True
        return False

    def expect(self, keyword: str) -> None:
        if not self.accept(keyword):
            raise self.fail()

    def symbol(self, text: str) -> bool:
        if self.token.kind == "symbol" and self.token.text == text:
            self.at += 1
            return True
        return False

    def statement(self) -> Statement:
        self.expect("select")
        columns = [self.column()]
        while self.symbol(","):
            columns.append(self.column())
        if self.ended():
            raise _SyntaxError({"clause": "from"})
        self.expect("from")
        module = self.take()
        if module.kind != "name" or module.keyword or "." in module.text:
            raise self.fail(module)
        where = self.expression() if self.accept("where") else None
        order: list[tuple[str, bool]] = []
        if self.accept("order"):
            self.expect("by")
            order.append(self.ordering())
            while self.symbol(","):
                order.append(self.ordering())
        limit, offset = self.paging()
        self.symbol(";")
        if not self.ended():
            raise self.fail()
        if where is None:
            raise _SyntaxError({"clause": "where"})
        return Statement(tuple(columns), module.text, where, tuple(order), limit, offset)

    def column(self) -> str:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind != "name" or token.keyword:
            raise self.fail(token)
        return token.text

    def ordering(self) -> tuple[str, bool]:
        column = self.column()
        if self.accept("desc"):
            return column, True
        self.accept("asc")
        return column, False

    def paging(self) -> tuple[int | None, int | None]:
        limit = offset = None
        if self.accept("limit"):
            limit = self.whole()
            if self.symbol(","):
                offset, limit = limit, self.whole()
                if self.token.keyword == "offset":
                    raise self.fail()
        if self.accept("offset"):
            offset = self.whole()
        return limit, offset

    def whole(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)

    def expression(self) -> Expression:
        """Two operands at most per level: a third criterion needs parentheses."""
        left = self.operand()
        connective = self.token.keyword
        if connective not in ("and", "or"):
            return left
        self.at += 1
        return Node(connective, left, self.operand())  # a third criterion fails where it stands

    def operand(self) -> Expression:
        if self.symbol("("):
            inner = self.expression()
            if not self.symbol(")"):
                raise self.fail()
            return inner
        start = self.token
        column = self.column()
        return Leaf(column, *self.comparison(), at=start)

    def comparison(self) -> tuple[str, tuple[Value, ...]]:
        token = self.token
        if token.kind == "symbol" and token.text in ("=", "!=", "<", "<=", ">", ">="):
            self.at += 1
            return token.text, (self.value(),)
        if self.accept("is"):
            negated = self.accept("not")
            self.expect("null")
            return ("is not null" if negated else "is null"), ()
        negated = self.accept("not")
        prefix = "not " if negated else ""
        if self.accept("between"):
            low = self.value()
            self.expect("and")
            return prefix + "between", (low, self.value())
        if self.accept("in"):
            if not self.symbol("("):
                raise self.fail()
            values = [self.value()]
            while self.symbol(","):
                values.append(self.value())
            if not self.symbol(")"):
                raise self.fail()
            return prefix + "in", tuple(values)
        if self.accept("like"):
            return prefix + "like", (self.value(),)
        raise self.fail()

    def value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return Value(_unquote(token.text), quoted=True)
        if token.kind == "number" or (token.kind == "name" and not token.keyword):
            return Value(token.text, quoted=False)
        raise self.fail(token)


def _unquote(text: str) -> str:
    return _ESCAPE.sub(r"\1", text[1:-1])


# -- planning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One key of the answer's records: the path read and the field it ends at."""

    key: str
    path: str
    field: Field
    names: tuple[str, ...] = ()
    """For a lookup shown with its display name (v7+): the paths the name is made of."""


@dataclass(frozen=True)
class Plan:
    """A checked query: what to read, how to filter and order it, which page."""

    module: str
    columns: tuple[Column, ...]
    where: crit.Criteria
    order: tuple[tuple[str, bool], ...]
    offset: int
    count: int


_TEXT_COMPARATORS = ("=", "!=", "like", "not like", "in", "not in", "is null", "is not null")
_RANGE_COMPARATORS = (
    *("=", "!=", ">=", ">", "<=", "<", "between", "not between"),
    *("in", "not in", "is null", "is not null"),
)
_COMPARATORS: Mapping[str, tuple[str, ...]] = {
    crit.TEXT: _TEXT_COMPARATORS,
    crit.MULTI: _TEXT_COMPARATORS,
    crit.NUMBER: _RANGE_COMPARATORS,
    crit.DATE: _RANGE_COMPARATORS,
    crit.DATETIME: _RANGE_COMPARATORS,
    crit.BOOLEAN: ("=",),
    crit.LOOKUP: ("=", "!=", "in", "not in", "is null", "is not null"),
}
"""Zoho's "Field Types and their Comparators": text and picklists, lookups, dates/date-times/
numbers (formulas and rollup summaries by their return type), booleans."""
_BULK_NAMES: Mapping[str, str] = {
    "=": "equal",
    "!=": "not_equal",
    "<": "less_than",
    "<=": "less_equal",
    ">": "greater_than",
    ">=": "greater_equal",
    "between": "between",
    "not between": "not_between",
    "in": "in",
    "not in": "not_in",
}


def module_of(modules: Mapping[str, Module], statement: Statement) -> Module | ApiError:
    """The module of FROM (any case), or INVALID_QUERY when COQL cannot read it."""
    wanted = statement.module.lower()
    found = next((m for name, m in modules.items() if name.lower() == wanted), None)
    if found is None:
        return _invalid(
            _INVALID_QUERY_FORMED,
            module=statement.module,
            clause="from",
            reason="the module name given seems to be invalid",
        )
    if not (found.api_supported and found.fields):
        return _invalid(
            _INVALID_QUERY_FORMED,
            module=found.api_name,
            clause="from",
            reason="the module is not supported",
        )
    return found


def plan(
    dataset: Dataset, version: ApiVersion, statement: Statement, module: Module
) -> Plan | ApiError:
    """Check a statement against the catalog and the version's limits, in the order Zoho
    appears to: SELECT, relations, formula fields, WHERE, ORDER BY, then paging."""
    try:
        return _Planner(dataset, version, module).plan(statement)
    except _Refused as refused:
        return refused.error


class _Refused(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.code)
        self.error = error


class _Planner:
    def __init__(self, dataset: Dataset, version: ApiVersion, module: Module) -> None:
        self.dataset = dataset
        self.version = version
        self.module = module
        self.limits = limits(version)
        self.relations: set[str] = set()
        self.criteria = 0

    def plan(self, statement: Statement) -> Plan:
        limit = self.limits
        if len(statement.columns) > limit.select_fields:
            raise _Refused(_exceeded("select_columns", limit.select_fields))
        columns: dict[str, Column] = {}
        for text in statement.columns:
            path, field = self.resolve(text, "select")
            if field.data_type in NOT_SUPPORTED:
                raise _Refused(_bad_type(text, field, "select"))
            if path in columns:
                raise _Refused(_duplicate(text, "select"))
            columns[path] = Column(path, path, field, self.display_paths(path, field))
        dynamic = sum(1 for c in columns.values() if c.field.dynamic)
        if dynamic > MAX_DYNAMIC_FORMULAS:
            raise _Refused(_exceeded("dynamic_formula_fields", MAX_DYNAMIC_FORMULAS))
        where = self.condition(statement.where)
        order = self.order(statement.order)
        count = DEFAULT_LIMIT if statement.limit is None else statement.limit
        offset = statement.offset or 0
        if count > limit.per_call:
            raise _Refused(_exceeded("limit", limit.per_call))
        if count < 1:
            raise _Refused(_syntax({"clause": "limit"}))
        if offset + count > limit.reach:
            raise _Refused(_exceeded("offset", limit.reach))
        return Plan(self.module.api_name, tuple(columns.values()), where, order, offset, count)

    def resolve(self, text: str, clause: str) -> tuple[str, Field]:
        """The canonical path of a field as written and the field it ends at."""
        parts = text.split(".")
        if len(parts) > MAX_RELATIONS_PER_FIELD + 1:
            raise _Refused(_exceeded("relations", MAX_RELATIONS_PER_FIELD))
        module: Module | None = self.module
        names: list[str] = []
        field: Field | None = None
        for position, part in enumerate(parts):
            if module is None:  # the field before is no lookup to a module
                raise _Refused(_bad_column(text, clause))
            field = _field(module, part)
            if field is None:
                raise _Refused(_bad_column(text, clause))
            names.append(field.api_name)
            module = None
            if field.data_type == "lookup":
                module = self.dataset.modules.get(field.lookup_module or "")
            elif field.data_type in LOOKUP_TYPES and position == len(parts) - 2:
                field = next((f for f in USER_FIELDS if f.api_name == parts[-1]), None)
                if field is None:
                    raise _Refused(_bad_column(text, clause))
                names.append(field.api_name)
                break
        assert field is not None  # parts is never empty
        for end in range(1, len(names)):
            self.relations.add(".".join(names[:end]))
        if len(self.relations) > self.limits.relations:
            raise _Refused(_exceeded("relations", self.limits.relations))
        return ".".join(names), field

    def display_paths(self, path: str, field: Field) -> tuple[str, ...]:
        """What a lookup's `name` is made of, from v7 on (Zoho: "display name is available for
        Lookup and User Lookup fields"; a user's is their last name). None for dotted paths."""
        if self.version.major < 7 or "." in path or field.data_type not in LOOKUP_TYPES:
            return ()
        if field.data_type != "lookup":
            return (f"{path}.last_name",)
        target = self.dataset.modules.get(field.lookup_module or "")
        return tuple(f"{path}.{name}" for name in display_fields(target)) if target else ()

    def condition(self, node: Expression) -> crit.Criteria:
        if isinstance(node, Node):
            members = (self.condition(node.left), self.condition(node.right))
            return crit.Group(node.operator, members)
        self.criteria += 1
        if self.criteria > MAX_CRITERIA:
            raise _Refused(_exceeded("criteria", MAX_CRITERIA))
        path, field = self.resolve(node.column, "where")
        kind = crit.kind_of(field)  # None for multi-line fields, which criteria cannot use
        if field.data_type in NOT_SUPPORTED or kind is None:
            raise _Refused(_bad_type(node.column, field, "where"))
        if node.comparator not in _COMPARATORS[kind]:
            raise _Refused(
                _invalid(
                    _INVALID_QUERY_FORMED,
                    column_name=node.column,
                    operator=node.comparator,
                    clause="where",
                )
            )
        if len(node.values) > self.limits.in_values:
            raise _Refused(_exceeded("in_values", self.limits.in_values))
        comparator, value = self.operand(node, field, kind)
        built = crit.condition(path, field, kind, comparator, value, offset=self.dataset.offsets[0])
        if isinstance(built, crit.QueryError):
            raise _Refused(_bad_value(node.column, field))
        return built

    def operand(self, node: Leaf, field: Field, kind: str) -> tuple[str, object]:
        """The Bulk Read comparator and value that mean what the COQL comparison means."""
        comparator, values = node.comparator, [v.text for v in node.values]
        if comparator in ("is null", "is not null"):
            return ("equal" if comparator == "is null" else "not_equal"), crit.EMPTY
        if comparator.endswith("like"):
            return _pattern(node, field, values[0])
        if kind == crit.BOOLEAN:
            text = values[0].lower()
            if text not in ("true", "false"):
                raise _Refused(_bad_value(node.column, field))
            return "equal", text == "true"
        if kind == crit.MULTI and comparator in ("=", "!="):
            # 'English;German' names the selected values; the data joins them its own way.
            values = [self.dataset.separator.join(values[0].split(";"))]
        bulk = _BULK_NAMES[comparator]
        return bulk, values if bulk in ("in", "not_in", "between", "not_between") else values[0]

    def order(self, order: Sequence[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
        if len(order) > MAX_ORDER_BY:
            raise _Refused(_exceeded("order_by", MAX_ORDER_BY))
        out: dict[str, bool] = {}
        for text, descending in order:
            path, field = self.resolve(text, "order by")
            if field.data_type in NOT_SUPPORTED | NOT_SORTABLE:
                raise _Refused(_bad_type(text, field, "order by"))
            if path in out:
                raise _Refused(_duplicate(text, "order by"))
            out[path] = descending
        return tuple(out.items())


def _field(module: Module, name: str) -> Field | None:
    """A field of the module by API name; `id` in any case."""
    return module.field("id" if name.lower() == "id" else name)


def _pattern(node: Leaf, field: Field, pattern: str) -> tuple[str, str]:
    """`like '%x%'` is contains, `'x%'` starts_with, `'%x'` ends_with, `'x'` equal; `not like`
    works only as not-contains (Zoho: '%' at both ends)."""
    core = pattern.removeprefix("%").removesuffix("%")
    leading, trailing = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > 1
    if not core or "%" in core or (node.comparator == "not like" and not (leading and trailing)):
        raise _Refused(_bad_value(node.column, field))
    if node.comparator == "not like":
        return "not_contains", core
    if leading and trailing:
        return "contains", core
    return ("ends_with" if leading else "starts_with" if trailing else "equal"), core


# -- answering ---------------------------------------------------------------------------------


def execute(dataset: Dataset, plan: Plan, snapshot: Snapshot) -> tuple[int, bytes]:
    """Status and body of the answer: 200 with `data` and `info`, or 204 when nothing matches."""
    indices, more = dataset.select(
        plan.module,
        snapshot=snapshot,
        where=plan.where,
        order=plan.order,
        offset=plan.offset,
        count=plan.count,
    )
    if not indices:
        return 204, b""
    paths = ["id", *(c.path for c in plan.columns)]
    paths += [p for c in plan.columns for p in c.names if p not in paths]
    rows = dataset.rows(plan.module, indices, paths, snapshot)
    at = {path: n for n, path in reversed(list(enumerate(paths)))}
    keys = {c.key: _string(c.key) for c in plan.columns}
    records = []
    for row in rows:
        parts = []
        for column in plan.columns:
            value = row[at[column.path]]
            if column.field.data_type in LOOKUP_TYPES and value is not None:
                name = " ".join(str(v) for p in column.names if (v := row[at[p]]) is not None)
                text = _lookup(str(value), name if column.names else None)
            else:
                text = _json(column.field, value)
            parts.append(f"{keys[column.key]}:{text}")
        if "id" not in keys:
            parts.append(f'"id":{_string(str(row[0]))}')
        records.append("{" + ",".join(parts) + "}")
    info = dumps({"count": len(records), "more_records": more})
    return 200, ('{"data":[' + ",".join(records) + '],"info":' + info + "}").encode()


def _string(text: str) -> str:
    return dumps(text)


def _lookup(record_id: str, name: str | None) -> str:
    if name is None:
        return '{"id":' + _string(record_id) + "}"
    return '{"name":' + _string(name) + ',"id":' + _string(record_id) + "}"


def _json(field: Field, value: object) -> str:
    """A typed value as JSON text the way Zoho's REST and COQL answers type it: numbers of a
    number field keep the exact digits the data holds (Decimals are written as they are)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and field.json_type in ("integer", "double"):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_string(str(v)) for v in value) + "]"
    return _string(value.isoformat() if isinstance(value, datetime | date) else str(value))
