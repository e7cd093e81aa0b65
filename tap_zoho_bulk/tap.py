"""The tap: settings, discovery, and the shared connection every stream uses."""

from __future__ import annotations

import atexit
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

import requests
from singer_sdk import Stream, Tap
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_zoho_bulk import metadata, settings
from tap_zoho_bulk.auth import RetryPolicy, TokenManager, data_center
from tap_zoho_bulk.bulk import ApiVersion, BulkReader, Polling
from tap_zoho_bulk.client import CreditLedger, ZohoClient
from tap_zoho_bulk.errors import ConfigError, ZohoAPIError, ZohoTapError
from tap_zoho_bulk.records import ParsePool
from tap_zoho_bulk.schema import module_schema, property_schema
from tap_zoho_bulk.streams import ModuleStream
from tap_zoho_bulk.writer import BufferedMsgSpecWriter

# Modules Zoho lists as api_supported that Bulk Read refuses (reference §7).
UNEXPORTABLE_MODULES = frozenset(
    {
        "Notes",
        "Attachments",
        "Emails",
        "CTI_Entry",
        "Email_Analytics",
        "Email_Template_Analytics",
        "Functions__s",
        "Email_Sentiment",
        "Locking_Information__s",
    }
)


LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})


class TapZohoBulk(Tap):
    """Zoho CRM through Bulk Read jobs: typed, incremental, resumable."""

    name = "tap-zoho-bulk"
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter
    # No BATCH: in singer-sdk 0.54 batch files bypass selection and stream maps.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    config_jsonschema = settings.CONFIG_SCHEMA

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The exclusive end of every incremental window in this run, fixed before any stream
        # exists so it is below the SDK's bookmark signpost.
        self.run_started_at = datetime.now(UTC).replace(microsecond=0)
        self._reader: BulkReader | None = None
        self._pool: ParsePool | None = None
        super().__init__(*args, **kwargs)
        settings.check_start(self.config)

    @cached_property
    def connection(self) -> settings.Connection:
        """Credentials and hosts, from the config or from a simulator started in-process."""
        return settings.connection(self.config, logger=self.logger)

    @cached_property
    def api_version(self) -> ApiVersion:
        return ApiVersion.parse(self.config.get("api_version", "v8"))

    @cached_property
    def client(self) -> ZohoClient:
        """The one client (and so the one access token) shared by all streams and threads."""
        conn = self.connection
        retry = RetryPolicy(
            max_tries=self.config.get("request_max_tries", 8),
            base_seconds=self.config.get("request_backoff_base_seconds", 1.0),
            max_seconds=self.config.get("request_backoff_max_seconds", 60.0),
        )
        session = requests.Session()
        tokens = TokenManager(
            accounts_url=conn.accounts_url,
            client_id=conn.client_id,
            client_secret=conn.client_secret,
            refresh_token=conn.refresh_token,
            data_center_name=conn.data_center,
            retry=retry,
            session=session,
            logger=self.logger,
        )
        return ZohoClient(
            tokens=tokens,
            api_domain=conn.api_domain,
            trusted_domains=data_center(conn.data_center).zoho_domains,
            retry=retry,
            credits=CreditLedger(budget=self.config.get("max_credits_per_run")),
            downloads_per_minute=self.config.get("downloads_per_minute", 10),
            logger=self.logger,
            session=session,
            pool_size=max(16, 2 * self.config.get("max_concurrent_jobs", 8)),
        )

    def bulk_reader(self) -> BulkReader:
        """Start every selected module's export at once, the first time any stream asks."""
        if self._reader is None:
            streams = [
                s for s in self.streams.values() if isinstance(s, ModuleStream) and s.selected
            ]
            if self.input_catalog is not None:
                self._check_catalog_fields(streams)
            plans = [s.export_plan() for s in streams]  # validates all before spending credits
            reader = BulkReader(
                client=self.client,
                version=self.api_version,
                polling=Polling(
                    first_seconds=self.config.get("poll_interval_min_seconds", 2.0),
                    max_seconds=self.config.get("poll_interval_max_seconds", 300.0),
                    timeout_seconds=self.config.get("job_timeout_seconds", 21600.0),
                ),
                max_concurrent_jobs=self.config.get("max_concurrent_jobs", 8),
                logger=self.logger,
            )
            atexit.register(reader.close)
            reader.start(plans)
            self._reader = reader
        return self._reader

    def parse_pool(self) -> ParsePool | None:
        """Worker processes that read large result files, started the first time one is read;
        None when `parse_processes` is 0."""
        if self._pool is None:
            processes = settings.parse_processes(self.config)
            if processes < 1:
                return None
            self._pool = ParsePool(processes)
            atexit.register(self.stop_parse_pool)
            self.logger.info("Reading large result files in %d worker processes.", processes)
        return self._pool

    def stop_parse_pool(self) -> None:
        """Stop the worker processes, if any were started (at exit at the latest)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _check_catalog_fields(self, streams: Sequence[ModuleStream]) -> None:
        """A catalog may predate a field's deletion in Zoho: fail before any job, not after."""
        for stream in streams:
            fields = self._module_fields(stream.module) or []
            known = {"Id"} | {f["api_name"] for f in fields if property_schema(f) is not None}
            lookups = {f["api_name"] for f in fields if f.get("data_type") in LOOKUP_TYPES}
            unknown = [
                column
                for column in stream.export_columns()
                if column not in known and column.split(".", 1)[0] not in lookups
            ]
            if unknown:
                msg = (
                    f"The catalog selects {', '.join(unknown)} in '{stream.name}', which Zoho "
                    "does not have or cannot bulk-export; re-run discovery."
                )
                raise ConfigError(msg)

    def _module_fields(self, module: str) -> list[dict[str, Any]] | None:
        """A module's field metadata; None when Zoho has none to give (HTTP 204)."""
        answer = self.client.get_json(
            f"/crm/{self.api_version.name}/settings/fields",
            kind="fields",
            stream=module,
            params={"module": module},
        )
        return list(answer.get("fields") or []) if answer else None

    def discover_streams(self) -> Sequence[Stream]:
        """Streams from the input catalog when there is one, else from Zoho's metadata APIs."""
        if self.input_catalog is not None:
            entries = self.input_catalog.streams
            return [
                ModuleStream(self, module=entry.tap_stream_id, schema=entry.schema.to_dict())
                for entry in entries
                if entry.tap_stream_id not in metadata.STREAM_NAMES
            ] + metadata.streams(self, [entry.tap_stream_id for entry in entries])
        return self._discover_modules() + metadata.streams(self)

    def _discover_modules(self) -> list[Stream]:
        answer = self.client.get_json(
            f"/crm/{self.api_version.name}/settings/modules", kind="modules", stream="discovery"
        )
        listed = [m for m in (answer or {}).get("modules", []) if m.get("api_supported")]
        exportable = [m["api_name"] for m in listed if m["api_name"] not in UNEXPORTABLE_MODULES]
        wanted = settings.wanted_modules(self.config, exportable)
        extra = settings.extra_columns(self.config)
        streams: list[Stream] = []
        for module in wanted:
            try:
                fields = self._module_fields(module)
            except ZohoAPIError as exc:
                self.logger.warning(
                    "Leaving out module '%s': its field list failed: %s", module, exc
                )
                continue
            if not fields:
                self.logger.warning(
                    "Leaving out module '%s': Zoho returned no field metadata (204).", module
                )
                continue
            schema = module_schema(fields, extra_columns=extra.get(module, ()))
            streams.append(ModuleStream(self, module=module, schema=schema))
        return streams

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Report the tap's own errors as one line, not a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except ZohoTapError as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
