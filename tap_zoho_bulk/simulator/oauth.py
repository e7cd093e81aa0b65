"""Zoho's accounts server in miniature: refresh-token grant, access tokens, scopes.

Zoho reports token-endpoint failures with HTTP 200 and an `error` key, so `exchange` returns a
status and a body rather than raising; callers pass them straight to the wire. Access tokens
expire on the simulated clock, so advancing the clock is how tests make a token go stale.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

THROTTLED_BODY: dict[str, object] = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
}


@dataclass(frozen=True)
class User:
    """The CRM user behind a refresh token; jobs and page tokens belong to one."""

    id: str
    name: str


@dataclass(frozen=True)
class Grant:
    """A refresh token the accounts server accepts, with the user and scopes it stands for."""

    refresh_token: str
    user: User
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AccessToken:
    """An issued access token; valid until `expires_at` on the simulated clock."""

    value: str
    grant: Grant
    expires_at: float


class TokenStore:
    """Issues and checks access tokens for the one OAuth client the simulator accepts."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        api_domain: str,
        lifetime: int,
        clock: Callable[[], float],
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._api_domain = api_domain
        self._lifetime = lifetime
        self._clock = clock
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()
        self._issued_values: list[str] = []
        self.issued = 0

    def register(self, refresh_token: str, user: User, scopes: Iterable[str]) -> Grant:
        """Accept another refresh token (a second user, or narrower scopes for a test)."""
        grant = Grant(refresh_token=refresh_token, user=user, scopes=tuple(scopes))
        with self._lock:
            self._grants[refresh_token] = grant
        return grant

    def exchange(self, params: Mapping[str, str]) -> dict[str, object]:
        """Answer a POST /oauth/v2/token call; the HTTP status is always 200, as Zoho's is."""
        if params.get("grant_type") != "refresh_token":
            return {"error": "unsupported_grant_type"}
        if (
            params.get("client_id") != self._client_id
            or params.get("client_secret") != self._client_secret
        ):
            return {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.get(params.get("refresh_token", ""))
            if grant is None:
                return {"error": "invalid_code"}
            value = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._tokens[value] = AccessToken(value, grant, self._clock() + self._lifetime)
            self._issued_values.append(value)
            self.issued += 1
        return {
            "access_token": value,
            "scope": " ".join(grant.scopes),
            "api_domain": self._api_domain,
            "token_type": "Bearer",
            "expires_in": self._lifetime,
        }

    def issued_values(self) -> list[str]:
        """Every access token issued so far, expired ones included, oldest first.

        For tests that search a client's output for leaked tokens.
        """
        with self._lock:
            return list(self._issued_values)

    def authenticate(self, header: str | None) -> AccessToken | str:
        """The token behind an Authorization header, or the Zoho error code for the failure."""
        scheme, _, value = (header or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() not in ("zoho-oauthtoken", "bearer") or not value or " " in value:
            return "AUTHENTICATION_FAILURE"
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.expires_at <= self._clock():
                return "INVALID_TOKEN"
            return token

    def expire_all(self) -> int:
        """Invalidate every issued access token (the 'token expired mid-run' fault)."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count


def _granted(scopes: Iterable[str], wanted: Iterable[str]) -> bool:
    have = {scope.lower() for scope in scopes}
    return any(scope.lower() in have for scope in wanted)


def settings_scope_ok(scopes: Iterable[str], resource: str) -> bool:
    """Metadata needs settings.ALL or read/all on the specific settings resource."""
    return _granted(
        scopes,
        (
            "ZohoCRM.settings.ALL",
            "ZohoCRM.settings.READ",
            f"ZohoCRM.settings.{resource}.READ",
            f"ZohoCRM.settings.{resource}.ALL",
        ),
    )


def bulk_read_scope_ok(scopes: Iterable[str]) -> bool:
    """Every bulk-read endpoint needs bulk.read (or bulk.ALL) first of all."""
    return _granted(scopes, ("ZohoCRM.bulk.read", "ZohoCRM.bulk.ALL"))


def module_read_scope_ok(scopes: Iterable[str], module: str, *, custom: bool) -> bool:
    """Read access on the module: all modules, or this one by name (or `custom`), READ or ALL."""
    names = {module.lower(), module.lower().replace("_", "")}
    if custom:
        names.add("custom")
    wanted = ["ZohoCRM.modules.ALL", "ZohoCRM.modules.READ"]
    for name in names:
        wanted += [f"ZohoCRM.modules.{name}.READ", f"ZohoCRM.modules.{name}.ALL"]
    return _granted(scopes, wanted)


def coql_scope_ok(scopes: Iterable[str]) -> bool:
    """COQL needs ZohoCRM.coql.READ (in any case) besides read access on the module."""
    return _granted(scopes, ("ZohoCRM.coql.READ",))


def bulk_write_scope_ok(scopes: Iterable[str]) -> bool:
    """Bulk-write job details need bulk.CREATE or bulk.ALL (seed 004)."""
    return _granted(scopes, ("ZohoCRM.bulk.CREATE", "ZohoCRM.bulk.ALL"))
