"""What the dispatcher sees of the fleet, kept Qt-free: latest fix per unit, fix age, status,
call signs, and the per-frame batches pushed to the map.

Updates are coalesced: between two frames only the newest fix per unit is kept, and a frame
carries only the units that changed (plus those that were lost). Newest timestamp wins:
duplicates and out-of-order fixes are dropped.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..domain.messages import RejectionKind
from ..domain.models import LOCATION_TTL_S, Car, Position, UnitStatus
from ..domain.presentation import FADE_AFTER_S, STALE_AFTER_S
from ..services.infra.observers import Observers

MAX_UNITS = 50_000            # a flood of invented ids cannot grow memory without bound
FORGET_LOST_AFTER_S = 600.0   # an unregistered unit lost this long ago is dropped from the lists


class FixState(enum.StrEnum):
    LIVE = "live"
    FADED = "faded"        # no update for FADE_AFTER_S
    STALE = "stale"        # no update for STALE_AFTER_S
    LOST = "lost"          # position expired in Redis
    NO_FIX = "no fix"      # registered, never seen live


def fix_state(age_s: float | None, *, fade_s: float = FADE_AFTER_S, stale_s: float = STALE_AFTER_S,
              ttl_s: float = LOCATION_TTL_S) -> FixState:
    if age_s is None:
        return FixState.NO_FIX
    if age_s >= ttl_s:
        return FixState.LOST
    if age_s >= stale_s:
        return FixState.STALE
    if age_s >= fade_s:
        return FixState.FADED
    return FixState.LIVE


@dataclass(frozen=True, slots=True)
class FleetCounts:
    units: int
    live: int       # live or faded (updated within STALE_AFTER_S)
    stale: int
    lost: int


@dataclass(slots=True)
class UnitView:
    car_id: str
    call_sign: str
    status: UnitStatus
    position: Position | None = None
    lost: bool = False
    simulated: bool = True         # False: a real unit, moved only by its device
    device_id: str | None = None   # a real unit's tracker (the device ingest maps its reports here)


@dataclass
class Frame:
    seq: int
    positions: list[Position]
    gone: list[str]
    sent_at: float | None        # producer's send time of the newest batch in the frame (latency)
    full: bool                   # a snapshot: the page should drop units not listed


class FleetState:
    def __init__(self, *, ttl_s: float = LOCATION_TTL_S, clock: Callable[[], float] = time.time,
                 max_units: int = MAX_UNITS, on_reject: Callable[[RejectionKind, str], None] | None = None) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self.max_units = max_units
        self._on_reject = on_reject or (lambda kind, subject: None)
        self.registered: set[str] = set()
        self.units: dict[str, UnitView] = {}
        self._dirty: dict[str, Position] = {}
        self._gone: set[str] = set()
        self._full = False
        self._sent_at: float | None = None
        self._seq = 0
        self.meta_dirty = True
        self.updates_total = 0
        self.units_version = 0      # bumped when units come, go, or change registry data
        self.stale_dropped = 0
        # units with an open panic alarm: always shown, never aggregated away (README "Panic alarm")
        self.units_in_alarm: frozenset[str] = frozenset()
        self.changed: Observers[None] = Observers("fleet view")   # something for the next frame

    # ---- inputs ---------------------------------------------------------------------------
    def set_registry(self, cars: Iterable[Car]) -> None:
        seen: set[str] = set()
        for car in cars:
            seen.add(car.car_id)
            u = self.units.get(car.car_id)
            if u is None:
                self.units[car.car_id] = UnitView(car.car_id, car.call_sign, car.status,
                                                  simulated=car.simulated, device_id=car.device_id)
            else:
                u.call_sign, u.status = car.call_sign, car.status
                u.simulated, u.device_id = car.simulated, car.device_id
        for cid in [c for c, u in self.units.items() if c not in seen and u.position is None]:
            del self.units[cid]
        self.registered = seen
        self.units_version += 1
        self.meta_dirty = True
        self._notify()

    def set_status(self, car_id: str, status: UnitStatus) -> None:
        u = self.units.get(car_id)
        if u is not None and u.status is not status:
            u.status = status
            self.meta_dirty = True
            self.units_version += 1
            self._notify()

    def set_alarms(self, car_ids: frozenset[str]) -> None:
        """The units with an open alarm (from the alarm book); a change is a meta change."""
        if car_ids != self.units_in_alarm:
            self.units_in_alarm = car_ids
            self.meta_dirty = True
            self.units_version += 1
            self._notify()

    def apply_snapshot(self, positions: list[Position]) -> None:
        """All live positions after a (re)connect: units missing from it have expired."""
        live = {p.car_id for p in positions}
        for cid, u in self.units.items():
            if u.position is not None and cid not in live and not u.lost:
                u.lost = True
                self.units_version += 1
                self._gone.add(cid)
                self._dirty.pop(cid, None)
        self._apply(positions)
        self._full = True
        self._notify()

    def apply(self, positions: list[Position], sent_at: float | None = None) -> int:
        n = self._apply(positions)
        if n and sent_at is not None:
            self._sent_at = sent_at if self._sent_at is None else max(self._sent_at, sent_at)
        if n:
            self._notify()
        return n

    def _apply(self, positions: list[Position]) -> int:
        accepted = 0
        units = self.units
        dirty = self._dirty
        for p in positions:
            u = units.get(p.car_id)
            if u is None:
                if len(units) >= self.max_units:
                    self._on_reject("too_many_units", p.car_id)
                    continue
                u = units[p.car_id] = UnitView(p.car_id, p.car_id, UnitStatus.AVAILABLE)
                self.meta_dirty = True
                self.units_version += 1
            elif u.position is not None and p.timestamp <= u.position.timestamp:
                self.stale_dropped += 1   # duplicate or out of order: newest timestamp wins
                continue
            if u.lost:
                u.lost = False
                self.units_version += 1
                self._gone.discard(p.car_id)
            u.position = p
            dirty[p.car_id] = p
            accepted += 1
        self.updates_total += accepted
        return accepted

    def forget(self, car_id: str) -> None:
        """The unit left the fleet: off the map and out of the lists at once."""
        if self.units.pop(car_id, None) is not None:
            self.units_version += 1
            self._dirty.pop(car_id, None)
            self._gone.add(car_id)
            self.meta_dirty = True
            self._notify()

    def expire(self) -> list[str]:
        """Mark units whose fix is older than the TTL as lost (their Redis key has expired)."""
        now = self._clock()
        lost = []
        forget = []
        for cid, u in self.units.items():
            if u.position is None:
                continue
            age = now - u.position.timestamp
            if not u.lost and age >= self.ttl_s:
                u.lost = True
                self._gone.add(cid)
                self._dirty.pop(cid, None)
                lost.append(cid)
            elif u.lost and cid not in self.registered and age >= self.ttl_s + FORGET_LOST_AFTER_S:
                forget.append(cid)
        for cid in forget:
            del self.units[cid]
            self.meta_dirty = True
        if lost or forget:
            self.units_version += 1
            self._notify()
        return lost

    def _notify(self) -> None:
        self.changed.emit(None)

    def request_full(self) -> None:
        """The next frame lists every live unit (the page was (re)loaded)."""
        self._full = True
        self._notify()

    # ---- outputs ----------------------------------------------------------------------------
    @property
    def has_pending(self) -> bool:
        return bool(self._dirty or self._gone or self._full)

    def take_frame(self) -> Frame | None:
        if not self.has_pending:
            return None
        self._seq += 1
        frame = Frame(self._seq, list(self._dirty.values()), sorted(self._gone), self._sent_at, self._full)
        if self._full:  # a snapshot frame lists every live unit, not only the changed ones
            frame.positions = [u.position for u in self.units.values() if u.position is not None and not u.lost]
        self._dirty = {}
        self._gone = set()
        self._full = False
        self._sent_at = None
        return frame

    def meta(self) -> dict[str, dict[str, str]]:
        """Call sign and status of every unit, for the map's labels and colours."""
        self.meta_dirty = False
        return {cid: {"sign": u.call_sign, "status": u.status.value} for cid, u in self.units.items()}

    def counts(self) -> FleetCounts:
        """Live/lost totals in one pass (10,000 units: ~1 ms), for the status bar and Fleet panel."""
        now = self._clock()
        stale_after = now - STALE_AFTER_S
        live = lost = stale = 0
        for u in self.units.values():
            p = u.position
            if p is None:
                continue
            if u.lost or now - p.timestamp >= self.ttl_s:
                lost += 1
            elif p.timestamp <= stale_after:
                stale += 1
            else:
                live += 1
        return FleetCounts(len(self.units), live, stale, lost)

    def age_of(self, car_id: str) -> float | None:
        u = self.units.get(car_id)
        if u is None or u.position is None:
            return None
        return max(0.0, self._clock() - u.position.timestamp)

    def state_of(self, car_id: str) -> FixState:
        u = self.units.get(car_id)
        if u is not None and u.lost:
            return FixState.LOST
        return fix_state(self.age_of(car_id), ttl_s=self.ttl_s)

    def find_by_call_sign(self, text: str) -> UnitView | None:
        """Exact call sign or id (case-insensitive) first, then a unique prefix."""
        t = text.strip().casefold()
        if not t:
            return None
        for u in self.units.values():
            if u.call_sign.casefold() == t or u.car_id.casefold() == t:
                return u
        matches = [u for u in self.units.values() if u.call_sign.casefold().startswith(t)]
        return matches[0] if len(matches) == 1 else None


class MapWire:
    """Encodes frames in the map page's batch format: flat columns of integers, one entry per
    changed unit.

    - Unit ids travel once per page: each id gets a small integer code the first time it is sent
      (`newCodes`/`newIds`), later frames carry only the codes. A `full` frame (the first after the
      page said it is ready) starts a new code table, so the page and this encoder always agree;
      codes are never reused within a table. `reset` starts a new table without dropping units
      (sent if a table would outgrow MAX_CODES, e.g. under a flood of invented ids).
    - lat/lng in micro-degrees (0.1 m) as offsets from the frame's south-west corner (`lat0`,
      `lng0`), heading and speed in tenths, fix time in ms after t0 (seconds).
    At 10,000 units a batch is 306 KB instead of 416 KB with ids and absolute coordinates, and
    carries no quotes to escape: copying it into the page and parsing it there went from ~4.5 ms
    to ~3 ms (`make bench`, map_apply).
    """

    MAX_CODES = 2 * MAX_UNITS

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def payload(self, frame: Frame, *, flushed_at: float) -> dict[str, Any]:
        ps = frame.positions
        codes = self._codes
        reset = frame.full or len(codes) + len(ps) > self.MAX_CODES
        if reset:
            codes.clear()
        new_codes: list[int] = []
        new_ids: list[str] = []
        wire_codes: list[int] = []
        for p in ps:
            c = codes.get(p.car_id)
            if c is None:
                c = codes[p.car_id] = len(codes)
                new_codes.append(c)
                new_ids.append(p.car_id)
            wire_codes.append(c)
        lat = [round(p.lat * 1e6) for p in ps]
        lng = [round(p.lng * 1e6) for p in ps]
        lat0 = min(lat, default=0)
        lng0 = min(lng, default=0)
        t0 = float(int(flushed_at))
        return {
            "seq": frame.seq,
            "full": frame.full,
            "reset": reset,
            "sent": frame.sent_at,
            "flushed": flushed_at,
            "t0": t0,
            "newCodes": new_codes,
            "newIds": new_ids,
            "codes": wire_codes,
            "lat0": lat0,
            "lng0": lng0,
            "lat": [v - lat0 for v in lat],
            "lng": [v - lng0 for v in lng],
            "hdg": [round(p.heading * 10) for p in ps],
            "spd": [round(p.speed * 10) for p in ps],
            "ts": [round((p.timestamp - t0) * 1000) for p in ps],
            "gone": frame.gone,
        }
