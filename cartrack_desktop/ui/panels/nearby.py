"""Nearby units: the nearest live units to the incident pin, refreshed while units move."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...domain.models import UnitStatus
from ...domain.presentation import STALE_COLOR, STATUS_COLORS
from ...routing.router import DEFAULT_CUTOFF_S
from ..formatting import fmt_age, fmt_duration, fmt_heading, fmt_km, fmt_latlng, fmt_speed
from ..table_model import Column, RowModel, make_table, plain_label

BY_ROAD_CUTOFF_MIN = DEFAULT_CUTOFF_S / 60   # with a road network, units this far by road are listed too

DEFAULT_RADIUS_KM = 3.0


@dataclass(frozen=True, slots=True)
class NearbyRow:
    car_id: str
    call_sign: str
    distance_km: float
    speed: float
    heading: float
    status: UnitStatus
    age_s: float
    stale: bool
    drive_s: float | None = None       # free-flow drive time by road (None: no network, or cannot get there)
    drive_note: str = ""               # why not reached within the cutoff ("" when reached, or no network)
    drive_order: int = 0               # 0 reached, 1 beyond the cutoff, 2 cannot get there
    recommended: bool = False          # the nearest available unit by drive time


def drive_text(r: NearbyRow) -> str:
    if r.drive_s is None:
        return r.drive_note or "—"
    text = fmt_duration(r.drive_s)
    if r.drive_note:
        text = f"{text} ({r.drive_note})"
    return f"★ {text}" if r.recommended else text


COLUMNS: list[Column[NearbyRow]] = [
    Column("Call sign", lambda r: r.call_sign, lambda r: r.call_sign.casefold(),
           color=lambda r: STALE_COLOR if r.stale else STATUS_COLORS[r.status]),
    Column("Drive time", drive_text, lambda r: (r.drive_order, r.drive_s if r.drive_s is not None else 0.0,
                                                r.distance_km),
           tooltip="Free-flow drive time by road to the pin (speed limits, no traffic), from the imported map; "
                   "★ recommended: the nearest available unit by drive time. Without a map: —"),
    Column("Distance", lambda r: fmt_km(r.distance_km), lambda r: r.distance_km, align_right=True,
           tooltip="Straight-line distance from the incident pin, not driving distance"),
    Column("Speed", lambda r: fmt_speed(r.speed), lambda r: r.speed, align_right=True),
    Column("Heading", lambda r: fmt_heading(r.heading), lambda r: r.heading),
    Column("Status", lambda r: r.status.label, lambda r: r.status.value),
    Column("Fix age", lambda r: fmt_age(r.age_s), lambda r: r.age_s, align_right=True),
]


class NearbyPanel(QWidget):
    radiusChanged = Signal(float)
    availableOnlyChanged = Signal(bool)
    hovered = Signal(str)       # "" when the pointer leaves the list
    activated = Signal(str)     # double-click / Enter on a row
    createIncidentRequested = Signal()
    dispatchRequested = Signal(list)   # selected unit ids

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("nearbyPanel")
        self.header = plain_label("Click the map where the incident is to list the nearest units.")
        self.header.setWordWrap(True)
        self.radius = QDoubleSpinBox()
        self.radius.setObjectName("nearbyRadius")
        self.radius.setRange(0.1, 50.0)
        self.radius.setDecimals(1)
        self.radius.setSingleStep(0.5)
        self.radius.setSuffix(" km")
        self.radius.setValue(DEFAULT_RADIUS_KM)
        self.radius.setToolTip("Search radius around the incident pin (straight-line)")
        self.available_only = QCheckBox("Available only")
        self.available_only.setObjectName("nearbyAvailableOnly")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Radius"))
        controls.addWidget(self.radius)
        controls.addWidget(self.available_only)
        controls.addStretch(1)

        self.model: RowModel[NearbyRow] = RowModel(COLUMNS, key=lambda r: r.car_id, dimmed=lambda r: r.stale)
        self.table = make_table(self.model, "nearbyTable", selection="extended")
        self.table.setMouseTracking(True)
        self.table.entered.connect(self._entered)
        self.table.viewport().installEventFilter(self)
        self.table.doubleClicked.connect(self._activated)
        self.table.activated.connect(self._activated)

        self.incident = plain_label("")
        self.incident.setObjectName("activeIncident")
        self.incident.setWordWrap(True)
        self.create_button = QPushButton("Create incident…")
        self.create_button.setObjectName("createIncident")
        self.create_button.setToolTip("Create an incident at the pin (Enter on the map, Ctrl+N)")
        self.create_button.setEnabled(False)
        self.dispatch_button = QPushButton("Dispatch")
        self.dispatch_button.setObjectName("dispatchUnits")
        self.dispatch_button.setToolTip("Dispatch the selected units to the incident (Ctrl+D)")
        self.dispatch_button.setEnabled(False)
        controls.addWidget(self.create_button)
        controls.addWidget(self.dispatch_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(controls)
        layout.addWidget(self.incident)
        layout.addWidget(self.table, 1)
        self.create_button.clicked.connect(self.createIncidentRequested)
        self.dispatch_button.clicked.connect(lambda: self.dispatchRequested.emit(self.selected_ids()))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._has_pin = False
        self.recommended = ""         # the unit Ctrl+D dispatches when nothing is selected
        self.radius.valueChanged.connect(self.radiusChanged)
        self.available_only.toggled.connect(self.availableOnlyChanged)
        self._hovered = ""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.table.viewport() and event.type() == QEvent.Type.Leave:
            self._set_hover("")
        return False

    def _entered(self, index: QModelIndex) -> None:
        self._set_hover(self.model.key_at(index.row()) or "")

    def _set_hover(self, car_id: str) -> None:
        if car_id != self._hovered:
            self._hovered = car_id
            self.hovered.emit(car_id)

    def _activated(self, index: QModelIndex) -> None:
        key = self.model.key_at(index.row())
        if key:
            self.activated.emit(key)

    def _update_buttons(self) -> None:
        self.create_button.setEnabled(self._has_pin)
        self.dispatch_button.setEnabled(self._has_pin and bool(self.selected_ids()))

    def show_incident(self, text: str) -> None:
        self.incident.setText(text)

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [k for k in (self.model.key_at(r) for r in rows) if k]

    def recommend(self, car_id: str) -> None:
        """Pre-select the recommended unit when it changes, unless the dispatcher picked others meanwhile."""
        previous, self.recommended = self.recommended, car_id
        if car_id == previous:
            return
        selected = self.selected_ids()
        if selected and selected != [previous]:
            return
        row = self.model.row_of(car_id) if car_id else -1
        if row >= 0:
            self.table.selectRow(row)
        elif selected:
            self.table.clearSelection()

    def show_point(self, point: tuple[float, float] | None, count: int = 0, address: str = "", *,
                   filtered: str = "", by_road: bool = False) -> None:
        """The header: where (with the nearest address when a street map knows it), how many, in what
        order; `filtered` says what the map's status filter hides ("" when nothing)."""
        self._has_pin = point is not None
        self._update_buttons()
        if point is None:
            self.header.setText("Click the map where the incident is to list the nearest units.")
            self.model.set_rows([])
            self.recommended = ""
            return
        r = self.radius.value()
        what = "available units" if self.available_only.isChecked() else "units"
        if address:
            where = f"{address if address.startswith('near ') else 'at ' + address} ({fmt_latlng(*point)})"
        else:
            where = f"at {fmt_latlng(*point)}"
        order = ("nearest by drive time (free-flow estimate by road); distance straight-line" if by_road
                 else "straight-line distance")
        reach = f"{r:.1f} km or {BY_ROAD_CUTOFF_MIN:.0f} min by road" if by_road else f"{r:.1f} km"
        self.header.setText(
            f"Incident {where} — {count} {what} within {reach} ({order})"
            + (f"; {filtered[0].lower()}{filtered[1:]} (status filter)" if filtered else "")
        )

    def set_rows(self, rows: list[NearbyRow]) -> None:
        self.model.set_rows(rows)
