"""Runs one benchmark group in a fresh process: `python -m bench.worker GROUP PARAMS_JSON OUT_JSON`.

The result ({"metrics": [metric dicts], "extra": {...}}) is written to OUT_JSON before the process tears Qt
down, so a crash at exit never loses a measurement.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import orjson

# group -> module with run(params) -> list[metric dict]
MODULES = {
    "page": "bench.page",
    "page_basemap": "bench.page",
    "e2e_1k": "bench.pipeline",
    "e2e_10k": "bench.pipeline",
    "e2e_10k_basemap": "bench.pipeline",
    "nearby": "bench.store",
    "sim": "bench.sim",
    "sync": "bench.archive_sync",
    "mapdata": "bench.mapdata",
    "roads": "bench.roads",
    "ingest": "bench.ingest",
    "api": "bench.api",
}


def save_result(params: dict[str, Any], result: dict[str, Any] | list[Any]) -> None:
    """Write the result now (called by GUI groups before Qt teardown, which has crashed before)."""
    if isinstance(result, list):
        result = {"metrics": result, "extra": {}}
    Path(params["_out"]).write_bytes(orjson.dumps(result))


def main(argv: list[str]) -> int:
    group, params_json, out = argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params: dict[str, Any] = orjson.loads(params_json)
    params["_out"] = out
    module = importlib.import_module(MODULES[group])
    result = module.run(params)
    save_result(params, result)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
