"""The simulated org's modules and fields: coverage of Zoho's data types, ids, metadata shapes."""

from __future__ import annotations

import re

import pytest

from tap_zoho_bulk.simulator.catalog import (
    USER_FIELDS,
    USERS,
    Module,
    default_modules,
    resolve_path,
)

MODULES = default_modules()
BY_NAME = {m.api_name: m for m in MODULES}

# Reference §10.3: every data type Bulk Read exports, and the two it rejects.
EXPORTABLE_TYPES = {
    "text", "textarea", "email", "phone", "website", "picklist", "multiselectpicklist", "date",
    "datetime", "integer", "bigint", "double", "currency", "percent", "decimal", "boolean",
    "autonumber", "lookup", "ownerlookup", "formula",
}  # fmt: skip
REJECTED_TYPES = {"fileupload", "multiselectlookup"}
JSON_TYPES = {
    "text": "string", "textarea": "string", "email": "string", "phone": "string",
    "website": "string", "picklist": "string", "multiselectpicklist": "jsonarray",
    "date": "string", "datetime": "string", "integer": "integer", "bigint": "string",
    "double": "double", "currency": "double", "percent": "double", "decimal": "double",
    "boolean": "boolean", "autonumber": "string", "lookup": "jsonobject",
    "ownerlookup": "jsonobject", "fileupload": "jsonarray", "multiselectlookup": "jsonarray",
}  # fmt: skip
FIELD_KEYS = {
    "id", "api_name", "field_label", "display_label", "data_type", "json_type", "length",
    "decimal_place", "read_only", "field_read_only", "system_mandatory", "custom_field",
    "visible", "view_type", "display_type", "ui_type", "virtual_field", "created_source", "type",
    "sortable", "searchable", "filterable", "mass_update", "webhook", "operation_type",
    "pick_list_values", "lookup", "multiselectlookup", "formula", "currency", "auto_number",
    "textarea", "crypt", "private", "unique", "tooltip", "history_tracking", "external",
}  # fmt: skip
MODULE_KEYS = {
    "id", "api_name", "module_name", "singular_label", "plural_label", "api_supported",
    "generated_type", "status", "visible", "viewable", "creatable", "editable", "deletable",
    "convertable", "show_as_tab", "sequence_number", "modified_time", "modified_by", "profiles",
    "parent_module", "per_page", "$properties", "custom_view", "territory", "arguments",
    "filter_supported", "kanban_view", "quick_create", "triggers_supported", "visibility",
}  # fmt: skip


def test_modules_come_in_the_contract_order_with_their_flags() -> None:
    names = [m.api_name for m in MODULES]
    assert names[:9] == [
        "Leads", "Contacts", "Accounts", "Deals", "Tasks", "Shipments", "Visit_Logs", "Notes",
        "Home",
    ]  # fmt: skip
    assert BY_NAME["Shipments"].generated_type == "custom"
    assert BY_NAME["Visit_Logs"].generated_type == "custom"
    assert BY_NAME["Leads"].generated_type == "default"
    notes, home = BY_NAME["Notes"], BY_NAME["Home"]
    assert (notes.api_supported, notes.bulk_exportable) == (True, False)
    assert home.api_supported is False
    exportable = [m.api_name for m in MODULES if m.bulk_exportable]
    assert "Notes" not in exportable
    assert "Home" not in exportable


def test_leads_cover_every_data_type_bulk_read_handles() -> None:
    leads = BY_NAME["Leads"]
    types = {f.data_type for f in leads.fields}
    assert types >= EXPORTABLE_TYPES
    assert types >= REJECTED_TYPES
    returns = {f.formula_return_type for f in leads.fields if f.data_type == "formula"}
    assert {"decimal", "text"} <= returns
    assert 38 <= len(leads.exportable_fields()) <= 45
    for f in leads.fields:
        assert f.bulk_exportable is (f.data_type not in REJECTED_TYPES), f.api_name


@pytest.mark.parametrize("module", [m for m in MODULES if m.fields], ids=lambda m: m.api_name)
def test_every_module_has_system_fields(module: Module) -> None:
    created = module.field("Created_Time")
    assert created is not None
    assert created.data_type == "datetime"
    id_field = module.field("id")
    assert id_field is not None
    assert id_field.data_type == "bigint"
    owner = module.field("Owner")
    assert owner is not None
    assert owner.data_type == "ownerlookup"
    created_by = module.field("Created_By")
    assert created_by is not None
    assert created_by.data_type == "ownerlookup"
    if module.api_name == "Visit_Logs":
        assert module.field("Modified_Time") is None
    else:
        modified = module.field("Modified_Time")
        modified_by = module.field("Modified_By")
        assert modified is not None
        assert modified.data_type == "datetime"
        assert modified_by is not None
        assert modified_by.data_type == "ownerlookup"


def test_all_ids_are_unique_19_digit_numbers() -> None:
    ids = [m.id for m in MODULES]
    ids += [f.id for m in MODULES for f in (*m.fields, *m.properties)]
    ids += [u.id for u in USERS] + [f.id for f in USER_FIELDS]
    assert all(re.fullmatch(r"\d{19}", i) for i in ids)
    assert len(ids) == len(set(ids))


def test_ids_are_stable_between_builds() -> None:
    again = default_modules()
    assert [(m.id, [f.id for f in m.fields]) for m in again] == [
        (m.id, [f.id for f in m.fields]) for m in MODULES
    ]


@pytest.mark.parametrize("module", [m for m in MODULES if m.fields], ids=lambda m: m.api_name)
def test_field_metadata_has_zoho_keys_and_types(module: Module) -> None:
    for f in module.fields:
        meta = f.metadata()
        assert set(meta) >= FIELD_KEYS, f.api_name
        assert meta["api_name"] == f.api_name
        assert meta["data_type"] == f.data_type
        if f.data_type == "formula":
            assert meta["formula"] == {
                "return_type": f.formula_return_type,
                "expression": meta["formula"]["expression"],
            }
            assert meta["json_type"] in {"double", "string"}
        elif f.data_type == "rollup_summary":
            rollup = meta["rollup_summary"]
            assert rollup["return_type"] == f.formula_return_type
            assert set(rollup) == {
                "return_type", "expression", "based_on_module", "related_list", "rollup_based_on",
            }  # fmt: skip
            assert meta["json_type"] == "double"
            assert meta["read_only"] is True
        else:
            assert meta["json_type"] == JSON_TYPES[f.data_type], f.api_name
        if f.data_type == "textarea":
            assert meta["textarea"] == {"type": "large"}
        if f.data_type == "autonumber":
            assert meta["auto_number"]["prefix"] == f.auto_number_prefix


def test_lookup_metadata_points_at_an_existing_module() -> None:
    lookups = [f for m in MODULES for f in m.fields if f.data_type == "lookup"]
    assert lookups
    for f in lookups:
        target = BY_NAME[f.lookup_module or ""]
        assert f.metadata()["lookup"] == {
            "display_label": f.label,
            "api_name": f.api_name,
            "module": {"api_name": target.api_name, "id": target.id},
            "id": f.id,
            "query_details": {},
        }
    plain = BY_NAME["Leads"].field("Last_Name")
    assert plain is not None
    assert plain.metadata()["lookup"] == {}


def test_picklist_metadata_lists_none_then_the_values() -> None:
    source = BY_NAME["Leads"].field("Lead_Source")
    assert source is not None
    values = [v["actual_value"] for v in source.metadata()["pick_list_values"]]
    assert values == ["-None-", *source.pick_list_values]
    interest = BY_NAME["Leads"].field("Product_Interest")
    assert interest is not None
    listed = [v["actual_value"] for v in interest.metadata()["pick_list_values"]]
    assert listed == list(interest.pick_list_values)


def test_module_metadata_has_zoho_keys() -> None:
    for m in MODULES:
        meta = m.metadata()
        assert set(meta) >= MODULE_KEYS, m.api_name
        assert (meta["api_name"], meta["id"]) == (m.api_name, m.id)
        assert meta["api_supported"] is m.api_supported
        assert meta["generated_type"] == m.generated_type
    assert BY_NAME["Leads"].metadata()["$properties"] == ["$converted"]


def test_system_properties_are_not_listed_fields() -> None:
    leads = BY_NAME["Leads"]
    assert leads.field("$converted") is None
    converted = leads.property("$converted")
    assert converted is not None
    assert converted.data_type == "boolean"
    assert "$converted" not in [f.api_name for f in leads.exportable_fields()]


def test_home_answers_no_content_for_fields() -> None:
    assert BY_NAME["Home"].fields_no_content is True
    assert not any(m.fields_no_content for m in MODULES if m.api_name != "Home")


@pytest.mark.parametrize(
    ("module", "path", "expected"),
    [
        ("Leads", "Last_Name", ("Leads", "Last_Name")),
        ("Leads", "$converted", ("Leads", "$converted")),
        ("Contacts", "Owner.last_name", ("users", "last_name")),
        ("Contacts", "Created_By.email", ("users", "email")),
        ("Contacts", "Account_Name.Account_Name", ("Accounts", "Account_Name")),
        ("Contacts", "Account_Name.Phone", ("Accounts", "Phone")),
        ("Deals", "Contact_Name.Email", ("Contacts", "Email")),
        ("Leads", "Partner_Account.id", ("Accounts", "id")),
    ],
)
def test_paths_resolve_through_one_lookup(
    module: str, path: str, expected: tuple[str, str]
) -> None:
    field = resolve_path(BY_NAME, BY_NAME[module], path)
    assert field is not None
    where, name = expected
    pool = USER_FIELDS if where == "users" else (*BY_NAME[where].fields, *BY_NAME[where].properties)
    assert field in pool
    assert field.api_name == name


@pytest.mark.parametrize(
    ("module", "path"),
    [
        ("Leads", "Nope"),
        ("Leads", "last_name"),  # api names are case-sensitive
        ("Leads", "Owner.nickname"),
        ("Leads", "Last_Name.Phone"),  # not a lookup
        ("Contacts", "Account_Name.Nope"),
        ("Contacts", "Account_Name.Parent_Account.Phone"),  # one hop only
        ("Contacts", "$converted"),
    ],
)
def test_unknown_paths_do_not_resolve(module: str, path: str) -> None:
    assert resolve_path(BY_NAME, BY_NAME[module], path) is None
