"""Every command of the README, run as written, in a copy of the project.

The README's commands are the lines of its ```sh blocks. Each is registered here with `command`,
which fails at import if the README no longer has it, and a test runs it through bash in the
project copy (`.venv/bin/` meaning this test run's own venv, where Meltano and the tap are
installed). `test_every_readme_command_is_run_here` checks that no README command is left out;
the few that cannot run here say why in `NOT_RUN`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from .conftest import (
    BIN,
    ROOT,
    MeltanoProject,
    PostgresServer,
    SimulatorProcess,
    clean_env,
    copy_project,
)
from .test_meltano import read_jsonl

README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    """The lines of the README's ```sh blocks, in order."""
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", README, re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


RUN: list[str] = []


def command(text: str) -> str:
    """A README command that a test below runs."""
    assert text in readme_commands(), f"the README no longer says: {text}"
    RUN.append(text)
    return text


NOT_RUN = {
    "bash .ci/run": "CI itself, the run this test is part of",
    "curl -X POST https://accounts.zoho.com/oauth/v2/token -d grant_type=authorization_code "
    "-d client_id=... -d client_secret=... -d code=...": "Zoho's accounts server, which tests "
    "cannot reach (the simulator's token endpoint has tests/simulator/test_server_oauth.py)",
}

MAIN = command(
    "python3 -m venv .venv && .venv/bin/pip install meltano==4.4.1 && .venv/bin/meltano "
    "install && .venv/bin/meltano run zoho-to-jsonl"
)
ABOUT = command(".venv/bin/meltano invoke tap-zoho-bulk --about")
DISCOVER = command(".venv/bin/meltano invoke tap-zoho-bulk --discover > catalog.json")
CONFIG = command("""echo '{"use_simulator": true, "simulator_records": 20}' > config.json""")
DIRECT = command(
    ".meltano/extractors/tap-zoho-bulk/venv/bin/tap-zoho-bulk --config config.json > messages.jsonl"
)
SELECT_LIST = command(".venv/bin/meltano select tap-zoho-bulk --list --all")
SELECT = [
    command(".venv/bin/meltano select tap-zoho-bulk Leads '*'"),
    command(".venv/bin/meltano select tap-zoho-bulk Deals Deal_Name"),
    command(".venv/bin/meltano select tap-zoho-bulk Deals Amount"),
]
RUN_JSONL = command(".venv/bin/meltano run zoho-to-jsonl")
CREATE_DB = command("psql -U postgres -c 'CREATE DATABASE zoho'")
PASSWORD = command("export TARGET_POSTGRES_PASSWORD=...")
RUN_POSTGRES = command(".venv/bin/meltano run zoho-to-postgres")
SCHEDULES = command(".venv/bin/meltano schedule list")
SCHEDULE_RUN = command(".venv/bin/meltano schedule run daily-zoho-to-jsonl")
STATES = command(".venv/bin/meltano state list")
FULL_REFRESH = command("rm -rf output && .venv/bin/meltano run --full-refresh zoho-to-jsonl")
TEST = command(".venv/bin/meltano invoke tap-zoho-bulk --test")
TEST_BAD = command(
    "TAP_ZOHO_BULK_CLIENT_SECRET=wrong .venv/bin/meltano --environment=prod invoke "
    "tap-zoho-bulk --test"
)
PROD_CREDENTIALS = command(
    "export TAP_ZOHO_BULK_CLIENT_ID=... TAP_ZOHO_BULK_CLIENT_SECRET=... "
    "TAP_ZOHO_BULK_REFRESH_TOKEN=..."
)
PROD_DATA_CENTER = command("export TAP_ZOHO_BULK_DATA_CENTER=eu")
PROD_TEST = command(".venv/bin/meltano --environment=prod invoke tap-zoho-bulk --test")
PROD_RUN = command(".venv/bin/meltano --environment=prod run zoho-to-jsonl")
SIMULATOR = command(
    ".meltano/extractors/tap-zoho-bulk/venv/bin/tap-zoho-bulk-simulator --port 8765 "
    "--records 100000 --page-size 200000 --job-seconds 5 --fault download:503:every=3 "
    "--fault token:throttle:once"
)


def shell(
    project: MeltanoProject,
    text: str,
    env: Mapping[str, str] | None = None,
    *,
    own_venv: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """A README command through bash in the project; `.venv/bin/` is this test run's venv."""
    if own_venv:
        text = text.replace(".venv/bin/", f"{BIN}/")
    return subprocess.run(
        ["bash", "-c", text],
        cwd=project.root,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def succeeds(project: MeltanoProject, text: str, env: Mapping[str, str] | None = None) -> str:
    done = shell(project, text, env)
    assert done.returncode == 0, f"{text} exited {done.returncode}:\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return done.stdout


def exported(text: str, values: Mapping[str, str]) -> dict[str, str]:
    """The variables an `export A=... B=...` line sets, `...` replaced by `values`."""
    words = shlex.split(text)
    assert words[0] == "export"
    pairs = dict(word.split("=", 1) for word in words[1:])
    return {name: values[name] if value == "..." else value for name, value in pairs.items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """A fresh copy, installed once, that the tests below change in README order."""
    project = copy_project(tmp_path_factory.mktemp("readme-project"))
    project.meltano("install", timeout=900)
    return project


@pytest.fixture
def zoho_database(postgres: PostgresServer) -> Iterator[dict[str, str]]:
    """The libpq variables that point `psql` at the tests' server; drops `zoho` afterwards."""
    yield {"PGHOST": postgres.host, "PGPORT": str(postgres.port)}
    with postgres.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS zoho WITH (FORCE)")


def test_every_readme_command_is_run_here() -> None:
    commands = readme_commands()
    assert len(commands) == len(set(commands)), "a README command is written twice"
    missing = set(commands) - set(RUN) - set(NOT_RUN)
    assert not missing, f"README commands no test runs: {sorted(missing)}"
    assert not set(NOT_RUN) - set(commands), "NOT_RUN names a command the README dropped"


def test_readme_links_point_at_sections_that_exist() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        for title in re.findall(r"^#+ (.+)$", README, re.M)
    }
    links = re.findall(r"\]\(#([^)]+)\)", README)
    assert links, "the README has no section links to check"
    assert not [link for link in links if link not in anchors]
    # Errors and docs that name a README section by its title.
    titles = set(re.findall(r"^#+ (.+)$", README, re.M))
    sources = [*ROOT.glob("tap_zoho_bulk/**/*.py"), ROOT / "CONTRIBUTING.md"]
    named = {m for path in sources for m in re.findall(r"README's\s+'([^']+)'", path.read_text())}
    assert named, "no README reference found to check"
    assert named <= titles, named - titles


def test_the_main_command_on_a_fresh_clone(tmp_path: Path) -> None:
    """The first command of the README, literally: its own venv, Meltano from the index."""
    fresh = copy_project(tmp_path)
    done = shell(fresh, MAIN, own_venv=False, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    written = read_jsonl(fresh.root / "output")
    assert {"Leads", "Contacts", "Deals", "Accounts"} <= set(written), sorted(written)
    assert all(len(written[m]) == 500 for m in ("Leads", "Contacts", "Deals", "Accounts"))


def test_run_the_tap_directly(project: MeltanoProject) -> None:
    about = succeeds(project, ABOUT)
    assert "tap-zoho-bulk" in about
    succeeds(project, DISCOVER)
    catalog = json.loads((project.root / "catalog.json").read_text())
    assert "Leads" in {stream["tap_stream_id"] for stream in catalog["streams"]}
    succeeds(project, CONFIG)
    succeeds(project, DIRECT)
    messages = [json.loads(line) for line in (project.root / "messages.jsonl").open()]
    leads = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "Leads"]
    assert len(leads) == 20
    assert messages[-1]["type"] == "STATE"


def test_pick_modules_and_fields(project: MeltanoProject, tmp_path: Path) -> None:
    listed = succeeds(project, SELECT_LIST)
    assert "Deals.Amount" in listed
    for text in SELECT:
        succeeds(project, text)
    out = tmp_path / "output"
    succeeds(project, RUN_JSONL, {"TARGET_JSONL_DESTINATION_PATH": str(out)})
    written = read_jsonl(out)
    assert set(written) == {"Leads", "Deals"}, sorted(written)
    assert len(written["Leads"]) == 500
    assert {frozenset(r) for r in written["Deals"]} == {
        frozenset({"Id", "Created_Time", "Deal_Name", "Amount"})
    }


def test_load_into_postgres(
    project: MeltanoProject, postgres: PostgresServer, zoho_database: dict[str, str]
) -> None:
    succeeds(project, CREATE_DB, zoho_database)
    env = {
        **exported(PASSWORD, {"TARGET_POSTGRES_PASSWORD": "unused-with-trust-auth"}),
        "TARGET_POSTGRES_HOST": postgres.host,
        "TARGET_POSTGRES_PORT": str(postgres.port),
    }
    succeeds(project, RUN_POSTGRES, env)
    with postgres.connect("zoho") as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'zoho'"
            )
        }
        assert {"Leads", "Deals"} <= tables, tables
        assert conn.execute('SELECT count(*) FROM zoho."Leads"').fetchone() == (500,)


def test_schedule_it(project: MeltanoProject) -> None:
    assert "daily-zoho-to-jsonl" in succeeds(project, SCHEDULES)
    succeeds(project, SCHEDULE_RUN)
    listed = shell(project, STATES)
    assert listed.returncode == 0, listed.stderr[-4000:]
    assert "dev:tap-zoho-bulk-to-target-jsonl" in listed.stdout + listed.stderr


def test_a_full_refresh_into_an_emptied_folder_writes_each_record_once(
    project: MeltanoProject,
) -> None:
    succeeds(project, FULL_REFRESH)
    leads = [r["Id"] for r in read_jsonl(project.root / "output")["Leads"]]
    assert len(leads) == len(set(leads)) == 500


def test_check_a_connection(
    project: MeltanoProject, simulator_process: Callable[..., SimulatorProcess]
) -> None:
    good = shell(project, TEST)
    assert good.returncode == 0, good.stderr[-4000:]
    assert "Connection check passed" in good.stderr
    sim = simulator_process()
    bad = shell(project, TEST_BAD, sim.tap_env())
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr, bad.stderr[-4000:]
    assert "Zoho rejected the OAuth client" in bad.stderr, bad.stderr[-4000:]
    assert "Connection check passed" not in bad.stderr


def test_a_real_org_through_prod(
    project: MeltanoProject, simulator_process: Callable[..., SimulatorProcess], tmp_path: Path
) -> None:
    """`prod` with credentials in the environment, the simulator standing in for Zoho."""
    sim = simulator_process()
    credentials = sim.tap_env()
    env = {
        **exported(PROD_CREDENTIALS, credentials),
        **exported(PROD_DATA_CENTER, {}),
        "TAP_ZOHO_BULK_ACCOUNTS_URL": credentials["TAP_ZOHO_BULK_ACCOUNTS_URL"],
        "TAP_ZOHO_BULK_API_DOMAIN": credentials["TAP_ZOHO_BULK_API_DOMAIN"],
        "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "prod"),
    }
    assert "Connection check passed" in shell(project, PROD_TEST, env).stderr
    succeeds(project, PROD_RUN, env)
    assert read_jsonl(tmp_path / "prod")["Leads"]


def test_the_simulator_command(project: MeltanoProject) -> None:
    process = subprocess.Popen(
        ["bash", "-c", f"exec {SIMULATOR}"],
        cwd=project.root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        announced = json.loads(process.stdout.readline())
        assert announced["base_url"].endswith(":8765")
    finally:
        process.terminate()
        process.wait(timeout=15)
