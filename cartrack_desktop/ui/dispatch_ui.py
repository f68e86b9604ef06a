"""The dispatch side of the window: incidents, dispatching, clearing, fleet edits, audit, replay."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import QMessageBox, QSystemTrayIcon
from redis.exceptions import RedisError

from ..domain.dispatch import ASSIGNED, Incident, UnitAssignment, eta_estimate_s
from ..domain.geo import haversine_km
from ..domain.messages import IncidentEvent, StatusEvent
from ..domain.models import UnitStatus
from ..services.dispatch.service import ActionResult
from ..services.infra.timeouts import within
from .bridge import to_json
from .dialogs import AddUnitDialog, IncidentDialog

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger(__name__)

AUDIT_REFRESH_MS = 1500
REPLAY_MAX_POINTS = 5000


class DispatchUi(QObject):
    incidentCreated = Signal(str)
    dispatched = Signal(list)        # list[ActionResult]
    arrived = Signal(str, str)       # car id, incident id
    notice = Signal(str)             # every message shown to the dispatcher
    auditLoaded = Signal(int)
    replayLoaded = Signal(int)

    def __init__(self, controller: Controller) -> None:
        super().__init__(controller)
        self.c = controller
        self.w = controller.window
        self.active_incident: str | None = None
        self.dialog: IncidentDialog | None = None
        self.add_dialog: AddUnitDialog | None = None
        self._statuses: dict[str, UnitStatus] = {}
        self._tray: QSystemTrayIcon | None = None
        w = self.w
        w.nearby.createIncidentRequested.connect(self.open_incident_dialog)
        w.nearby.dispatchRequested.connect(self.dispatch_selected)
        w.incidents.selected.connect(self.select_incident)
        w.incidents.closeRequested.connect(lambda iid: self._run(self._close(iid), "close incident"))
        w.unit.clearRequested.connect(lambda cid: self._run(self._clear(cid), "clear unit"))
        w.unit.serviceRequested.connect(lambda cid, out: self._run(self._service(cid, out), "service"))
        w.unit.replayRequested.connect(self.replay_unit)
        w.fleet.addRequested.connect(self.open_add_dialog)
        w.fleet.removeRequested.connect(self.confirm_remove)
        w.fleet.serviceRequested.connect(lambda cid, out: self._run(self._service(cid, out), "service"))
        w.audit.refreshRequested.connect(self.refresh_audit)
        w.replay.loadRequested.connect(lambda unit, a, b: self._run(self._load_replay(unit, a, b), "replay"))
        w.replay.cursorMoved.connect(self._replay_cursor)
        w.replay.cleared.connect(lambda: self._send("replayChanged", None))
        for keys, slot in (("Ctrl+N", self.open_incident_dialog), ("Ctrl+D", self._dispatch_shortcut)):
            sc = QShortcut(QKeySequence(keys), w)
            sc.activated.connect(slot)
        self._audit_timer = QTimer(self)
        self._audit_timer.setSingleShot(True)
        self._audit_timer.timeout.connect(self.refresh_audit)

    # ---- wiring to the runtime -----------------------------------------------------------------
    def attach(self) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        d.changes.subscribe(self._on_dispatch)
        for a in d.statuses.values():
            self._on_dispatch(StatusEvent(a))
        self.refresh_incidents()
        self._audit_timer.start(AUDIT_REFRESH_MS)

    def _run(self, coro: Any, name: str) -> None:
        self.c.spawn(coro, name)

    def _say(self, text: str, level: str = "info") -> None:
        self.w.show_notice(text, level)
        self.notice.emit(text)

    def _send(self, signal: str, payload: Any) -> None:
        view = self.c.view
        if view is not None and view.is_ready:
            getattr(view.bridge, signal).emit(to_json(payload))

    def _on_dispatch(self, change: StatusEvent | IncidentEvent) -> None:
        if isinstance(change, StatusEvent):
            value = change.assignment
            old = self._statuses.get(value.car_id)
            self._statuses[value.car_id] = value.status
            self.c.fleet.set_status(value.car_id, value.status)
            if value.status is UnitStatus.ON_SCENE and old is not UnitStatus.ON_SCENE and old is not None:
                self._announce_arrival(value)
            self.refresh_incidents()
            self.c.refresh_unit_panel()
        elif isinstance(change, IncidentEvent):
            self.refresh_incidents()
        self._audit_timer.start(AUDIT_REFRESH_MS)

    def _announce_arrival(self, a: UnitAssignment) -> None:
        sign = self.c.call_sign(a.car_id)
        text = f"{sign} is on scene at {a.incident_id}"
        self._say(text, "info")
        self.w.banner.show_notice(text, "info")
        self.arrived.emit(a.car_id, a.incident_id or "")
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                pix = QPixmap(16, 16)
                pix.fill(0xC62828)
                self._tray = QSystemTrayIcon(QIcon(pix), self)
                self._tray.show()
            self._tray.showMessage("Unit on scene", text, QSystemTrayIcon.MessageIcon.Information, 8000)

    # ---- incidents ------------------------------------------------------------------------------------
    def incidents(self) -> list[Incident]:
        d = self.c.runtime.dispatch
        return list(d.incidents.values()) if d else []

    def refresh_incidents(self) -> None:
        d = self.c.runtime.dispatch
        if d is None:
            return
        units: dict[str, list[str]] = {}
        for cid, a in d.statuses.items():
            if a.incident_id and a.status in ASSIGNED:
                units.setdefault(a.incident_id, []).append(f"{self.c.call_sign(cid)} ({a.status.label})")
        texts = {iid: ", ".join(sorted(v)) for iid, v in units.items()}
        incidents = self.incidents()
        self.w.incidents.set_incidents(incidents, texts)
        open_ = [i for i in incidents if i.is_open]
        if self.active_incident and self.active_incident not in {i.incident_id for i in open_}:
            self.active_incident = None
        if self.c.pin is not None:
            self._send("pinChanged", self.c.pin_payload())
        self._send("incidentsChanged", [
            {"id": i.incident_id, "lat": i.lat, "lng": i.lng, "priority": i.priority,
             "label": f"{i.incident_id} · {i.kind}", "active": i.incident_id == self.active_incident}
            for i in open_])
        self._show_active()

    def _show_active(self) -> None:
        d = self.c.runtime.dispatch
        inc = d.incidents.get(self.active_incident) if d and self.active_incident else None
        if inc is None:
            self.w.nearby.show_incident("" if self.c.pin is None else
                                        "No incident here yet: Create incident… (Enter) before dispatching.")
        else:
            self.w.nearby.show_incident(f"Active incident: {inc.incident_id} · {inc.kind} · priority {inc.priority}")

    def pin_moved(self) -> None:
        """A new click on the map: the pin is a new location, not the active incident any more."""
        self.active_incident = None
        self.refresh_incidents()

    def select_incident(self, incident_id: str) -> None:
        d = self.c.runtime.dispatch
        inc = d.incidents.get(incident_id) if d else None
        if inc is None:
            return
        self.c.set_pin(inc.lat, inc.lng, keep_incident=True)
        self.active_incident = incident_id
        self.c.centre_on(inc.lat, inc.lng)
        self.refresh_incidents()

    def open_incident_dialog(self, then_dispatch: list[str] | None = None) -> None:
        if self.c.pin is None:
            self._say("Click the map where the incident is first.", "warning")
            return
        if self.dialog is not None:
            self.dialog.raise_()
            return
        point = self.c.pin
        dialog = IncidentDialog(point, self.w)
        self.dialog = dialog
        dispatch_after = list(then_dispatch or [])

        def submitted(kind: str, priority: int, notes: str) -> None:
            self._run(self._create(point, kind, priority, notes, dispatch_after), "create incident")

        dialog.submitted.connect(submitted)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()  # non-modal to the event loop: asyncio keeps running

    async def _create(self, point: tuple[float, float], kind: str, priority: int, notes: str,
                      then_dispatch: list[str]) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        try:
            inc = await d.create_incident(point[0], point[1], kind, priority, notes)
        except ValueError as exc:
            self._say(f"Incident not created: {exc}", "warning")
            return
        except (RedisError, OSError) as exc:
            self._say(f"Incident not created: Redis is not reachable ({exc})", "error")
            return
        self.active_incident = inc.incident_id
        self.refresh_incidents()
        self.w.incidents.select(inc.incident_id)
        self._say(f"Incident {inc.incident_id} created ({inc.kind}, priority {inc.priority})")
        self.incidentCreated.emit(inc.incident_id)
        if then_dispatch:
            await self._dispatch(inc.incident_id, then_dispatch)

    def _dispatch_shortcut(self) -> None:
        self.dispatch_selected(self.w.nearby.selected_ids())

    def dispatch_selected(self, car_ids: list[str]) -> None:
        if not car_ids:
            self._say("Select one or more units in Nearby units to dispatch.", "warning")
            return
        if self.active_incident is None:
            self.open_incident_dialog(then_dispatch=car_ids)
            return
        self._run(self._dispatch(self.active_incident, car_ids), "dispatch")

    async def _dispatch(self, incident_id: str, car_ids: list[str]) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        try:
            results = await d.dispatch(incident_id, car_ids)
        except (RedisError, OSError) as exc:
            results = [ActionResult(False, f"Not dispatched: Redis is not reachable ({exc})")]
        ok = [r.message for r in results if r.ok]
        bad = [r.message for r in results if not r.ok]
        if ok:
            self._say("; ".join(ok))
        if bad:
            self._say("; ".join(bad), "warning")
        self.dispatched.emit(results)
        self.c.refresh_nearby()

    async def _clear(self, car_id: str) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        r = await self._guard(d.clear_unit(car_id))
        self._say(r.message, "info" if r.ok else "warning")

    async def _close(self, incident_id: str) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        r = await self._guard(d.close_incident(incident_id))
        self._say(r.message, "info" if r.ok else "warning")
        if r.ok and self.active_incident == incident_id:
            self.active_incident = None
            self.c.clear_pin()

    async def _service(self, car_id: str, out: bool) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        r = await self._guard(d.set_out_of_service(car_id, out))
        self._say(r.message, "info" if r.ok else "warning")

    async def _guard(self, coro: Any) -> ActionResult:
        try:
            result: ActionResult = await coro
        except (RedisError, OSError) as exc:
            return ActionResult(False, f"Nothing changed: Redis is not reachable ({exc})")
        return result

    # ---- fleet editor ----------------------------------------------------------------------------------
    def open_add_dialog(self) -> None:
        if self.add_dialog is not None:
            self.add_dialog.raise_()
            return
        dialog = AddUnitDialog(self.w)
        self.add_dialog = dialog

        def submitted(car_id: str, sign: str) -> None:
            self._run(self._add(dialog, car_id, sign), "add unit")

        dialog.submitted.connect(submitted)
        dialog.finished.connect(lambda _r: setattr(self, "add_dialog", None))
        dialog.open()

    async def _add(self, dialog: AddUnitDialog, car_id: str, sign: str) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        r = await self._guard(d.add_unit(car_id, sign))
        if r.ok:
            dialog.accept()
            self._say(r.message)
        else:
            dialog.show_error(r.message)
            self.notice.emit(r.message)

    def confirm_remove(self, car_id: str) -> None:
        sign = self.c.call_sign(car_id)
        box = QMessageBox(QMessageBox.Icon.Question, "Remove unit",
                          f"Remove {sign} ({car_id}) from the fleet?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self.w)
        box.setObjectName("confirmRemove")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def done(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self._run(self._remove(car_id), "remove unit")

        box.finished.connect(done)
        box.open()

    async def _remove(self, car_id: str) -> None:
        d = self.c.runtime.dispatch
        assert d is not None
        r = await self._guard(d.remove_unit(car_id))
        self._say(r.message, "info" if r.ok else "warning")

    # ---- audit ------------------------------------------------------------------------------------------
    def refresh_audit(self) -> None:
        if self.c.runtime.records is not None:
            self._run(self._load_audit(), "audit log")

    async def _load_audit(self) -> None:
        records = self.c.runtime.records
        assert records is not None
        try:
            entries = await within(records.audit(), 5.0)
        except (PyMongoError, OSError, TimeoutError) as exc:
            pending = len(self.c.runtime.outbox.pending) if self.c.runtime.outbox else 0
            self.w.audit.summary.setText(f"Audit log unavailable (MongoDB: {str(exc)[:80]}); "
                                         f"{pending} action(s) waiting to be written")
            return
        self.w.audit.set_entries(entries)
        self.auditLoaded.emit(len(entries))

    # ---- replay -----------------------------------------------------------------------------------------
    def replay_unit(self, car_id: str) -> None:
        self.w.docks["replay"].raise_()
        self.w.docks["replay"].show()
        self.w.replay.reset_window()
        self.w.replay.unit.setCurrentText(self.c.call_sign(car_id))
        since = float(self.w.replay.since.dateTime().toSecsSinceEpoch())
        until = float(self.w.replay.until.dateTime().toSecsSinceEpoch())
        self._run(self._load_replay(car_id, since, until), "replay")

    async def _load_replay(self, unit: str, since: float, until: float) -> None:
        found = self.c.fleet.find_by_call_sign(unit)
        if found is None:
            self.w.replay.info.setText(f"No unit matches {unit[:40]!r}")
            return
        history = self.c.runtime.history
        assert history is not None
        if until <= since:
            self.w.replay.info.setText("The window's end must be after its start")
            return
        try:
            points = await within(history.track(found.car_id, since, until), 10.0)
        except (PyMongoError, OSError, TimeoutError) as exc:
            self.w.replay.info.setText(f"History unavailable (MongoDB: {str(exc)[:80]})")
            return
        points = points[-REPLAY_MAX_POINTS:]
        self._send("replayChanged", {"points": [[p.lat, p.lng] for p in points], "label": found.call_sign,
                                     "fit": True} if points else None)
        self.w.replay.set_track(found.call_sign, points)
        self.replayLoaded.emit(len(points))

    def _replay_cursor(self, lat: float, lng: float, heading: float, _t: float, _speed: float) -> None:
        self._send("replayMoved", {"lat": lat, "lng": lng, "heading": heading})

    # ---- unit details ---------------------------------------------------------------------------------
    def unit_extras(self, car_id: str) -> dict[str, Any]:
        d = self.c.runtime.dispatch
        a = d.statuses.get(car_id) if d else None
        u = self.c.fleet.units.get(car_id)
        out: dict[str, Any] = {"incident": a.incident_id if a and a.status in ASSIGNED else None}
        if a and a.scene and a.status in ASSIGNED and u and u.position:
            km = haversine_km(u.position.lat, u.position.lng, *a.scene)
            out["scene_km"] = km
            out["eta_s"] = eta_estimate_s(km, u.position.speed)
        return out
