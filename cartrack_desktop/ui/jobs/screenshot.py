"""A PNG of the whole window (--screenshot), as the dispatcher sees it, once the panels agree with the map.

The picture is used for documentation and support, so it must not show the map drawn while the
status bar still says "Live units: 0" and every Fleet row "no fix" (issue 17 §3). `--screenshot`
therefore waits until the page has drawn every unit the window knows (its last batch applied, as
many units as are on the map in FleetState), the live count has held for a tick (the fleet has
finished arriving), and the status bar and Fleet panel show that count; then the widgets are
repainted synchronously and the window grabbed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QApplication

from ...services.infra.errors import ErrorBus
from ..main_window import MainWindow
from .context import DeskContext
from .frames import FramePump
from .ticker import Ticker

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 60.0      # taken anyway after this long, with a warning saying what disagreed
SETTLE_POLL_S = 0.5
PRESENT_S = 0.3              # after the repaint, for the web view to present its latest frame


@dataclass(frozen=True, slots=True)
class ScreenshotReport:
    """What the window showed when it was captured (logged; tests compare it with the picture)."""

    path: Path
    saved: bool
    consistent: bool          # the page and the panels agreed
    on_map: int               # units the page had drawn
    status_text: str          # the status bar's live-units field
    fleet_text: str           # the Fleet panel's summary line


def save_screenshot(window: MainWindow, path: Path, errors: ErrorBus) -> bool:
    # The widgets as they are now: pending layouts first (a label whose text just grew keeps its
    # old width until its layout runs), then painted before the grab (not at the next event).
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    window.repaint()
    # The window's own widgets, rendered (the map's web view included): not the screen's pixels,
    # which show whatever other window overlaps this one (a dialog, another application, a popup).
    pix = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(str(path), "PNG")
    if ok:
        log.info("screenshot saved to %s", path)
    else:
        errors.report("screenshot", f"could not save {path}")
    return bool(ok)


class ScreenshotJob(QObject):
    saved = Signal(object)       # ScreenshotReport

    def __init__(self, ctx: DeskContext, frames: FramePump, ticker: Ticker) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._frames = frames
        self._ticker = ticker

    def _on_map(self) -> int:
        c = self._ticker.counts
        return c.live + c.stale       # every unit with a position that has not expired is drawn

    async def _page_units(self) -> tuple[int, int] | None:
        view = self._ctx.channel.view
        if view is None or not view.is_ready:
            return None
        try:
            st = await view.page_state(timeout=5.0)
        except TimeoutError:
            return None
        units, seq = st.get("units"), st.get("lastSeq")
        return (units, seq) if isinstance(units, int) and isinstance(seq, int) else None

    async def _agreed(self, last_live: int | None) -> tuple[bool, int]:
        """One check: the page drew what the window knows, the count held, the panels show it."""
        self._ticker.refresh()         # counts, status bar and Fleet panel as of now
        w, fleet = self._ctx.window, self._ctx.fleet
        on_map = self._on_map()
        page = await self._page_units()
        live = self._ticker.counts.live
        ok = (page is not None and page[0] == on_map and page[1] >= self._frames.last_seq
              and not fleet.has_pending and last_live == live and on_map > 0
              and w.st_units.text() == f"Live units: {live}" and f"· {live} live" in w.fleet.summary.text())
        return ok, live

    async def take(self, path: Path) -> ScreenshotReport:
        """Wait until the window is consistent (bounded), then capture it."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last: int | None = None
        ok = False
        while time.monotonic() < deadline:
            ok, last = await self._agreed(last)
            if ok:
                break
            await asyncio.sleep(SETTLE_POLL_S)
        w = self._ctx.window
        if not ok:
            log.warning("screenshot: the panels did not settle within %.0f s; taken anyway", SETTLE_TIMEOUT_S)
        w.repaint()
        await asyncio.sleep(PRESENT_S)
        report = ScreenshotReport(path, save_screenshot(w, path, self._ctx.errors), ok, self._on_map(),
                                  w.st_units.text(), w.fleet.summary.text())
        log.info("screenshot: %d units on the map; status bar %r; Fleet %r%s", report.on_map, report.status_text,
                 report.fleet_text, "" if report.consistent else " (not settled)")
        self.saved.emit(report)
        return report
