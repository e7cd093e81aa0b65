"""The HTTP face of the simulator: routing, auth, credits, faults, and a keep-alive transport.

`ZohoApp` turns a parsed `Request` into a `Response` (no sockets involved), in the order Zoho's
gateway appears to apply its checks: unknown path (404, no auth), wrong method (400, no auth),
then the injected faults, then authentication and scopes, then the endpoint itself. Besides the
metadata and Bulk Read/Write endpoints it serves `GET /crm/{version}/{module}/deleted` (Zoho's
"Get Deleted Records", 2 credits a call), `POST /crm/{version}/coql` (COQL, see `coql.py`; 1 to 3
credits by its LIMIT) and the admin API under `/__simulator__/`. The transport
(`_Handler`) only reads bodies, streams responses with an exact Content-Length so keep-alive
clients work, and carries out the transport-level faults (socket reset, truncated body).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO, Unpack
from urllib.parse import parse_qs, urlsplit

from . import coql
from .bulk_write import ORG_ID, BulkWrites
from .catalog import USERS
from .data import Changes, Dataset, DeletedRecord
from .faults import Fault, FaultRegistry, FaultSpecError
from .jobs import ApiError, ApiVersion, BulkReads, Clock, format_time
from .oauth import (
    THROTTLED_BODY,
    AccessToken,
    TokenStore,
    bulk_read_scope_ok,
    bulk_write_scope_ok,
    coql_scope_ok,
    module_read_scope_ok,
    settings_scope_ok,
)
from .tamper import DATA_ACTIONS, TamperError, tamper_result

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
CREATE_JOB_CREDITS = 50
DELETED_RECORDS_CREDITS = 2  # "Get IDs of deleted records" in Zoho's credit table
DELETED_MAX_PER_PAGE = 200
DELETED_TYPES = ("all", "recycle", "permanent")
_GATEWAY_JSON = "application/json;charset=utf-8"
_NOT_FOUND_PATH = ApiError(
    404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
)
_BAD_METHOD = ApiError(
    400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
)
_SCOPE_MISMATCH = ApiError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
_AUTH_ERRORS = {
    "AUTHENTICATION_FAILURE": ApiError(401, "AUTHENTICATION_FAILURE", "Authentication failed"),
    "INVALID_TOKEN": ApiError(401, "INVALID_TOKEN", "invalid oauth token"),
}
_INTERNAL_ERROR = ApiError(500, "INTERNAL_ERROR", "Internal Server Error")
_FAULT_ERRORS = {
    429: ApiError(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again after some time."),
    500: _INTERNAL_ERROR,
}
_GATEWAY_PAGES = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}


@dataclass(frozen=True)
class Request:
    """What the transport hands the application: method, path, first value per query key."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] | Message = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Response:
    """A reply; `file` (an open handle the transport closes) is streamed instead of `body`."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: BinaryIO | None = None
    error_code: str | None = None
    delivery: str = "normal"
    credits: int | None = None
    """What the call costs when not the route's usual price (COQL: by its LIMIT)."""


def json_response(status: int, payload: object, content_type: str = "application/json") -> Response:
    """Serialise a JSON reply."""
    return Response(status, json.dumps(payload).encode(), content_type)


def error_response(error: ApiError, *, gateway: bool = False) -> Response:
    """Zoho's error envelope; gateway errors carry the charset-suffixed content type (seed 000)."""
    response = json_response(
        error.status, error.body(), _GATEWAY_JSON if gateway else "application/json"
    )
    response.error_code = error.code
    if error.retry_after is not None:
        response.headers.append(("Retry-After", str(error.retry_after)))
    return response


ApiHandler = Callable[[Request, Mapping[str, str], AccessToken], Response]
"""A Zoho API endpoint: runs only after the access token was checked."""
OpenHandler = Callable[[Request, Mapping[str, str]], Response]
"""An endpoint without Zoho auth: the token endpoint and the admin API."""


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    kind: str | None
    api: Mapping[str, ApiHandler] = field(default_factory=dict)
    public: Mapping[str, OpenHandler] = field(default_factory=dict)


class ZohoApp:
    """Routes requests to Zoho's endpoints and the admin API; keeps calls, credits and errors."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        clock: Clock,
        tokens: TokenStore,
        reads: BulkReads,
        writes: BulkWrites,
        faults: FaultRegistry,
        fields_no_content: frozenset[str],
    ) -> None:
        self.dataset = dataset
        self.clock = clock
        self.tokens = tokens
        self.reads = reads
        self.writes = writes
        self.faults = faults
        self._fields_no_content = fields_no_content
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self.credits_used = 0
        version = r"(?P<ver>v[0-9.]+)"
        job = r"(?P<job>[^/]+)"
        self._routes = [
            _route(r"/oauth/v2/token", "token", public={"POST": self._token}),
            _route(rf"/crm/{version}/settings/modules", "modules", api={"GET": self._modules}),
            _route(
                rf"/crm/{version}/settings/modules/(?P<module>[^/]+)",
                "modules",
                api={"GET": self._module},
            ),
            _route(rf"/crm/{version}/settings/fields", "fields", api={"GET": self._fields}),
            _route(rf"/crm/{version}/coql", "coql", api={"POST": self._coql}),
            _route(
                rf"/crm/{version}/(?P<module>[^/]+)/deleted", "deleted", api={"GET": self._deleted}
            ),
            _route(rf"/crm/bulk/{version}/read", "create", api={"POST": self._create}),
            _route(rf"/crm/bulk/{version}/read/{job}", "poll", api={"GET": self._poll}),
            _route(
                rf"/crm/bulk/{version}/read/{job}/result", "download", api={"GET": self._download}
            ),
            _route(rf"/crm/bulk/{version}/write/{job}", "write", api={"GET": self._write}),
            _route(
                rf"/v2/crm/{ORG_ID}/bulk-write/{job}/(?P<file>[^/]+)\.zip",
                "write",
                api={"GET": self._write_result},
            ),
            _route(r"/__simulator__/stats", None, public={"GET": self._admin_stats}),
            _route(r"/__simulator__/advance", None, public={"POST": self._admin_advance}),
            _route(r"/__simulator__/mutate", None, public={"POST": self._admin_mutate}),
            _route(
                r"/__simulator__/faults",
                None,
                public={
                    "GET": self._admin_faults,
                    "POST": self._admin_add_faults,
                    "DELETE": self._admin_clear_faults,
                },
            ),
            _route(
                r"/__simulator__/expire-tokens", None, public={"POST": self._admin_expire_tokens}
            ),
            _route(
                r"/__simulator__/expire-page-tokens",
                None,
                public={"POST": self._admin_expire_page_tokens},
            ),
        ]

    # -- pipeline -------------------------------------------------------------------------

    def respond(self, request: Request) -> Response:
        """The whole request pipeline: routing, faults, auth, endpoint, credits, bookkeeping."""
        response = self._respond(request)
        if response.error_code is not None:
            with self._lock:
                self._errors[response.error_code] += 1
        return response

    def _respond(self, request: Request) -> Response:
        route, params = self._match(request.path)
        if route is None:
            return error_response(_NOT_FOUND_PATH, gateway=True)
        if request.method not in route.api and request.method not in route.public:
            return error_response(_BAD_METHOD, gateway=True)
        if route.kind is None:
            return route.public[request.method](request, params)
        with self._lock:
            self._calls[route.kind] += 1
        delivery, refusal, rewrites = self._apply_faults(self.faults.draw(route.kind))
        if refusal is not None:
            response = self._fault_response(refusal)
        else:
            response = self._serve(route, request, params)
            if "fail-job" in rewrites:
                self._fail_created_job(response)
            elif rewrites:
                response = self._tampered(response, params, rewrites)
        response.delivery = delivery
        return response

    def _apply_faults(self, fired: list[Fault]) -> tuple[str, Fault | None, list[str]]:
        """Carry out the faults that act now; say how to deliver, what to refuse with, and
        which faults rewrite the reply (data faults) or its job (fail-job)."""
        delivery = "normal"
        refusal: Fault | None = None
        rewrites: list[str] = []
        for fault in fired:
            if fault.action == "slow":
                time.sleep(fault.delay)
            elif fault.action == "expire-token":
                self.tokens.expire_all()
            elif fault.action == "expire-page-token":
                self.reads.expire_page_tokens()
            elif fault.action in ("reset", "truncate"):
                delivery = fault.action
            elif fault.action in DATA_ACTIONS or fault.action == "fail-job":
                rewrites.append(fault.action)
            elif refusal is None:
                refusal = fault
        return delivery, refusal, rewrites

    def _fail_created_job(self, response: Response) -> None:
        """Make the job a create call just started end in FAILURE (the `fail-job` fault)."""
        if response.status != 201:
            return
        job = self.reads.get(str(json.loads(response.body)["data"][0]["details"]["id"]))
        if job is not None:
            job.fails = True

    def _tampered(
        self, response: Response, params: Mapping[str, str], actions: list[str]
    ) -> Response:
        """The result ZIP rewritten by data faults; error replies pass through unchanged."""
        job = self.reads.get(params.get("job", ""))
        if response.file is None or response.status != 200 or job is None:
            return response
        types = {f.api_name: f.value_type for f in job.module.fields}
        try:
            content = response.file.read()
        finally:
            response.file.close()
            response.file = None
        try:
            response.body = tamper_result(content, actions, types)
        except TamperError as exc:
            log.warning("simulator: serving job %s unchanged: %s", job.id, exc)
            response.body = content
        return response

    def _match(self, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            params = match.groupdict()
            if "ver" in params and ApiVersion.parse(params["ver"]) is None:
                continue
            return route, params
        return None, {}

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.action == "throttle":
            return json_response(400, THROTTLED_BODY)
        status = int(fault.action)
        if status in _GATEWAY_PAGES:
            # A proxy in front of Zoho answers with HTML, not the JSON envelope: taps must cope.
            title = _GATEWAY_PAGES[status]
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return Response(status, page.encode(), "text/html")
        return error_response(_FAULT_ERRORS[status])

    def _serve(self, route: _Route, request: Request, params: Mapping[str, str]) -> Response:
        if request.method in route.public:
            return route.public[request.method](request, params)
        token = self.tokens.authenticate(request.headers.get("Authorization"))
        if isinstance(token, str):
            return error_response(_AUTH_ERRORS[token])
        response = route.api[request.method](request, params, token)
        if response.credits is not None:
            cost = response.credits
        elif route.kind == "create" and response.status == 201:
            cost = CREATE_JOB_CREDITS
        elif route.kind == "deleted" and response.status in (200, 204):
            cost = DELETED_RECORDS_CREDITS
        else:
            cost = 0 if response.status == 429 else 1
        with self._lock:
            self.credits_used += cost
        response.headers.append(
            ("X-ACCESSTOKEN-RESET", format_time(token.expires_at, self.reads.settings.tz))
        )
        return response

    # -- OAuth ----------------------------------------------------------------------------

    def _token(self, request: Request, _params: Mapping[str, str]) -> Response:
        values = dict(request.query)
        if request.body:
            form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
            values |= {key: items[0] for key, items in form.items()}
        return json_response(200, self.tokens.exchange(values))

    # -- metadata -------------------------------------------------------------------------

    def _modules(
        self, _request: Request, _params: Mapping[str, str], token: AccessToken
    ) -> Response:
        if not settings_scope_ok(token.grant.scopes, "modules"):
            return error_response(_SCOPE_MISMATCH)
        return json_response(
            200, {"modules": [m.metadata() for m in self.dataset.modules.values()]}
        )

    def _module(self, _request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        if not settings_scope_ok(token.grant.scopes, "modules"):
            return error_response(_SCOPE_MISMATCH)
        module = self.dataset.modules.get(params["module"])
        if module is None:
            return error_response(_invalid_module())
        return json_response(200, {"modules": [module.metadata()]})

    def _fields(self, request: Request, _params: Mapping[str, str], token: AccessToken) -> Response:
        if not settings_scope_ok(token.grant.scopes, "fields"):
            return error_response(_SCOPE_MISMATCH)
        name = request.query.get("module")
        if not name:
            return error_response(
                ApiError(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "module"},
                )
            )
        module = self.dataset.modules.get(name)
        if module is None:
            return error_response(_invalid_module())
        if module.fields_no_content or name in self._fields_no_content:
            return Response(204, content_type=None)
        wanted = request.query.get("type", "used")
        fields = [f.metadata() for f in module.fields]
        if wanted != "all":
            fields = [f for f in fields if f.get("type", "used") == wanted]
        return json_response(200, {"fields": fields})

    # -- deleted records ------------------------------------------------------------------

    def _deleted(self, request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        """Zoho's "Get Deleted Records": recycle bin and permanent deletions, latest first."""
        name = params["module"]
        module = self.dataset.modules.get(name)
        custom = module is not None and module.generated_type == "custom"
        if not module_read_scope_ok(token.grant.scopes, name, custom=custom):
            return error_response(_SCOPE_MISMATCH)
        if module is None or not module.api_supported:
            return error_response(_invalid_module())
        tz = self.reads.settings.tz
        query = _deleted_query(request, tz)
        if isinstance(query, ApiError):
            return error_response(query)
        kind, page, per_page, since = query
        records = self.dataset.deleted(name, kind=kind, since=since)
        shown = records[(page - 1) * per_page : page * per_page]
        if not shown:
            return Response(204, content_type=None)
        info = {
            "per_page": per_page,
            "count": len(shown),
            "page": page,
            "more_records": len(records) > page * per_page,
        }
        return json_response(200, {"data": [_deleted_entry(r, tz) for r in shown], "info": info})

    # -- COQL -----------------------------------------------------------------------------

    def _coql(self, request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        """Zoho's "Get Records through a COQL Query": the coql scope, the query, the module's
        read scope, then the records of a snapshot taken now (see `coql.py`)."""
        version = _version(params)
        if not coql_scope_ok(token.grant.scopes):
            return error_response(_SCOPE_MISMATCH)
        plan = self._coql_plan(request, version, token.grant.scopes)
        if isinstance(plan, ApiError):
            return error_response(plan)
        # The data is read now, in real time, like a Bulk Read job created at this moment.
        snapshot = self.dataset.snapshot(at=datetime.now(UTC))
        status, payload = coql.execute(self.dataset, plan, snapshot)
        response = Response(status, payload, "application/json" if payload else None)
        response.credits = coql.credits(plan.count)
        return response

    def _coql_plan(
        self, request: Request, version: ApiVersion, scopes: tuple[str, ...]
    ) -> coql.Plan | ApiError:
        body = _json_body(request)
        query = body if isinstance(body, ApiError) else coql.query_of(body)
        if isinstance(query, ApiError):
            return query
        statement = coql.parse(query)
        if isinstance(statement, ApiError):
            return statement
        module = coql.module_of(self.dataset.modules, statement)
        if isinstance(module, ApiError):
            return module
        if not self._module_scope_ok(scopes, module.api_name):
            return _SCOPE_MISMATCH
        return coql.plan(self.dataset, version, statement, module)

    # -- bulk read ------------------------------------------------------------------------

    def _create(self, request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        version = _version(params)
        scopes = token.grant.scopes
        if not bulk_read_scope_ok(scopes):
            return error_response(_SCOPE_MISMATCH)
        body = _json_body(request)
        if isinstance(body, ApiError):
            return error_response(body)
        parsed = self.reads.parse(version, body, token.grant.user)
        if isinstance(parsed, ApiError):
            return error_response(parsed)
        if not self._module_scope_ok(scopes, parsed.module):
            return error_response(_SCOPE_MISMATCH)
        job = self.reads.create(version, token.grant.user, parsed)
        if isinstance(job, ApiError):
            return error_response(job)
        return json_response(201, self.reads.created_body(job))

    def _job_access(self, job_id: str, token: AccessToken) -> ApiError | None:
        """Scope checks shared by poll and download: bulk read, then read on the job's module."""
        scopes = token.grant.scopes
        if not bulk_read_scope_ok(scopes):
            return _SCOPE_MISMATCH
        job = self.reads.get(job_id)
        if job is None:
            return ApiError(
                404,
                "RESOURCE_NOT_FOUND",
                "The requested resource doesn't exist.",
                {"resource": job_id},
            )
        if not self._module_scope_ok(scopes, job.module.api_name):
            return _SCOPE_MISMATCH
        return None

    def _module_scope_ok(self, scopes: tuple[str, ...], name: str) -> bool:
        module = self.dataset.modules.get(name)
        if module is None:  # validation reports the unknown module
            return True
        return module_read_scope_ok(scopes, name, custom=module.generated_type == "custom")

    def _poll(self, _request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        denied = self._job_access(params["job"], token)
        if denied is not None:
            return error_response(denied)
        job = self.reads.get(params["job"])
        assert job is not None
        return json_response(200, {"data": [self.reads.render(job, _version(params))]})

    def _download(
        self, _request: Request, params: Mapping[str, str], token: AccessToken
    ) -> Response:
        job_id = params["job"]
        denied = self._job_access(job_id, token)
        if denied is not None and denied.code != "RESOURCE_NOT_FOUND":
            return error_response(denied)
        result = self.reads.download(job_id)
        if isinstance(result, ApiError):
            return error_response(result)
        try:
            # Opened here: once open, a retention sweep deleting the file cannot cut the reply.
            handle = result.open("rb")
        except FileNotFoundError:
            return error_response(
                ApiError(
                    404,
                    "RESOURCE_NOT_FOUND",
                    "The requested resource doesn't exist.",
                    {"resource": job_id},
                )
            )
        return Response(
            200,
            content_type="application/zip",
            headers=[("Content-Disposition", f'attachment; filename="{job_id}.zip"')],
            file=handle,
        )

    # -- bulk write -----------------------------------------------------------------------

    def _write(self, _request: Request, params: Mapping[str, str], token: AccessToken) -> Response:
        if not bulk_write_scope_ok(token.grant.scopes):
            return error_response(_SCOPE_MISMATCH)
        job = self.writes.render(params["job"], _version(params))
        if isinstance(job, ApiError):
            return error_response(job)
        return json_response(200, job)

    def _write_result(
        self, _request: Request, params: Mapping[str, str], token: AccessToken
    ) -> Response:
        if not bulk_write_scope_ok(token.grant.scopes):
            return error_response(_SCOPE_MISMATCH)
        if params["file"] != params["job"]:
            return error_response(_NOT_FOUND_PATH, gateway=True)
        content = self.writes.result_zip(params["job"])
        if isinstance(content, ApiError):
            return error_response(content)
        disposition = f'attachment; filename="{params["job"]}.zip"'
        return Response(200, content, "application/zip", [("Content-Disposition", disposition)])

    # -- admin ----------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """Everything a test or a curious user may want to assert on."""
        described = self.faults.describe()
        with self._lock:
            calls = dict(self._calls)
            errors = dict(self._errors)
            credits_used = self.credits_used
        return {
            "now": format_time(self.clock.now(), self.reads.settings.tz),
            "clock_offset_seconds": self.clock.offset,
            "credits_used": credits_used,
            "calls": calls,
            "token_requests": calls.get("token", 0),
            "tokens_issued": self.tokens.issued,
            "errors": errors,
            "jobs": self.reads.describe(),
            "jobs_in_flight": self.reads.in_flight(),
            "downloads": {
                "served": self.reads.downloads_served,
                "refused": self.reads.downloads_refused,
            },
            "faults": described,
            "faults_fired": self.faults.fired_counts(),
            "bulk_write_jobs": self.writes.ids(),
            "workdir": str(self.reads.workdir),
        }

    def mutate(self, **changes: Unpack[Changes]) -> dict[str, dict[str, object]]:
        """Change the data (see `Dataset.mutate`); stamped with real UTC now because taps
        window on their own clock."""
        return self.dataset.mutate(now=datetime.now(UTC), **changes)

    def _admin_stats(self, _request: Request, _params: Mapping[str, str]) -> Response:
        return json_response(200, self.stats())

    def _admin_advance(self, request: Request, _params: Mapping[str, str]) -> Response:
        payload = _admin_json(request)
        seconds = payload.get("seconds") if isinstance(payload, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return json_response(400, {"error": 'body must be {"seconds": <non-negative number>}'})
        offset = self.clock.advance(float(seconds))
        self.reads.sweep()
        return json_response(
            200,
            {
                "clock_offset_seconds": offset,
                "now": format_time(self.clock.now(), self.reads.settings.tz),
            },
        )

    def _admin_mutate(self, request: Request, _params: Mapping[str, str]) -> Response:
        payload = _admin_json(request)
        if not isinstance(payload, dict) or not set(payload) <= _MUTATE_KEYS:
            return json_response(
                400, {"error": f"body must be an object with keys among {sorted(_MUTATE_KEYS)}"}
            )
        add, modify = payload.get("add", 0), payload.get("modify", 0)
        if not (_is_count(add) and _is_count(modify)):
            return json_response(400, {"error": "add/modify must be a count or {module: count}"})
        removals = {key: payload.get(key, 0) for key in ("delete", "purge", "restore")}
        if not all(map(_is_targets, removals.values())):
            return json_response(
                400,
                {"error": "delete/purge/restore must be a count or {module: count or [id, ...]}"},
            )
        permanent = payload.get("permanent", False)
        if not isinstance(permanent, bool):
            return json_response(400, {"error": "permanent must be true or false"})
        try:
            done = self.mutate(add=add, modify=modify, permanent=permanent, **removals)
        except (KeyError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, done)

    def _admin_faults(self, _request: Request, _params: Mapping[str, str]) -> Response:
        return json_response(200, self.faults.describe())

    def _admin_add_faults(self, request: Request, _params: Mapping[str, str]) -> Response:
        payload = _admin_json(request)
        specs: object = None
        if isinstance(payload, dict):
            specs = payload.get("specs", [payload["spec"]] if "spec" in payload else None)
        elif isinstance(payload, list):
            specs = payload
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            return json_response(
                400, {"error": 'body must be {"spec": SPEC} or {"specs": [SPEC, ...]}'}
            )
        try:
            for spec in specs:
                self.faults.add(spec)
        except FaultSpecError as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, self.faults.describe())

    def _admin_clear_faults(self, _request: Request, _params: Mapping[str, str]) -> Response:
        self.faults.clear()
        return json_response(200, self.faults.describe())

    def _admin_expire_tokens(self, _request: Request, _params: Mapping[str, str]) -> Response:
        return json_response(200, {"expired": self.tokens.expire_all()})

    def _admin_expire_page_tokens(self, _request: Request, _params: Mapping[str, str]) -> Response:
        return json_response(200, {"expired": self.reads.expire_page_tokens()})


def _route(
    pattern: str,
    kind: str | None,
    *,
    api: Mapping[str, ApiHandler] | None = None,
    public: Mapping[str, OpenHandler] | None = None,
) -> _Route:
    return _Route(re.compile(pattern), kind, api or {}, public or {})


def _version(params: Mapping[str, str]) -> ApiVersion:
    version = ApiVersion.parse(params["ver"])
    assert version is not None  # routing only matches known versions
    return version


def _invalid_module() -> ApiError:
    # Zoho's OAS gives {"resource_path_index": 0} for a bad module in the path; no sample was found
    # for the `module` query parameter of settings/fields, so the same envelope is used there.
    return ApiError(
        400,
        "INVALID_MODULE",
        "the module name given seems to be invalid",
        {"resource_path_index": 0},
    )


def _json_body(request: Request) -> object:
    """The create-job body, or the error Zoho gives for a wrong content type or bad JSON."""
    if "application/json" not in str(request.headers.get("Content-Type") or "").lower():
        return ApiError(
            415, "MEDIA_TYPE_NOT_SUPPORTED", "Media type is not supported.", ["application/json"]
        )
    if not request.body.strip():
        return ApiError(400, "REQUEST_BODY_IS_EMPTY", "request body is empty")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return ApiError(400, "REQUEST_BODY_NOT_SUPPORTED", "request body contains invalid format")


def _admin_json(request: Request) -> object:
    try:
        return json.loads(request.body or b"{}")
    except ValueError:
        return None


_MUTATE_KEYS = frozenset({"add", "modify", "delete", "permanent", "purge", "restore"})


def _is_count(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_count(v) for k, v in value.items())
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_targets(value: object) -> bool:
    """A count, or per module a count or a list of record ids (strings)."""
    if isinstance(value, dict):
        return all(
            isinstance(k, str)
            and (_is_count(v) or (isinstance(v, list) and all(isinstance(i, str) for i in v)))
            for k, v in value.items()
        )
    return _is_count(value)


def _deleted_query(request: Request, tz: timezone) -> tuple[str, int, int, float | None] | ApiError:
    """type, page, per_page and If-Modified-Since (epoch seconds) of a deleted-records call."""
    kind = request.query.get("type", "all")
    if kind not in DELETED_TYPES:
        return _invalid_param("type")
    page = _whole(request.query.get("page", "1"))
    if page is None:
        return _invalid_param("page")
    per_page = _whole(request.query.get("per_page", str(DELETED_MAX_PER_PAGE)))
    if per_page is None or per_page > DELETED_MAX_PER_PAGE:
        return _invalid_param("per_page")
    header = request.headers.get("If-Modified-Since")
    since = None
    if header is not None:
        try:
            moment = datetime.fromisoformat(str(header).strip())
        except ValueError:
            return ApiError(
                400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"}
            )
        since = (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()
    return kind, page, per_page, since


def _whole(text: str) -> int | None:
    """A positive integer query value, or None."""
    return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None


def _invalid_param(name: str) -> ApiError:
    return ApiError(400, "INVALID_DATA", "invalid data", {"param_name": name})


_USER_NAMES = {user.id: user.full_name for user in USERS}


def _deleted_entry(record: DeletedRecord, tz: timezone) -> dict[str, object]:
    """One element of `data`, keys in the order of v8's Deleted_Record schema."""

    def user(user_id: str) -> dict[str, object]:
        return {"name": _USER_NAMES.get(user_id, ""), "id": user_id}

    return {
        "deleted_by": user(record.deleted_by),
        "id": record.id,
        "display_name": record.display_name,
        "type": record.type,
        "created_by": None if record.created_by is None else user(record.created_by),
        "deleted_time": format_time(record.deleted_at, tz),
    }


# -- transport ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """One connection: parse requests, ask the app, write replies; keep-alive by default."""

    protocol_version = "HTTP/1.1"
    server_version = "ZGS"
    sys_version = ""
    server: SimulatorHTTPServer

    def version_string(self) -> str:
        """Zoho's gateway calls itself ZGS."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY a keep-alive client
        # waits for the delayed ACK on every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method reaches the router, so unknown ones get Zoho's INVALID_REQUEST_METHOD
        # rather than http.server's 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(self.command, split.path, query, self.headers, body)
        try:
            response = self.server.app.respond(request)
        except Exception:
            log.exception("simulator error on %s %s", self.command, split.path)
            response = error_response(_INTERNAL_ERROR)
        self._send(response, split.path)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # the body's end is unknown: do not reuse the socket
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response, path: str) -> None:
        try:
            self._send_open(response, path)
        finally:
            if response.file is not None:
                response.file.close()

    def _send_open(self, response: Response, path: str) -> None:
        if response.file is not None:
            size = os.fstat(response.file.fileno()).st_size
        else:
            size = len(response.body)
        limit = size // 2 if response.delivery in ("reset", "truncate") else size
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status != 204:
            announced = limit if response.delivery == "truncate" else size
            self.send_header("Content-Length", str(announced))
        self.end_headers()
        if self.server.verbose:
            print(f"{self.command} {path} {response.status}", file=sys.stderr, flush=True)
        try:
            if self.command != "HEAD" and response.status != 204:
                self._write_body(response, limit)
        except OSError:
            self.close_connection = True
            return
        if response.delivery == "reset":
            self._reset()

    def _write_body(self, response: Response, limit: int) -> None:
        if response.file is None:
            self.wfile.write(response.body[:limit])
            return
        remaining = limit
        while remaining > 0:
            chunk = response.file.read(min(CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _reset(self) -> None:
        """Abort the connection with a TCP reset, mid-body, as a dropped download looks."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines may carry client secrets and refresh tokens in the query."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Logging happens in `_send`, without the query string."""


class SimulatorHTTPServer(ThreadingHTTPServer):
    """Threading server that knows its open connections, so stop() can close idle keep-alives."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], *, ipv6: bool, verbose: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.app: ZohoApp
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (slow without DNS); nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-request are routine (taps get killed); other errors are not."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        log.exception("simulator: unexpected error on a connection")

    def track(self, connection: socket.socket, *, add: bool) -> None:
        """Remember (or forget) a live connection."""
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every live connection so handler threads blocked on keep-alive exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
