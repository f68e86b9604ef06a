"""The status bar's texts (Redis, MongoDB, live units, update rate, last sync, device ingest, rejected
input) and the background's notices (error bus) in the banner and the status bar."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject

from ...services.history.sync_status import newest_sync
from ...services.infra.errors import Level, Notice
from ...services.live.live_feed import FeedState
from .context import DeskContext
from .feed import FeedLink
from .ticker import Ticker


class StatusBar(QObject):
    def __init__(self, ctx: DeskContext, feed: FeedLink, ticker: Ticker) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._feed = feed
        self._ticker = ticker
        feed.stateChanged.connect(self.update)
        ticker.ticked.connect(self.update)
        self._unsubscribe = ctx.errors.subscribe(self._on_notice)

    def _on_notice(self, notice: Notice) -> None:
        w = self._ctx.window
        level = {Level.ERROR: "error", Level.WARNING: "warning"}.get(notice.level, "info")
        w.show_notice(f"{notice.source}: {notice.message}", level)
        if notice.level is Level.INFO and notice.source in ("Redis", "MongoDB"):
            w.banner.hide()  # the outage the banner reported is over
        self.update()    # a notice often says a server came or went: show it now, not within a second

    def update(self) -> None:
        self._show_servers()
        w, rt = self._ctx.window, self._ctx.runtime
        w.st_units.set(f"Live units: {self._ticker.counts.live}", "plain")
        w.st_rate.set(f"Updates/s: {self._ticker.updates_per_s:.0f}", "plain")
        self._show_sync()
        rejected = {**rt.redis_rejections.snapshot()}
        for k, v in rt.mongo_rejections.snapshot().items():
            rejected[k] = rejected.get(k, 0) + v
        total = sum(rejected.values())
        w.st_rejected.set(f"Rejected: {total}", "warn" if total else "plain")
        w.st_rejected.setToolTip("\n".join(f"{k}: {v}" for k, v in sorted(rejected.items())) or
                                 "No input rejected")
        self._show_ingest()

    def _show_ingest(self) -> None:
        """Ingest state, positions/s and refusals (hover: the breakdown by kind)."""
        w, ing = self._ctx.window, self._ctx.runtime.ingest_stats()
        if ing is None:
            w.st_ingest.hide()
            return
        w.st_ingest.show()
        refused = sum(ing.rejections.values())
        if ing.state == "running":
            w.st_ingest.set(f"Ingest: {ing.positions_per_s:,.0f}/s · {refused:,} refused", "ok")
        elif ing.state == "degraded":
            w.st_ingest.set(f"Ingest: degraded — {ing.detail[:60]}", "bad")
        elif ing.state in ("starting", "off"):
            w.st_ingest.set(f"Ingest: {ing.state}…", "warn")
        else:
            w.st_ingest.set(f"Ingest: {ing.state} — {ing.detail[:60]}", "bad")
        t = ing.totals
        lines = [f"listening on {', '.join(ing.listening) or '—'} ({ing.workers} worker(s), "
                 f"{ing.connections:,} connections, {ing.devices:,} devices known)",
                 f"accepted {t.get('live', 0):,} · late {t.get('late', 0):,} (late/s {ing.late_per_s:,.0f}) · "
                 f"filtered {t.get('filtered', 0):,} · unknown device {t.get('unknown', 0):,} · "
                 f"answered 503 {t.get('unavailable', 0):,} · alarms {t.get('alarms', 0):,}",
                 *(f"{k}: {v:,}" for k, v in sorted(ing.rejections.items()))]
        w.st_ingest.setToolTip("\n".join(lines))

    def _show_sync(self) -> None:
        """The last cycle written by any instance (the sync is shared): MongoDB's record, or this
        instance's own write when it is newer (it reaches MongoDB's record within seconds)."""
        w, rt = self._ctx.window, self._ctx.runtime
        last = newest_sync(rt.sync.stats if rt.sync else None, rt.sync_status.last if rt.sync_status else None,
                         rt.instance)
        if last is None:
            w.st_sync.set("Last sync: —", "plain")
            w.st_sync.setToolTip("No sync cycle written yet (one every 10 s, by one of the instances)")
            return
        at = time.strftime("%H:%M:%S", time.localtime(last.written_at))
        duration = "" if last.duration_s is None else f"{last.duration_s:.2f} s, "
        by = f" by {last.instance}" if last.instance else ""
        w.st_sync.set(f"Last sync: {at} ({duration}{last.cars} units){by}", "plain")
        w.st_sync.setToolTip(f"Cycle {last.cycle_id}, captured at "
                             f"{time.strftime('%H:%M:%S', time.localtime(last.taken_at))}, written by "
                             f"{last.instance or 'an instance that did not record its name'}"
                             f"{' (this one)' if last.instance == rt.instance else ''}")

    def _show_servers(self) -> None:
        w, rt, feed = self._ctx.window, self._ctx.runtime, self._feed
        h = rt.health
        if feed.state is FeedState.LIVE and (h.redis_ok or h.redis_detail == "connecting"):
            w.st_redis.set("Redis: live", "ok")
        elif feed.state is FeedState.CONNECTING:
            w.st_redis.set("Redis: connecting…", "warn")
        else:
            detail = feed.detail or h.redis_detail
            w.st_redis.set(f"Redis: down — reconnecting ({detail[:60]})", "bad")
        sync = rt.sync.stats if rt.sync else None
        if h.mongo_ok:
            pending = f", {sync.pending} cycle(s) pending" if sync and sync.pending > 1 else ""
            w.st_mongo.set(f"MongoDB: connected{pending}", "ok" if not pending else "warn")
        else:
            pending = f"; {sync.pending} cycle(s) kept" if sync and sync.pending else ""
            w.st_mongo.set(f"MongoDB: down ({h.mongo_detail[:50]}){pending}", "bad")

    def stop(self) -> None:
        self._unsubscribe()

