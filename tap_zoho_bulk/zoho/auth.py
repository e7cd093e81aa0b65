"""Zoho OAuth: data centres, the refresh-token grant and the one access token every thread shares.

Zoho limits how many access tokens a refresh token may mint and throttles the token endpoint, so
the tap holds exactly one token behind a lock, refreshes it shortly before it expires, and refreshes
it once more only when Zoho says a token is invalid.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import backoff
import msgspec
import requests
import urllib3

from tap_zoho_bulk.errors import AuthError, ConfigError, ConnectionFailedError, RetryableAPIError
from tap_zoho_bulk.zoho.wire import TokenAnswer

T = TypeVar("T")


@dataclass(frozen=True)
class DataCenter:
    """Hosts of one Zoho data centre (reference §1.1, from Zoho's v8 SDK)."""

    accounts_url: str
    api_tld: str  # the part after "zohoapis." in the API domain
    zoho_domains: tuple[str, ...]  # registrable domains of Zoho's own hosts in this centre

    def api_domain(self, environment: str) -> str:
        """The CRM API domain for production, sandbox or developer orgs."""
        prefix = {"production": "www", "sandbox": "sandbox", "developer": "developer"}[environment]
        return f"https://{prefix}.zohoapis.{self.api_tld}"


DATA_CENTERS: dict[str, DataCenter] = {
    "us": DataCenter("https://accounts.zoho.com", "com", ("zohoapis.com", "zoho.com")),
    "eu": DataCenter("https://accounts.zoho.eu", "eu", ("zohoapis.eu", "zoho.eu")),
    "in": DataCenter("https://accounts.zoho.in", "in", ("zohoapis.in", "zoho.in")),
    "au": DataCenter("https://accounts.zoho.com.au", "com.au", ("zohoapis.com.au", "zoho.com.au")),
    "jp": DataCenter("https://accounts.zoho.jp", "jp", ("zohoapis.jp", "zoho.jp")),
    "cn": DataCenter("https://accounts.zoho.com.cn", "com.cn", ("zohoapis.com.cn", "zoho.com.cn")),
    "ca": DataCenter("https://accounts.zohocloud.ca", "ca", ("zohoapis.ca", "zohocloud.ca")),
    "sa": DataCenter("https://accounts.zoho.sa", "sa", ("zohoapis.sa", "zoho.sa")),
}
ENVIRONMENTS = ("production", "sandbox", "developer")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry throttles, server faults and broken connections."""

    max_tries: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 60.0

    def retrying(self, call: Callable[..., T], on_retry: Callable[[Any], None]) -> Callable[..., T]:
        """`call`, retried on RetryableAPIError with exponential backoff and full jitter, unless
        the error says another try is pointless (its retries are spent, or a host never answered).
        """
        decorate = backoff.on_exception(
            backoff.expo,
            RetryableAPIError,
            max_tries=self.max_tries,
            factor=self.base_seconds,
            max_value=self.max_seconds,
            jitter=backoff.full_jitter,
            giveup=_not_worth_retrying,
            on_backoff=on_retry,
            on_giveup=_retries_spent,
            logger=None,
        )
        return decorate(call)

    def __post_init__(self) -> None:
        floats_in(self, "base_seconds", "max_seconds")


def _not_worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, RetryableAPIError) and not exc.worth_retrying


def _retries_spent(details: Any) -> None:
    details["exception"].worth_retrying = False


def floats_in(settings: object, *names: str) -> None:
    """Store these fields of a frozen dataclass as floats.

    singer-sdk reads a config file with `parse_float=Decimal`, so `0.5` in a config.json arrives
    as a Decimal, which cannot be added to the floats of `time.monotonic()` or `random`.
    """
    for name in names:
        object.__setattr__(settings, name, float(getattr(settings, name)))


def data_center(name: str) -> DataCenter:
    """Look up a data centre by its short name, with a one-line error for typos."""
    try:
        return DATA_CENTERS[name.lower()]
    except KeyError:
        known = ", ".join(DATA_CENTERS)
        msg = f"Unknown data_center '{name}': use one of {known}."
        raise ConfigError(msg) from None


def host_of(url: str) -> str:
    """Lower-case host name of a URL ('' when it has none)."""
    return (urlsplit(url).hostname or "").lower()


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a number: no origin we could trust
        port = -1
    return scheme, host_of(url), port or DEFAULT_PORTS.get(scheme)


def shown_origin(url: str) -> str:
    """scheme://host:port of a URL, to name a host in a message: never a path, query or user."""
    scheme, host, port = origin_of(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port and port > 0 else "")


@dataclass(frozen=True)
class Server:
    """One of the two hosts the tap talks to, and the settings that choose it."""

    name: str
    settings: str


ACCOUNTS_SERVER = Server("Zoho's accounts server", "data_center or accounts_url")
API_SERVER = Server("Zoho's API", "data_center, environment or api_domain")

_answered: set[tuple[str, str, int | None]] = set()
_answered_lock = threading.Lock()


def note_answer(url: str) -> None:
    """Remember that this URL's origin answered (any HTTP status) in this process."""
    with _answered_lock:
        _answered.add(origin_of(url))


def connection_failure(
    exc: requests.RequestException, url: str, server: Server
) -> ConnectionFailedError:
    """A one-line error for a request that got no answer, and whether to try it again.

    A host that has answered this process before is worth retrying (a flaky network mid-run);
    one that never answered and refuses connections or has no address is misconfigured, and a
    minute of retries would only hide that.
    """
    what, misconfigured = _what_failed(exc)
    with _answered_lock:
        answered = origin_of(url) in _answered
    where = f"{server.name} at {shown_origin(url)}"
    proxy = _proxy_variable(url)
    if proxy:
        where += f" through the proxy in {proxy}"
    if answered:
        message = (
            f"Lost the connection to {where}: {what} ({type(exc).__name__}), after it had "
            "answered in this run: the network or Zoho is failing"
        )
    else:
        check = f"the proxy in {proxy}, {server.settings}" if proxy else server.settings
        message = f"Could not reach {where}: {what} ({type(exc).__name__}). Check {check}."
    return ConnectionFailedError(message, worth_retrying=answered or not misconfigured)


def _what_failed(exc: requests.RequestException) -> tuple[str, bool]:
    """What went wrong, in words, from the exception's types only (never its text), and
    whether it points at a wrong host rather than a passing fault."""
    causes = list(_causes(exc))
    if any(isinstance(e, socket.gaierror | urllib3.exceptions.NameResolutionError) for e in causes):
        return "the host name did not resolve", True
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        return "connection refused", True
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate or handshake)", False
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out", False
    return "the connection failed or broke", False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest three levels deep)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        pending += [e for e in (*linked, *current.args) if isinstance(e, BaseException)]


def _proxy_variable(url: str) -> str | None:
    """The environment variable whose proxy requests will use for this URL (not its value,
    which may hold a password)."""
    if not requests.utils.get_environ_proxies(url):  # none set, or NO_PROXY exempts the host
        return None
    scheme = urlsplit(url).scheme.lower()
    for name in (f"{scheme}_proxy", "all_proxy"):
        for variable in (name.upper(), name):
            if os.environ.get(variable):
                return variable
    return None


@dataclass
class AccessToken:
    """A live access token and where Zoho says the org's API lives."""

    value: str
    expires_at: float  # time.monotonic() deadline
    api_domain: str | None


class TokenManager:
    """Mints and caches the single access token shared by all streams and threads."""

    def __init__(
        self,
        *,
        accounts_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        data_center_name: str,
        retry: RetryPolicy,
        session: requests.Session,
        logger: logging.Logger,
        timeout: float = 60.0,
    ) -> None:
        self._token_url = accounts_url.rstrip("/") + "/oauth/v2/token"
        self._credentials = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        self._data_center = data_center_name
        self._session = session
        self._logger = logger
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh = retry.retrying(self._refresh_once, self._log_retry)

    def token(self) -> AccessToken:
        """A token valid for at least a few more minutes (or a tenth of its life)."""
        with self._lock:
            token = self._token
            if token is None or time.monotonic() >= token.expires_at:
                token = self._token = self._refresh()
            return token

    def invalidate(self, value: str) -> None:
        """Forget `value` once Zoho calls it invalid, unless another thread replaced it already."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _log_retry(self, details: Any) -> None:
        self._logger.warning(
            "Token request failed (%s); retry %d in %.1fs.",
            details.get("exception"),
            details["tries"],
            details["wait"],
        )

    def _refresh_once(self) -> AccessToken:
        # Credentials go in the form body, never the URL, so no proxy or log ever records them;
        # and never after a redirect, which would post them to whatever host it names.
        try:
            response = self._session.post(
                self._token_url,
                data=self._credentials,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise connection_failure(exc, self._token_url, ACCOUNTS_SERVER) from None
        note_answer(self._token_url)
        if 300 <= response.status_code < 400:
            raise self._redirected(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableAPIError(response.status_code, "TOKEN_ENDPOINT_ERROR", "server error")
        try:
            answer = msgspec.json.decode(response.content, type=TokenAnswer, strict=False)
        except msgspec.DecodeError as exc:
            msg = (
                f"Zoho's accounts server answered HTTP {response.status_code} without a token "
                f"this tap can read ({exc})."
            )
            raise AuthError(msg) from None
        if answer.error:
            raise self._token_error(answer.error, answer.error_description or "")
        if response.status_code != 200 or answer.access_token is None:
            msg = f"Zoho's accounts server answered HTTP {response.status_code} without a token."
            raise AuthError(msg)
        return AccessToken(
            value=answer.access_token,
            expires_at=time.monotonic() + _usable_lifetime(answer),
            api_domain=answer.api_domain,
        )

    def _redirected(self, response: requests.Response) -> AuthError:
        """Zoho's accounts servers answer the token request themselves; a redirect means the
        URL is not theirs or is another data centre's."""
        location = response.headers.get("Location") or ""
        try:
            target = host_of(urljoin(self._token_url, location)) if location else ""
        except ValueError:  # not a URL
            target = ""
        msg = (
            f"{ACCOUNTS_SERVER.name} at {shown_origin(self._token_url)} redirected the token "
            f"request (HTTP {response.status_code}) to {target or 'no usable location'}; the "
            "tap does not follow it, so the credentials went nowhere else. Set data_center to "
            "the Zoho account's data centre, or accounts_url to its accounts server."
        )
        return AuthError(msg)

    def _token_error(self, error: str, description: str) -> Exception:
        """Map Zoho's `{"error": ...}` answers (often HTTP 200) to the likely cause."""
        if error == "Access Denied" or "too many requests" in description.lower():
            return RetryableAPIError(400, "TOKEN_THROTTLED", description or error)
        if error == "invalid_code":
            msg = (
                "Zoho rejected the refresh token (invalid_code): it was revoked, expired, or "
                f"belongs to another data centre than '{self._data_center}'. Generate a new "
                "refresh token for this data centre and update refresh_token."
            )
            return AuthError(msg)
        if error == "invalid_client":
            msg = (
                "Zoho rejected the OAuth client (invalid_client): client_id or client_secret is "
                f"wrong, or the client is registered in another data centre than "
                f"'{self._data_center}' (check data_center / accounts_url)."
            )
            return AuthError(msg)
        msg = f"Zoho's accounts server refused the token request: {error}."
        return AuthError(msg)


def _usable_lifetime(answer: TokenAnswer) -> float:
    """Seconds to keep using a token: its life minus a margin so no call lands on an expired one.

    Zoho's legacy answer carried `expires_in_sec` in seconds and `expires_in` in milliseconds.
    """
    if answer.expires_in_sec is not None:
        lifetime = answer.expires_in_sec
    else:
        lifetime = 3600.0 if answer.expires_in is None else answer.expires_in
    return max(lifetime - min(300.0, lifetime / 10), 1.0)
