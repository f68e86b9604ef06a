"""A unit on scene is announced: notice, banner, and the system tray where there is one."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon

from ...domain.dispatch import UnitAssignment
from .context import DeskContext
from .dispatch_link import DispatchLink

TRAY_MESSAGE_MS = 8000
TRAY_ICON_RGB = 0xC62828


class Arrivals(QObject):
    arrived = Signal(str, str)       # car id, incident id

    def __init__(self, ctx: DeskContext, dispatch: DispatchLink) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._tray: QSystemTrayIcon | None = None
        dispatch.arrived.connect(self._announce)

    def _announce(self, a: UnitAssignment) -> None:
        ctx = self._ctx
        text = f"{ctx.call_sign(a.car_id)} is on scene at {a.incident_id}"
        ctx.notices.say(text, "info")
        ctx.window.banner.show_notice(text, "info")
        self.arrived.emit(a.car_id, a.incident_id or "")
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                pix = QPixmap(16, 16)
                pix.fill(TRAY_ICON_RGB)
                self._tray = QSystemTrayIcon(QIcon(pix), self)
                self._tray.show()
            self._tray.showMessage("Unit on scene", text, QSystemTrayIcon.MessageIcon.Information, TRAY_MESSAGE_MS)
