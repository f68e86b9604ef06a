"""Find a unit by call sign: centre the map on it and ring it for a few seconds."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from ..formatting import fmt_latlng
from .context import DeskContext

HIGHLIGHT_FOUND_MS = 4000
FOUND_ZOOM = 15


class UnitSearch(QObject):
    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._unhighlight = QTimer(self)
        self._unhighlight.setSingleShot(True)
        self._unhighlight.timeout.connect(lambda: ctx.channel.highlight(""))
        ctx.window.searchSubmitted.connect(self.find_unit)

    def find_unit(self, text: str) -> None:
        ctx = self._ctx
        u = ctx.fleet.find_by_call_sign(text)
        label = ctx.window.search_result
        if u is None:
            label.setText(f"  No unit matches {text.strip()[:40]!r}")
            return
        if u.position is None or u.lost:
            label.setText(f"  {u.call_sign} ({u.car_id}) has no live position")
            return
        label.setText(f"  {u.call_sign} ({u.car_id}) at {fmt_latlng(u.position.lat, u.position.lng)}")
        if ctx.channel.is_ready:
            ctx.channel.centre(u.position.lat, u.position.lng, FOUND_ZOOM)
            ctx.channel.highlight(u.car_id)
            self._unhighlight.start(HIGHLIGHT_FOUND_MS)
