"""`python -m tap_zoho_bulk`: the tap's command line."""

from tap_zoho_bulk.tap import TapZohoBulk

TapZohoBulk.cli()
