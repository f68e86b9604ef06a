"""The import's own process: `python -m cartrack_desktop.mapdata.worker SOURCE DATA_DIR [--bbox S,W,N,E]`.

Speaks JSON lines on stdout (the protocol job.ImportJob reads):
  {"type": "build_dir", "path": ...}                                   where it builds (removed on failure)
  {"type": "progress", "stage", "stage_fraction", "fraction", "message"}
  {"type": "done", "map_dir": ..., "manifest": {...}}                  exit status 0
  {"type": "error", "message": ...}                                    exit status 1
SIGTERM/SIGINT end it cleanly (build directory removed); SIGKILL is cleaned up by the parent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from .manifest import BBox
from .pipeline import pdeathsig, run_import
from .progress import MapImportError, Progress
from .store import ImportBusyError

log = logging.getLogger(__name__)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)   # unwinds through run_import, which removes the build directory


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cartrack_desktop.mapdata.worker")
    ap.add_argument("source")
    ap.add_argument("data_dir")
    ap.add_argument("--bbox")
    ap.add_argument("--nice", type=int, default=0, help="lower this process's (and its tools') CPU priority")
    args = ap.parse_args(argv)
    pdeathsig()            # die with the app, whatever way it ends
    if args.nice > 0:
        os.nice(min(args.nice, 19))
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        bbox = BBox.parse(args.bbox) if args.bbox else None
    except ValueError as exc:
        _emit({"type": "error", "message": str(exc)})
        return 1

    def progress(p: Progress) -> None:
        _emit({"type": "progress", "stage": p.stage, "stage_fraction": p.stage_fraction, "fraction": p.fraction,
               "message": p.message})

    try:
        installed = run_import(Path(args.source), Path(args.data_dir), bbox, progress,
                               lambda d: _emit({"type": "build_dir", "path": str(d)}))
    except (MapImportError, ImportBusyError) as exc:
        _emit({"type": "error", "message": str(exc)})
        return 1
    except MemoryError:
        _emit({"type": "error", "message": "out of memory: import a smaller area (--bbox)"})
        return 1
    except OSError as exc:
        _emit({"type": "error", "message": f"{exc.filename or 'disk'}: {exc.strerror or exc}"})
        return 1
    except Exception as exc:
        log.exception("import failed")
        _emit({"type": "error", "message": f"import failed: {type(exc).__name__}: {exc}"[:400]})
        return 1
    _emit({"type": "done", "map_dir": str(installed.directory),
           "manifest": json.loads(installed.manifest.to_json())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
