"""Exceptions the tap raises, each carrying one sentence a user can act on.

Every error that reaches the user names the cause and the fix in its message; none of them ever
contains a credential, because messages end up in orchestrator logs.
"""

from __future__ import annotations

from typing import Any


class ZohoTapError(Exception):
    """Base class: an error whose message is fit to show a user as it is."""


class ConfigError(ZohoTapError):
    """The configuration or catalog cannot work; raised before any bulk job is created."""


class AuthError(ZohoTapError):
    """Zoho's accounts server refused to issue an access token."""


class UnsafeURLError(ZohoTapError):
    """A URL would have carried the access token to a host that is not Zoho's."""


class CreditBudgetExceeded(ZohoTapError):
    """Starting another job would spend more API credits than `max_credits_per_run` allows."""


class JobFailedError(ZohoTapError):
    """A bulk read job ended in FAILURE, in a state the tap does not know, or never finished."""


class ResultFileError(ZohoTapError):
    """A job's result file stayed damaged after several downloads, or is not safe to open."""


class ParseWorkerError(ZohoTapError):
    """A worker process reading result files died (killed, or out of memory)."""


class ZohoAPIError(ZohoTapError):
    """Zoho answered a CRM API call with an error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        hint: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.zoho_message = message
        self.details = details
        text = f"Zoho API error {status} {code}: {message}"
        if details:
            text += f" ({details})"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class RetryableAPIError(ZohoAPIError):
    """A throttle (429), a server fault (5xx) or a broken connection: worth another try."""

    # Cleared once the retries of one call are spent, so that a retry loop around it (a CRM
    # call around the token refresh) does not multiply them.
    worth_retrying = True


class ConnectionFailedError(RetryableAPIError):
    """A Zoho host could not be reached, or the connection to it broke.

    The message names the host, what happened and what to check, and never quotes the underlying
    exception, whose text can carry URLs with secrets in them.
    """

    def __init__(self, message: str, *, worth_retrying: bool) -> None:
        super().__init__(0, "CONNECTION_ERROR", message)
        self.args = (message,)  # Zoho never answered: no "Zoho API error" prefix
        self.worth_retrying = worth_retrying


class DownloadLimitError(ZohoAPIError):
    """Zoho refused a result download with HTTP 429: the org's downloads are locked for the rest
    of the minute. Not a RetryableAPIError: a short backoff would only be refused again, so the
    download waits the lockout out instead."""

    def __init__(
        self, status: int, code: str, message: str, details: Any, *, retry_after: float | None
    ) -> None:
        super().__init__(status, code, message, details)
        self.retry_after = retry_after


class DownloadLockedError(ZohoTapError):
    """Result downloads stayed locked until the caller's deadline, or the run stopped meanwhile."""


class ArchiveError(Exception):
    """The result file cannot be read as a Bulk Read result.

    Raised by the results layer, which checks archives, and caught by the Zoho layer, which
    downloads them again or gives up with a ResultFileError; so it is named here, where both
    can see it. Not a ZohoTapError: its message names the file, not what the user should do.
    """


class CorruptArchiveError(ArchiveError):
    """Not a ZIP, truncated, or damaged: downloading the result again may help."""


class UnsafeArchiveError(ArchiveError):
    """A ZIP that is not shaped like a Bulk Read result and is refused unread."""
