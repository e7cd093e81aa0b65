"""The tap's settings: their schema, and the checks that turn bad ones into one-line errors.

Everything here runs before the first bulk job is created, so a misconfiguration never costs
credits.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn, cast

from singer_sdk import typing as th

from tap_zoho_bulk.errors import ConfigError
from tap_zoho_bulk.utc import parse_utc
from tap_zoho_bulk.zoho.auth import DATA_CENTERS, ENVIRONMENTS, data_center
from tap_zoho_bulk.zoho.criteria import API_VERSIONS

SIMULATOR_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
REPLICATION_KEYS = ["Created_Time", "Modified_Time"]

# A number from a config file: singer-sdk parses fractions as Decimal, callers pass floats.
Number = int | float | Decimal

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        secret=True,
        title="Client ID",
        description="OAuth client id of a Zoho API Console self client.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description="OAuth client secret of the same client.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Refresh token",
        description="Refresh token with scopes ZohoCRM.bulk.read, ZohoCRM.modules.READ and "
        "ZohoCRM.settings.READ (or the .ALL scopes).",
    ),
    th.Property(
        "data_center",
        th.StringType,
        default="us",
        allowed_values=list(DATA_CENTERS),
        title="Data centre",
        description="Where the Zoho org lives: us, eu, in, au, jp, cn, ca or sa.",
    ),
    th.Property(
        "environment",
        th.StringType,
        default="production",
        allowed_values=list(ENVIRONMENTS),
        title="Environment",
        description="Zoho org environment: production, sandbox or developer.",
    ),
    th.Property(
        "accounts_url",
        th.StringType,
        title="Accounts URL",
        description="Override of the data centre's accounts server (token endpoint host).",
    ),
    th.Property(
        "api_domain",
        th.StringType,
        title="API domain",
        description="Override of the CRM API domain; otherwise Zoho's token response decides.",
    ),
    th.Property(
        "api_version",
        th.StringType,
        default="v8",
        allowed_values=list(API_VERSIONS),
        title="API version",
        description="Zoho CRM API version for metadata and Bulk Read calls.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="Earliest replication key value to extract on the first run (ISO 8601).",
    ),
    th.Property(
        "replication_key",
        th.StringType,
        default="Created_Time",
        allowed_values=REPLICATION_KEYS,
        title="Replication key",
        description="Created_Time extracts new records only; Modified_Time also captures updates.",
    ),
    th.Property(
        "read_mode",
        th.StringType,
        default="auto",
        allowed_values=["auto", "bulk", "coql"],
        title="Read mode",
        description="How a window of records is read: auto asks COQL first (1 credit) and "
        "reads empty and small windows (up to 20,000 records) through it, the first run and "
        "larger windows through Bulk Read; bulk always uses Bulk Read jobs; coql reads every "
        "window with a bookmark through COQL up to Zoho's 100,000-record reach.",
    ),
    th.Property(
        "replication_keys",
        th.ObjectType(additional_properties=th.StringType),
        title="Replication key per module",
        description='Per-module overrides, e.g. {"Deals": "Modified_Time"}.',
    ),
    th.Property(
        "modules",
        th.ArrayType(th.StringType),
        title="Modules",
        description="Module API names to expose as streams; default: every module Bulk Read "
        "can export.",
    ),
    th.Property(
        "fields",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        title="Fields per module",
        description='Fields to request per module, e.g. {"Contacts": ["Last_Name", '
        '"Owner.last_name"]}; dot-notation lookup columns are added to the schema. Without '
        "it, the catalog's selection decides.",
    ),
    th.Property(
        "criteria",
        th.ObjectType(additional_properties=th.ObjectType()),
        title="Extra criteria per module",
        description="Zoho Bulk Read criteria per module, ANDed with the incremental window.",
    ),
    th.Property(
        "bulk_write_job_ids",
        th.ArrayType(th.StringType),
        title="Bulk write job ids",
        description="Ids of Zoho Bulk Write jobs to report in the bulk_write_jobs and "
        "bulk_write_results streams (Zoho has no API that lists them).",
    ),
    th.Property(
        "formula_refresh_hours",
        th.NumberType,
        title="Formula refresh interval",
        description="Every this many hours, re-export whole records (the selected fields, no "
        "window) of modules whose selected fields include formula or rollup-summary fields, "
        "whose values change without Modified_Time. Default: off.",
    ),
    th.Property(
        "track_deletions",
        th.BooleanType,
        default=True,
        title="Track deletions",
        description="Read each synced module's deleted records from Zoho into the "
        "deleted_records stream (2 credits per module and page of 200).",
    ),
    th.Property(
        "max_concurrent_jobs",
        th.IntegerType,
        default=8,
        title="Maximum concurrent jobs",
        description="Bulk read jobs in flight at once across all streams.",
    ),
    th.Property(
        "poll_interval_min_seconds",
        th.NumberType,
        default=2.0,
        title="First poll interval",
        description="Seconds before the first status poll; the interval then grows by half "
        "each poll.",
    ),
    th.Property(
        "poll_interval_max_seconds",
        th.NumberType,
        default=300.0,
        title="Longest poll interval",
        description="Cap on the seconds between two status polls of one job (each poll costs "
        "a credit: a higher cap means fewer polls on long jobs, a lower one less waiting).",
    ),
    th.Property(
        "job_timeout_seconds",
        th.NumberType,
        default=21600.0,
        title="Job timeout",
        description="Give up on a job that has not finished after this many seconds.",
    ),
    th.Property(
        "max_credits_per_run",
        th.IntegerType,
        title="Credit budget per run",
        description="Refuse to start a call that would spend more Zoho API credits in this run "
        "(50 per bulk read job, 2 per page of deleted records, 1 per other call).",
    ),
    th.Property(
        "downloads_per_minute",
        th.IntegerType,
        default=10,
        title="Downloads per minute",
        description="Zoho allows 10 result downloads per minute; lower it when other tools "
        "share the org.",
    ),
    th.Property(
        "parse_processes",
        th.IntegerType,
        title="Parse processes",
        description="Worker processes that read large result files in parallel (a piece of "
        "CSV each; records keep their order); 0 reads them in the tap's own process. Default: "
        "one per CPU the tap may use.",
    ),
    th.Property(
        "multiselect_separator",
        th.StringType,
        default=";",
        title="Multi-select separator",
        description="Separator of multi-select picklist values in Zoho's CSV.",
    ),
    th.Property(
        "request_max_tries",
        th.IntegerType,
        default=8,
        title="Request tries",
        description="Attempts per call on 429, 5xx and connection errors.",
    ),
    th.Property(
        "request_backoff_base_seconds",
        th.NumberType,
        default=1.0,
        title="Backoff base",
        description="First retry wait in seconds (exponential with jitter).",
    ),
    th.Property(
        "request_backoff_max_seconds",
        th.NumberType,
        default=60.0,
        title="Backoff cap",
        description="Longest wait between two retries in seconds.",
    ),
    th.Property(
        "use_simulator",
        th.BooleanType,
        default=False,
        title="Use the built-in simulator",
        description="Start the built-in Zoho CRM simulator in-process and extract from it: "
        "no credentials needed.",
    ),
    th.Property(
        "simulator_records",
        th.IntegerType,
        default=500,
        title="Simulator records per module",
        description="With use_simulator: how many records each simulated module holds.",
    ),
    th.Property(
        "simulator_seed",
        th.IntegerType,
        default=1,
        title="Simulator seed",
        description="With use_simulator: seed of the simulated data.",
    ),
).to_dict()


@dataclass(frozen=True)
class Connection:
    """Where and as whom the tap talks to Zoho."""

    accounts_url: str
    api_domain: str | None
    client_id: str
    client_secret: str
    refresh_token: str
    data_center: str
    #: Ends what the connection started (the built-in simulator); the tap calls it when done.
    close: Callable[[], None] = lambda: None


def connection(config: Mapping[str, Any], *, logger: logging.Logger) -> Connection:
    """Resolve hosts and credentials, starting the built-in simulator when asked to."""
    if config.get("use_simulator"):
        return _simulator_connection(config, logger)
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not config.get(k)]
    if missing:
        msg = (
            f"Missing {', '.join(missing)}: set Zoho OAuth credentials "
            "(see the README's 'Using a real Zoho org'), "
            "or use_simulator=true to try the tap without an account."
        )
        raise ConfigError(msg)
    center = data_center(setting(config, "data_center"))
    environment = setting(config, "environment")
    api_domain = config.get("api_domain")
    if not api_domain and environment != "production":
        api_domain = center.api_domain(environment)
    return Connection(
        accounts_url=config.get("accounts_url") or center.accounts_url,
        api_domain=api_domain,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        refresh_token=config["refresh_token"],
        data_center=setting(config, "data_center"),
    )


def _simulator_connection(config: Mapping[str, Any], logger: logging.Logger) -> Connection:
    from tap_zoho_bulk.simulator import Simulator  # noqa: PLC0415 - only when asked for

    simulator = Simulator(
        seed=setting(config, "simulator_seed"),
        records=setting(config, "simulator_records"),
        # A fixed "now" makes the simulated org the same on every run, so incremental runs
        # against it behave as against a real org that nobody is editing.
        now=SIMULATOR_EPOCH,
    )
    simulator.start()
    logger.info("Extracting from the built-in Zoho CRM simulator at %s.", simulator.base_url)
    return Connection(
        accounts_url=simulator.accounts_url,
        api_domain=simulator.api_domain,
        client_id=simulator.client_id,
        client_secret=simulator.client_secret,
        refresh_token=simulator.refresh_token,
        data_center="us",
        close=simulator.stop,
    )


def start_date(config: Mapping[str, Any]) -> datetime | None:
    """The configured start date as an aware UTC datetime."""
    value = config.get("start_date")
    if not value:
        return None
    try:
        return parse_utc(str(value))
    except (ValueError, OverflowError):
        msg = f"start_date '{value}' is not an ISO 8601 date or date-time (e.g. 2024-01-31)."
        raise ConfigError(msg) from None


def replication_key(config: Mapping[str, Any], module: str) -> str:
    """The module's override, else the tap-wide replication key."""
    overrides = config.get("replication_keys") or {}
    key = str(overrides.get(module) or setting(config, "replication_key"))
    if key not in REPLICATION_KEYS:
        msg = f"replication key '{key}' for '{module}' must be one of {REPLICATION_KEYS}."
        raise ConfigError(msg)
    return key


def wanted_modules(config: Mapping[str, Any], exportable: Sequence[str]) -> list[str]:
    """The configured modules, checked against what Bulk Read can export."""
    wanted = config.get("modules")
    if not wanted:
        return list(exportable)
    unknown = [m for m in wanted if m not in exportable]
    if unknown:
        msg = (
            f"Unknown or non-exportable module(s) {', '.join(unknown)}; Bulk Read can export: "
            f"{', '.join(exportable)}."
        )
        raise ConfigError(msg)
    return list(wanted)


def module_fields(config: Mapping[str, Any], module: str) -> list[str] | None:
    """Fields the user pinned for a module, if any."""
    fields = (config.get("fields") or {}).get(module)
    return list(fields) if fields else None


def extra_columns(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Dot-notation lookup columns (e.g. Owner.last_name) the user asked for, per module."""
    return {
        module: [f for f in fields if "." in f]
        for module, fields in (config.get("fields") or {}).items()
    }


def user_criteria(config: Mapping[str, Any], module: str) -> Mapping[str, Any] | None:
    """Extra Zoho criteria for a module, ANDed with the incremental window."""
    criteria = (config.get("criteria") or {}).get(module)
    return criteria or None


def parse_processes(config: Mapping[str, Any]) -> int:
    """Worker processes for reading result files; 0 to read them in the tap's process."""
    processes = config.get("parse_processes")
    if processes is None:
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    return int(processes)


def check_start(config: Mapping[str, Any]) -> None:
    """Validate what can be validated without calling Zoho."""
    start_date(config)
    if not config.get("use_simulator"):
        data_center(setting(config, "data_center"))
    _check_numbers(config)
    separator = setting(config, "multiselect_separator")
    if not isinstance(separator, str) or not separator:
        _refuse("multiselect_separator", separator, "a non-empty string")
    if (config.get("parse_processes") or 0) < 0:
        msg = "parse_processes must be 0 (read in the tap's process) or more."
        raise ConfigError(msg)
    now = datetime.now(UTC)
    moment = start_date(config)
    if moment is not None and moment > now:
        msg = f"start_date {moment.isoformat()} is in the future."
        raise ConfigError(msg)


def _check_numbers(config: Mapping[str, Any]) -> None:
    """Refuse the numbers that would make the tap spin, wait forever, or retry without end.

    A zero poll interval polls (a credit each) as fast as Zoho answers, a null retry count
    retries forever, and a minimum above its maximum is a typo the code would quietly resolve
    one way or the other: each is refused before the first call rather than guessed at.
    """
    poll_min = _at_least(config, "poll_interval_min_seconds", 0, above=True)
    poll_max = _at_least(config, "poll_interval_max_seconds", 0, above=True)
    _not_above(("poll_interval_min_seconds", poll_min), ("poll_interval_max_seconds", poll_max))
    _at_least(config, "job_timeout_seconds", 0, above=True)
    _at_least(config, "downloads_per_minute", 1, integer=True)
    _at_least(config, "max_concurrent_jobs", 1, integer=True)
    _at_least(config, "request_max_tries", 1, integer=True)
    base = _at_least(config, "request_backoff_base_seconds", 0)
    cap = _at_least(config, "request_backoff_max_seconds", 0)
    _not_above(("request_backoff_base_seconds", base), ("request_backoff_max_seconds", cap))
    if config.get("max_credits_per_run") is not None:
        _at_least(config, "max_credits_per_run", 0, integer=True)
    if config.get("formula_refresh_hours") is not None:
        _at_least(config, "formula_refresh_hours", 0, above=True)
    _at_least(config, "simulator_records", 0, integer=True)


def setting(config: Mapping[str, Any], name: str) -> Any:
    """The configured value, else the schema's default.

    singer-sdk fills in schema defaults when it validates a config, so the fallback matters
    only for a tap built with `validate_config=False`; reading it from the schema keeps the
    schema the one place a default is written.
    """
    return config.get(name, _default(name))


def _default(name: str) -> Any:
    return CONFIG_SCHEMA["properties"][name].get("default")


def _at_least(
    config: Mapping[str, Any],
    name: str,
    minimum: int,
    *,
    above: bool = False,
    integer: bool = False,
) -> Number:
    """The setting, if it is a number (an integer when asked) at or above `minimum`.

    `null` passes singer-sdk's schema check (every setting is nullable) but would reach the
    code as None; it is refused here, with the default to fall back on by leaving it out.
    """
    value = setting(config, name)
    kinds: tuple[type, ...] = (int,) if integer else (int, float, Decimal)
    number = isinstance(value, kinds) and not isinstance(value, bool)
    if number and (value > minimum if above else value >= minimum):
        return cast("Number", value)
    kind = "an integer" if integer else "a number"
    _refuse(name, value, f"{kind} {'>' if above else '>='} {minimum}")


def _refuse(name: str, value: Any, allowed: str) -> NoReturn:
    default = _default(name)
    if default is not None:
        allowed += f" (leave it out for the default, {shown(default)})"
    msg = f"{name}={shown(value)} is not allowed: it must be {allowed}."
    raise ConfigError(msg)


def _not_above(low: tuple[str, Number], high: tuple[str, Number]) -> None:
    """Each of a pair may be fine alone and still contradict the other."""
    if low[1] > high[1]:
        msg = (
            f"{low[0]}={shown(low[1])} is above {high[0]}={shown(high[1])}: it must be at "
            "most that."
        )
        raise ConfigError(msg)


def shown(value: Any) -> str:
    """A value as it would be written in JSON, short enough for a one-line error."""
    if isinstance(value, Decimal):
        return str(value)
    text = json.dumps(value, default=str)
    if len(text) <= 60:
        return text
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return f"{text[:57]}..."
