"""The Stats tab: what the app is doing and what it refused, as rows (refreshed while someone looks)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject

from ...domain.presentation import STALE_AFTER_S
from ..panels.stats import StatRow
from .context import DeskContext
from .feed import FeedLink
from .street_map import StreetMapJob
from .ticker import Ticker

_Add = Callable[[str, str, object], None]     # section, item, value


class StatsJob(QObject):
    def __init__(self, ctx: DeskContext, feed: FeedLink, ticker: Ticker, street_map: StreetMapJob) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._street_map = street_map
        self._feed = feed
        self._ticker = ticker
        ticker.ticked.connect(self.refresh)

    def refresh(self) -> None:
        w = self._ctx.window
        if w.docks["stats"].isVisible():   # nobody is looking otherwise
            w.stats.set_rows(self.rows())

    def rows(self) -> list[StatRow]:
        rows: list[StatRow] = []

        def add(section: str, item: str, value: object) -> None:
            rows.append(StatRow(section, item, str(value)))

        counts, fleet = self._ticker.counts, self._ctx.fleet
        add("Live", "units live", counts.live)
        add("Live", f"stale (no fix for {STALE_AFTER_S:.0f} s)", counts.stale)
        add("Live", "lost (expired)", counts.lost)
        add("Live", "updates per second", f"{self._ticker.updates_per_s:.0f}")
        add("Live", "out-of-order or duplicate fixes dropped", fleet.stale_dropped)
        fs = self._feed.stats
        if fs is not None:
            add("Feed", "state", self._feed.state.value)
            add("Feed", "messages received", fs.messages)
            add("Feed", "batches received", fs.batches)
            add("Feed", "per-unit duplicates of batches skipped", fs.duplicates_skipped)
            add("Feed", "reconnects", fs.reconnects)
        self._add_street_map(add)
        self._add_background(add)
        return rows

    def _add_street_map(self, add: _Add) -> None:
        view = self._ctx.channel.view
        installed = self._street_map.installed
        add("Street map", "imported map", installed.directory.name if installed is not None else "none")
        if view is not None:
            a = view.scheme.archive_stats
            add("Street map", "archive byte ranges served", a.ranges)
            add("Street map", "archive bytes served", f"{a.bytes_served / 1e6:.1f} MB")
            add("Street map", "archive requests refused (out of range, or an old map)", a.refused)

    def _add_background(self, add: _Add) -> None:
        rt = self._ctx.runtime
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
            add("Sync", "failed captures (Redis unreachable)", sy.capture_failures)
            add("Sync", "dropped (backlog full)", sy.dropped)
        self._add_devices(add)
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

    def _add_devices(self, add: _Add) -> None:
        """The device ingest (when this instance runs it), late fixes into history, open alarms."""
        rt = self._ctx.runtime
        ing = rt.ingest_stats()
        if ing is not None:
            t = ing.totals
            add("Ingest", "state", ing.state + (f" ({ing.detail})" if ing.detail else ""))
            add("Ingest", "listening on", ", ".join(ing.listening) or "—")
            add("Ingest", "workers", ing.workers)
            add("Ingest", "positions per second", f"{ing.positions_per_s:,.0f}")
            add("Ingest", "late fixes per second", f"{ing.late_per_s:,.0f}")
            add("Ingest", "connections", ing.connections)
            add("Ingest", "devices known", ing.devices)
            for key, label in (("requests", "requests"), ("live", "fixes accepted"), ("late", "late fixes kept"),
                               ("filtered", "fixes filtered"), ("unknown", "reports of unknown devices"),
                               ("unavailable", "answered 503 (Redis unreachable)"), ("alarms", "alarms raised")):
                add("Ingest", label, t.get(key, 0))
            add("Rejected (ingest)", "total", sum(ing.rejections.values()))
            for kind, n in sorted(ing.rejections.items()):
                add("Rejected (ingest)", kind, n)
        if rt.late is not None:
            ls = rt.late.stats
            add("Late fixes (history)", "landed", ls.landed)
            add("Late fixes (history)", "already landed (skipped)", ls.duplicates)
            add("Late fixes (history)", "rejected", ls.rejected)
            add("Late fixes (history)", "taken over from a stopped instance", ls.claimed)
            add("Late fixes (history)", "waiting (MongoDB unreachable)", ls.waiting)
            add("Late fixes (history)", "failed attempts", ls.failures)
            add("Late fixes (history)", "last landed", time.strftime("%H:%M:%S", time.localtime(ls.last_landed_at))
                if ls.last_landed_at else "—")
        if rt.alarms is not None:
            add("Alarms", "open", len(rt.alarms.active))
