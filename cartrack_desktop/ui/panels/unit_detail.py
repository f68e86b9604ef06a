"""Unit details: the tracked unit, live."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ...domain.dispatch import ASSIGNED
from ...domain.models import Position, UnitStatus
from ...domain.presentation import STALE_COLOR, STATUS_COLORS
from ...view.fleet_view import FixState
from ..formatting import fmt_age, fmt_duration, fmt_heading, fmt_km, fmt_latlng, fmt_speed
from ..table_model import plain_label


class UnitPanel(QWidget):
    stopRequested = Signal()
    centreRequested = Signal()
    clearRequested = Signal(str)
    serviceRequested = Signal(str, bool)    # unit, out of service?
    replayRequested = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("unitPanel")
        self.title = plain_label("No unit tracked")
        self.title.setObjectName("unitTitle")
        self.title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.hint = plain_label("Double-click a unit on the map or in a list to track it.")
        self.hint.setWordWrap(True)
        self.fields: dict[str, Any] = {}
        form = QFormLayout()
        for key, label in (("car_id", "Unit"), ("status", "Status"), ("incident", "Incident"),
                           ("scene", "To scene"), ("speed", "Speed"), ("heading", "Heading"),
                           ("position", "Position"), ("near", "Near"), ("age", "Fix age"), ("fix", "Fix")):
            value = plain_label("—")
            value.setObjectName(f"unit_{key}")
            self.fields[key] = value
            form.addRow(label, value)
        self.centre = QPushButton("Centre")
        self.centre.setToolTip("Centre the map on the unit and follow it again")
        self.stop = QPushButton("Stop tracking")
        self.stop.setObjectName("stopTracking")
        self.stop.setToolTip("Stop following this unit (Esc)")
        self.clear = QPushButton("Clear")
        self.clear.setObjectName("clearUnit")
        self.clear.setToolTip("The unit is done here: Available, back on patrol")
        self.service = QPushButton("Out of service")
        self.service.setObjectName("serviceUnit")
        self.replay = QPushButton("Replay…")
        self.replay.setToolTip("Replay this unit's history")
        buttons = QHBoxLayout()
        buttons.addWidget(self.centre)
        buttons.addWidget(self.stop)
        buttons.addStretch(1)
        actions = QHBoxLayout()
        actions.addWidget(self.clear)
        actions.addWidget(self.service)
        actions.addWidget(self.replay)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addLayout(actions)
        layout.addStretch(1)
        self.stop.clicked.connect(self.stopRequested)
        self.centre.clicked.connect(self.centreRequested)
        self._car = ""
        self._status = UnitStatus.AVAILABLE
        self.clear.clicked.connect(self._clear)
        self.service.clicked.connect(self._service)
        self.replay.clicked.connect(self._replay)
        self.show_unit(None)

    def _clear(self) -> None:
        if self._car:
            self.clearRequested.emit(self._car)

    def _service(self) -> None:
        if self._car:
            self.serviceRequested.emit(self._car, self._status is not UnitStatus.OUT_OF_SERVICE)

    def _replay(self) -> None:
        if self._car:
            self.replayRequested.emit(self._car)

    def show_unit(self, unit: dict[str, Any] | None) -> None:
        """unit: car_id, call_sign, status, position (or None), age_s, fix (FixState), following."""
        tracking = unit is not None
        self.stop.setEnabled(tracking)
        self.centre.setEnabled(tracking)
        self.replay.setEnabled(tracking)
        self.hint.setVisible(not tracking)
        self._car = unit["car_id"] if unit else ""
        self._status = unit["status"] if unit else UnitStatus.AVAILABLE
        self.clear.setEnabled(tracking and self._status in ASSIGNED)
        self.service.setEnabled(tracking and self._status in (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE))
        self.service.setText("Back in service" if self._status is UnitStatus.OUT_OF_SERVICE else "Out of service")
        if unit is None:
            self.title.setText("No unit tracked")
            for v in self.fields.values():
                v.setText("—")
            return
        status: UnitStatus = unit["status"]
        fix: FixState = unit["fix"]
        self.title.setText(unit["call_sign"])
        f = self.fields
        f["car_id"].setText(unit["car_id"])
        f["status"].setText(status.label)
        color = STALE_COLOR if fix in (FixState.STALE, FixState.LOST) else STATUS_COLORS[status]
        f["status"].setStyleSheet(f"color: {color}; font-weight: 600;")
        pos: Position | None = unit["position"]
        if pos is None:
            for k in ("speed", "heading", "position"):
                f[k].setText("—")
        else:
            f["speed"].setText(fmt_speed(pos.speed))
            f["heading"].setText(fmt_heading(pos.heading))
            f["position"].setText(fmt_latlng(pos.lat, pos.lng))
        f["near"].setText(unit.get("near") or "—")   # nearest address/intersection, from the street map
        f["incident"].setText(unit.get("incident") or "—")
        dist, eta, road = unit.get("scene_km"), unit.get("eta_s"), unit.get("road_km")
        if dist is None:
            f["scene"].setText("—")
        elif status is UnitStatus.ON_SCENE:
            f["scene"].setText(f"{fmt_km(dist)} (on scene)")
        elif road is not None:
            f["scene"].setText(f"{fmt_km(road)} by road · ETA {fmt_duration(eta or 0.0)} (free-flow estimate)")
        else:
            f["scene"].setText(f"{fmt_km(dist)} straight-line · ETA ~{fmt_duration(eta or 0.0)} (estimate)")
        f["age"].setText(fmt_age(unit["age_s"]))
        following = "" if unit.get("following", True) else " · map not following (press Centre)"
        f["fix"].setText(fix.value + following)
