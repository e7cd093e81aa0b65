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
  dataset's own offset; `Z` means UTC.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import LOOKUP_TYPES, NUMBER_TYPES, Field

EMPTY = "${EMPTY}"
MAX_CONDITIONS = 25
MAX_TEXT_VALUE = 255
MAX_BIGINT_DIGITS = 19

NUMBER, TEXT, MULTI, DATE, DATETIME, BOOLEAN, LOOKUP = (
    "number",
    "text",
    "multiselect",
    "date",
    "datetime",
    "boolean",
    "lookup",
)
_EARLIER = ("less_than", "less_equal")
_LATER = ("greater_than", "greater_equal")
_ORDERING = (*_EARLIER, *_LATER)
_SET = ("equal", "not_equal", "in", "not_in")
_TEXTUAL = ("contains", "not_contains", "starts_with", "ends_with")
COMPARATORS: Mapping[str, tuple[str, ...]] = {
    NUMBER: (*_SET, *_ORDERING),
    TEXT: (*_SET, *_TEXTUAL),
    MULTI: (*_SET, *_TEXTUAL),
    DATE: (*_SET, "between", "not_between", *_LATER, *_EARLIER),
    DATETIME: (*_SET, "between", "not_between", *_LATER, *_EARLIER),
    BOOLEAN: ("equal",),
    LOOKUP: _SET,
}
"""Comparators Bulk Read allows per kind of field, in the reference's §4.3 table order (which is
what an error's `details.supported` lists)."""

_KINDS: Mapping[str, str] = {
    **dict.fromkeys(NUMBER_TYPES, NUMBER),
    **dict.fromkeys(("text", "email", "phone", "website", "picklist", "autonumber"), TEXT),
    **dict.fromkeys(LOOKUP_TYPES, LOOKUP),
    "multiselectpicklist": MULTI,
    "date": DATE,
    "datetime": DATETIME,
    "boolean": BOOLEAN,
}
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    if field.api_name == "id":
        return NUMBER
    return _KINDS.get(field.value_type)


def epoch_of(value: datetime) -> int:
    """Whole seconds since the epoch of an aware datetime."""
    return (value - _EPOCH) // timedelta(seconds=1)


_KEYS: Mapping[str, Callable[[Any, str], object]] = {
    NUMBER: lambda v, _s: v if isinstance(v, (int, Decimal)) else Decimal(v),  # ids are str
    TEXT: lambda v, _s: str(v).casefold(),
    MULTI: lambda v, s: (s.join(v).casefold(), frozenset(x.casefold() for x in v)),
    DATETIME: lambda v, _s: epoch_of(v),
    DATE: lambda v, _s: v.toordinal(),
}


def key_of(kind: str, value: object, separator: str = ";") -> object:
    """The comparable key of a typed record value (None stays None).

    Numbers are int or Decimal (record ids, which are strings, become numbers); booleans and
    lookup ids are their own keys; text is case-folded; a multi-select is (joined text, set of
    values); dates are ordinals and datetimes epoch seconds.
    """
    if value is None:
        return None
    convert = _KEYS.get(kind)
    return value if convert is None else convert(value, separator)


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


class _Refused(Exception):
    """Carries the QueryError out of the recursive descent."""

    def __init__(self, refusal: QueryError) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


def parse(
    criteria: object,
    resolve: Callable[[str], Field | None],
    *,
    offset: int,
    separator: str = ";",
) -> Criteria | QueryError:
    """Validate a request's criteria the way Zoho does and compile it.

    `resolve` maps an api_name (possibly dotted) to the field it denotes, or None when unknown.
    `offset` (seconds) is how datetimes without an offset are read. The number of conditions is
    checked before anything else, as a cheap guard against huge trees.
    """
    try:
        if _count_leaves(criteria) > MAX_CONDITIONS:
            return error(
                "CRITERIA_LIMIT_EXCEEDED",
                f"the number of criteria exceeds the maximum of {MAX_CONDITIONS}",
                limit=MAX_CONDITIONS,
            )
        return _Parser(resolve, timezone(timedelta(seconds=offset))).node(criteria)
    except _Refused as refused:
        return refused.refusal


def condition(
    api_name: str,
    field: Field,
    kind: str,
    comparator: str,
    value: object,
    *,
    offset: int,
) -> Condition | QueryError:
    """One leaf built without Bulk Read's per-kind comparator table (COQL has its own): the
    value is checked and keyed exactly as `parse` does, `EMPTY` meaning an empty value."""
    tz = timezone(timedelta(seconds=offset))
    try:
        test = _Operands(api_name, field, kind, comparator, tz).test(value)
    except _Refused as refused:
        return refused.refusal
    return Condition(api_name, field, kind, comparator, test)


def _count_leaves(node: object) -> int:
    if not isinstance(node, Mapping):
        raise _Refused(error("INVALID_CRITERIA", "criteria must be an object"))
    if "group" not in node:
        return 1
    members = node["group"]
    if not isinstance(members, list) or not members:
        raise _Refused(error("INVALID_CRITERIA", "group must be a non-empty array"))
    return sum(_count_leaves(member) for member in members)


class _Parser:
    def __init__(self, resolve: Callable[[str], Field | None], tz: timezone) -> None:
        self.resolve = resolve
        self.tz = tz

    def node(self, node: Any) -> Criteria:
        """`node` has the shape `_count_leaves` checked: a mapping, groups non-empty lists."""
        return self.group(node) if "group" in node else self.leaf(node)

    def group(self, node: Mapping[str, Any]) -> Group:
        operator_name = node.get("group_operator")
        if operator_name is None:
            raise _Refused(error("INVALID_CRITERIA", "group_operator is missing"))
        if not isinstance(operator_name, str) or operator_name.lower() not in {"and", "or"}:
            raise _Refused(
                error(
                    "GROUP_OPERATOR_NOT_SUPPORTED",
                    "the given group operator is not supported",
                    group_operator=operator_name,
                )
            )
        return Group(operator_name.lower(), tuple(self.node(m) for m in node["group"]))

    def leaf(self, node: Mapping[str, object]) -> Condition:
        ref = node.get("field")
        api_name = ref.get("api_name") if isinstance(ref, Mapping) else node.get("api_name")
        if not isinstance(api_name, str):
            raise _Refused(error("INVALID_CRITERIA", "a criterion needs field.api_name"))
        if "comparator" not in node or "value" not in node:
            raise _Refused(
                error(
                    "INVALID_CRITERIA",
                    "a criterion needs a comparator and a value",
                    api_name=api_name,
                )
            )
        field = self.resolve(api_name)
        if field is None:
            raise _Refused(
                error(
                    "FIELD_IN_CRITERIA_NOT_AVAILABLE",
                    "the given field is not available for criteria",
                    api_name=api_name,
                )
            )
        kind = kind_of(field) if field.bulk_exportable else None
        if kind is None:
            raise _Refused(
                error(
                    "FIELD_IN_CRITERIA_NOT_SUPPORTED",
                    "criteria on this field type is not supported",
                    api_name=api_name,
                )
            )
        comparator = node["comparator"]
        if not isinstance(comparator, str) or comparator not in COMPARATORS[kind]:
            raise _Refused(
                error(
                    "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
                    "the given comparator is not supported for this field",
                    comparator=comparator,
                    api_name=api_name,
                    supported=list(COMPARATORS[kind]),
                )
            )
        operands = _Operands(api_name, field, kind, comparator, self.tz)
        return Condition(api_name, field, kind, comparator, operands.test(node["value"]))


class _Operands:
    """Turns one condition's value into keys and its comparator into a test over keys."""

    def __init__(
        self, api_name: str, field: Field, kind: str, comparator: str, tz: timezone
    ) -> None:
        self.api_name = api_name
        self.field = field
        self.kind = kind
        self.comparator = comparator
        self.tz = tz

    def test(self, value: object) -> Test:
        comparator = self.comparator
        if comparator in {"in", "not_in"}:
            if not isinstance(value, list) or not value:
                raise self.mismatch()
            keys = [self.key(v, allow_empty=True) for v in value]
            return _negated(_membership(self.kind, keys), comparator == "not_in")
        if comparator in {"between", "not_between"}:
            if not isinstance(value, list) or len(value) != 2 or EMPTY in value:
                raise self.mismatch()
            low, high = (self.key(v, allow_empty=False) for v in value)
            return _negated(_between(low, high), comparator == "not_between")
        if isinstance(value, list) or (value == EMPTY and comparator not in _SET):
            raise self.mismatch()
        key = self.key(value, allow_empty=True)
        if key == EMPTY:
            return _empty(comparator == "equal")
        base = comparator.removeprefix("not_")
        return _negated(_positive(self.kind, base, key), base != comparator)

    def mismatch(self) -> _Refused:
        return _Refused(
            error(
                "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
                "the value does not suit the comparator",
                api_name=self.api_name,
                comparator=self.comparator,
            )
        )

    def incompatible(self) -> _Refused:
        return _Refused(
            error(
                "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
                f"the value given is not a valid {self.field.value_type} value",
                api_name=self.api_name,
                expected_data_type=self.field.value_type,
            )
        )

    def key(self, value: object, *, allow_empty: bool) -> object:
        """The criteria value as a key comparable with `key_of`'s, `EMPTY` kept as is."""
        if value == EMPTY and allow_empty and self.kind != BOOLEAN:
            return EMPTY
        key = getattr(self, f"_{self.kind}")(value)
        if key is None:
            raise self.incompatible()
        return key

    def _boolean(self, value: object) -> bool | None:
        return value if isinstance(value, bool) else None

    def _text(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        if len(str(value)) > MAX_TEXT_VALUE:
            raise _Refused(
                error(
                    "VALUE_LIMIT_EXCEEDED_IN_CRITERIA",
                    f"criteria values are limited to {MAX_TEXT_VALUE} characters",
                    api_name=self.api_name,
                )
            )
        return str(value).casefold()

    _multiselect = _text

    def _number(self, value: object) -> Decimal | None:
        number = _decimal(value)
        too_long = (
            self.field.value_type == "bigint"
            and number is not None
            and (len(str(abs(number.to_integral_value()))) > MAX_BIGINT_DIGITS)
        )
        return None if too_long else number

    def _lookup(self, value: object) -> str | None:
        number = _decimal(value)
        if number is None or number != number.to_integral_value() or number < 0:
            return None
        return str(int(number))

    def _date(self, value: object) -> int | None:
        if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
            return None
        try:
            return date.fromisoformat(value).toordinal()
        except ValueError:
            return None

    def _datetime(self, value: object) -> int | None:
        """Epoch seconds; None if malformed or sub-second (Zoho rejects milliseconds)."""
        match = _DATETIME_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None or match.group(7) is not None:
            return None
        suffix = match.group(8)
        tz = self.tz
        if suffix == "Z":
            tz = UTC
        elif suffix is not None:
            sign = -1 if suffix[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(suffix[1:3]), minutes=int(suffix[4:6])))
        try:
            year, month, day, hour, minute, second = (int(match.group(n)) for n in range(1, 7))
            moment = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            return None
        return epoch_of(moment)


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _negated(test: Test, negate: bool) -> Test:
    return (lambda key: not test(key)) if negate else test


def _empty(wanted: bool) -> Test:
    """`${EMPTY}`: equal matches empty values, not_equal the others."""
    return (lambda key: key is None) if wanted else (lambda key: key is not None)


def _membership(kind: str, keys: Sequence[object]) -> Callable[[Any], bool]:
    wants_empty = EMPTY in keys
    wanted = frozenset(k for k in keys if k != EMPTY)
    if kind == MULTI:
        return lambda key: wants_empty if key is None else not wanted.isdisjoint(key[1])
    return lambda key: wants_empty if key is None else key in wanted


def _between(low: Any, high: Any) -> Callable[[Any], bool]:
    return lambda key: key is not None and low <= key <= high


_TEXT_TESTS: Mapping[str, Callable[[str, str], bool]] = {
    "equal": operator.eq,
    "contains": operator.contains,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
}
_ORDER_TESTS: Mapping[str, Callable[[Any, Any], bool]] = {
    "equal": operator.eq,
    "less_than": operator.lt,
    "less_equal": operator.le,
    "greater_than": operator.gt,
    "greater_equal": operator.ge,
}


def _positive(kind: str, comparator: str, operand: Any) -> Callable[[Any], bool]:
    """The test of a non-negated, non-empty scalar comparison."""
    if kind == MULTI:
        compare_text = _TEXT_TESTS[comparator]
        return lambda key: key is not None and compare_text(key[0], operand)
    compare = _TEXT_TESTS[comparator] if kind == TEXT else _ORDER_TESTS[comparator]
    return lambda key: key is not None and compare(key, operand)
