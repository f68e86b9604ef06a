"""A PNG of the whole window (--screenshot), as the dispatcher sees it."""

from __future__ import annotations

import logging
from pathlib import Path

from ...services.infra.errors import ErrorBus
from ..main_window import MainWindow

log = logging.getLogger(__name__)


def save_screenshot(window: MainWindow, path: Path, errors: ErrorBus) -> bool:
    screen = window.screen()
    g = window.frameGeometry()
    pix = screen.grabWindow(0, g.x(), g.y(), g.width(), g.height()) if screen is not None else window.grab()
    if pix.isNull() or (pix.toImage().allGray() and pix.toImage().pixelColor(10, 10).value() == 0):
        pix = window.grab()   # no compositor to grab from (Xvfb without one): render the widgets
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(str(path), "PNG")
    if ok:
        log.info("screenshot saved to %s", path)
    else:
        errors.report("screenshot", f"could not save {path}")
    return bool(ok)
