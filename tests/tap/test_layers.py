"""The package's layers import one way: zoho -> results -> singer.

`tap_zoho_bulk.zoho` talks to Zoho and knows nothing of Singer or of result files;
`tap_zoho_bulk.results` reads result files and knows nothing of Singer or of Zoho's API. Each
layer's modules are imported in a fresh interpreter, so that nothing the test process already
imported hides an import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imports every module of a package and reports, per module, the forbidden modules it brought in.
PROBE = """
import importlib, json, pkgutil, sys

package_name, *forbidden = sys.argv[1:]


def loaded():
    return {
        name
        for name in sys.modules
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }


found = {}
package = importlib.import_module(package_name)
if loaded():
    found[package_name] = sorted(loaded())
names = sorted(
    info.name for info in pkgutil.walk_packages(package.__path__, package_name + ".")
)
for name in names:
    before = loaded()
    importlib.import_module(name)
    if loaded() - before:
        found[name] = sorted(loaded() - before)
print(json.dumps({"modules": names, "found": found}))
"""

LAYERS = {
    "tap_zoho_bulk.zoho": ("singer_sdk", "tap_zoho_bulk.singer", "tap_zoho_bulk.results"),
    "tap_zoho_bulk.results": ("singer_sdk", "tap_zoho_bulk.singer", "tap_zoho_bulk.zoho"),
}


@pytest.mark.parametrize(("package", "forbidden"), LAYERS.items())
def test_a_layer_imports_nothing_of_the_layers_above_it(
    package: str, forbidden: tuple[str, ...]
) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, package, *forbidden],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["modules"], f"{package} has no modules to check"
    assert report["found"] == {}, f"{package} imports what it must not: {report['found']}"


def test_the_zoho_layer_has_the_modules_this_test_expects() -> None:
    """A module renamed or moved out of the layer would otherwise leave the check above."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, "tap_zoho_bulk.zoho"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    modules = set(json.loads(probe.stdout)["modules"])
    expected = {"auth", "bulk_write", "client", "criteria", "download", "jobs", "wire"}
    assert {f"tap_zoho_bulk.zoho.{name}" for name in expected} <= modules
