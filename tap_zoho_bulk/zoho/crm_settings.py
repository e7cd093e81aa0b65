"""Zoho's metadata APIs that discovery reads: the org's modules and each module's fields.

Both answers are read through the Structs in `wire`, so an answer that does not fit becomes a
one-line ZohoAPIError. Deciding which modules become streams is the tap's business, not this.
"""

from __future__ import annotations

from typing import Any

from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.wire import CrmModule, FieldsAnswer, ModulesAnswer


def list_modules(client: ZohoClient, version: ApiVersion, *, stream: str) -> list[CrmModule]:
    """Every module settings/modules lists, in Zoho's order; none for a 204 No Content."""
    answer = client.get_as_optional(
        ModulesAnswer, f"/crm/{version.name}/settings/modules", kind="modules", stream=stream
    )
    return list(answer.modules or []) if answer else []


def module_fields(
    client: ZohoClient, version: ApiVersion, module: str, *, stream: str
) -> list[dict[str, Any]] | None:
    """A module's field metadata as settings/fields gives it; None when Zoho has none to give
    (HTTP 204 No Content)."""
    answer = client.get_as_optional(
        FieldsAnswer,
        f"/crm/{version.name}/settings/fields",
        kind="fields",
        stream=stream,
        params={"module": module},
    )
    return list(answer.fields or []) if answer else None
