"""What an import reports: progress by stage, and the one error type (light: the window imports it)."""

from __future__ import annotations

from dataclasses import dataclass


class MapImportError(RuntimeError):
    """An import that cannot go on; str() is one clear line for the user. The current map is untouched."""


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str                   # checking, clipping, reading, search index, road network, tiles, finishing
    stage_fraction: float        # 0..1 within the stage
    fraction: float              # 0..1 of the whole import
    message: str = ""
