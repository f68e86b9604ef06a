"""`cartrack-desktop import-map FILE.osm.pbf [--bbox S,W,N,E] [--data-dir DIR]` (never imports Qt)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from ..config import ConfigError, load_settings
from .job import CancelledEvent, DoneEvent, FailedEvent, ImportJob, ProgressEvent
from .manifest import BBox

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"cartrack-desktop import-map: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cartrack-desktop import-map",
                description="Import an OpenStreetMap extract (.osm.pbf) as the offline street map: vector tiles, "
                            "address search and the road network. Replaces the current map only when complete.")
    p.add_argument("file", help="an OpenStreetMap extract in PBF format")
    p.add_argument("--bbox", help="clip to S,W,N,E (degrees), e.g. 33.64,-84.55,33.89,-84.29")
    p.add_argument("--data-dir", help="data directory (default: as for the app: CARTRACK_DATA_DIR or the user data "
                                      "directory)")
    return p


class _Printer:
    """One line per stage on a pipe; a single updating line on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.stage = ""

    def progress(self, e: ProgressEvent) -> None:
        p = e.progress
        if self.tty:
            self.out.write(f"\r{p.fraction * 100:5.1f}%  {p.stage:<14} {p.stage_fraction * 100:5.1f}%   ")
            self.out.flush()
        elif p.stage != self.stage:
            self.out.write(f"{p.fraction * 100:5.1f}%  {p.stage}\n")
            self.out.flush()
        self.stage = p.stage

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")


def import_map_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        bbox = BBox.parse(args.bbox) if args.bbox else None
        settings = load_settings(["--data-dir", args.data_dir] if args.data_dir else [])
    except ValueError as exc:
        print(f"cartrack-desktop import-map: error: --bbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"cartrack-desktop import-map: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    printer = _Printer(sys.stderr)
    job = ImportJob(Path(args.file), settings.data_dir, bbox, nice=0).start()
    try:
        outcome = _follow(job, printer)
    except KeyboardInterrupt:
        job.cancel()
        _follow(job, printer)
        printer.end()
        print("import cancelled; the previous map is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED
    printer.end()
    if isinstance(outcome, DoneEvent):
        _summary(outcome)
        return EXIT_OK
    message = outcome.message if isinstance(outcome, FailedEvent) else "cancelled"
    print(f"cartrack-desktop import-map: {message}; the current map is unchanged", file=sys.stderr)
    return EXIT_FAILED


def _summary(done: DoneEvent) -> None:
    m = done.installed.manifest
    c = m.counts
    print(f"map imported into {done.installed.directory}\n"
          f"  area {m.bbox.south:.5f},{m.bbox.west:.5f},{m.bbox.north:.5f},{m.bbox.east:.5f} "
          f"(centre {m.centre[0]:.5f},{m.centre[1]:.5f})\n"
          f"  {c.get('tiles', 0)} tiles (zoom {m.zooms[0]}-{m.zooms[1]}), {c.get('streets', 0)} streets, "
          f"{c.get('intersections', 0)} intersections, {c.get('addresses', 0)} addresses, "
          f"{c.get('places', 0)} places, {c.get('road_edges', 0)} road edges\n"
          f"  map data {m.attribution} (ODbL)")


def _follow(job: ImportJob, printer: _Printer) -> DoneEvent | FailedEvent | CancelledEvent:
    """Print progress until the job's final event (every job ends with exactly one)."""
    while True:
        for e in job.next_events(timeout=1.0):
            if isinstance(e, ProgressEvent):
                printer.progress(e)
            else:
                return e
