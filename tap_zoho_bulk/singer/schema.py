"""JSON Schema for Zoho CRM modules, built from `settings/fields` metadata.

The schema describes what a Bulk Read CSV can actually carry, not what the REST API returns:
lookups arrive as the bare id, multi-selects as one delimited cell, and some field types are
rejected by Bulk Read altogether. Typing here is what lets the record reader convert each
cell once, with converters chosen from the schema alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tap_zoho_bulk.results.batch import ID_PROPERTY

logger = logging.getLogger(__name__)


#: Data types a Bulk Read job refuses or cannot flatten into one CSV column.
NON_EXPORTABLE_DATA_TYPES = frozenset({"fileupload", "multiselectlookup", "subform"})

#: Composite address parts that settings/fields lists but a Bulk Read job rejects.
NON_EXPORTABLE_FIELD_NAMES = frozenset(
    prefix + base
    for prefix in ("", "Mailing_", "Billing_", "Shipping_")
    for base in ("Address", "Coordinates", "nearby_distance__s")
)

PropertySchema = dict[str, Any]


def _nullable(json_type: str, **extra: Any) -> PropertySchema:
    return {"type": [json_type, "null"], **extra}


def _string() -> PropertySchema:
    return _nullable("string")


def _date() -> PropertySchema:
    return _nullable("string", format="date")


def _datetime() -> PropertySchema:
    return _nullable("string", format="date-time")


def _integer() -> PropertySchema:
    return _nullable("integer")


def _number() -> PropertySchema:
    return _nullable("number")


def _boolean() -> PropertySchema:
    return _nullable("boolean")


def _string_array() -> PropertySchema:
    return _nullable("array", items={"type": "string"})


# Factories rather than shared dicts: callers (the SDK, stream maps) may mutate what they get.
_BY_DATA_TYPE: dict[str, Callable[[], PropertySchema]] = {
    **dict.fromkeys(
        (
            "text",
            "textarea",
            "mediumtext",
            "email",
            "phone",
            "website",
            "picklist",
            "autonumber",
            "profileimage",
            "event_reminder",
            "unknown",
        ),
        _string,
    ),
    # Ids exceed what some targets hold in a JSON integer; keep them as text.
    "bigint": _string,
    "long": _string,
    # Bulk Read writes only the referenced record's id into a lookup column.
    **dict.fromkeys(("lookup", "ownerlookup", "userlookup", "multi_module_lookup"), _string),
    "date": _date,
    "datetime": _datetime,
    "integer": _integer,
    **dict.fromkeys(("double", "currency", "decimal", "percent"), _number),
    "boolean": _boolean,
    "multiselectpicklist": _string_array,
    "multiuserlookup": _string_array,
}

_BY_RETURN_TYPE: dict[str, Callable[[], PropertySchema]] = {
    "text": _string,
    "string": _string,
    **dict.fromkeys(("double", "currency", "decimal", "percent"), _number),
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}

# Computed fields carry their result type in a sub-object named after the data type; their
# values change without Modified_Time (a formula on Now(), a rollup of child records).
COMPUTED_DATA_TYPES = frozenset({"formula", "rollup_summary"})


def computed_fields(fields: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The api_names of a module's formula and rollup-summary fields."""
    return frozenset(
        str(f["api_name"]) for f in fields if _text(f.get("data_type")) in COMPUTED_DATA_TYPES
    )


def property_schema(field: Mapping[str, Any]) -> PropertySchema | None:
    """JSON Schema of one field's CSV column, or None when Bulk Read cannot export it.

    Metadata is taken as found: anything unexpected degrades to a nullable string so that one
    odd custom field never costs the user a whole module.
    """
    if _text(field.get("api_name")) in NON_EXPORTABLE_FIELD_NAMES:
        return None
    data_type = _text(field.get("data_type"))
    if data_type in NON_EXPORTABLE_DATA_TYPES:
        return None
    if data_type in COMPUTED_DATA_TYPES:
        return _computed_schema(field, data_type)
    factory = _BY_DATA_TYPE.get(data_type)
    if factory is None:
        logger.debug(
            "Field %r has unknown data_type %r; typing it as a string.",
            field.get("api_name"),
            field.get("data_type"),
        )
        return _string()
    return factory()


def _text(value: object) -> str:
    """Metadata values as dictionary keys: anything but a string (lists, null) matches nothing."""
    return value if isinstance(value, str) else ""


def _computed_schema(field: Mapping[str, Any], data_type: str) -> PropertySchema:
    details = field.get(data_type)
    return_type = details.get("return_type") if isinstance(details, Mapping) else None
    factory = _BY_RETURN_TYPE.get(_text(return_type))
    if factory is None:
        logger.debug(
            "Field %r (%s) has unknown return_type %r; typing it as a string.",
            field.get("api_name"),
            data_type,
            return_type,
        )
        return _string()
    return factory()


def module_schema(
    fields: Sequence[Mapping[str, Any]], extra_columns: Sequence[str] = ()
) -> dict[str, Any]:
    """Stream schema of a module: `Id`, the exportable fields in metadata order, then extras.

    `extra_columns` are dot-notation lookup columns (`Owner.last_name`) that a job can request
    although settings/fields does not list them; their CSV text is all we know, so they are
    strings.
    """
    properties: dict[str, PropertySchema] = {ID_PROPERTY: {"type": "string"}}
    for field in fields:
        name = field.get("api_name") if isinstance(field, Mapping) else None
        if not isinstance(name, str) or not name:
            logger.debug("Skipping field metadata without an api_name: %r", field)
            continue
        # The metadata's `id` field is the CSV's `Id` column, already first.
        if name in properties or name == "id":
            continue
        schema = property_schema(field)
        if schema is not None:
            properties[name] = schema
    for column in extra_columns:
        properties.setdefault(column, _string())
    return {"type": "object", "properties": properties}
