"""The system tray icon (where the desktop has a tray): one per window, shared by what announces things."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon

TRAY_MESSAGE_MS = 8000
TRAY_ICON_RGB = 0xC62828


class Tray(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._icon: QSystemTrayIcon | None = None
        self.messages: list[tuple[str, str]] = []   # (title, text) shown, newest last (bounded)

    def notify(self, title: str, text: str, *, critical: bool = False, ms: int = TRAY_MESSAGE_MS) -> bool:
        """Show a tray message; False where the desktop has no tray (the window shows it anyway)."""
        self.messages = [*self.messages[-19:], (title, text)]
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return False
        if self._icon is None:
            pix = QPixmap(16, 16)
            pix.fill(TRAY_ICON_RGB)
            self._icon = QSystemTrayIcon(QIcon(pix), self)
            self._icon.show()
        icon = QSystemTrayIcon.MessageIcon.Critical if critical else QSystemTrayIcon.MessageIcon.Information
        self._icon.showMessage(title, text, icon, ms)
        return True
