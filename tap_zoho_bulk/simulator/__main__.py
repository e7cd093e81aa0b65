"""`python -m tap_zoho_bulk.simulator`: same as the `tap-zoho-bulk-simulator` command."""

from .cli import main

raise SystemExit(main())
