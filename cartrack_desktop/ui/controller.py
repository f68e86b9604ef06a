"""Wires the Qt-free core (runtime, live feed, fleet state) to the window and the map."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from redis.exceptions import RedisError

from ..config import Settings
from ..domain.models import Car, UnitStatus
from ..domain.presentation import STALE_AFTER_S
from ..services.infra.errors import ErrorBus, Level, Notice
from ..services.live.live_feed import FeedInbox, FeedState, ThreadedFeed
from ..services.runtime import Runtime
from ..view.fleet_view import FleetCounts, FleetState, MapWire
from .bridge import to_json
from .dispatch_ui import DispatchUi
from .formatting import fmt_latlng
from .main_window import MainWindow
from .map_view import MapView
from .panels.nearby import NearbyRow
from .panels.stats import StatRow

log = logging.getLogger(__name__)

FRAME_MIN_INTERVAL_MS = 50      # at most 20 map updates per second, each carrying all changes
HUGE_FLEET = 5000               # above this many units, at most 10 map updates per second:
HUGE_FLEET_INTERVAL_MS = 100    # fewer, bigger batches: each costs the page ~10 ms at 10,000 units (map_apply_ms_10k)
NEARBY_REFRESH_MS = 1000
UI_TICK_MS = 1000
NEARBY_LIMIT = 200
HIGHLIGHT_FOUND_MS = 4000


class Controller(QObject):
    """One per window. Everything here runs on the Qt thread (asyncio via qasync)."""

    trackingChanged = Signal(str)        # "" when tracking stops
    nearbyUpdated = Signal(list)         # list[NearbyRow]
    firstUnitsDrawn = Signal()

    def __init__(self, window: MainWindow, runtime: Runtime, settings: Settings, errors: ErrorBus) -> None:
        super().__init__(window)
        self.window = window
        self.runtime = runtime
        self.settings = settings
        self.errors = errors
        self.fleet = FleetState(on_reject=runtime.redis_rejections.reject)
        self.map_wire = MapWire()   # the map page's batch encoding (unit ids travel once per page)
        window.fleet.set_fix_of(lambda u: self.fleet.state_of(u.car_id))
        self.view: MapView | None = None
        self.feed: ThreadedFeed | None = None
        self.feed_state = FeedState.CONNECTING
        self.feed_detail = ""
        self.pin: tuple[float, float] | None = None
        self.tracked: str | None = None
        self.following = False
        self.units_drawn = False
        self.batch_reports: list[dict[str, Any]] = []
        self.keep_batch_reports = False
        self._nearby_busy = False
        self._last_updates = 0
        self._last_rate_t = time.monotonic()
        self.updates_per_s = 0.0
        self._counts = FleetCounts(0, 0, 0, 0)

        self._pump = QTimer(self)
        self._pump.setSingleShot(True)
        self._pump.timeout.connect(self.flush)
        self._last_flush = 0.0
        self.fleet.changed.subscribe(lambda _: self._schedule_flush())
        runtime.fleet.changed.subscribe(self._on_registry)
        runtime.fleet.removed.subscribe(self._on_unit_removed)

        self._tick = QTimer(self)
        self._tick.setInterval(UI_TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        self._nearby_timer = QTimer(self)
        self._nearby_timer.setInterval(NEARBY_REFRESH_MS)
        self._nearby_timer.timeout.connect(self.refresh_nearby)
        self._unhighlight = QTimer(self)
        self._unhighlight.setSingleShot(True)
        self._unhighlight.timeout.connect(lambda: self._highlight(""))

        w = window
        w.escapePressed.connect(self.escape)
        w.searchSubmitted.connect(self.find_unit)
        w.nearby.radiusChanged.connect(lambda _r: self.refresh_nearby())
        w.nearby.availableOnlyChanged.connect(lambda _b: self.refresh_nearby())
        w.nearby.hovered.connect(self._highlight)
        w.nearby.activated.connect(self.track)
        w.fleet.activated.connect(self.track)
        w.unit.stopRequested.connect(self.stop_tracking)
        w.unit.centreRequested.connect(self.centre_tracked)
        self._unsubscribe = errors.subscribe(self._on_notice)
        self.dispatch_ui = DispatchUi(self)

    # ---- lifecycle ----------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A fire-and-forget task whose failure is reported, never silently lost."""
        return self.runtime.supervisor.spawn(coro, name)

    def attach_view(self, view: MapView) -> None:
        self.view = view
        b = view.bridge
        view.ready.connect(self._on_page_ready)
        b.clicked.connect(self.set_pin)
        b.unitActivated.connect(self.track)
        b.key.connect(self._on_page_key)
        b.followChanged_.connect(self._on_follow_changed)
        b.batchesApplied.connect(self._on_batches_applied)

    def start_feed(self) -> None:
        """Subscribe to live positions on the feed thread; its results come back via the inbox."""
        rt = self.runtime
        assert rt.store is not None
        self.dispatch_ui.attach()
        loop = asyncio.get_running_loop()
        inbox = FeedInbox(lambda: loop.call_soon_threadsafe(self._drain_feed))
        self.feed = ThreadedFeed(
            rt.redis_url, inbox, rejections=rt.redis_rejections,
            on_crash=lambda exc: loop.call_soon_threadsafe(
                self.errors.report, "live feed", f"restarting after {type(exc).__name__}: {exc}", Level.ERROR),
        )
        self.feed.start()

    def _drain_feed(self) -> None:
        if self.feed is None:
            return
        snapshot, positions, sent, states = self.feed.inbox.take()
        for state, detail in states:
            self._on_feed_state(state, detail)
        if snapshot is not None:
            self.fleet.apply_snapshot(snapshot)
        if positions:
            self.fleet.apply(positions, sent)

    async def stop(self) -> None:
        if self.feed is not None:
            feed, self.feed = self.feed, None
            await asyncio.get_running_loop().run_in_executor(None, feed.stop)
        self._tick.stop()
        self._nearby_timer.stop()
        self._pump.stop()
        self._unsubscribe()

    # ---- registry and feed -----------------------------------------------------------------
    def _on_registry(self, cars: list[Car]) -> None:
        self.fleet.set_registry(cars)
        signs = sorted({c.call_sign for c in cars})
        self.window.completer.model().setStringList(signs)  # type: ignore[attr-defined]
        self.window.replay.set_units(signs)
        if self.runtime.dispatch is not None:
            for a in self.runtime.dispatch.statuses.values():
                self.fleet.set_status(a.car_id, a.status)

    def _on_unit_removed(self, car_id: str) -> None:
        if self.tracked == car_id:
            self.stop_tracking()
        self.fleet.forget(car_id)

    def call_sign(self, car_id: str) -> str:
        u = self.fleet.units.get(car_id)
        return u.call_sign if u else car_id

    def centre_on(self, lat: float, lng: float, zoom: int | None = None) -> None:
        if self.view is not None and self.view.is_ready:
            payload: dict[str, Any] = {"lat": lat, "lng": lng}
            if zoom is not None:
                payload["zoom"] = zoom
            self.view.bridge.centerRequested.emit(to_json(payload))

    def _on_feed_state(self, state: FeedState, detail: str) -> None:
        was_live = self.feed_state is FeedState.LIVE
        self.feed_state, self.feed_detail = state, detail
        self._send_live_state()
        if was_live and state is FeedState.DISCONNECTED:
            self.window.show_notice(f"Live data paused: Redis is not reachable ({detail[:80]}); showing the last "
                                    "known positions", "warning")
        elif state is FeedState.LIVE and not was_live and self.units_drawn:
            self.window.show_notice("Live data resumed", "info")
            self.window.banner.hide()
        self._update_status_bar()

    def _send_live_state(self) -> None:
        if self.view is not None and self.view.is_ready:
            live = self.feed_state is not FeedState.DISCONNECTED
            reason = "" if live else f"Live data paused — Redis unreachable ({self.feed_detail[:80]})"
            self.view.bridge.liveChanged.emit(to_json({"live": live, "reason": reason}))

    # ---- map frames ---------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        if self._pump.isActive():
            return
        since = (time.monotonic() - self._last_flush) * 1000
        interval = HUGE_FLEET_INTERVAL_MS if len(self.fleet.units) > HUGE_FLEET else FRAME_MIN_INTERVAL_MS
        self._pump.start(int(max(0.0, interval - since)))

    def flush(self) -> None:
        """Push everything that changed since the last frame, as one message."""
        view = self.view
        if view is None or not view.is_ready:
            return  # state stays coalesced in FleetState; pushed in full once the page is ready
        self._last_flush = time.monotonic()
        if self.fleet.meta_dirty:
            view.bridge.unitMeta.emit(to_json(self.fleet.meta()))
        frame = self.fleet.take_frame()
        if frame is not None:
            view.bridge.fleetBatch.emit(to_json(self.map_wire.payload(frame, flushed_at=time.time())))
            self._frame_applied_to_panels(frame.positions)

    def _on_page_ready(self, _info: dict[str, Any]) -> None:
        view = self.view
        assert view is not None
        self.fleet.request_full()
        self.fleet.meta_dirty = True
        self.flush()
        view.bridge.pinChanged.emit(to_json(self.pin_payload()))
        view.bridge.trackChanged.emit(to_json({"id": self.tracked, "follow": self.following} if self.tracked
                                              else None))
        self.dispatch_ui.refresh_incidents()
        self._send_live_state()

    def _on_batches_applied(self, reports: list[dict[str, Any]]) -> None:
        if self.keep_batch_reports:
            self.batch_reports.extend(reports)
        if not self.units_drawn and any(isinstance(r.get("units"), int) and r["units"] > 0 for r in reports):
            self.units_drawn = True
            self.firstUnitsDrawn.emit()

    def _frame_applied_to_panels(self, positions: list[Any]) -> None:
        if self.tracked is not None and any(p.car_id == self.tracked for p in positions):
            self._update_unit_panel()

    # ---- incident pin and nearby units ------------------------------------------------------
    def pin_payload(self) -> dict[str, Any] | None:
        if self.pin is None:
            return None
        # an active incident has its own labelled marker at this point
        active = self.dispatch_ui.active_incident
        return {"lat": self.pin[0], "lng": self.pin[1], "radius_km": self.window.nearby.radius.value(),
                "label": "" if active else "New incident"}

    def set_pin(self, lat: float, lng: float, *, keep_incident: bool = False) -> None:
        self.pin = (lat, lng)
        if not keep_incident:
            self.dispatch_ui.pin_moved()
        if self.view is not None and self.view.is_ready:
            self.view.bridge.pinChanged.emit(to_json(self.pin_payload()))
        self.window.docks["nearby"].raise_()
        self._nearby_timer.start()
        self.refresh_nearby()

    def clear_pin(self) -> None:
        self.pin = None
        self.dispatch_ui.pin_moved()
        self._nearby_timer.stop()
        if self.view is not None and self.view.is_ready:
            self.view.bridge.pinChanged.emit("null")
        self.window.nearby.show_point(None)
        self._highlight("")

    def refresh_nearby(self) -> None:
        if self.pin is None or self._nearby_busy or self.runtime.store is None:
            return
        if self.view is not None and self.view.is_ready:
            self.view.bridge.pinChanged.emit(to_json(self.pin_payload()))  # radius may have changed
        self._nearby_busy = True
        self.spawn(self._query_nearby(self.pin), "nearby")

    async def _query_nearby(self, pin: tuple[float, float]) -> None:
        assert self.runtime.store is not None
        radius = self.window.nearby.radius.value()
        available_only = self.window.nearby.available_only.isChecked()
        try:
            found = await self.runtime.store.get_nearby_cars(pin[0], pin[1], radius)
        except (RedisError, OSError) as exc:
            self.window.nearby.header.setText(f"Nearby search unavailable: Redis is not reachable ({exc})")
            return
        finally:
            self._nearby_busy = False
        if self.pin != pin:
            return  # the pin moved while we were asking
        now = time.time()
        rows: list[NearbyRow] = []
        for n in found:
            u = self.fleet.units.get(n.car_id)
            status = u.status if u else UnitStatus.AVAILABLE
            if available_only and status is not UnitStatus.AVAILABLE:
                continue
            age = max(0.0, now - n.position.timestamp)
            rows.append(NearbyRow(n.car_id, u.call_sign if u else n.car_id, n.distance_km, n.position.speed,
                                  n.position.heading, status, age, age >= STALE_AFTER_S))
            if len(rows) >= NEARBY_LIMIT:
                break
        self.window.nearby.set_rows(rows)
        self.window.nearby.show_point(pin, len(rows))
        self.nearbyUpdated.emit(rows)

    def _highlight(self, car_id: str) -> None:
        if self.view is not None and self.view.is_ready:
            self.view.bridge.highlightChanged.emit(car_id)

    # ---- tracking ---------------------------------------------------------------------------------
    def track(self, car_id: str) -> None:
        if car_id not in self.fleet.units:
            return
        self.tracked = car_id
        self.following = True
        if self.view is not None and self.view.is_ready:
            self.view.bridge.trackChanged.emit(to_json({"id": car_id, "follow": True}))
        self.window.docks["unit"].raise_()
        self._update_unit_panel()
        self.trackingChanged.emit(car_id)

    def stop_tracking(self) -> None:
        if self.tracked is None:
            return
        self.tracked = None
        self.following = False
        if self.view is not None and self.view.is_ready:
            self.view.bridge.trackChanged.emit("null")
        self._update_unit_panel()
        self.trackingChanged.emit("")

    def centre_tracked(self) -> None:
        if self.tracked is not None:
            self.track(self.tracked)

    def _on_follow_changed(self, following: bool) -> None:
        self.following = following
        self._update_unit_panel()

    def refresh_unit_panel(self) -> None:
        self._update_unit_panel()

    def _update_unit_panel(self) -> None:
        cid = self.tracked
        if cid is None or cid not in self.fleet.units:
            self.window.unit.show_unit(None)
            return
        u = self.fleet.units[cid]
        self.window.unit.show_unit({
            "car_id": cid, "call_sign": u.call_sign, "status": u.status, "position": u.position,
            "age_s": self.fleet.age_of(cid), "fix": self.fleet.state_of(cid), "following": self.following,
            **self.dispatch_ui.unit_extras(cid),
        })

    # ---- keyboard and search -----------------------------------------------------------------
    def escape(self) -> None:
        """Esc: stop tracking first; a second Esc clears the incident pin."""
        if self.tracked is not None:
            self.stop_tracking()
        elif self.pin is not None:
            self.clear_pin()

    def _on_page_key(self, key: str) -> None:
        if key == "Escape":
            self.escape()
        elif key == "Enter" and self.pin is not None and self.dispatch_ui.active_incident is None:
            self.dispatch_ui.open_incident_dialog()

    def find_unit(self, text: str) -> None:
        u = self.fleet.find_by_call_sign(text)
        label = self.window.search_result
        if u is None:
            label.setText(f"  No unit matches {text.strip()[:40]!r}")
            return
        if u.position is None or u.lost:
            label.setText(f"  {u.call_sign} ({u.car_id}) has no live position")
            return
        label.setText(f"  {u.call_sign} ({u.car_id}) at {fmt_latlng(u.position.lat, u.position.lng)}")
        if self.view is not None and self.view.is_ready:
            self.view.bridge.centerRequested.emit(to_json({"lat": u.position.lat, "lng": u.position.lng,
                                                           "zoom": 15}))
            self._highlight(u.car_id)
            self._unhighlight.start(HIGHLIGHT_FOUND_MS)

    # ---- periodic ---------------------------------------------------------------------------
    def _on_tick(self) -> None:
        self.fleet.expire()
        now = time.monotonic()
        dt = now - self._last_rate_t
        if dt > 0:
            self.updates_per_s = (self.fleet.updates_total - self._last_updates) / dt
        self._last_updates, self._last_rate_t = self.fleet.updates_total, now
        self._counts = self.fleet.counts()
        self._update_status_bar()
        self._update_fleet_panel()
        self._update_unit_panel()
        self._update_stats_panel()

    def _update_fleet_panel(self) -> None:
        self.window.fleet.refresh(self.fleet.units, self.fleet.units_version, self._counts)

    def _update_status_bar(self) -> None:
        w, h = self.window, self.runtime.health
        if self.feed_state is FeedState.LIVE and (h.redis_ok or h.redis_detail == "connecting"):
            w.st_redis.set("Redis: live", "ok")
        elif self.feed_state is FeedState.CONNECTING:
            w.st_redis.set("Redis: connecting…", "warn")
        else:
            detail = self.feed_detail or h.redis_detail
            w.st_redis.set(f"Redis: down — reconnecting ({detail[:60]})", "bad")
        sync = self.runtime.sync.stats if self.runtime.sync else None
        if h.mongo_ok:
            pending = f", {sync.pending} cycle(s) pending" if sync and sync.pending > 1 else ""
            w.st_mongo.set(f"MongoDB: connected{pending}", "ok" if not pending else "warn")
        else:
            pending = f"; {sync.pending} cycle(s) kept" if sync and sync.pending else ""
            w.st_mongo.set(f"MongoDB: down ({h.mongo_detail[:50]}){pending}", "bad")
        w.st_units.set(f"Live units: {self._counts.live}", "plain")
        w.st_rate.set(f"Updates/s: {self.updates_per_s:.0f}", "plain")
        if sync and sync.last_success_at:
            at = time.strftime("%H:%M:%S", time.localtime(sync.last_success_at))
            w.st_sync.set(f"Last sync: {at} ({sync.last_duration_s:.2f} s, {sync.last_cars} units)", "plain")
        else:
            w.st_sync.set("Last sync: —", "plain")
        rejected = {**self.runtime.redis_rejections.snapshot()}
        for k, v in self.runtime.mongo_rejections.snapshot().items():
            rejected[k] = rejected.get(k, 0) + v
        total = sum(rejected.values())
        w.st_rejected.set(f"Rejected: {total}", "warn" if total else "plain")
        w.st_rejected.setToolTip("\n".join(f"{k}: {v}" for k, v in sorted(rejected.items())) or
                                 "No input rejected")

    def _update_stats_panel(self) -> None:
        if not self.window.docks["stats"].isVisible() and not self.keep_batch_reports:
            return  # nobody is looking
        rt = self.runtime
        rows: list[StatRow] = []

        def add(section: str, item: str, value: object) -> None:
            rows.append(StatRow(section, item, str(value)))

        add("Live", "units live", self._counts.live)
        add("Live", f"stale (no fix for {STALE_AFTER_S:.0f} s)", self._counts.stale)
        add("Live", "lost (expired)", self._counts.lost)
        add("Live", "updates per second", f"{self.updates_per_s:.0f}")
        add("Live", "out-of-order or duplicate fixes dropped", self.fleet.stale_dropped)
        if self.feed is not None:
            fs = self.feed.stats
            add("Feed", "state", self.feed_state.value)
            add("Feed", "messages received", fs.messages)
            add("Feed", "batches received", fs.batches)
            add("Feed", "per-unit duplicates of batches skipped", fs.duplicates_skipped)
            add("Feed", "reconnects", fs.reconnects)
        if rt.simulator is not None:
            ss = rt.simulator.stats
            add("Simulator", "units", ss.units)
            add("Simulator", "ticks (this instance)", ss.ticks)
            add("Simulator", "last tick", f"{ss.last_tick_s * 1000:.1f} ms")
            add("Simulator", "failed writes", ss.write_failures)
        if rt.sync is not None:
            sy = rt.sync.stats
            add("Sync", "cycles written", sy.cycles)
            add("Sync", "positions written", sy.cars_synced)
            add("Sync", "last cycle", f"{sy.last_duration_s:.2f} s")
            add("Sync", "cycles pending", sy.pending)
            add("Sync", "failures", sy.failures)
            add("Sync", "dropped (backlog full)", sy.dropped)
        if rt.outbox is not None:
            add("Dispatcher writes", "pending (MongoDB)", len(rt.outbox.pending))
            add("Dispatcher writes", "written", rt.outbox.written)
            add("Dispatcher writes", "failed attempts", rt.outbox.failures)
            add("Dispatcher writes", "journalled of unknown kind (not written)", rt.outbox.unknown_skipped)
        for source, counter in (("Rejected (Redis)", rt.redis_rejections), ("Rejected (MongoDB)", rt.mongo_rejections)):
            snap = counter.snapshot()
            add(source, "total", sum(snap.values()))
            for kind, n in sorted(snap.items()):
                add(source, kind, n)
        self.window.stats.set_rows(rows)

    def _on_notice(self, notice: Notice) -> None:
        level = {Level.ERROR: "error", Level.WARNING: "warning"}.get(notice.level, "info")
        self.window.show_notice(f"{notice.source}: {notice.message}", level)
        if notice.level is Level.INFO and notice.source in ("Redis", "MongoDB"):
            self.window.banner.hide()  # the outage the banner reported is over
        self._update_status_bar()

    # ---- screenshot ----------------------------------------------------------------------------
    def save_screenshot(self, path: Path) -> bool:
        self._on_tick()  # panels and status bar as of now
        w = self.window
        screen = w.screen()
        pix = screen.grabWindow(0, w.frameGeometry().x(), w.frameGeometry().y(), w.frameGeometry().width(),
                                w.frameGeometry().height()) if screen is not None else w.grab()
        if pix.isNull() or (pix.toImage().allGray() and pix.toImage().pixelColor(10, 10).value() == 0):
            pix = w.grab()
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = pix.save(str(path), "PNG")
        if ok:
            log.info("screenshot saved to %s", path)
        else:
            self.errors.report("screenshot", f"could not save {path}")
        return bool(ok)
