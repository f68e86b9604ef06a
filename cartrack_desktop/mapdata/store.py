"""Where imported maps live under the data directory, and the atomic swap to a new one.

    <data-dir>/mapdata/
      current -> versions/<id>      relative symlink, replaced with os.replace (atomic)
      versions/<id>/                manifest.json, basemap.pmtiles, search.sqlite, roads.npz
      build-<id>/                   an import in progress (removed if it fails or is cancelled)
      import.lock                   one import at a time per data directory (flock)

Readers resolve `current` once when they open a map, so they keep a consistent version even if an
import swaps in a new one meanwhile (on Linux the old files stay readable until closed).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .manifest import MANIFEST_NAME, Manifest

log = logging.getLogger(__name__)

MAPDATA_DIR = "mapdata"
CURRENT_LINK = "current"
VERSIONS_DIR = "versions"
BUILD_PREFIX = "build-"


class ImportBusyError(RuntimeError):
    """Another import holds this data directory's import lock."""


def mapdata_dir(data_dir: Path) -> Path:
    return data_dir / MAPDATA_DIR


@dataclass(frozen=True)
class InstalledMap:
    """One imported map version: its manifest and the paths of its three outputs."""

    directory: Path
    manifest: Manifest

    @property
    def tiles_path(self) -> Path:
        return self.directory / self.manifest.files["tiles"]

    @property
    def search_path(self) -> Path:
        return self.directory / self.manifest.files["search"]

    @property
    def roads_path(self) -> Path:
        return self.directory / self.manifest.files["roads"]


def current_map(data_dir: Path) -> InstalledMap | None:
    """The map in use, or None if none was imported. ManifestError if it exists but is unreadable."""
    link = mapdata_dir(data_dir) / CURRENT_LINK
    if not link.is_symlink() and not link.exists():
        return None
    directory = link.resolve()
    if not directory.is_dir():
        return None
    return InstalledMap(directory, Manifest.read(directory / MANIFEST_NAME))


def patrol_area(data_dir: Path) -> tuple[tuple[float, float, float, float], tuple[float, float]] | None:
    """((south, west, north, east), (lat, lng)) of the imported map: the simulator's area without a fleet area."""
    try:
        installed = current_map(data_dir)
    except ValueError:
        return None
    if installed is None:
        return None
    b = installed.manifest.bbox
    return (b.south, b.west, b.north, b.east), installed.manifest.centre


class ImportLock:
    """An exclusive flock on <data-dir>/mapdata/import.lock; the kernel releases it if the holder dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = mapdata_dir(data_dir) / "import.lock"
        self._fd: int | None = None

    def __enter__(self) -> ImportLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ImportBusyError(f"another map import is running for {self.path.parent.parent}") from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def new_build_dir(data_dir: Path) -> Path:
    """A fresh, empty directory for one import (on the same filesystem as versions/, so rename is atomic)."""
    root = mapdata_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{BUILD_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    path.mkdir(mode=0o700)
    return path


def remove_stale_builds(data_dir: Path, keep: Path | None = None) -> None:
    """Delete what imports that died left: build directories, and a version renamed into versions/ but
    never made current (killed between the rename and the link swap). Call while holding the ImportLock."""
    root = mapdata_dir(data_dir)
    if not root.is_dir():
        return
    for p in root.iterdir():
        if (p.name.startswith(BUILD_PREFIX) and p != keep) or p.name.startswith(f".{CURRENT_LINK}-"):
            if p.is_symlink() or p.is_file():
                p.unlink(missing_ok=True)
            else:
                shutil.rmtree(p, ignore_errors=True)
    link = root / CURRENT_LINK
    current = link.resolve() if link.is_symlink() else None
    versions = root / VERSIONS_DIR
    if versions.is_dir():
        for v in versions.iterdir():
            if v.resolve() != current:
                shutil.rmtree(v, ignore_errors=True)


def install(data_dir: Path, build_dir: Path) -> InstalledMap:
    """Make a finished build the current map: rename it into versions/, swap the link, drop old versions."""
    manifest = Manifest.read(build_dir / MANIFEST_NAME)   # never install a build without a valid manifest
    for name in manifest.files.values():
        if not (build_dir / name).is_file():
            raise FileNotFoundError(f"build is missing {name}")
    for name in (*manifest.files.values(), MANIFEST_NAME):   # on disk before the link points at them
        _fsync_file(build_dir / name)
    _fsync_dir(build_dir)
    root = mapdata_dir(data_dir)
    versions = root / VERSIONS_DIR
    versions.mkdir(exist_ok=True)
    final = versions / build_dir.name.removeprefix(BUILD_PREFIX)
    os.replace(build_dir, final)
    tmp_link = root / f".{CURRENT_LINK}-{secrets.token_hex(4)}"
    os.symlink(os.path.join(VERSIONS_DIR, final.name), tmp_link)
    os.replace(tmp_link, root / CURRENT_LINK)
    _fsync_dir(root)
    for old in versions.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.info("map installed: %s", final)
    return InstalledMap(final, manifest)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
