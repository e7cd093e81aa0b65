"""Bulk Read criteria: Zoho's validation rules and the meaning of every comparator.

`parse` turns a request's criteria into a tree of `Condition`s (leaves) and `Group`s, or into the
`QueryError` Zoho would answer with. Each condition carries a `test` over a *key*: the record
value reduced to something cheap to compare (see `key_of`), so the data engine can evaluate a
condition once per pool entry and once per record time rather than once per record and field.

Semantics chosen where Zoho does not document them (tests pin them down):
- text comparisons ignore case, as Zoho's searches do;
- a negated comparator (`not_equal`, `not_in`, `not_contains`, `not_between`) is the exact
  complement of its positive form, so it matches records whose value is empty;
- ordering comparators (`less_than`, `between`, ...) never match an empty value;
- `${EMPTY}` matches an empty value with `equal`/`in` and a non-empty one with `not_equal`;
- multi-select fields compare as their joined text, except `in`/`not_in`, which ask whether any
  selected value is (not) in the list;
- datetimes compare as instants whatever their offsets; a value without offset is read in the
  dataset's own offset.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import LOOKUP_TYPES, NUMBER_TYPES, Field

EMPTY = "${EMPTY}"
MAX_CONDITIONS = 25
MAX_TEXT_VALUE = 255

NUMBER, TEXT, MULTI, DATE, DATETIME, BOOLEAN, LOOKUP = (
    "number",
    "text",
    "multiselect",
    "date",
    "datetime",
    "boolean",
    "lookup",
)
_ORDERING = ("less_than", "less_equal", "greater_than", "greater_equal")
_SET = ("equal", "not_equal", "in", "not_in")
COMPARATORS: Mapping[str, tuple[str, ...]] = {
    NUMBER: (*_SET, *_ORDERING),
    TEXT: (*_SET, "contains", "not_contains", "starts_with", "ends_with"),
    MULTI: (*_SET, "contains", "not_contains", "starts_with", "ends_with"),
    DATE: (*_SET, "between", "not_between", *_ORDERING),
    DATETIME: (*_SET, "between", "not_between", *_ORDERING),
    BOOLEAN: ("equal",),
    LOOKUP: _SET,
}
"""Comparators Bulk Read allows per kind of field (reference §4.3 table)."""

_TEXT_TYPES = frozenset(
    {"text", "email", "phone", "website", "picklist", "autonumber", "mediumtext"}
)
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class QueryError:
    """A bulk-read request Zoho refuses, with the pieces of its error envelope."""

    status: int
    code: str
    message: str
    details: dict[str, object]

    def body(self) -> dict[str, object]:
        """The JSON envelope Zoho answers with."""
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


def error(code: str, message: str, **details: object) -> QueryError:
    """A 400 validation error (every bulk-read query error is a 400)."""
    return QueryError(400, code, message, dict(details))


def kind_of(field: Field) -> str | None:
    """How a field compares in criteria; None if Bulk Read refuses criteria on it."""
    data_type = field.value_type
    if field.api_name == "id" or data_type in NUMBER_TYPES:
        return NUMBER
    if data_type in _TEXT_TYPES:
        return TEXT
    if data_type in LOOKUP_TYPES:
        return LOOKUP
    return {
        "multiselectpicklist": MULTI,
        "date": DATE,
        "datetime": DATETIME,
        "boolean": BOOLEAN,
    }.get(data_type)


def key_of(kind: str, value: object, separator: str = ";") -> object:
    """The comparable key of a typed record value (None stays None)."""
    if value is None:
        return None
    if kind == TEXT:
        return str(value).casefold()
    if kind == MULTI:
        assert isinstance(value, list)
        return (separator.join(value).casefold(), frozenset(v.casefold() for v in value))
    if kind == DATETIME:
        assert isinstance(value, datetime)
        return epoch_of(value)
    if kind == DATE:
        assert isinstance(value, date)
        return value.toordinal()
    if kind == NUMBER:
        return value if isinstance(value, (int, Decimal)) else Decimal(str(value))
    return value  # booleans and lookup ids compare as they are


def epoch_of(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(seconds=1)


Test = Callable[[object], bool]


@dataclass(frozen=True)
class Condition:
    """One leaf: `test(key)` says whether a record whose `api_name` has that key matches."""

    api_name: str
    field: Field
    kind: str
    comparator: str
    test: Test


@dataclass(frozen=True)
class Group:
    operator: str  # "and" | "or"
    members: tuple[Condition | Group, ...]


Criteria = Condition | Group


def evaluate(criteria: Criteria, key: Callable[[Condition], object]) -> bool:
    """Evaluate the tree for one record, given how to get a condition's key for that record."""
    if isinstance(criteria, Condition):
        return criteria.test(key(criteria))
    results = (evaluate(member, key) for member in criteria.members)
    return all(results) if criteria.operator == "and" else any(results)


def conditions(criteria: Criteria) -> Iterator[Condition]:
    """Every leaf of the tree, left to right."""
    if isinstance(criteria, Condition):
        yield criteria
        return
    for member in criteria.members:
        yield from conditions(member)


def parse(
    criteria: object,
    resolve: Callable[[str], Field | None],
    *,
    offset: int,
    separator: str = ";",
) -> Criteria | QueryError:
    """Validate a request's criteria the way Zoho does and compile it.

    `resolve` maps an api_name (possibly dotted) to the field it denotes, or None when unknown.
    `offset` (seconds) is how datetimes without an offset are read.
    """
    count = _count_leaves(criteria)
    if isinstance(count, QueryError):
        return count
    if count > MAX_CONDITIONS:
        return error(
            "CRITERIA_LIMIT_EXCEEDED",
            f"the number of criteria exceeds the maximum of {MAX_CONDITIONS}",
            limit=MAX_CONDITIONS,
        )
    return _Parser(resolve, timezone(timedelta(seconds=offset)), separator).node(criteria)


def _count_leaves(node: object) -> int | QueryError:
    if not isinstance(node, Mapping):
        return error("INVALID_CRITERIA", "criteria must be an object")
    if "group" not in node:
        return 1
    members = node["group"]
    if not isinstance(members, list) or not members:
        return error("INVALID_CRITERIA", "group must be a non-empty array")
    total = 0
    for member in members:
        count = _count_leaves(member)
        if isinstance(count, QueryError):
            return count
        total += count
    return total


class _Parser:
    def __init__(
        self, resolve: Callable[[str], Field | None], tz: timezone, separator: str
    ) -> None:
        self.resolve = resolve
        self.tz = tz
        self.separator = separator

    def node(self, node: object) -> Criteria | QueryError:
        assert isinstance(node, Mapping)  # _count_leaves has checked the shape
        if "group" in node:
            return self.group(node)
        return self.leaf(node)

    def group(self, node: Mapping[str, object]) -> Criteria | QueryError:
        operator = node.get("group_operator")
        if operator is None:
            return error("INVALID_CRITERIA", "group_operator is missing")
        if not isinstance(operator, str) or operator.lower() not in {"and", "or"}:
            return error(
                "GROUP_OPERATOR_NOT_SUPPORTED",
                "the given group operator is not supported",
                group_operator=operator,
            )
        members = []
        group = node["group"]
        assert isinstance(group, list)
        for member in group:
            parsed = self.node(member)
            if isinstance(parsed, QueryError):
                return parsed
            members.append(parsed)
        return Group(operator.lower(), tuple(members))

    def leaf(self, node: Mapping[str, object]) -> Criteria | QueryError:
        ref = node.get("field")
        api_name = ref.get("api_name") if isinstance(ref, Mapping) else node.get("api_name")
        if not isinstance(api_name, str):
            return error("INVALID_CRITERIA", "a criterion needs field.api_name or api_name")
        if "comparator" not in node or "value" not in node:
            return error(
                "INVALID_CRITERIA", "a criterion needs a comparator and a value", api_name=api_name
            )
        field = self.resolve(api_name)
        if field is None:
            return error(
                "FIELD_IN_CRITERIA_NOT_AVAILABLE",
                "the given field is not available for criteria",
                api_name=api_name,
            )
        kind = kind_of(field) if field.bulk_exportable else None
        if kind is None:
            return error(
                "FIELD_IN_CRITERIA_NOT_SUPPORTED",
                "criteria on this field type is not supported",
                api_name=api_name,
            )
        comparator = node["comparator"]
        if not isinstance(comparator, str) or comparator not in COMPARATORS[kind]:
            return error(
                "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
                "the given comparator is not supported for this field",
                comparator=comparator,
                api_name=api_name,
                supported=list(COMPARATORS[kind]),
            )
        test = self.test(api_name, field, kind, comparator, node["value"])
        if isinstance(test, QueryError):
            return test
        return Condition(api_name, field, kind, comparator, test)

    def test(
        self, api_name: str, field: Field, kind: str, comparator: str, value: object
    ) -> Test | QueryError:
        def mismatch() -> QueryError:
            return error(
                "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
                "the value does not suit the comparator",
                api_name=api_name,
                comparator=comparator,
            )

        if comparator in {"in", "not_in"}:
            if not isinstance(value, list) or not value:
                return mismatch()
            operands = [self.operand(api_name, field, kind, v, allow_empty=True) for v in value]
            bad = next((o for o in operands if isinstance(o, QueryError)), None)
            return bad or _membership(kind, operands, negate=comparator == "not_in")
        if comparator in {"between", "not_between"}:
            if not isinstance(value, list) or len(value) != 2 or EMPTY in value:
                return mismatch()
            low = self.operand(api_name, field, kind, value[0], allow_empty=False)
            high = self.operand(api_name, field, kind, value[1], allow_empty=False)
            if isinstance(low, QueryError):
                return low
            if isinstance(high, QueryError):
                return high
            return _between(low, high, negate=comparator == "not_between")
        if isinstance(value, list):
            return mismatch()
        if value == EMPTY and comparator not in {"equal", "not_equal"}:
            return mismatch()
        operand = self.operand(api_name, field, kind, value, allow_empty=True)
        if isinstance(operand, QueryError):
            return operand
        return _scalar(kind, comparator, operand)

    def operand(
        self, api_name: str, field: Field, kind: str, value: object, *, allow_empty: bool
    ) -> object:
        """The criteria value as a key comparable with `key_of`, `EMPTY` kept as is."""

        def incompatible() -> QueryError:
            return error(
                "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
                f"the value given is not a valid {field.value_type} value",
                api_name=api_name,
                expected_data_type=field.value_type,
            )

        if value == EMPTY and allow_empty and kind != BOOLEAN:
            return EMPTY
        if kind == BOOLEAN:
            return value if isinstance(value, bool) else incompatible()
        if kind in {TEXT, MULTI}:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                return incompatible()
            text = str(value)
            if len(text) > MAX_TEXT_VALUE:
                return error(
                    "VALUE_LIMIT_EXCEEDED_IN_CRITERIA",
                    f"criteria values are limited to {MAX_TEXT_VALUE} characters",
                    api_name=api_name,
                )
            return text.casefold()
        if kind == NUMBER:
            number = _number(value)
            if number is None or (field.value_type == "bigint" and len(str(abs(number))) > 19):
                return incompatible()
            return number
        if kind == LOOKUP:
            number = _number(value)
            if number is None or number != number.to_integral_value() or number < 0:
                return incompatible()
            return str(int(number))
        if kind == DATE:
            if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
                return incompatible()
            try:
                return date.fromisoformat(value).toordinal()
            except ValueError:
                return incompatible()
        instant = self.instant(value)
        return incompatible() if instant is None else instant

    def instant(self, value: object) -> int | None:
        """Epoch seconds of an ISO-8601 datetime; None if malformed or sub-second."""
        if not isinstance(value, str):
            return None
        match = _DATETIME_RE.fullmatch(value)
        if match is None or match.group(7) is not None:  # Zoho rejects milliseconds
            return None
        year, month, day, hour, minute, second = (int(match.group(n)) for n in range(1, 7))
        suffix = match.group(8)
        if suffix is None:
            tz = self.tz
        elif suffix == "Z":
            tz = timezone.utc
        else:
            sign = -1 if suffix[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(suffix[1:3]), minutes=int(suffix[4:6])))
        try:
            return epoch_of(datetime(year, month, day, hour, minute, second, tzinfo=tz))
        except ValueError:
            return None


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _membership(kind: str, operands: Sequence[object], *, negate: bool) -> Test:
    wants_empty = EMPTY in operands
    wanted = frozenset(o for o in operands if o != EMPTY)
    if kind == MULTI:

        def positive(key: object) -> bool:
            if key is None:
                return wants_empty
            assert isinstance(key, tuple)
            return not wanted.isdisjoint(key[1])

    else:

        def positive(key: object) -> bool:
            return wants_empty if key is None else key in wanted

    if negate:
        return lambda key: not positive(key)
    return positive


def _between(low: object, high: object, *, negate: bool) -> Test:
    def positive(key: object) -> bool:
        return key is not None and low <= key <= high  # type: ignore[operator]

    if negate:
        return lambda key: not positive(key)
    return positive


def _scalar(kind: str, comparator: str, operand: object) -> Test:
    if operand == EMPTY:
        if comparator == "equal":
            return lambda key: key is None
        return lambda key: key is not None
    negate = comparator.startswith("not_")
    positive = _positive(kind, comparator.removeprefix("not_"), operand)
    if negate:
        return lambda key: not positive(key)
    return positive


def _positive(kind: str, comparator: str, operand: object) -> Test:
    if kind == MULTI:
        text_test = _positive(TEXT, comparator, operand)
        return lambda key: key is not None and text_test(key[0])  # type: ignore[index]
    if comparator == "equal":
        return lambda key: key is not None and key == operand
    if comparator in {"contains", "starts_with", "ends_with"}:
        assert isinstance(operand, str)
        method = {
            "contains": str.__contains__,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
        }[comparator]
        return lambda key: key is not None and method(key, operand)  # type: ignore[arg-type]
    compare: Callable[[Any, Any], bool] = {
        "less_than": operator.lt,
        "less_equal": operator.le,
        "greater_than": operator.gt,
        "greater_equal": operator.ge,
    }[comparator]
    return lambda key: key is not None and compare(key, operand)
