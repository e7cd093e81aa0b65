"""The README's settings table is the tap's own `--about` output, not a copy that drifts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def settings_table(markdown: str) -> str:
    start = markdown.index("| Setting |")
    end = markdown.find("\n\n", start)
    return markdown[start : end if end != -1 else None].strip()


def test_settings_table_matches_about() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_zoho_bulk", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    section = re.search(
        r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", README.read_text(), re.S
    )
    assert section, "README lacks the settings markers"
    assert section.group(1).strip() == settings_table(about)
