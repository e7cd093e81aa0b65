"""UTC instants, as the tap reads and writes them, in one place.

Zoho writes times with the org's offset (`+05:30`), STATE and the config carry ISO 8601 with
`Z`, an offset or none, and Zoho's criteria refuse fractions of a second. The tap compares only
aware UTC datetimes, so every such text becomes one here, and goes back out in one form.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date or date-time (`Z`, an offset, or none, read as UTC) in UTC.

    Raises ValueError for text that is not one (OverflowError at the very ends of time).
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def utc_text(moment: datetime, *, whole_seconds: bool = False) -> str:
    """ISO 8601 in UTC (`+00:00`); to the second with `whole_seconds`, as Zoho's criteria and
    the tap's windows need."""
    moment = moment.astimezone(UTC)
    return (moment.replace(microsecond=0) if whole_seconds else moment).isoformat()
