"""What an import reports: progress by stage, and the one error type (light: the window imports it)."""

from __future__ import annotations

from dataclasses import dataclass

# (stage, share of the whole import's time on the metro benchmark): drives the overall fraction; the
# window's import dialog lists these names in this order
STAGES: tuple[tuple[str, float], ...] = (
    ("checking", 0.01), ("clipping", 0.09), ("reading", 0.30), ("search index", 0.15),
    ("road network", 0.05), ("tiles", 0.35), ("finishing", 0.05),
)
STAGE_NAMES: tuple[str, ...] = tuple(name for name, _share in STAGES)


class MapImportError(RuntimeError):
    """An import that cannot go on; str() is one clear line for the user. The current map is untouched."""


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str                   # checking, clipping, reading, search index, road network, tiles, finishing
    stage_fraction: float        # 0..1 within the stage
    fraction: float              # 0..1 of the whole import
    message: str = ""
