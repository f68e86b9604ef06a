"""Keys with a meaning for the whole window: Esc (stop tracking, then clear the pin), Enter on the map."""

from __future__ import annotations

from PySide6.QtCore import QObject

from .context import DeskContext
from .incidents import IncidentsJob


class Keys(QObject):
    def __init__(self, ctx: DeskContext, incidents: IncidentsJob) -> None:
        super().__init__(ctx.window)
        self._session = ctx.session
        self._incidents = incidents
        ctx.window.escapePressed.connect(self.escape)

    def escape(self) -> None:
        """Esc: stop tracking first; a second Esc clears the incident pin."""
        s = self._session
        if s.tracked is not None:
            s.stop_tracking()
        elif s.pin is not None:
            s.clear_pin()

    def on_page_key(self, key: str) -> None:
        if key == "Escape":
            self.escape()
        elif key == "Enter" and self._session.pin is not None and self._session.active_incident is None:
            self._incidents.open_dialog()
