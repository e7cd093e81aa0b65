"""A local stand-in for Zoho CRM's accounts server, metadata APIs, Bulk Read/Write APIs,
deleted-records API (`GET /crm/{version}/{module}/deleted`) and COQL (`POST /crm/{version}/coql`).

Use it in-process::

    with run_simulator(records=500, page_size=200) as sim:
        config = sim.tap_config()      # client_id, client_secret, refresh_token, URLs
        sim.faults.add("download:503:once")
        sim.advance(60)                # move the simulated clock
        sim.mutate(add=5, modify=3)    # change data for an incremental run
        sim.mutate(delete={"Leads": 2})
        print(sim.stats())

or as a process: `tap-zoho-bulk-simulator --records 1000` (see `cli.py`), driven through the
admin API (no auth, no credits)::

    GET  /__simulator__/stats
    POST /__simulator__/advance  {"seconds": 90000}
    POST /__simulator__/mutate   {"add": N | {"Leads": N}, "modify": N | {"Leads": N},
                                  "delete": N | {"Leads": N | ["<id>", ...]},
                                  "permanent": false,
                                  "purge": N | {"Leads": N | ["<id>", ...]},
                                  "restore": N | {"Leads": N | ["<id>", ...]}}
    POST|GET|DELETE /__simulator__/faults, POST /__simulator__/expire-tokens, .../expire-page-tokens

`mutate` keys are all optional; a bare N applies to every bulk-exportable module. `add`/`modify`
stamp Created_Time/Modified_Time with real UTC now. `delete` moves N random live records (or
the ids given) to the recycle bin: Bulk Read jobs created afterwards leave them out (a job
created before keeps its snapshot), and `/deleted` lists them as `recycle`, deleted now by a
user of the org. With `"permanent": true` they skip the bin (`permanent`). `purge` deletes
records of the bin for good (N: the oldest deletions first; deleted_time and deleted_by stay
those of the deletion), and so do 60 days on the simulated clock. `restore` brings records of the
bin back into Bulk Read as they were: their Modified_Time does not move. The answer maps each
touched module to {"added": n, "modified": n} plus "deleted"/"purged"/"restored": [ids] for
what was asked; an id that is unknown or in the wrong state answers 400 and changes nothing.

COQL (`coql.py` has the grammar and every limit) serves v2 to v8 with `{"select_query": "select
Last_Name, Owner from Leads where Modified_Time >= '2026-01-01T00:00:00+00:00' order by
Modified_Time, id limit 0, 2000"}`; it needs the scope `ZohoCRM.coql.READ` and read access on the
module (else 401 OAUTH_SCOPE_MISMATCH). It answers `{"data": [...], "info": {"count",
"more_records"}}` (204 when nothing matches) with the records a Bulk Read job created at that
moment would export, typed as JSON: `id` a string, lookups `{"id"}` (`{"name", "id"}` from v7),
numbers with the exact digits of the data, date-times with their offsets, multi-select picklists
as arrays, empty values null. WHERE is mandatory; without ORDER BY records come by ascending id.
LIMIT (default 200, at most 2,000 a call; 200 before v4) sets the credits: 1 up to 200, 2 up to
1,000, else 3; offset + LIMIT reaches 100,000 records (10,000 before v7). Errors are Zoho's
SYNTAX_ERROR, INVALID_QUERY, LIMIT_EXCEEDED and DUPLICATE_DATA with `details`.

Computed fields change without Modified_Time moving, as in Zoho: Deals.`Days_Open` (a formula
over Now(): calendar days since Created_Time in the org's time zone, so it steps at the org's
midnight on the simulated clock) and Accounts.`Total_Deal_Amount` (a rollup summary: SUM of the
Amount of the account's live Deals). Bulk Read job ids carry the real clock in microseconds, so
two runs with one seed never share a job id while their data stays identical.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

from .bulk_write import BULK_WRITE_JOB_IDS, BulkWrites
from .catalog import USERS
from .data import Changes, Dataset
from .faults import FaultRegistry
from .jobs import BulkReads, Clock, ReadSettings, parse_utc_offset
from .oauth import TokenStore, User
from .server import SimulatorHTTPServer, ZohoApp

__all__ = [
    "BULK_WRITE_JOB_IDS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_SCOPES",
    "Simulator",
    "run_simulator",
]

# The one OAuth client the simulator accepts by default. Not secrets: they are printed on start
# and only ever open this local simulator.
DEFAULT_CLIENT_ID = "1000.SIMULATOR0CLIENT0ID"
DEFAULT_CLIENT_SECRET = "simulator-client-secret"  # noqa: S105
DEFAULT_REFRESH_TOKEN = "1000.simulator.refresh-token"  # noqa: S105
DEFAULT_SCOPES = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.bulk.ALL",
    "ZohoCRM.coql.READ",
)


class Simulator:
    """The simulator with its HTTP server; `start()`/`stop()` or use it as a context manager.

    Zoho's accounts server and API domain are both this server (`accounts_url == api_domain ==
    base_url`). Options are documented in the README; each maps to a CLI flag of `cli.py`.
    Record timestamps are laid out before `now` (default: real UTC now at construction), so
    the data is identical for one seed only when `now` is fixed too.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        records: int = 1000,
        per_module: Mapping[str, int] | None = None,
        page_size: int = 200_000,
        job_seconds: float = 0.0,
        utc_offset: str = "+05:30",
        multiselect_separator: str = ";",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        token_lifetime: int = 3600,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        download_limit_per_minute: int = 10,
        download_window_seconds: float = 60.0,
        download_retry_after: bool = False,
        result_retention_seconds: float = 86_400,
        page_token_lifetime: float = 86_400,
        max_in_flight_jobs: int = 20,
        fields_no_content: Iterable[str] = (),
        no_permission_modules: Iterable[str] = (),
        failing_modules: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        allow_non_loopback: bool = False,
        verbose: bool = False,
        now: datetime | None = None,
    ) -> None:
        if not allow_non_loopback and not _is_loopback(host):
            raise ValueError(
                f"refusing to bind {host}: not a loopback address (allow it explicitly with "
                "allow_non_loopback / --allow-non-loopback)"
            )
        if page_size < 1 or records < 0 or job_seconds < 0 or token_lifetime < 1:
            raise ValueError(
                "page_size and token_lifetime must be positive, records and "
                "job_seconds not negative"
            )
        if download_window_seconds <= 0:
            raise ValueError("download_window_seconds must be positive")
        self._tz = parse_utc_offset(utc_offset)
        self._host = host
        self._port = port
        self._verbose = verbose
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self._scopes = tuple(scopes)
        self._token_lifetime = token_lifetime
        self._fields_no_content = frozenset(fields_no_content)
        self._settings = ReadSettings(
            page_size=page_size,
            job_seconds=job_seconds,
            tz=self._tz,
            result_retention_seconds=result_retention_seconds,
            page_token_lifetime=page_token_lifetime,
            max_in_flight_jobs=max_in_flight_jobs,
            download_limit_per_minute=download_limit_per_minute,
            download_window_seconds=download_window_seconds,
            download_retry_after=download_retry_after,
            no_permission_modules=frozenset(no_permission_modules),
        )
        self._seed = seed
        self.clock = Clock()
        self.dataset = Dataset(
            seed=seed,
            records=records,
            per_module=per_module,
            utc_offset=utc_offset,
            multiselect_separator=multiselect_separator,
            now=now,
            clock=self.clock.now,
        )
        self.faults = FaultRegistry(seed=seed)
        for module in failing_modules:
            self.faults.add(f"fail-module:{module}")
        self.user = User(USERS[0].id, USERS[0].full_name)
        self._extra_grants: list[tuple[str, User, tuple[str, ...]]] = []
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._app: ZohoApp | None = None
        self._workdir: Path | None = None
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind, build the services that need the URL, and serve in a background thread."""
        if self._server is not None:
            return self
        server = SimulatorHTTPServer(
            (self._host, self._port), ipv6=":" in self._host, verbose=self._verbose
        )
        host, port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self._workdir = Path(tempfile.mkdtemp(prefix="zoho-simulator-"))
        tokens = TokenStore(
            client_id=self.client_id,
            client_secret=self.client_secret,
            api_domain=self.base_url,
            lifetime=self._token_lifetime,
            clock=self.clock.now,
        )
        tokens.register(self.refresh_token, self.user, self._scopes)
        for refresh_token, user, scopes in self._extra_grants:
            tokens.register(refresh_token, user, scopes)
        reads = BulkReads(
            dataset=self.dataset,
            clock=self.clock,
            settings=self._settings,
            workdir=self._workdir,
            token_key=f"page-token-{self._seed}".encode(),
            module_fails=self.faults.module_fails,
        )
        writes = BulkWrites(
            base_url=self.base_url,
            module_ids={name: module.id for name, module in self.dataset.modules.items()},
            user=self.user,
            tz=self._tz,
            started_at=self.clock.now(),
        )
        self._app = ZohoApp(
            dataset=self.dataset,
            clock=self.clock,
            tokens=tokens,
            reads=reads,
            writes=writes,
            faults=self.faults,
            fields_no_content=self._fields_no_content,
        )
        server.app = self._app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="zoho-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and delete every result file."""
        server, self._server = self._server, None
        if server is None:
            return
        # serve_forever only notices shutdown between polls; a throwaway connection wakes it.
        stopper = threading.Thread(target=server.shutdown)
        stopper.start()
        with contextlib.suppress(OSError):
            socket.create_connection(
                (str(server.server_address[0]), int(server.server_address[1])), timeout=1
            ).close()
        stopper.join()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self._app is not None:
            self._app.reads.cleanup()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def app(self) -> ZohoApp:
        """The running application (raises before start())."""
        if self._app is None:
            raise RuntimeError("the simulator is not started")
        return self._app

    # -- URLs and credentials -------------------------------------------------------------

    @property
    def accounts_url(self) -> str:
        """Where `/oauth/v2/token` lives (this server)."""
        return self.base_url

    @property
    def api_domain(self) -> str:
        """The API domain the token response names (this server)."""
        return self.base_url

    def tap_config(self) -> dict[str, str]:
        """The tap settings that point at this simulator."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "accounts_url": self.accounts_url,
            "api_domain": self.api_domain,
        }

    def add_refresh_token(
        self,
        refresh_token: str | None = None,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        user_index: int = 0,
    ) -> str:
        """Accept another refresh token: narrower scopes, or another user (`user_index` >= 1)."""
        token = refresh_token or f"1000.simulator.extra-{secrets.token_hex(4)}"
        source = USERS[user_index]
        user = User(source.id, source.full_name)
        if self._app is not None:
            self._app.tokens.register(token, user, scopes)
        else:
            self._extra_grants.append((token, user, tuple(scopes)))
        return token

    # -- hooks ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move the simulated clock forward (jobs, token expiry, retention, download window)."""
        offset = self.clock.advance(seconds)
        if self._app is not None:
            self._app.reads.sweep()
        return offset

    def mutate(self, **changes: Unpack[Changes]) -> dict[str, dict[str, object]]:
        """Add, modify, delete, purge or restore records, stamped with real wall-clock UTC now:
        `add`, `modify`, `delete`, `permanent`, `purge`, `restore` as in the admin API's
        `mutate` (see the module docstring and `Dataset.mutate`)."""
        return self.app.mutate(**changes)

    def stats(self) -> dict[str, object]:
        """Credits, calls per endpoint kind, token requests, jobs, downloads, faults fired."""
        return self.app.stats()

    def expire_tokens(self) -> int:
        """Invalidate every access token issued so far."""
        return self.app.tokens.expire_all()

    def expire_page_tokens(self) -> int:
        """Invalidate every bulk read page_token issued so far."""
        return self.app.reads.expire_page_tokens()

    @property
    def bulk_write_job_ids(self) -> dict[str, str]:
        """The pre-seeded bulk write jobs by status."""
        return dict(BULK_WRITE_JOB_IDS)


@contextmanager
def run_simulator(**options: Any) -> Iterator[Simulator]:
    """Start a Simulator with these options for the duration of a `with` block."""
    simulator = Simulator(**options)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _is_loopback(host: str) -> bool:
    """Loopback literal, `localhost`, or a name that resolves only to loopback addresses."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )
