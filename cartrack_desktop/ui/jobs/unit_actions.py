"""A unit's own actions: clear it (back to Available and patrol), out of service and back."""

from __future__ import annotations

from PySide6.QtCore import QObject

from .context import DeskContext, guarded


class UnitActions(QObject):
    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        w = ctx.window
        w.unit.clearRequested.connect(lambda cid: ctx.spawn(self._clear(cid), "clear unit"))
        w.unit.serviceRequested.connect(lambda cid, out: ctx.spawn(self._service(cid, out), "service"))
        w.fleet.serviceRequested.connect(lambda cid, out: ctx.spawn(self._service(cid, out), "service"))

    async def _clear(self, car_id: str) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.clear_unit(car_id))
        self._ctx.notices.say(r.message, "info" if r.ok else "warning")

    async def _service(self, car_id: str, out: bool) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.set_out_of_service(car_id, out))
        self._ctx.notices.say(r.message, "info" if r.ok else "warning")
