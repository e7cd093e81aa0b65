"""The tap's command line: `tap-zoho-bulk` and `python -m tap_zoho_bulk`.

Worker processes that read result files re-import the console script that started the tap
(multiprocessing does so to recreate `__main__`); the tap is imported only when the command
runs, so that they do not load singer-sdk for nothing.
"""


def main() -> None:
    """Run the tap's command line."""
    from tap_zoho_bulk.tap import TapZohoBulk  # noqa: PLC0415  (see the module's docstring)

    TapZohoBulk.cli()


if __name__ == "__main__":
    main()
