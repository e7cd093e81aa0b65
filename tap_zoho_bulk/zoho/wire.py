"""The JSON Zoho answers, as far as the tap reads it, stated once as msgspec Structs.

Each Struct names only the keys the tap uses; every other key Zoho sends is ignored, so that a
key Zoho adds in a later version changes nothing. Where versions differ the Struct takes every
form seen (reference §1.2, the seeds in Zoho's own samples, the simulator's answers for v2 ...
v8): a module is a string in v2 and `{"id", "api_name"}` from v2.1, ids are strings but numbers
in some samples, optional keys may be missing. Numbers and booleans sent as strings are read as
numbers and booleans. An answer that does not fit becomes a one-line ZohoAPIError naming what
was missing or wrong, never a traceback.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, NamedTuple, TypeVar

import msgspec

from tap_zoho_bulk.errors import ZohoAPIError

T = TypeVar("T")

#: Zoho sends ids as 19-digit strings; a few samples and SDKs have numbers.
Id = str | int
#: `data` of a bulk read answer: Zoho always sends exactly one entry (reference §4.5).
OneOrMore = msgspec.Meta(min_length=1)
UNEXPECTED_RESPONSE = "UNEXPECTED_RESPONSE"


def decode(
    content: bytes, answer: type[T], *, status: int, what: str, exact_decimals: bool = False
) -> T:
    """`content` read as `answer`; a ZohoAPIError naming what does not fit otherwise. With
    `exact_decimals`, a JSON number with a fraction in an untyped part becomes a Decimal of its
    own digits rather than a float."""
    try:
        if exact_decimals:
            decoder = msgspec.json.Decoder(answer, strict=False, float_hook=Decimal)
            return decoder.decode(content)
        return msgspec.json.decode(content, type=answer, strict=False)
    except msgspec.DecodeError as exc:
        msg = f"{what} is not shaped as Zoho documents it ({exc}); please report it"
        raise ZohoAPIError(status, UNEXPECTED_RESPONSE, msg) from None


def id_text(value: Id | None) -> str | None:
    """An id as the tap keeps it: a string, whatever Zoho sent."""
    return None if value is None else str(value)


# -- OAuth (reference §2.1) ---------------------------------------------------------------------


class TokenAnswer(msgspec.Struct):
    """The accounts server's answer to the refresh-token grant, a token or `{"error": ...}`.

    The legacy shape had `expires_in_sec` in seconds and `expires_in` in milliseconds.
    """

    access_token: str | None = None
    api_domain: str | None = None
    expires_in: float | None = None
    expires_in_sec: float | None = None
    error: str | None = None
    error_description: str | None = None


# -- errors (reference §3) ----------------------------------------------------------------------


class ErrorEnvelope(msgspec.Struct):
    """`{"code", "message", "details", "status": "error"}`; details is an object or an array."""

    code: Id | None = None
    message: str | None = None
    details: Any = None
    status: str | int | None = None


class _ErrorAnswer(ErrorEnvelope):
    """The envelope as it is, or wrapped like an action answer: `{"data": [envelope]}`."""

    data: list[ErrorEnvelope] | None = None


class ZohoError(NamedTuple):
    """What an error answer says, whatever its form."""

    code: str
    message: str
    details: Any


def error_of(status: int, content: bytes, reason: str) -> ZohoError:
    """The error an answer carries, its code always set: `HTTP_{status}` when the body is no
    envelope (an HTML page of a proxy, or nothing)."""
    try:
        answer = msgspec.json.decode(content, type=_ErrorAnswer, strict=False)
    except msgspec.DecodeError:
        return ZohoError(f"HTTP_{status}", reason or "no body", None)
    envelope: ErrorEnvelope = answer.data[0] if answer.data else answer
    return ZohoError(
        str(envelope.code or f"HTTP_{status}"),
        envelope.message or "no error message",
        envelope.details,
    )


# -- Bulk Read (reference §4.5, §5) -------------------------------------------------------------


class CreatedJob(msgspec.Struct):
    id: Id


class CreateEntry(msgspec.Struct):
    details: CreatedJob


class CreateAnswer(msgspec.Struct):
    """`{"data": [{"status": "success", "details": {"id": ..., "state": "ADDED"}}]}` (201)."""

    data: Annotated[list[CreateEntry], OneOrMore]

    @property
    def job_id(self) -> str:
        return str(self.data[0].details.id)


class JobError(msgspec.Struct):
    """A failed job's `result.error_message` when it is an object (the docs' shape)."""

    code: str | None = None
    message: str | None = None


class ReadResult(msgspec.Struct):
    """`result` of a finished job; v7+ add `next_page_token` when there are more records."""

    page: int | None = None
    count: int = 0
    more_records: bool = False
    next_page_token: str | None = None
    # An object in the docs (S4); a plain string in some answers.
    error_message: JobError | str | None = None


class ReadJob(msgspec.Struct):
    """A bulk read job; `result` only once it is COMPLETED or FAILURE."""

    state: str
    result: ReadResult | None = None


class ReadJobAnswer(msgspec.Struct):
    """`{"data": [job]}` of GET /crm/bulk/{version}/read/{id}."""

    data: Annotated[list[ReadJob], OneOrMore]

    @property
    def job(self) -> ReadJob:
        return self.data[0]


# -- Bulk Write (reference §9.1) ----------------------------------------------------------------


class ModuleRef(msgspec.Struct):
    """A module from v2.1 on; v2 sends the api_name as a plain string."""

    id: Id | None = None
    api_name: str | None = None


Module = str | ModuleRef | None


def module_names(module: Module) -> tuple[str | None, str | None]:
    """(api_name, id) of a module in either form."""
    if isinstance(module, ModuleRef):
        return module.api_name, id_text(module.id)
    return module, None


class User(msgspec.Struct):
    id: Id | None = None
    name: str | None = None


class Callback(msgspec.Struct):
    url: str | None = None
    method: str | None = None


class FieldMapping(msgspec.Struct):
    api_name: str | None = None
    index: int | None = None
    format: str | None = None
    find_by: str | None = None
    module: Module = None
    default_value: dict[str, Any] | None = None
    parent_column_index: int | None = None


class WriteFile(msgspec.Struct):
    """The uploaded file; while the job is ADDED Zoho sends its status alone."""

    name: str | None = None
    status: str | None = None
    added_count: int | None = None
    skipped_count: int | None = None
    updated_count: int | None = None
    total_count: int | None = None


class WriteResource(msgspec.Struct):
    module: Module = None
    type: str | None = None
    status: str | None = None
    code: str | None = None
    find_by: str | None = None
    file: WriteFile | None = None
    field_mappings: list[FieldMapping] = []


class WriteResult(msgspec.Struct):
    """Absolute on Zoho's download host, or a path on the API domain in older docs."""

    download_url: str | None = None


class WriteJob(msgspec.Struct):
    """GET /crm/bulk/{version}/write/{id}: the job object itself, not wrapped in `data`."""

    id: Id | None = None
    status: str | None = None
    operation: str | None = None
    character_encoding: str | None = None  # absent while the job is ADDED
    ignore_empty: bool | None = None  # v2.1+
    created_time: str | None = None
    created_by: User | None = None
    callback: Callback | None = None  # v2.1+
    result: WriteResult | None = None  # once COMPLETED
    resource: list[WriteResource] = []

    @property
    def download_url(self) -> str | None:
        return self.result.download_url if self.result else None


# -- CRM settings: discovery (settings/modules, settings/fields) --------------------------------


class CrmModule(msgspec.Struct):
    """One element of settings/modules `modules` (`Module` above is a Bulk Write job's module).

    `api_name` may be null in the v8 spec; `generated_type` is default, web, linking or custom.
    """

    api_name: str | None = None
    api_supported: bool = False
    generated_type: str | None = None
    module_name: str | None = None
    plural_label: str | None = None


class ModulesAnswer(msgspec.Struct):
    """`{"modules": [module]}` of GET /crm/{version}/settings/modules."""

    modules: list[CrmModule] | None = None


class FieldsAnswer(msgspec.Struct):
    """`{"fields": [field]}` of GET /crm/{version}/settings/fields; each field stays a dict, as
    the schema builder reads many of its keys."""

    fields: list[dict[str, Any]] | None = None


# -- deleted records (zoho-beyond-bulk-read.md, "Deleted records"; v8 record.json) -------------


class MinifiedUser(msgspec.Struct):
    """`{"id", "name"}` of a user, as the deleted-records answer names who deleted a record."""

    id: Id | None = None
    name: str | None = None


class DeletedRecord(msgspec.Struct):
    """One element of `data` of GET /crm/{version}/{module}/deleted."""

    id: Id
    type: str | None = None
    deleted_time: str | None = None
    display_name: str | None = None
    deleted_by: MinifiedUser | None = None
    created_by: MinifiedUser | None = None


class PageInfo(msgspec.Struct):
    """`info` of a paged REST answer: whether another page follows."""

    more_records: bool = False
    page: int | None = None
    per_page: int | None = None
    count: int | None = None


class DeletedAnswer(msgspec.Struct):
    """`{"data": [...], "info": {...}}` of GET /crm/{version}/{module}/deleted."""

    data: list[DeletedRecord] | None = None
    info: PageInfo | None = None


# -- COQL (zoho-beyond-bulk-read.md, "COQL"; v8 coql.json) ---------------------------------------


class CoqlAnswer(msgspec.Struct):
    """`{"data": [record], "info": {...}}` of POST /crm/{version}/coql; records stay JSON
    objects (their keys are the query's columns)."""

    data: list[dict[str, Any]] | None = None
    info: PageInfo | None = None
