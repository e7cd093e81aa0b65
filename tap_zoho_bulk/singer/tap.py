"""The tap: settings, discovery, and a sync's start and end (its errors become one line in
`__main__`, for every command-line path)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import PurePath
from types import FrameType
from typing import Any, ClassVar

import requests
from singer_sdk import Stream, Tap
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from singer_sdk.singerlib import StateMessage
from typing_extensions import override

from tap_zoho_bulk.errors import ConfigError, RetryableAPIError, ZohoAPIError
from tap_zoho_bulk.results.archive import verify_result
from tap_zoho_bulk.singer import job_streams, settings
from tap_zoho_bulk.singer.deleted_records import DELETED_RECORDS, DeletedRecordsStream
from tap_zoho_bulk.singer.run import Interrupted, ModulesFailed, Run
from tap_zoho_bulk.singer.schema import computed_fields, module_schema, property_schema
from tap_zoho_bulk.singer.state import check_state
from tap_zoho_bulk.singer.streams import ModuleStream
from tap_zoho_bulk.singer.writer import BufferedMsgSpecWriter
from tap_zoho_bulk.zoho import access, crm_settings
from tap_zoho_bulk.zoho.auth import RetryPolicy, TokenManager, data_center
from tap_zoho_bulk.zoho.client import CreditLedger, ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.jobs import Polling
from tap_zoho_bulk.zoho.reader import BulkReader

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
# Field-metadata answers that say, for good, that this user cannot export a module: discovery
# of every module leaves such a module out (at WARNING); naming it in `modules` is an error.
LEAVE_OUT_CODES = frozenset({"NO_PERMISSION"})
#: Streams of the tap's own making, not modules.
TAP_STREAMS = job_streams.STREAM_NAMES | {DELETED_RECORDS}
#: The name a connection check's calls are counted under.
CHECK = "connection check"


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

    def __init__(self, *, state: Any = None, setup_mapper: bool = True, **kwargs: Any) -> None:
        # The exclusive end of every incremental window in this run, fixed before any stream
        # exists so it is below the SDK's bookmark signpost.
        self.run = Run(
            started_at=datetime.now(UTC).replace(microsecond=0),
            logger=self.logger,
            start=self._start_run,
        )
        #: Field metadata of each module read so far (by discovery or the catalog check).
        self._fields: dict[str, list[dict[str, Any]] | None] = {}
        if state is not None and not isinstance(state, dict | str | PurePath):
            check_state(state)  # a JSON list or number, which singer-sdk would trip over
        # singer-sdk's mapper set-up discovers the streams, which calls Zoho: only once the
        # settings and the state are known to work.
        super().__init__(state=state, setup_mapper=False, **kwargs)
        settings.check_start(self.config)
        if setup_mapper:
            self.setup_mapper()

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse a malformed STATE in one line before singer-sdk reads it."""
        check_state(state)
        super().load_state(state)

    @cached_property
    def connection(self) -> settings.Connection:
        """Credentials and hosts, from the config or from a simulator started in-process."""
        return settings.connection(self.config, logger=self.logger)

    @cached_property
    def api_version(self) -> ApiVersion:
        return ApiVersion.parse(settings.setting(self.config, "api_version"))

    @cached_property
    def client(self) -> ZohoClient:
        """The one client (and so the one access token) shared by all streams and threads."""
        conn = self.connection
        retry = RetryPolicy(
            max_tries=settings.setting(self.config, "request_max_tries"),
            base_seconds=settings.setting(self.config, "request_backoff_base_seconds"),
            max_seconds=settings.setting(self.config, "request_backoff_max_seconds"),
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
            downloads_per_minute=settings.setting(self.config, "downloads_per_minute"),
            logger=self.logger,
            session=session,
            pool_size=max(16, 2 * settings.setting(self.config, "max_concurrent_jobs")),
        )

    # singer-sdk marks sync_all and run_connection_test final; these wrap its own loop (they
    # call it, they do not replace it) so that the run has a start, an end and a cleanup.
    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        """Sync every selected stream; a module that fails for good ends the run non-zero, but
        only after every other module was emitted with its STATE."""
        self.run.deferring_signals = True
        try:
            self.run.open()
            super().sync_all()
            self.run.check()  # a signal during the last stream still means "interrupted"
        except BaseException as stop:
            self._stop_with_state(stop)
            raise
        finally:
            self.run.deferring_signals = False
            if "client" in self.__dict__:  # no call was made without it
                self.run.log_summary(self.client.credits.by_stream)
            self._close()
        if self.run.failures:
            raise ModulesFailed(self.run.failures)

    @override  # type: ignore[misc]
    def run_connection_test(self) -> bool:
        """A connection check, not singer-sdk's dry-run sync, which would create a Bulk Read
        job (50 credits, and a wait in Zoho's queue) per module to emit one record of each.

        It proves, for a few credits, what a sync needs before its first job: the token, the
        module list and the field metadata of every module stream (singer-sdk builds the tap
        of `--test` without the catalog, so discovery has fetched them), and the bulk read
        scope. A failure is raised, so `--test` exits 1 with one line.
        """
        try:
            streams = [s for s in self.streams.values() if isinstance(s, ModuleStream)]
            access.prove_bulk_read(self.client, self.api_version, stream=CHECK)
            self.logger.info(
                "Connection check passed: the token, the module list, the field metadata of "
                "%d module stream(s) and the bulk read scope all work (%d credits, no Bulk "
                "Read job created).",
                len(streams),
                self.client.credits.total,
            )
            return True
        finally:
            self._close()

    @override
    def run_discovery(self) -> str:
        try:
            return super().run_discovery()
        finally:
            self._close()

    def _close(self) -> None:
        """End the run and what the connection started (the built-in simulator, if any)."""
        self.run.close()
        if "connection" in self.__dict__:  # never start a simulator only to stop it
            self.connection.close()

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """singer-sdk's streams in name order, but the audit of this run's bulk read jobs last,
        once every module stream has created and emitted its jobs (singer-sdk syncs them in
        this dict's order)."""
        streams = super().streams
        audit = streams.pop(job_streams.BULK_READ_JOBS, None)
        if audit is not None:
            streams[job_streams.BULK_READ_JOBS] = audit
        return streams

    def _start_run(self) -> None:
        """Start every selected module's export at once, after checking all of them."""
        streams = [s for s in self.streams.values() if isinstance(s, ModuleStream) and s.selected]
        if self.input_catalog is not None:
            self._check_catalog_fields(streams)
        plans = [
            (plan, s.show_jobs)
            for s in streams
            if (plan := s.export_plan(computed_fields(self._fields.get(s.module) or ())))
            is not None
        ]
        if plans:
            self.run.start(self._new_reader(), plans, settings.parse_processes(self.config))

    def _new_reader(self) -> BulkReader:
        return BulkReader(
            client=self.client,
            version=self.api_version,
            polling=Polling(
                first_seconds=settings.setting(self.config, "poll_interval_min_seconds"),
                max_seconds=settings.setting(self.config, "poll_interval_max_seconds"),
                timeout_seconds=settings.setting(self.config, "job_timeout_seconds"),
            ),
            max_concurrent_jobs=settings.setting(self.config, "max_concurrent_jobs"),
            logger=self.logger,
            verify=verify_result,
        )

    def _stop_with_state(self, stop: BaseException) -> None:
        """However the run ends early, the last STATE lists every job it created (and paid
        for), so that the next run takes them back."""
        self.run.stop_jobs()
        with contextlib.suppress(OSError):  # stdout itself may be what failed
            # Written even when unchanged, so that the output ends with a STATE (singer-sdk's
            # state writer would skip a repeat).
            self.message_writer.write_message(StateMessage(value=self.state))
            sys.stdout.flush()
        if isinstance(stop, Interrupted):
            self.logger.warning(
                "Interrupted by %s: the last STATE is written; the next run resumes from it "
                "(exit code %d).",
                stop.signal_name,
                stop.code,
            )

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at the next safe point of the output, or at once outside a sync (or on a
        second signal), then exit 128 + signum, never 0."""
        first = self.run.signum is None
        self.run.interrupt(signum)
        if not (first and self.run.deferring_signals):
            raise Interrupted(signum)

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
        """A module's field metadata; None when Zoho has none to give (HTTP 204). Kept for
        the run, which needs it again to know the module's formula fields."""
        fields = crm_settings.module_fields(self.client, self.api_version, module, stream=module)
        self._fields[module] = fields
        return fields

    @override
    def discover_streams(self) -> Sequence[Stream]:
        """Streams from the input catalog when there is one, else from Zoho's metadata APIs."""
        if self.input_catalog is not None:
            entries = self.input_catalog.streams
            names = [entry.tap_stream_id for entry in entries]
            return [
                ModuleStream(
                    self, module=entry.tap_stream_id, schema=entry.schema.to_dict(), run=self.run
                )
                for entry in entries
                if entry.tap_stream_id not in TAP_STREAMS
            ] + self._tap_streams(names)
        return self._discover_modules() + self._tap_streams()

    def _tap_streams(self, names: Sequence[str] | None = None) -> list[Stream]:
        """The streams of the tap's own making (all, or those an input catalog names)."""
        built = job_streams.streams(self, self.run, self.client, self.api_version, names)
        wanted = names is None or DELETED_RECORDS in names
        if wanted and settings.setting(self.config, "track_deletions"):
            built.append(
                DeletedRecordsStream(
                    self,
                    self.run,
                    client=self.client,
                    version=self.api_version,
                    modules=self._synced_modules,
                )
            )
        return built

    def _synced_modules(self) -> list[str]:
        return [
            s.module for s in self.streams.values() if isinstance(s, ModuleStream) and s.selected
        ]

    def _discover_modules(self) -> list[Stream]:
        modules = crm_settings.list_modules(self.client, self.api_version, stream="discovery")
        listed = [m.api_name for m in modules if m.api_supported and m.api_name]
        exportable = [name for name in listed if name not in UNEXPORTABLE_MODULES]
        wanted = settings.wanted_modules(self.config, exportable)
        extra = settings.extra_columns(self.config)
        streams: list[Stream] = []
        named = bool(self.config.get("modules"))
        for module in wanted:
            try:
                fields = self._module_fields(module)
            except ZohoAPIError as exc:
                # Anything that may pass (5xx, 429, connection, token) fails discovery: a
                # catalog without the module would silently drop it from every later run.
                if named or isinstance(exc, RetryableAPIError) or exc.code not in LEAVE_OUT_CODES:
                    raise
                self.logger.warning(
                    "Leaving out module '%s': Zoho refuses its field list to this user (%s). "
                    "Give the user's profile access to it to extract it.",
                    module,
                    exc.code,
                )
                continue
            if not fields:
                self.logger.warning(
                    "Leaving out module '%s': Zoho returned no field metadata (204).", module
                )
                continue
            schema = module_schema(fields, extra_columns=extra.get(module, ()))
            streams.append(ModuleStream(self, module=module, schema=schema, run=self.run))
        return streams
