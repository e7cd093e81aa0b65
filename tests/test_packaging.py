"""Ready to publish: the sdist and the wheel install and run, the Meltano Hub definition says what
the tap and meltano.yml say, and the CHANGELOG knows the version.

The version is written in one place, `pyproject.toml`: the built wheel must report it through
`--about`, and the CHANGELOG must have a section for it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME: str = PROJECT["name"]
VERSION: str = PROJECT["version"]
DIST_NAME = NAME.replace("-", "_")  # file names of sdists and wheels (PEP 625, PEP 427)
HUB_DIR = ROOT / "hub" / "extractors" / NAME

# What the hub's schemas (github.com/meltano/hub, schemas/plugin_definitions/extractors.schema.json
# and the common schemas it includes) require of an extractor and accept at all.
HUB_REQUIRED = {"name", "namespace", "variant", "label", "quality"}
HUB_KEYS = HUB_REQUIRED | {
    "pip_url", "description", "executable", "settings", "docs", "repo", "logo_url", "hidden",
    "python", "settings_group_validation", "commands", "capabilities", "metadata", "schema",
    "select", "maintenance_status", "domain_url", "keywords", "requires", "definition",
    "next_steps", "settings_preamble", "usage", "prereq", "supported_python_versions",
    "log_parser",
}  # fmt: skip
HUB_SETTING_KEYS = {
    "name", "aliases", "label", "value", "placeholder", "kind", "description", "tooltip",
    "documentation", "env", "value_processor", "value_post_processor", "oauth", "options", "docs",
    "hidden", "sensitive",
}  # fmt: skip


def run(args: list[str], *, cwd: Path, timeout: float) -> str:
    """Run a program outside the source tree; on failure, fail with the end of its output."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME"} and not k.startswith("TAP_ZOHO_BULK_")
    }
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}"
            f"\n{done.stderr[-3000:]}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def about() -> dict[str, Any]:
    """`tap-zoho-bulk --about --format=json` of the project's own install."""
    command = [sys.executable, "-m", "tap_zoho_bulk", "--about", "--format=json"]
    about: dict[str, Any] = json.loads(run(command, cwd=ROOT, timeout=120))
    return about


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    (path,) = HUB_DIR.glob("*.yml")  # one variant, named after the file as on the hub
    definition: dict[str, Any] = yaml.safe_load(path.read_text())
    assert definition["variant"] == path.stem
    return definition


@pytest.fixture(scope="module")
def extractor() -> dict[str, Any]:
    """The extractor that meltano.yml defines inline."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (found,) = [p for p in project["plugins"]["extractors"] if p["name"] == NAME]
    return dict(found)


@pytest.mark.slow
def test_sdist_and_wheel_install_into_a_clean_venv(tmp_path: Path, hub: dict[str, Any]) -> None:
    """Build as a release would, install the wheel into a venv that has nothing else, run it.

    `python -m build` builds the sdist first and then the wheel *from the sdist*, so the
    wheel's existence proves the sdist holds everything a build needs.
    """
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)]
    run(build, cwd=tmp_path, timeout=300)
    wheel = dist / f"{DIST_NAME}-{VERSION}-py3-none-any.whl"
    sdist = dist / f"{DIST_NAME}-{VERSION}.tar.gz"
    assert sorted(dist.iterdir()) == sorted([wheel, sdist])

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = archive.namelist()
    assert f"{DIST_NAME}/simulator/cli.py" in in_wheel
    assert f"{DIST_NAME}/singer/tap.py" in in_wheel
    stray = [n for n in in_wheel if not n.startswith((f"{DIST_NAME}/", f"{DIST_NAME}-{VERSION}."))]
    assert stray == [], "the wheel holds more than the package"
    assert not any("__pycache__" in n for n in in_wheel)

    with tarfile.open(sdist) as archive:
        top = f"{DIST_NAME}-{VERSION}/"
        in_sdist = {n.removeprefix(top) for n in archive.getnames()}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "meltano.yml"):
        assert needed in in_sdist, needed
    assert f"hub/extractors/{NAME}/{hub['variant']}.yml" in in_sdist

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, timeout=120)
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path, timeout=300)

    where = "import tap_zoho_bulk; print(tap_zoho_bulk.__file__)"
    imported = run([str(python), "-c", where], cwd=tmp_path, timeout=60)
    assert Path(imported.strip()).is_relative_to(venv), "the package came from outside the venv"
    about = json.loads(
        run([str(venv / "bin" / NAME), "--about", "--format=json"], cwd=tmp_path, timeout=120)
    )
    assert (about["name"], about["version"]) == (NAME, VERSION)
    usage = run([str(venv / "bin" / f"{NAME}-simulator"), "--help"], cwd=tmp_path, timeout=60)
    assert usage.startswith(f"usage: {NAME}-simulator")


def test_hub_definition_says_what_the_tap_says(hub: dict[str, Any], about: dict[str, Any]) -> None:
    """Setting names, labels, descriptions, defaults, secrets and capabilities are `--about`'s."""
    assert hub["name"] == about["name"]
    assert sorted(hub["capabilities"]) == sorted(about["capabilities"])
    assert len(set(hub["capabilities"])) == len(hub["capabilities"])
    assert hub["supported_python_versions"] == about["supported_python_versions"]

    accepted: dict[str, Any] = about["settings"]["properties"]
    declared = {s["name"]: s for s in hub["settings"]}
    assert len(declared) == len(hub["settings"]), "a setting is declared twice"
    assert sorted(declared) == sorted(accepted)
    for name, schema in accepted.items():
        setting = declared[name]
        assert setting["label"] == schema["title"], name
        assert setting["description"] == schema["description"], name
        assert bool(setting.get("sensitive")) is bool(schema.get("secret")), name
        if "default" in schema:
            assert setting.get("value", "<none>") == schema["default"], name
        else:
            assert "value" not in setting, f"{name}: the tap has no default"
        if "enum" in schema:
            assert [o["value"] for o in setting["options"]] == schema["enum"], name


def test_hub_definition_says_what_meltano_yml_says(
    hub: dict[str, Any], extractor: dict[str, Any]
) -> None:
    """The hub entry is meltano.yml's extractor, published: the same plugin and settings (the
    hub adds defaults), installed from the package index instead of the checkout."""
    for key in ("namespace", "label", "description", "executable"):
        assert hub[key] == extractor[key], key
    assert sorted(hub["capabilities"]) == sorted(extractor["capabilities"])
    published = {s["name"]: {k: v for k, v in s.items() if k != "value"} for s in hub["settings"]}
    declared = {s["name"]: s for s in extractor["settings"]}
    assert sorted(published) == sorted(declared)
    for name, setting in declared.items():
        assert published[name] == setting, name


def test_hub_definition_is_a_hub_entry(hub: dict[str, Any]) -> None:
    """What the hub needs to list the plugin and Meltano needs to install it from there."""
    assert HUB_REQUIRED <= set(hub) <= HUB_KEYS, set(hub) ^ HUB_KEYS
    for setting in hub["settings"]:
        assert set(setting) <= HUB_SETTING_KEYS, setting["name"]
        assert all(setting.get(k) for k in ("kind", "label", "description")), setting["name"]
        if setting["kind"] == "password":
            assert setting.get("sensitive") is True, setting["name"]

    assert hub["pip_url"] == NAME
    assert hub["executable"] in PROJECT["scripts"]
    assert hub["repo"] == PROJECT["urls"]["Repository"]
    assert hub["docs"] == PROJECT["urls"]["Documentation"]
    for url in ("repo", "docs", "domain_url"):
        assert hub[url].startswith("https://"), url
    assert hub["keywords"]
    assert "meltano_sdk" in hub["keywords"]

    names = {s["name"] for s in hub["settings"]}
    for group in hub["settings_group_validation"]:
        assert group, "an empty group validates nothing"
        assert set(group) <= names, group


def test_changelog_has_a_section_for_the_version() -> None:
    """The version in pyproject.toml has a dated section, newest first, and none is newer."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", changelog, re.MULTILINE)
    sections = [name for name, _ in headings]
    assert VERSION in sections, f"CHANGELOG.md has no section for {VERSION}"
    released = [name for name in sections if name != "Unreleased"]
    assert sections[len(sections) - len(released) :] == released, "Unreleased comes first"
    assert len(sections) - len(released) <= 1
    assert released[0] == VERSION, "the newest section must be pyproject.toml's version"
    assert [Version(v) for v in released] == sorted(map(Version, released), reverse=True)
    for name, rest in headings:
        if name != "Unreleased":
            assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", rest), f"{name} has no date"
        assert re.search(rf"^\[{re.escape(name)}\]: https://", changelog, re.MULTILINE), name
