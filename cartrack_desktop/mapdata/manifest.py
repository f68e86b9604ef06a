"""The manifest of an imported map (manifest.json): what was imported, from where, and what it holds."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
TILES_NAME = "basemap.pmtiles"
SEARCH_NAME = "search.sqlite"
ROADS_NAME = "roads.npz"
ATTRIBUTION = "© OpenStreetMap contributors"
MAX_MANIFEST_BYTES = 1_000_000


class ManifestError(ValueError):
    """manifest.json is missing, unreadable or not one this version understands."""


@dataclass(frozen=True, slots=True)
class BBox:
    """South, west, north, east in degrees (the order of the --bbox option)."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        values = (self.south, self.west, self.north, self.east)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise ValueError("bbox values must be finite numbers")
        if not (-90.0 <= self.south < self.north <= 90.0):
            raise ValueError("bbox needs -90 <= south < north <= 90")
        if not (-180.0 <= self.west < self.east <= 180.0):
            raise ValueError("bbox needs -180 <= west < east <= 180 (crossing the antimeridian is not supported)")

    @classmethod
    def parse(cls, text: str) -> BBox:
        """'S,W,N,E' -> BBox; ValueError with a message meant for the user."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"bbox must be S,W,N,E (four numbers), got {text!r}")
        try:
            s, w, n, e = (float(p) for p in parts)
        except ValueError:
            raise ValueError(f"bbox must be S,W,N,E (four numbers), got {text!r}") from None
        return cls(s, w, n, e)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.south + self.north) / 2.0, (self.west + self.east) / 2.0)

    def as_list(self) -> list[float]:
        return [self.south, self.west, self.north, self.east]

    def osmium_arg(self) -> str:
        """osmium's order: LEFT,BOTTOM,RIGHT,TOP."""
        return f"{self.west!r},{self.south!r},{self.east!r},{self.north!r}"


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    created_at: str                          # ISO 8601, UTC
    source: dict[str, Any]                   # {"path", "name", "size_bytes", "clip_bbox" or None}
    bbox: BBox                               # extent of the imported data
    centre: tuple[float, float]              # (lat, lng): the patrol area's centre without a fleet area
    counts: dict[str, int]                   # tiles, features per layer, streets, addresses, road nodes...
    zooms: tuple[int, int]                   # tile archive min/max zoom
    tiler: str                               # e.g. "tippecanoe v2.72.0"
    attribution: str = ATTRIBUTION
    files: dict[str, str] = field(default_factory=lambda: {
        "tiles": TILES_NAME, "search": SEARCH_NAME, "roads": ROADS_NAME})

    def to_json(self) -> str:
        d = asdict(self)
        d["bbox"] = self.bbox.as_list()
        d["centre"] = list(self.centre)
        d["zooms"] = list(self.zooms)
        return json.dumps(d, ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            d = json.loads(text)
            if not isinstance(d, dict):
                raise ManifestError("manifest is not a JSON object")
            version = d.get("schema_version")
            if version != SCHEMA_VERSION:
                raise ManifestError(f"manifest schema {version!r} is not {SCHEMA_VERSION} (re-import the map)")
            bbox = BBox(*(float(x) for x in d["bbox"]))
            lat, lng = (float(x) for x in d["centre"])
            zmin, zmax = (int(x) for x in d["zooms"])
            counts = {str(k): int(v) for k, v in dict(d["counts"]).items()}
            files = {str(k): str(v) for k, v in dict(d["files"]).items()}
            for name in files.values():
                if "/" in name or "\\" in name or name.startswith("."):
                    raise ManifestError(f"manifest names a file outside its directory: {name!r}")
            return cls(schema_version=version, created_at=str(d["created_at"]), source=dict(d["source"]),
                       bbox=bbox, centre=(lat, lng), counts=counts, zooms=(zmin, zmax), tiler=str(d["tiler"]),
                       attribution=str(d.get("attribution", ATTRIBUTION)), files=files)
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"manifest is malformed: {exc}") from None

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise ManifestError(f"cannot read {path}: {exc.strerror}") from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{path} is too large to be a manifest")
        return cls.from_json(raw.decode("utf-8", errors="replace"))
