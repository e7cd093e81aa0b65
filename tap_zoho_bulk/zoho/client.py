"""HTTP to Zoho CRM: one session, retries, Zoho error mapping, credit accounting, host allowlist.

Everything that talks to the CRM API goes through `ZohoClient`, so credits are counted in one
place, the Authorization header can only ever reach Zoho's hosts (or the configured API domain,
such as the built-in simulator), and every Zoho error becomes an exception with a usable message.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from tap_zoho_bulk.errors import (
    ConfigError,
    CreditBudgetExceeded,
    DownloadLimitError,
    DownloadLockedError,
    RetryableAPIError,
    UnsafeURLError,
    ZohoAPIError,
)
from tap_zoho_bulk.zoho.auth import (
    API_SERVER,
    RetryPolicy,
    TokenManager,
    connection_failure,
    host_of,
    note_answer,
    origin_of,
    shown_origin,
)
from tap_zoho_bulk.zoho.wire import ZohoError, decode, error_of

T = TypeVar("T")

# Credits per call (reference §8: 50 to initialise a bulk read job, 1 for any other CRM call).
BULK_READ_CREDITS = 50
CALL_CREDITS = 1
#: Calls that cost more than one credit, by kind (Zoho's credit table).
CREDITS_BY_KIND = {"create": BULK_READ_CREDITS, "deleted": 2}

# What each kind of call needs, to turn OAUTH_SCOPE_MISMATCH / NO_PERMISSION into a fix.
SCOPE_HINTS = {
    "modules": "The OAuth client needs the scope ZohoCRM.settings.modules.READ "
    "(or ZohoCRM.settings.ALL).",
    "fields": "The OAuth client needs the scope ZohoCRM.settings.fields.READ "
    "(or ZohoCRM.settings.ALL).",
    "bulk": "The OAuth client needs ZohoCRM.bulk.read and ZohoCRM.modules.READ "
    "(or ZohoCRM.modules.{module}.READ for each module).",
    "write": "The OAuth client needs ZohoCRM.bulk.CREATE (or ZohoCRM.bulk.ALL).",
}
# Zoho locks result downloads for the rest of the minute once 10 were made in it (reference
# §6.1), so no single wait for the lockout needs to be longer.
LOCKOUT_SECONDS = 60.0
LOCKOUT_WAIT = (
    "Zoho's download limit is reached (another tool may be downloading from this org); "
    "waiting %.3gs."
)
PERMISSION_HINT = (
    "The Zoho user who authorised the refresh token lacks permission for this; give the user's "
    "profile read access to the module (and 'Export' permission) or deselect the stream."
)


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    kind: str  # modules, fields, create, poll, download, write: for hints and counters
    params: Mapping[str, str] | None
    json: Mapping[str, Any] | None
    download_to: Path | None
    headers: Mapping[str, str] | None = None


class DownloadLimiter:
    """Zoho refuses an 11th result download within a minute and then blocks downloads for a
    minute, so the tap never starts more than `per_minute` downloads in any 60-second window,
    and none at all while Zoho has said that its downloads are locked."""

    def __init__(self, per_minute: int, window_seconds: float = 60.0) -> None:
        if per_minute < 1:
            msg = "downloads_per_minute must be at least 1."
            raise ConfigError(msg)
        self._per_minute = per_minute
        self._window = window_seconds
        self._starts: collections.deque[float] = collections.deque()
        self._locked_until = 0.0
        self._lock = threading.Lock()

    def acquire(
        self, *, deadline: float | None = None, stop: threading.Event | None = None
    ) -> float:
        """Block until a download may start; return the seconds waited.

        Raises DownloadLockedError rather than wait past `deadline` (a `time.monotonic()` value)
        or on after `stop` is set.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self._window:
                    self._starts.popleft()
                pause = self._locked_until - now
                if len(self._starts) >= self._per_minute:
                    pause = max(pause, self._window - (now - self._starts[0]))
                if pause <= 0:
                    self._starts.append(now)
                    return waited
            if deadline is not None and now + pause > deadline:
                msg = (
                    f"No result download could start before the job's time limit: Zoho's "
                    f"download limit (or downloads_per_minute={self._per_minute}) would keep it "
                    f"waiting {pause:.0f}s more."
                )
                raise DownloadLockedError(msg)
            if _pause(pause, stop):
                msg = "The run stopped while waiting for Zoho's download limit."
                raise DownloadLockedError(msg)
            waited += pause

    def lock_for(self, seconds: float) -> None:
        """Hold every download back for `seconds`: Zoho refuses them all during its lockout."""
        with self._lock:
            self._locked_until = max(self._locked_until, time.monotonic() + seconds)


@dataclass
class CreditLedger:
    """Credits spent in this run, in total and per stream, with an optional ceiling."""

    budget: int | None
    total: int = 0
    by_stream: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, credits: int, stream: str, what: str) -> None:
        """Record `credits` for `stream`, refusing when the ceiling would be passed."""
        with self._lock:
            if self.budget is not None and self.total + credits > self.budget:
                msg = (
                    f"Not starting {what} for '{stream}': it costs {credits} credits and this run "
                    f"has spent {self.total} of max_credits_per_run={self.budget}. Raise "
                    "max_credits_per_run or select fewer streams; the next run resumes from the "
                    "last STATE."
                )
                raise CreditBudgetExceeded(msg)
            self.total += credits
            self.by_stream[stream] += credits


class ZohoClient:
    """The CRM API as the rest of the tap sees it."""

    def __init__(
        self,
        *,
        tokens: TokenManager,
        api_domain: str | None,
        trusted_domains: tuple[str, ...],
        retry: RetryPolicy,
        credits: CreditLedger,
        downloads_per_minute: int,
        logger: logging.Logger,
        session: requests.Session,
        pool_size: int = 16,
        timeout: tuple[float, float] = (15.0, 300.0),
    ) -> None:
        self._tokens = tokens
        self._configured_api_domain = api_domain.rstrip("/") if api_domain else None
        self._trusted_domains = trusted_domains
        self.credits = credits
        self._retry = retry
        self._downloads = DownloadLimiter(downloads_per_minute)
        self._logger = logger
        self._timeout = timeout
        self._session = session
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()
        self._with_retries = retry.retrying(self._send, self._log_retry)

    @property
    def api_domain(self) -> str:
        """Configured API domain, else the one Zoho returned with the token."""
        if self._configured_api_domain:
            return self._configured_api_domain
        domain = self._tokens.token().api_domain
        if not domain:
            msg = "Zoho's token response has no api_domain; set api_domain in the config."
            raise ZohoAPIError(0, "NO_API_DOMAIN", msg)
        return domain.rstrip("/")

    def get_as(self, answer: type[T], path: str, *, kind: str, stream: str) -> T:
        """GET an answer of one of the shapes in `wire`."""
        response = self.request("GET", path, kind=kind, stream=stream)
        return _decoded(response, answer, kind, stream)

    def get_as_optional(
        self,
        answer: type[T],
        path: str,
        *,
        kind: str,
        stream: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T | None:
        """GET an answer of one of the shapes in `wire`; None for Zoho's 204 No Content."""
        response = self.request(
            "GET", path, kind=kind, stream=stream, params=params, headers=headers
        )
        if response.status_code == 204 or not response.content:
            return None
        return _decoded(response, answer, kind, stream)

    def post_as(
        self, answer: type[T], path: str, body: Mapping[str, Any], *, kind: str, stream: str
    ) -> T:
        """POST a JSON body and read the answer as one of the shapes in `wire`."""
        response = self.request("POST", path, kind=kind, stream=stream, json=body)
        return _decoded(response, answer, kind, stream)

    def download(
        self,
        url: str,
        dest: Path,
        *,
        kind: str,
        stream: str,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Stream a result file to `dest` (never holding it in memory); returns bytes written.

        A connection cut mid-body or a short body is retried from the start like any other
        transient failure. Zoho's download lockout (HTTP 429: the org's downloads of this minute
        are spent, maybe by another extractor) is waited out for as long as `Retry-After` says,
        else for the minute the lockout lasts at most, and tried again until `deadline` (a
        `time.monotonic()` value; None allows `request_max_tries` tries), with every wait cut
        short when `stop` is set.
        """
        tries = 0
        while True:
            tries += 1
            waited = self._downloads.acquire(deadline=deadline, stop=stop)
            if waited:
                self._logger.info("Waited %.1fs for Zoho's 10-downloads-per-minute limit.", waited)
            try:
                self.request("GET", url, kind=kind, stream=stream, download_to=dest)
            except DownloadLimitError as exc:
                pause = self._lockout_wait(exc, tries, deadline)
            else:
                return dest.stat().st_size
            self._downloads.lock_for(pause)  # the other downloads of this run wait as well
            self._logger.warning(LOCKOUT_WAIT, pause)
            if _pause(pause, stop):
                msg = "The run stopped while waiting for Zoho's download limit."
                raise DownloadLockedError(msg)

    def _lockout_wait(self, exc: DownloadLimitError, tries: int, deadline: float | None) -> float:
        """Seconds to wait before trying a locked-out download again, or the error to stop with.

        Without Retry-After the wait is the whole minute, or request_backoff_max_seconds when
        that is shorter (the longest wait between two tries the user allows).
        """
        wait = self._retry.max_seconds if exc.retry_after is None else exc.retry_after
        wait = min(wait, LOCKOUT_SECONDS)
        if deadline is None:
            if tries < self._retry.max_tries:
                return wait
            spent = f"through {tries} tries"
        else:
            left = deadline - time.monotonic()
            if left > 0:
                return min(wait, left)
            spent = "until the job's time limit"
        msg = (
            f"Zoho's result downloads stayed locked (HTTP 429) {spent}: another tool is "
            "downloading from this org, or its API limits are spent. Lower downloads_per_minute "
            "of the tools sharing the org, or run again later."
        )
        raise DownloadLockedError(msg)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        kind: str,
        stream: str,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        download_to: Path | None = None,
        headers: Mapping[str, str] | None = None,
        credits: int | None = None,
    ) -> requests.Response:
        """One logical call with retries; credits (those of its kind, unless the call says)
        are charged once it is attempted."""
        url = self._absolute(path_or_url)
        call = _Call(method, url, kind, params, json, download_to, headers)
        self._check_host(call.url)
        if credits is None:
            credits = CREDITS_BY_KIND.get(kind, CALL_CREDITS)
        self.credits.reserve(credits, stream, f"a {kind} call")
        with self._calls_lock:
            self.calls[kind] += 1
        return self._with_retries(call)

    def _absolute(self, path_or_url: str) -> str:
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return urljoin(self.api_domain + "/", path_or_url.lstrip("/"))

    def _check_host(self, url: str) -> None:
        """Refuse to send the token anywhere but the API domain or Zoho's own HTTPS hosts.

        The API domain is trusted as an origin (scheme, host and port): another port of the
        same host is another service, and http instead of https would expose the token.
        """
        if origin_of(url) == origin_of(self.api_domain):
            return
        host = host_of(url)
        zoho_host = any(host == d or host.endswith("." + d) for d in self._trusted_domains)
        if zoho_host and urlsplit(url).scheme == "https":
            return
        msg = (
            f"Refusing to send the Zoho access token to {shown_origin(url)}: only the "
            "configured API domain and Zoho's HTTPS hosts of this data centre are trusted."
        )
        raise UnsafeURLError(msg)

    def _log_retry(self, details: Any) -> None:
        self._logger.warning(
            "%s; retry %d in %.1fs.", details.get("exception"), details["tries"], details["wait"]
        )

    def _send(self, call: _Call) -> requests.Response:
        response, token = self._attempt(call)
        if response.status_code == 401 and _error_of(response).code == "INVALID_TOKEN":
            # Expired or revoked early: mint a fresh token and try once more, at once.
            self._tokens.invalidate(token)
            response, token = self._attempt(call)
        if response.status_code < 300:
            return response
        raise self._error(response, call.kind, download=call.download_to is not None)

    def _attempt(self, call: _Call) -> tuple[requests.Response, str]:
        token = self._tokens.token().value
        try:
            response = self._session.request(
                call.method,
                call.url,
                params=call.params,
                json=call.json,
                headers={**(call.headers or {}), "Authorization": f"Zoho-oauthtoken {token}"},
                timeout=self._timeout,
                stream=call.download_to is not None,
                allow_redirects=False,
            )
            note_answer(call.url)
            if response.status_code < 300 and call.download_to is not None:
                _save(response, call.download_to)
        except requests.RequestException as exc:
            raise connection_failure(exc, call.url, API_SERVER) from None
        return response, token

    def _error(self, response: requests.Response, kind: str, *, download: bool) -> ZohoAPIError:
        status = response.status_code
        code, message, details = _error_of(response)
        if status == 429 and download:
            return DownloadLimitError(
                status, code, message, details, retry_after=_retry_after(response)
            )
        if status == 429 or status >= 500:
            return RetryableAPIError(status, code, message, details)
        hint = ""
        if code == "OAUTH_SCOPE_MISMATCH":
            hint = SCOPE_HINTS.get("bulk" if kind in {"create", "poll", "download"} else kind, "")
        elif code in {"NO_PERMISSION", "AUTHORIZATION_FAILED"}:
            hint = PERMISSION_HINT
        elif status in {301, 302, 303, 307, 308}:
            hint = "Zoho redirected the call; check data_center, environment and api_domain."
        return ZohoAPIError(status, code, message, details, hint=hint)


def _pause(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep, or wait on `stop` so a stopping run does not sit out the wait; True if stopped."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds when the answer has it in that form (Zoho is not known to send it,
    and an HTTP date there is read as no header)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _error_of(response: requests.Response) -> ZohoError:
    return error_of(response.status_code, response.content, response.reason or "")


def _decoded(response: requests.Response, answer: type[T], kind: str, stream: str) -> T:
    what = f"Zoho's answer to the {kind} call for '{stream}'"
    return decode(response.content, answer, status=response.status_code, what=what)


def _save(response: requests.Response, dest: Path) -> int:
    """Write a streamed body to disk, checking it is as long as the server said."""
    written = 0
    with dest.open("wb") as out:
        for chunk in response.iter_content(chunk_size=1 << 20):
            out.write(chunk)
            written += len(chunk)
    expected = response.headers.get("Content-Length")
    if expected is not None and int(expected) != written:
        raise requests.exceptions.ChunkedEncodingError("short body")
    return written
