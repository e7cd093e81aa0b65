"""The simulated org's modules, fields and users, and how field paths resolve.

Everything here is static description; record values live in `data.py`. Ids are 19-digit
numeric strings like Zoho's, built from fixed prefixes so that module ids, field ids, user ids
and record ids (see `data.py`) can never collide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

ORG_PREFIX = "4150868"
"""First digits of every id the simulated org hands out (as in Zoho's published samples)."""

NUMBER_TYPES = frozenset({"integer", "bigint", "double", "currency", "percent", "decimal"})
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
NOT_BULK_EXPORTABLE = frozenset({"fileupload", "multiselectlookup"})

_JSON_TYPES: Mapping[str, str] = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "multiselectpicklist": "jsonarray",
    "date": "string",
    "datetime": "string",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "decimal": "double",
    "boolean": "boolean",
    "autonumber": "string",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "userlookup": "jsonobject",
    "fileupload": "jsonarray",
    "multiselectlookup": "jsonarray",
}


COMPUTED_TYPES = frozenset({"formula", "rollup_summary"})
"""Read-only fields whose values Zoho computes, typed by their `return_type`."""


def json_type_for(data_type: str, formula_return_type: str | None = None) -> str | None:
    """Zoho's json_type for a data_type; a formula or rollup takes that of what it returns."""
    if data_type in COMPUTED_TYPES:
        return _JSON_TYPES.get(formula_return_type or "", None)
    return _JSON_TYPES.get(data_type)


@dataclass(frozen=True)
class Field:
    """One field as settings/fields describes it, plus what the data generator needs to know."""

    api_name: str
    id: str
    data_type: str
    json_type: str | None
    label: str
    lookup_module: str | None = None
    bulk_exportable: bool = True
    lookup_module_id: str | None = None
    pick_list_values: tuple[str, ...] = ()
    decimal_place: int | None = None
    length: int = 255
    formula_return_type: str | None = None
    """The `return_type` of a formula or rollup_summary field."""
    formula_expression: str | None = None
    """A formula's expression as settings/fields shows it (None: a stock one per return type)."""
    dynamic: bool = False
    """A formula over Now(): Zoho computes it when the data is read, so its value follows the
    clock while Modified_Time stays put (`data.py` computes it; it is not a pooled value)."""
    rollup: tuple[str, str, str] | None = None
    """A rollup_summary's (child module, lookup in the child pointing here, summed field): the
    SUM over the live child records, computed when the data is read (not pooled)."""
    auto_number_prefix: str = ""
    mandatory: bool = False
    read_only: bool = False
    custom_field: bool = False

    @property
    def value_type(self) -> str:
        """The data_type whose values this field holds (a formula holds its return type's)."""
        if self.data_type in COMPUTED_TYPES:
            return self.formula_return_type or "text"
        return self.data_type

    def metadata(self) -> dict[str, object]:
        """One element of settings/fields `fields`, with the keys a real org returns (S26)."""
        system = self.read_only or self.data_type in {"autonumber", *COMPUTED_TYPES}
        return {
            "api_name": self.api_name,
            "id": self.id,
            "field_label": self.label,
            "display_label": self.label,
            "data_type": self.data_type,
            "json_type": self.json_type,
            "length": self.length,
            "decimal_place": self.decimal_place,
            "read_only": system,
            "field_read_only": system,
            "system_mandatory": self.mandatory,
            "custom_field": self.custom_field,
            "visible": True,
            "view_type": {"view": True, "edit": not system, "quick_create": False, "create": True},
            "display_type": -1,
            "ui_type": _UI_TYPES.get(self.data_type, 1),
            "virtual_field": False,
            "created_source": "default",
            "type": "used",
            "sortable": self.data_type not in {"textarea", "multiselectpicklist"},
            "searchable": self.data_type in {"text", "email", "phone"},
            "filterable": self.data_type != "textarea",
            "mass_update": not system,
            "webhook": True,
            "businesscard_supported": False,
            "operation_type": {
                "web_update": not system,
                "api_create": not system,
                "web_create": not system,
                "api_update": not system,
            },
            "pick_list_values": _pick_list_metadata(self),
            "pick_list_values_sorted_lexically": False,
            "lookup": _lookup_metadata(self),
            "multiselectlookup": {},
            "formula": (
                {
                    "return_type": self.formula_return_type,
                    "expression": self.formula_expression
                    or _FORMULAS.get(self.formula_return_type or "", "${Annual Revenue}*0.25"),
                }
                if self.data_type == "formula"
                else {}
            ),
            **({"rollup_summary": _rollup_metadata(self)} if self.rollup is not None else {}),
            "currency": (
                {"rounding_option": "normal", "precision": self.decimal_place}
                if self.data_type == "currency"
                else {}
            ),
            "auto_number": (
                {
                    "prefix": self.auto_number_prefix,
                    "suffix": "",
                    "start_number": 1,
                    "starting_number_length": 0,
                }
                if self.data_type == "autonumber"
                else {}
            ),
            "textarea": {"type": "large"} if self.data_type == "textarea" else None,
            "crypt": None,
            "private": None,
            "unique": {},
            "tooltip": None,
            "history_tracking": None,
            "hipaa_compliance_enabled": False,
            "external": None,
            "global_picklist": None,
            "enable_colour_code": False,
            "quick_sequence_number": None,
            "created_time": None,
            "modified_time": None,
        }


_FORMULAS: Mapping[str, str] = {"text": "Concat(${City},' / ',${Country})"}

_UI_TYPES: Mapping[str, int] = {
    "text": 1,
    "textarea": 3,
    "email": 25,
    "phone": 33,
    "website": 21,
    "picklist": 2,
    "multiselectpicklist": 100,
    "date": 24,
    "datetime": 333,
    "integer": 32,
    "bigint": 36,
    "double": 38,
    "currency": 36,
    "percent": 39,
    "decimal": 38,
    "boolean": 301,
    "autonumber": 204,
    "lookup": 133,
    "ownerlookup": 8,
    "formula": 118,
    "fileupload": 555,
    "multiselectlookup": 400,
}


def _pick_list_metadata(f: Field) -> list[dict[str, object]]:
    if not f.pick_list_values:
        return []
    values = ("-None-", *f.pick_list_values) if f.data_type == "picklist" else f.pick_list_values
    return [
        {
            "display_value": value,
            "actual_value": value,
            "reference_value": value,
            "id": f"{f.id[:-4]}{9000 + n:04d}",
            "sequence_number": n + 1,
            "type": "used",
            "colour_code": None,
        }
        for n, value in enumerate(values)
    ]


def _rollup_metadata(f: Field) -> dict[str, object]:
    """The `rollup_summary` object of v8's fields.json (Rollup_Summary, Expression schemas)."""
    assert f.rollup is not None
    child, _lookup, summed = f.rollup
    position = next(n for n, spec in enumerate(_MODULE_SPECS) if spec[0] == child)
    child_module = {"api_name": child, "id": module_id(position)}
    return {
        "return_type": f.formula_return_type,
        "expression": {
            "function_parameters": [{"api_name": summed}],
            "criteria": None,
            "function": "SUM",
        },
        "based_on_module": child_module,
        "related_list": {"api_name": child, "id": f"{ORG_PREFIX}00000040{position:04d}"},
        "rollup_based_on": "related_list",
    }


def _lookup_metadata(f: Field) -> dict[str, object]:
    if f.data_type != "lookup" or f.lookup_module is None:
        return {}
    return {
        "display_label": f.label,
        "api_name": f.api_name,
        "module": {"api_name": f.lookup_module, "id": f.lookup_module_id},
        "id": f.id,
        "query_details": {},
    }


@dataclass(frozen=True)
class Module:
    """One module as settings/modules describes it, with its fields in catalog order."""

    api_name: str
    id: str
    generated_type: str
    api_supported: bool
    bulk_exportable: bool
    fields: tuple[Field, ...]
    fields_no_content: bool = False
    properties: tuple[Field, ...] = ()
    """`$`-prefixed system properties (e.g. `$converted`): accepted in bulk `fields` and criteria
    but, as in Zoho, never listed by settings/fields."""
    _by_name: Mapping[str, Field] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.api_name: f for f in self.fields})

    def field(self, api_name: str) -> Field | None:
        """A field listed by settings/fields (system properties are not fields)."""
        return self._by_name.get(api_name)

    def property(self, api_name: str) -> Field | None:
        """A `$` system property by name."""
        return next((p for p in self.properties if p.api_name == api_name), None)

    def exportable_fields(self) -> tuple[Field, ...]:
        """What an export of "all fields" carries after `Id`: neither `id` nor rejected types."""
        return tuple(f for f in self.fields if f.bulk_exportable and f.api_name != "id")

    def metadata(self) -> dict[str, object]:
        """One element of settings/modules `modules` (S1 modules schema, S30 Leads sample)."""
        label = self.api_name.replace("_", " ")
        singular = label[:-1] if label.endswith("s") else label
        return {
            "id": self.id,
            "api_name": self.api_name,
            "module_name": self.api_name,
            "singular_label": singular,
            "plural_label": label,
            "api_supported": self.api_supported,
            "generated_type": self.generated_type,
            "status": "visible",
            "visible": True,
            "viewable": True,
            "creatable": self.api_supported,
            "editable": self.api_supported,
            "deletable": self.api_supported,
            "convertable": self.api_name == "Leads",
            "show_as_tab": True,
            "sequence_number": int(self.id[-2:]) - 49,  # 1 for the first module (module_id)
            "modified_time": None,
            "modified_by": None,
            "profiles": [{"name": "Administrator", "id": f"{ORG_PREFIX}000000026011"}],
            "parent_module": {},
            "business_card_field_limit": 5,
            "per_page": 200,
            "$properties": [p.api_name for p in self.properties],
            "$field_states": [],
            "$on_demand_properties": [],
            "custom_view": None,
            "territory": None,
            "arguments": [],
            "lookup_field_properties": {},
            "related_list_properties": {},
            "search_layout_fields": [],
            "feeds_required": False,
            "filter_supported": self.api_supported,
            "kanban_view": False,
            "kanban_view_supported": self.api_supported,
            "quick_create": self.api_supported,
            "triggers_supported": self.api_supported,
            "webform_supported": self.api_name in {"Leads", "Contacts"},
            "scoring_supported": self.api_name in {"Leads", "Contacts", "Deals"},
            "email_parser_supported": False,
            "inventory_template_supported": False,
            "recycle_bin_on_delete": True,
            "activity_badge": "Disabled",
            "track_current_data": False,
            "description": None,
            "web_link": None,
            "visibility": 1,
        }


@dataclass(frozen=True)
class User:
    """A CRM user: what ownerlookup fields point at and `Owner.*` columns expose."""

    id: str
    first_name: str
    last_name: str
    email: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def attribute(self, name: str) -> str:
        """Value of `Owner.<name>` for this user."""
        return str(getattr(self, name))


USERS: tuple[User, ...] = (
    User(f"{ORG_PREFIX}000000225013", "Patricia", "Boyle", "patricia.b@zylker.com"),
    User(f"{ORG_PREFIX}000000225021", "Kris", "Marrier", "kris.marrier@zylker.com"),
    User(f"{ORG_PREFIX}000000225037", "José", "Núñez", "jose.nunez@zylker.com"),
    User(f"{ORG_PREFIX}000000225042", "美咲", "山田", "misaki.yamada@zylker.com"),
    User(f"{ORG_PREFIX}000000225058", "Siobhán", "O'Connor", "siobhan.oconnor@zylker.com"),
    User(f"{ORG_PREFIX}000000225064", "Ahmed", "Al-Farsi", "ahmed.alfarsi@zylker.com"),
)

USER_FIELDS: tuple[Field, ...] = tuple(
    Field(
        api_name=name,
        id=f"{ORG_PREFIX}00000022{n:04d}",
        data_type=dt,
        json_type="string",
        label=name.replace("_", " ").title(),
    )
    for n, (name, dt) in enumerate(
        (("first_name", "text"), ("last_name", "text"), ("full_name", "text"), ("email", "email"))
    )
)
"""Attributes reachable through an ownerlookup with dot notation (`Owner.last_name`)."""


def resolve_path(modules: Mapping[str, Module], module: Module, path: str) -> Field | None:
    """The field a `fields`/criteria entry refers to, following one dot into a lookup's target.

    `Owner.last_name` resolves to a user attribute, `Account_Name.Phone` to the Accounts field,
    `$converted` to a system property. None means Zoho would answer "not available".
    """
    head, dot, tail = path.partition(".")
    if not dot:
        return module.field(path) or module.property(path)
    if "." in tail:
        return None
    lookup = module.field(head)
    if lookup is None:
        return None
    if lookup.data_type in {"ownerlookup", "userlookup"}:
        return next((f for f in USER_FIELDS if f.api_name == tail), None)
    target = modules.get(lookup.lookup_module or "")
    if lookup.data_type == "lookup" and target is not None:
        return target.field(tail)
    return None


# --------------------------------------------------------------------------------------------
# The default catalog. Field specs are (api_name, data_type, label, options); ids are assigned
# from the module's position so that they stay stable across runs and versions.


class _Options(TypedDict, total=False):
    lookup_module: str
    pick_list_values: tuple[str, ...]
    decimal_place: int
    length: int
    formula_return_type: str
    formula_expression: str
    dynamic: bool
    rollup: tuple[str, str, str]
    auto_number_prefix: str
    mandatory: bool
    read_only: bool
    custom_field: bool


_Spec = tuple[str, str, str, _Options]

_LEAD_SOURCES = (
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar Partner",
    "Internal Seminar",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
)
_INDUSTRIES = (
    "ASP (Application Service Provider)",
    "Data/Telecom OEM",
    "ERP (Enterprise Resource Planning)",
    "Government/Military",
    "Large Enterprise",
    "ManagementISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
    "Communications",
    "Education",
    "Retail",
)
_SYSTEM_TAIL: tuple[_Spec, ...] = (
    ("Created_By", "ownerlookup", "Created By", {"read_only": True, "mandatory": True}),
    ("Modified_By", "ownerlookup", "Modified By", {"read_only": True, "mandatory": True}),
    ("Created_Time", "datetime", "Created Time", {"read_only": True}),
    ("Modified_Time", "datetime", "Modified Time", {"read_only": True}),
)
_OWNER: _Spec = ("Owner", "ownerlookup", "Lead Owner", {"mandatory": True})
_ID: _Spec = ("id", "bigint", "Record Id", {"read_only": True, "length": 19})

_LEADS: tuple[_Spec, ...] = (
    _ID,
    _OWNER,
    ("Lead_Source", "picklist", "Lead Source", {"pick_list_values": _LEAD_SOURCES}),
    (
        "Salutation",
        "picklist",
        "Salutation",
        {"pick_list_values": ("Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")},
    ),
    ("First_Name", "text", "First Name", {"length": 40}),
    ("Last_Name", "text", "Last Name", {"mandatory": True, "length": 80}),
    ("Company", "text", "Company", {"length": 200}),
    ("Designation", "text", "Title", {"length": 100}),
    ("Email", "email", "Email", {"length": 100}),
    ("Secondary_Email", "email", "Secondary Email", {"length": 100}),
    ("Phone", "phone", "Phone", {"length": 30}),
    ("Mobile", "phone", "Mobile", {"length": 30}),
    ("Website", "website", "Website", {}),
    (
        "Lead_Status",
        "picklist",
        "Lead Status",
        {
            "pick_list_values": (
                "Attempted to Contact",
                "Contact in Future",
                "Contacted",
                "Junk Lead",
                "Lost Lead",
                "Not Contacted",
                "Pre-Qualified",
                "Not Qualified",
            )
        },
    ),
    ("Industry", "picklist", "Industry", {"pick_list_values": _INDUSTRIES}),
    (
        "Rating",
        "picklist",
        "Rating",
        {
            "pick_list_values": (
                "Acquired",
                "Active",
                "Market Failed",
                "Project Cancelled",
                "Shut Down",
            )
        },
    ),
    ("No_of_Employees", "integer", "No. of Employees", {"length": 9}),
    ("Annual_Revenue", "currency", "Annual Revenue", {"decimal_place": 2, "length": 16}),
    ("Email_Opt_Out", "boolean", "Email Opt Out", {}),
    ("Skype_ID", "text", "Skype ID", {"length": 50}),
    ("Street", "text", "Street", {"length": 250}),
    ("City", "text", "City", {"length": 100}),
    ("State", "text", "State", {"length": 100}),
    ("Zip_Code", "text", "Zip Code", {"length": 30}),
    ("Country", "text", "Country", {"length": 100}),
    ("Description", "textarea", "Description", {"length": 32000}),
    (
        "Product_Interest",
        "multiselectpicklist",
        "Product Interest",
        {
            "custom_field": True,
            "pick_list_values": (
                "CRM",
                "Desk",
                "Books",
                "Analytics",
                "Campaigns",
                "SalesIQ",
                "Projects",
                "People",
            ),
        },
    ),
    ("Next_Follow_Up", "date", "Next Follow Up", {"custom_field": True}),
    ("External_Ref", "bigint", "External Ref", {"custom_field": True, "length": 19}),
    ("Lead_Score", "double", "Lead Score", {"custom_field": True, "decimal_place": 2}),
    ("Discount", "percent", "Discount", {"custom_field": True, "decimal_place": 2}),
    ("Tax_Rate", "decimal", "Tax Rate", {"custom_field": True, "decimal_place": 3}),
    (
        "Partner_Account",
        "lookup",
        "Partner Account",
        {"custom_field": True, "lookup_module": "Accounts"},
    ),
    (
        "Expected_Value",
        "formula",
        "Expected Value",
        {"custom_field": True, "formula_return_type": "decimal", "decimal_place": 2},
    ),
    (
        "Region_Label",
        "formula",
        "Region Label",
        {"custom_field": True, "formula_return_type": "text"},
    ),
    (
        "Qualification_Notes",
        "textarea",
        "Qualification Notes",
        {"custom_field": True, "length": 2000},
    ),
    ("Documents", "fileupload", "Documents", {"custom_field": True}),
    ("Related_Products", "multiselectlookup", "Related Products", {"custom_field": True}),
    ("Last_Activity_Time", "datetime", "Last Activity Time", {"read_only": True}),
    ("Lead_No", "autonumber", "Lead No", {"custom_field": True, "auto_number_prefix": "LD-"}),
    *_SYSTEM_TAIL,
)

_CONTACTS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Contact Owner", {"mandatory": True}),
    ("Lead_Source", "picklist", "Lead Source", {"pick_list_values": _LEAD_SOURCES}),
    ("First_Name", "text", "First Name", {"length": 40}),
    ("Last_Name", "text", "Last Name", {"mandatory": True, "length": 80}),
    ("Account_Name", "lookup", "Account Name", {"lookup_module": "Accounts"}),
    ("Email", "email", "Email", {"length": 100}),
    ("Phone", "phone", "Phone", {"length": 30}),
    ("Mobile", "phone", "Mobile", {"length": 30}),
    ("Title", "text", "Title", {"length": 100}),
    ("Department", "text", "Department", {"length": 30}),
    ("Date_of_Birth", "date", "Date of Birth", {}),
    ("Email_Opt_Out", "boolean", "Email Opt Out", {}),
    ("Mailing_City", "text", "Mailing City", {"length": 100}),
    ("Mailing_Country", "text", "Mailing Country", {"length": 100}),
    ("Description", "textarea", "Description", {"length": 32000}),
    ("Last_Activity_Time", "datetime", "Last Activity Time", {"read_only": True}),
    *_SYSTEM_TAIL,
)

_ACCOUNTS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Account Owner", {"mandatory": True}),
    ("Account_Name", "text", "Account Name", {"mandatory": True, "length": 200}),
    ("Phone", "phone", "Phone", {"length": 30}),
    ("Website", "website", "Website", {}),
    (
        "Account_Type",
        "picklist",
        "Account Type",
        {
            "pick_list_values": (
                "Analyst",
                "Competitor",
                "Customer",
                "Distributor",
                "Integrator",
                "Investor",
                "Partner",
                "Press",
                "Prospect",
                "Reseller",
                "Other",
            )
        },
    ),
    ("Industry", "picklist", "Industry", {"pick_list_values": _INDUSTRIES}),
    ("Employees", "integer", "Employees", {"length": 9}),
    ("Annual_Revenue", "currency", "Annual Revenue", {"decimal_place": 2, "length": 16}),
    ("Billing_City", "text", "Billing City", {"length": 30}),
    ("Billing_Country", "text", "Billing Country", {"length": 30}),
    ("Parent_Account", "lookup", "Parent Account", {"lookup_module": "Accounts"}),
    ("Description", "textarea", "Description", {"length": 32000}),
    *_SYSTEM_TAIL,
    # Computed fields come last, so the ids and pools of the fields above stay as they were.
    (
        "Total_Deal_Amount",
        "rollup_summary",
        "Total Deal Amount",
        {
            "custom_field": True,
            "formula_return_type": "currency",
            "decimal_place": 2,
            "length": 16,
            "rollup": ("Deals", "Account_Name", "Amount"),
        },
    ),
)

_DEALS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Deal Owner", {"mandatory": True}),
    ("Deal_Name", "text", "Deal Name", {"mandatory": True, "length": 120}),
    ("Account_Name", "lookup", "Account Name", {"lookup_module": "Accounts"}),
    ("Contact_Name", "lookup", "Contact Name", {"lookup_module": "Contacts"}),
    ("Amount", "currency", "Amount", {"decimal_place": 2, "length": 16}),
    (
        "Stage",
        "picklist",
        "Stage",
        {
            "mandatory": True,
            "pick_list_values": (
                "Qualification",
                "Needs Analysis",
                "Value Proposition",
                "Id. Decision Makers",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
            ),
        },
    ),
    ("Probability", "percent", "Probability (%)", {"decimal_place": 0, "length": 3}),
    ("Closing_Date", "date", "Closing Date", {"mandatory": True}),
    ("Type", "picklist", "Type", {"pick_list_values": ("Existing Business", "New Business")}),
    ("Lead_Source", "picklist", "Lead Source", {"pick_list_values": _LEAD_SOURCES}),
    (
        "Expected_Revenue",
        "formula",
        "Expected Revenue",
        {"formula_return_type": "currency", "decimal_place": 2},
    ),
    ("Description", "textarea", "Description", {"length": 32000}),
    *_SYSTEM_TAIL,
    (
        "Days_Open",
        "formula",
        "Days Open",
        {
            "custom_field": True,
            "formula_return_type": "double",
            "decimal_place": 0,
            "formula_expression": "Datecomp(Datepart(Now()),Datepart(${Created Time}))/1440",
            "dynamic": True,
        },
    ),
)

_TASKS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Task Owner", {"mandatory": True}),
    ("Subject", "text", "Subject", {"mandatory": True, "length": 300}),
    ("Due_Date", "date", "Due Date", {}),
    (
        "Status",
        "picklist",
        "Status",
        {
            "pick_list_values": (
                "Not Started",
                "Deferred",
                "In Progress",
                "Completed",
                "Waiting for input",
            )
        },
    ),
    (
        "Priority",
        "picklist",
        "Priority",
        {"pick_list_values": ("High", "Highest", "Low", "Lowest", "Normal")},
    ),
    ("Who_Id", "lookup", "Contact Name", {"lookup_module": "Contacts"}),
    ("Send_Notification_Email", "boolean", "Send Notification Email", {}),
    ("Closed_Time", "datetime", "Closed Time", {"read_only": True}),
    ("Description", "textarea", "Description", {"length": 32000}),
    *_SYSTEM_TAIL,
)

_SHIPMENTS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Shipment Owner", {"mandatory": True}),
    ("Name", "text", "Shipment Name", {"mandatory": True, "length": 120}),
    ("Tracking_Number", "text", "Tracking Number", {"custom_field": True, "length": 40}),
    (
        "Carrier",
        "picklist",
        "Carrier",
        {
            "custom_field": True,
            "pick_list_values": ("DHL", "FedEx", "UPS", "USPS", "Royal Mail", "ヤマト運輸"),
        },
    ),
    ("Weight_kg", "decimal", "Weight (kg)", {"custom_field": True, "decimal_place": 3}),
    ("Shipped_On", "date", "Shipped On", {"custom_field": True}),
    ("Delivered", "boolean", "Delivered", {"custom_field": True}),
    ("Deal", "lookup", "Deal", {"custom_field": True, "lookup_module": "Deals"}),
    ("Package_Count", "integer", "Package Count", {"custom_field": True, "length": 9}),
    ("Insurance", "currency", "Insurance", {"custom_field": True, "decimal_place": 2}),
    ("Delivery_Notes", "textarea", "Delivery Notes", {"custom_field": True, "length": 2000}),
    *_SYSTEM_TAIL,
)

_VISIT_LOGS: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Visit Log Owner", {"mandatory": True}),
    ("Name", "text", "Visit Log Name", {"mandatory": True, "length": 120}),
    ("Visitor_Email", "email", "Visitor Email", {"custom_field": True}),
    ("Page_URL", "website", "Page URL", {"custom_field": True}),
    ("Duration_Seconds", "integer", "Duration (s)", {"custom_field": True, "length": 9}),
    ("Created_By", "ownerlookup", "Created By", {"read_only": True, "mandatory": True}),
    ("Created_Time", "datetime", "Created Time", {"read_only": True}),
)

_NOTES: tuple[_Spec, ...] = (
    _ID,
    ("Owner", "ownerlookup", "Note Owner", {"mandatory": True}),
    ("Note_Title", "text", "Note Title", {"length": 120}),
    ("Note_Content", "textarea", "Note Content", {"length": 32000}),
    *_SYSTEM_TAIL,
)

_MODULE_SPECS: tuple[tuple[str, str, bool, bool, tuple[_Spec, ...]], ...] = (
    # api_name, generated_type, api_supported, bulk_exportable, fields
    ("Leads", "default", True, True, _LEADS),
    ("Contacts", "default", True, True, _CONTACTS),
    ("Accounts", "default", True, True, _ACCOUNTS),
    ("Deals", "default", True, True, _DEALS),
    ("Tasks", "default", True, True, _TASKS),
    ("Shipments", "custom", True, True, _SHIPMENTS),
    ("Visit_Logs", "custom", True, True, _VISIT_LOGS),
    ("Notes", "default", True, False, _NOTES),
    ("Home", "default", False, False, ()),
)


def module_id(position: int) -> str:
    """Id of the module at `position` in the catalog (shaped like Zoho's 4150868000000002175)."""
    return f"{ORG_PREFIX}0000000021{position + 50:02d}"


def _field_id(module_position: int, field_position: int) -> str:
    return f"{ORG_PREFIX}0000003{module_position:02d}{field_position:03d}"


def _build_field(module_position: int, field_position: int, spec: _Spec) -> Field:
    api_name, data_type, label, options = spec
    target = options.get("lookup_module")
    target_position = next((n for n, s in enumerate(_MODULE_SPECS) if s[0] == target), None)
    return Field(
        api_name=api_name,
        id=_field_id(module_position, field_position),
        data_type=data_type,
        json_type=json_type_for(data_type, options.get("formula_return_type")),
        label=label,
        bulk_exportable=data_type not in NOT_BULK_EXPORTABLE,
        lookup_module_id=None if target_position is None else module_id(target_position),
        **options,
    )


def default_modules() -> tuple[Module, ...]:
    """The simulated org's modules in settings/modules order."""
    modules = []
    for position, (name, generated_type, api_supported, exportable, specs) in enumerate(
        _MODULE_SPECS
    ):
        fields = tuple(_build_field(position, n, spec) for n, spec in enumerate(specs))
        properties: tuple[Field, ...] = ()
        if name == "Leads":
            properties = (_build_field(position, 900, ("$converted", "boolean", "Converted", {})),)
        modules.append(
            Module(
                api_name=name,
                id=module_id(position),
                generated_type=generated_type,
                api_supported=api_supported,
                bulk_exportable=exportable,
                fields=fields,
                fields_no_content=not fields,
                properties=properties,
            )
        )
    return tuple(modules)
