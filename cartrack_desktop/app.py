"""Composition root: settings, logging, then the service or the window."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from .config import ConfigError, load_settings
from .logging_setup import configure_logging
from .services.infra.private_files import restrict_umask


def main(argv: Sequence[str] | None = None) -> int:
    restrict_umask()  # police data: every file the app (and its child servers) creates is private
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["import-map"]:   # a subcommand: before the settings parse, never imports Qt
        from .mapdata.cli import import_map_main

        return import_map_main(args[1:])
    if args[:1] == ["api-token"]:    # the API's bearer tokens, likewise
        from .api.cli import api_token_main

        return api_token_main(args[1:])
    try:
        settings = load_settings(args)
    except ConfigError as exc:
        print(f"cartrack-desktop: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.headless:
        from .headless import run_headless  # never imports Qt

        return asyncio.run(run_headless(settings))
    from .ui.application import run_gui

    return run_gui(settings)


def cli() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
