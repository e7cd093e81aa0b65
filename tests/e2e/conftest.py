"""Fixtures for the end-to-end tests: the real programs, nothing stubbed.

- `meltano_project`: a temporary copy of this project where `meltano install` has run once per
  session (plugin venvs live under the copy's `.meltano/`).
- `postgres`: a throw-away PostgreSQL cluster started by the test session as an unprivileged user
  (initdb refuses root) on a free loopback port, removed afterwards.
- `simulator_process`: the `tap-zoho-bulk-simulator` console script, which outlives single
  `meltano run`s so an incremental second run sees the same data plus what the test added.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
"""The project venv's scripts: `meltano`, `tap-zoho-bulk`, `tap-zoho-bulk-simulator`."""

# What `pip install -e .` needs, plus the Meltano project file itself.
PROJECT_FILES = ("meltano.yml", "pyproject.toml", "README.md", "LICENSE")
PROJECT_DIRS = ("tap_zoho_bulk",)

# Settings from the developer's shell must not leak into a run (Meltano reads them first).
LEAKY_PREFIXES = ("TAP_ZOHO_BULK_", "TARGET_JSONL_", "TARGET_POSTGRES_", "MELTANO_")
CLUSTER_USER = "tap-zoho-bulk-e2e"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment without plugin settings from outside, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.update(extra or {})
    return env


def run(
    args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a program; on failure, fail the test with the end of its output (not a traceback)."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}\n"
            f"--- stdout (tail) ---\n{done.stdout[-3000:]}\n"
            f"--- stderr (tail) ---\n{done.stderr[-6000:]}"
        )
    return done


@dataclass(frozen=True)
class MeltanoProject:
    """A copy of the project with its plugins installed."""

    root: Path

    def meltano(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """`meltano <args>` in the project, with `env` as plugin setting overrides."""
        return run(
            [str(BIN / "meltano"), *args], cwd=self.root, env=clean_env(env), timeout=timeout
        )


def copy_project(root: Path) -> MeltanoProject:
    """What a clone holds of the Meltano project and the package, copied into `root`."""
    for name in PROJECT_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    return MeltanoProject(root)


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """Copy the project and `meltano install` it once for the whole session."""
    project = copy_project(tmp_path_factory.mktemp("meltano-project"))
    project.meltano("install", timeout=900)
    return project


# -- simulator as a process ----------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatorProcess:
    """A running `tap-zoho-bulk-simulator` and what it printed about itself."""

    info: Mapping[str, str]

    def tap_env(self) -> dict[str, str]:
        """Meltano overrides that point tap-zoho-bulk at this simulator instead of its own."""
        return {
            "TAP_ZOHO_BULK_USE_SIMULATOR": "false",
            "TAP_ZOHO_BULK_ACCOUNTS_URL": self.info["accounts_url"],
            "TAP_ZOHO_BULK_API_DOMAIN": self.info["api_domain"],
            "TAP_ZOHO_BULK_CLIENT_ID": self.info["client_id"],
            "TAP_ZOHO_BULK_CLIENT_SECRET": self.info["client_secret"],
            "TAP_ZOHO_BULK_REFRESH_TOKEN": self.info["refresh_token"],
        }

    def admin(self, action: str, payload: Mapping[str, Any]) -> Any:
        """POST to the simulator's admin API (`/__simulator__/<action>`)."""
        request = urllib.request.Request(
            f"{self.info['base_url']}/__simulator__/{action}",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


@pytest.fixture
def simulator_process(
    tmp_path: Path,
) -> Iterator[Callable[..., SimulatorProcess]]:
    """Start simulator processes with the given CLI flags; all are stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> SimulatorProcess:
        log = (tmp_path / f"simulator-{len(started)}.log").open("w")
        process = subprocess.Popen(
            [str(BIN / "tap-zoho-bulk-simulator"), "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=clean_env(),
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"simulator exited before announcing itself (exit {process.wait()})")
        return SimulatorProcess(json.loads(line))

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- PostgreSQL ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    """Where the session's PostgreSQL server listens (trust auth, loopback only)."""

    host: str
    port: int
    user: str

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname, autocommit=True
        )

    def target_env(self, dbname: str, schema: str) -> dict[str, str]:
        """Meltano overrides that point target-postgres at this server."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": "unused-with-trust-auth",
            "TARGET_POSTGRES_DATABASE": dbname,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }


def _pg_program(name: str) -> str:
    """A PostgreSQL server program: on PATH, else the newest Debian/Ubuntu install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        pytest.fail(f"PostgreSQL's {name} is not installed (.ci/run installs it with apt)")
    return candidates[-1]


def _unprivileged_user() -> str:
    """The account to run the cluster as when the tests run as root (initdb refuses root).

    Debian's postgresql package creates `postgres`; where it does not exist, a system user of our
    own is created once.
    """
    for name in ("postgres", CLUSTER_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", CLUSTER_USER],
        check=True,
    )
    return CLUSTER_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for the session, owned by an unprivileged user.

    The server's time zone is deliberately not UTC, so a timestamp that lost its offset on the
    way in would show up as a wrong instant.
    """
    base = Path(tempfile.mkdtemp(prefix="tap-zoho-bulk-pg-"))
    user = _unprivileged_user() if os.geteuid() == 0 else None
    if user is not None:
        shutil.chown(base, user)
    data, log = base / "data", base / "server.log"

    def as_owner(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=base, user=user, capture_output=True, text=True, check=False
        )

    try:
        initdb = as_owner(
            _pg_program("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        assert initdb.returncode == 0, initdb.stderr
        port = _free_port()
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c TimeZone=Asia/Kolkata"
        )
        pg_ctl = _pg_program("pg_ctl")
        started = as_owner(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        assert started.returncode == 0, started.stderr + log.read_text(errors="replace")
        try:
            yield PostgresServer(host="127.0.0.1", port=port, user="postgres")
        finally:
            as_owner(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_database(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = "e2e_" + "".join(c if c.isalnum() else "_" for c in request.node.name).lower()[:50]
    with postgres.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with postgres.connect() as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
