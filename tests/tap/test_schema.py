"""Zoho field metadata to JSON Schema: every data type, what Bulk Read cannot export, odd input."""

from __future__ import annotations

import logging

import pytest

from tap_zoho_bulk.singer.schema import module_schema, property_schema

STRING = {"type": ["string", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}
DATETIME = {"type": ["string", "null"], "format": "date-time"}
INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOLEAN = {"type": ["boolean", "null"]}
STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        ("text", STRING),
        ("textarea", STRING),
        ("mediumtext", STRING),
        ("email", STRING),
        ("phone", STRING),
        ("website", STRING),
        ("picklist", STRING),
        ("autonumber", STRING),
        ("profileimage", STRING),
        ("event_reminder", STRING),
        ("unknown", STRING),
        ("bigint", STRING),
        ("long", STRING),
        ("lookup", STRING),
        ("ownerlookup", STRING),
        ("userlookup", STRING),
        ("multi_module_lookup", STRING),
        ("date", DATE),
        ("datetime", DATETIME),
        ("integer", INTEGER),
        ("double", NUMBER),
        ("currency", NUMBER),
        ("decimal", NUMBER),
        ("percent", NUMBER),
        ("boolean", BOOLEAN),
        ("multiselectpicklist", STRINGS),
        ("multiuserlookup", STRINGS),
    ],
)
def test_each_data_type_maps_to_its_json_schema(data_type, expected):
    field = {"api_name": "Some_Field", "data_type": data_type, "json_type": "whatever"}
    assert property_schema(field) == expected


@pytest.mark.parametrize(
    ("return_type", "expected"),
    [
        ("text", STRING),
        ("string", STRING),
        ("double", NUMBER),
        ("currency", NUMBER),
        ("decimal", NUMBER),
        ("percent", NUMBER),
        ("integer", INTEGER),
        ("long", INTEGER),
        ("boolean", BOOLEAN),
        ("date", DATE),
        ("datetime", DATETIME),
    ],
)
@pytest.mark.parametrize("data_type", ["formula", "rollup_summary"])
def test_computed_fields_follow_their_return_type(data_type, return_type, expected):
    field = {
        "api_name": "Computed",
        "data_type": data_type,
        data_type: {"return_type": return_type},
    }
    assert property_schema(field) == expected


@pytest.mark.parametrize(
    "details", [None, {}, {"return_type": None}, {"return_type": "hologram"}, "text"]
)
def test_computed_field_without_usable_return_type_is_a_string(details):
    field = {"api_name": "Computed", "data_type": "formula"}
    if details is not None:
        field["formula"] = details
    assert property_schema(field) == STRING


@pytest.mark.parametrize("data_type", ["fileupload", "multiselectlookup", "subform"])
def test_data_types_bulk_read_cannot_export_are_left_out(data_type):
    assert property_schema({"api_name": "Anything", "data_type": data_type}) is None


@pytest.mark.parametrize("prefix", ["", "Mailing_", "Billing_", "Shipping_"])
@pytest.mark.parametrize("base", ["Address", "Coordinates", "nearby_distance__s"])
def test_composite_address_fields_are_left_out(prefix, base):
    assert property_schema({"api_name": prefix + base, "data_type": "text"}) is None


def test_address_parts_that_are_plain_columns_stay():
    assert property_schema({"api_name": "Mailing_Street", "data_type": "text"}) == STRING
    assert property_schema({"api_name": "Billing_Code", "data_type": "text"}) == STRING


@pytest.mark.parametrize(
    "field",
    [
        {"api_name": "Odd", "data_type": "hologram"},
        {"api_name": "Odd"},
        {"api_name": "Odd", "data_type": None},
        {"api_name": "Odd", "data_type": ["text"]},
        {"api_name": "Odd", "data_type": 7, "json_type": None},
    ],
)
def test_unknown_or_missing_data_type_is_a_string_and_logged_at_debug(field, caplog):
    with caplog.at_level(logging.DEBUG, logger="tap_zoho_bulk.singer.schema"):
        assert property_schema(field) == STRING
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "Odd" in caplog.text


def test_module_schema_puts_a_required_id_first_then_metadata_order_then_extras():
    fields = [
        {"api_name": "Owner", "data_type": "ownerlookup"},
        {"api_name": "id", "data_type": "bigint"},
        {"api_name": "Amount", "data_type": "currency"},
        {"api_name": "Attachment", "data_type": "fileupload"},
        {"api_name": "Mailing_Address", "data_type": "address"},
        {"api_name": "Created_Time", "data_type": "datetime"},
    ]
    schema = module_schema(fields, ["Owner.last_name", "Account_Name.Account_Name"])
    assert schema == {
        "type": "object",
        "properties": {
            "Id": {"type": "string"},
            "Owner": STRING,
            "Amount": NUMBER,
            "Created_Time": DATETIME,
            "Owner.last_name": STRING,
            "Account_Name.Account_Name": STRING,
        },
    }
    assert list(schema["properties"]) == [
        "Id",
        "Owner",
        "Amount",
        "Created_Time",
        "Owner.last_name",
        "Account_Name.Account_Name",
    ]


def test_module_schema_survives_odd_metadata():
    fields = [
        {"data_type": "text"},
        {"api_name": "", "data_type": "text"},
        {"api_name": None},
        "not a field",
        None,
        {"api_name": "Name", "data_type": "text"},
        {"api_name": "Name", "data_type": "integer"},
        {"api_name": "Id", "data_type": "text"},
    ]
    schema = module_schema(fields, ["Name", "Id"])  # type: ignore[list-item]
    assert schema["properties"] == {"Id": {"type": "string"}, "Name": STRING}


def test_schemas_are_fresh_objects_callers_may_change():
    fields = [{"api_name": "Tags", "data_type": "multiselectpicklist"}]
    first = module_schema(fields)
    first["properties"]["Tags"]["type"].remove("null")
    first["properties"]["Tags"]["items"]["type"] = "integer"
    assert module_schema(fields)["properties"]["Tags"] == STRINGS
