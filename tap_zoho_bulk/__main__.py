"""`python -m tap_zoho_bulk`: the tap's command line."""

from tap_zoho_bulk.tap import TapZohoBulk

# Guarded: the tap's worker processes are spawned and import the main module again.
if __name__ == "__main__":
    TapZohoBulk.cli()
