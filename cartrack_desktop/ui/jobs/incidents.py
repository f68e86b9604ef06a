"""Incidents: the list, their markers on the map, the active one, creating and closing them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from redis.exceptions import RedisError

from ...domain.dispatch import ASSIGNED, Incident
from ...view.session import Aspect, Changes
from ..dialogs import IncidentDialog
from ..page_channel import IncidentMarker
from .addresses import PinAddress
from .context import DeskContext, guarded
from .dispatch_link import DispatchLink

ThenDispatch = Callable[[str], Awaitable[None]]     # given the new incident's id


class IncidentsJob(QObject):
    incidentCreated = Signal(str)

    def __init__(self, ctx: DeskContext, dispatch: DispatchLink, pin_address: PinAddress) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._address = pin_address
        self.dialog: IncidentDialog | None = None
        w = ctx.window
        w.nearby.createIncidentRequested.connect(self.open_dialog)
        w.incidents.selected.connect(self.select)
        w.incidents.closeRequested.connect(lambda iid: ctx.spawn(self._close(iid), "close incident"))
        QShortcut(QKeySequence("Ctrl+N"), w).activated.connect(self.open_dialog)
        dispatch.statusChanged.connect(lambda _a: self.refresh())
        dispatch.incidentChanged.connect(lambda _i: self.refresh())
        ctx.session.subscribe(self._on_session)

    def _on_session(self, changes: Changes) -> None:
        if Aspect.PIN in changes or Aspect.INCIDENT in changes:
            self.refresh()

    def incidents(self) -> list[Incident]:
        d = self._ctx.runtime.dispatch
        return list(d.incidents.values()) if d else []

    def refresh(self) -> None:
        """The Incidents panel, the markers on the map and the active incident's line in Nearby units."""
        ctx = self._ctx
        d = ctx.runtime.dispatch
        if d is None:
            return
        units: dict[str, list[str]] = {}
        for cid, a in d.statuses.items():
            if a.incident_id and a.status in ASSIGNED:
                units.setdefault(a.incident_id, []).append(f"{ctx.call_sign(cid)} ({a.status.label})")
        texts = {iid: ", ".join(sorted(v)) for iid, v in units.items()}
        incidents = self.incidents()
        ctx.window.incidents.set_incidents(incidents, texts)
        open_ = [i for i in incidents if i.is_open]
        if ctx.session.active_incident not in {i.incident_id for i in open_}:
            ctx.session.set_active_incident(None)      # closed (here or by another dispatcher)
        active = ctx.session.active_incident
        ctx.channel.incidents([IncidentMarker(i.incident_id, i.lat, i.lng, i.priority, f"{i.incident_id} · {i.kind}",
                                              i.incident_id == active) for i in open_])
        self._show_active()

    def _show_active(self) -> None:
        ctx = self._ctx
        d = ctx.runtime.dispatch
        iid = ctx.session.active_incident
        inc = d.incidents.get(iid) if d and iid else None
        if inc is None:
            ctx.window.nearby.show_incident("" if ctx.session.pin is None else
                                            "No incident here yet: Create incident… (Enter) before dispatching.")
        else:
            ctx.window.nearby.show_incident(
                f"Active incident: {inc.incident_id} · {inc.kind} · priority {inc.priority}")

    def select(self, incident_id: str) -> None:
        d = self._ctx.runtime.dispatch
        inc = d.incidents.get(incident_id) if d else None
        if inc is None:
            return
        self._ctx.session.open_incident(incident_id, inc.lat, inc.lng)
        self._ctx.channel.centre(inc.lat, inc.lng)

    def open_dialog(self, then_dispatch: ThenDispatch | None = None) -> None:
        """Type, priority and notes for an incident at the pin; `then_dispatch` runs once it exists."""
        ctx = self._ctx
        point = ctx.session.pin
        if point is None:
            ctx.notices.say("Click the map where the incident is first.", "warning")
            return
        if self.dialog is not None:
            self.dialog.raise_()
            return
        dialog = IncidentDialog(point, ctx.window, address=self._address.text)
        self.dialog = dialog

        def submitted(kind: str, priority: int, notes: str) -> None:
            ctx.spawn(self._create(point, kind, priority, notes, then_dispatch), "create incident")

        dialog.submitted.connect(submitted)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()  # non-modal to the event loop: asyncio keeps running

    async def _create(self, point: tuple[float, float], kind: str, priority: int, notes: str,
                      then_dispatch: ThenDispatch | None) -> None:
        ctx = self._ctx
        d = ctx.runtime.dispatch
        assert d is not None
        address = await self._address.for_point(point)    # stored with the incident
        try:
            inc = await d.create_incident(point[0], point[1], kind, priority, notes, address=address)
        except ValueError as exc:
            ctx.notices.say(f"Incident not created: {exc}", "warning")
            return
        except (RedisError, OSError) as exc:
            ctx.notices.say(f"Incident not created: Redis is not reachable ({exc})", "error")
            return
        ctx.session.set_active_incident(inc.incident_id)    # the panels and the map follow the session
        ctx.window.incidents.select(inc.incident_id)
        ctx.notices.say(f"Incident {inc.incident_id} created ({inc.kind}, priority {inc.priority})")
        self.incidentCreated.emit(inc.incident_id)
        if then_dispatch is not None:
            await then_dispatch(inc.incident_id)

    async def _close(self, incident_id: str) -> None:
        ctx = self._ctx
        d = ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.close_incident(incident_id))
        ctx.notices.say(r.message, "info" if r.ok else "warning")
        if r.ok and ctx.session.active_incident == incident_id:
            ctx.session.clear_pin()
