"""The tap's command line: `tap-zoho-bulk` and `python -m tap_zoho_bulk`.

Worker processes that read result files re-import the console script that started the tap
(multiprocessing does so to recreate `__main__`); the tap is imported only when the command
runs, so that they do not load singer-sdk for nothing.
"""

import sys

from tap_zoho_bulk.errors import ZohoTapError


def main() -> None:
    """Run the tap's command line.

    The tap's own errors carry a message meant for the user, whichever path (sync, `--discover`,
    `--test`) raised them: it becomes one ERROR line of the tap's log and exit status 1, not a
    traceback.
    """
    from tap_zoho_bulk.singer.tap import TapZohoBulk  # noqa: PLC0415  (see the module's docstring)

    command = TapZohoBulk.cli  # sets up the tap's logging, so the line looks like its others
    try:
        command()
    except ZohoTapError as exc:
        TapZohoBulk.logger.error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
