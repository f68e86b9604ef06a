"""HTTP Range requests (RFC 9110 §14) for the tile archive the map page reads.

A PMTiles reader fetches byte ranges of one file. QtWebEngine parses the Range header of a
custom-scheme request itself and answers 206 + Content-Range from the device it is given, but
(Qt 6.11) it reads a suffix range (`bytes=-N`) from the wrong place, and an unsatisfiable range
crashes the browser process; a failed job leaves a fetch() pending for ever. So the scheme handler
decides first, with `plan_range`, and hands Qt only what it serves correctly (ui/scheme.py):

- no Range header: the whole file (200);
- one range in the strict form `bytes=FIRST-[LAST]` or `bytes=-SUFFIX` that the file can satisfy:
  the file positioned at the range's first byte (Qt answers 206 with Content-Range);
- anything else (unsatisfiable, several ranges, malformed): refused, with no body and
  `Content-Range: bytes */SIZE` (what a 416 answer carries; Qt's API cannot set the status).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_POSITION_DIGITS = 18          # stays inside int64, as Chromium's own parser requires
_N = rf"\d{{1,{MAX_POSITION_DIGITS}}}"
_RANGE_RE = re.compile(rf"bytes=(?:({_N})-({_N})?|-({_N}))\Z", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Whole:
    """Serve the whole file (no Range asked)."""


@dataclass(frozen=True, slots=True)
class Part:
    """Serve bytes first..last (inclusive) of a file of `size` bytes: 206, Content-Range first-last/size."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


@dataclass(frozen=True, slots=True)
class Refuse:
    """Nothing is served: an unsatisfiable, multiple or malformed range."""

    size: int
    reason: str

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


RangePlan = Whole | Part | Refuse


def plan_range(header: str | None, size: int) -> RangePlan:
    """What to answer for a Range header (None: absent) on a file of `size` bytes."""
    if header is None:
        return Whole()
    m = _RANGE_RE.match(header.strip())
    if m is None:
        return Refuse(size, "several ranges" if "," in header else "malformed range")
    first_s, last_s, suffix_s = m.groups()
    if suffix_s is not None:
        suffix = int(suffix_s)
        if suffix == 0 or size == 0:
            return Refuse(size, "empty suffix range")
        return Part(max(0, size - suffix), size - 1, size)
    first = int(first_s)
    last = int(last_s) if last_s else None
    if last is not None and last < first:
        return Refuse(size, "last byte before first byte")
    if first >= size:
        return Refuse(size, "range starts after the end of the file")
    last = size - 1 if last is None else last
    return Part(first, min(last, size - 1), size)
