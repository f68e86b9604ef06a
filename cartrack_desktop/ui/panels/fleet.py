"""Fleet: every registered unit, sortable, filterable by call sign.

The rows are the live UnitView objects themselves and every cell is computed when Qt asks
for it, so a 10,000-unit fleet costs only the rows on screen each second; the list is
rebuilt only when units come or go (or the filter changes), and re-sorted by a changing
column (speed, fix age) at most every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...domain.models import UnitStatus
from ...domain.presentation import FADE_AFTER_S, STALE_AFTER_S, STALE_COLOR, STATUS_COLORS
from ...view.fleet_view import FixState, FleetCounts, UnitView
from ..formatting import fmt_age, fmt_speed
from ..table_model import Column, RowModel, make_table, plain_label

_FIX_ORDER = {FixState.LIVE: 0, FixState.FADED: 1, FixState.STALE: 2, FixState.LOST: 3, FixState.NO_FIX: 4}
DYNAMIC_COLUMNS = {3, 4, 5}      # speed, fix age, fix: change every second
RESORT_EVERY_S = 3.0

FixOf = Callable[[UnitView], FixState]
Shown = Callable[[UnitView], bool]


def _age(u: UnitView) -> float | None:
    return None if u.position is None else max(0.0, time.time() - u.position.timestamp)


def _columns(fix_of: FixOf) -> list[Column[UnitView]]:
    return [
        Column("Call sign", lambda u: u.call_sign, lambda u: u.call_sign.casefold(),
               color=lambda u: STALE_COLOR if fix_of(u) in (FixState.STALE, FixState.LOST, FixState.NO_FIX)
               else STATUS_COLORS[u.status]),
        Column("Unit", lambda u: u.car_id),
        Column("Status", lambda u: u.status.label, lambda u: u.status.value),
        Column("Speed", lambda u: "—" if u.position is None else fmt_speed(u.position.speed),
               lambda u: None if u.position is None else u.position.speed, align_right=True),
        Column("Fix age", lambda u: fmt_age(_age(u)), _age, align_right=True),
        Column("Fix", lambda u: fix_of(u).value, lambda u: _FIX_ORDER[fix_of(u)],
               tooltip=f"live; faded after {FADE_AFTER_S:.0f} s without an update; stale after {STALE_AFTER_S:.0f} s; "
                       "lost when expired in Redis"),
        Column("Device", _device_text, lambda u: (u.simulated, u.device_id or ""),
               tooltip="a real unit's tracker (its reports move it); \"simulated\": moved by the simulator"),
    ]


def _device_text(u: UnitView) -> str:
    if u.device_id:
        return u.device_id
    return "simulated" if u.simulated else "real, no device"


class FleetPanel(QWidget):
    activated = Signal(str)
    addRequested = Signal()
    removeRequested = Signal(str)
    serviceRequested = Signal(str, bool)   # unit, out of service?
    deviceRequested = Signal(str)          # unit: edit its device and whether it is real

    def __init__(self, fix_of: FixOf | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("fleetPanel")
        self._fix_of: FixOf = fix_of or (lambda u: FixState.LOST if u.lost else FixState.LIVE)
        self._shown: Shown | None = None    # the map's status filter (None: every unit)
        self.filter = QLineEdit()
        self.filter.setObjectName("fleetFilter")
        self.filter.setPlaceholderText("Filter by call sign, unit id or device id")
        self.filter.setClearButtonEnabled(True)
        self.summary = plain_label("")
        self.model: RowModel[UnitView] = RowModel(
            _columns(self._fix), key=lambda u: u.car_id,
            dimmed=lambda u: self._fix(u) in (FixState.LOST, FixState.NO_FIX))
        # fixed widths: fitting 10,000 rows' contents every second would cost more than it shows
        self.table = make_table(self.model, "fleetTable", sort_column=0, fit_columns=False)
        for col, width in enumerate((110, 80, 100, 70, 70, 60)):
            self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(self._activated)
        self.table.activated.connect(self._activated)
        self.add = QPushButton("Add unit…")
        self.add.setObjectName("addUnit")
        self.remove = QPushButton("Remove")
        self.remove.setObjectName("removeUnit")
        self.service = QPushButton("Out of service")
        self.service.setObjectName("fleetService")
        self.device = QPushButton("Device…")
        self.device.setObjectName("fleetDevice")
        self.device.setToolTip("Attach or change the unit's tracking device; mark it real or simulated")
        for b in (self.remove, self.service, self.device):
            b.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add)
        buttons.addWidget(self.remove)
        buttons.addWidget(self.service)
        buttons.addWidget(self.device)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        self.add.clicked.connect(self.addRequested)
        self.remove.clicked.connect(self._remove)
        self.service.clicked.connect(self._toggle_service)
        self.device.clicked.connect(self._edit_device)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._units: dict[str, UnitView] = {}
        self._counts = FleetCounts(0, 0, 0, 0)
        self._version = -1
        self._last_sort = 0.0
        self.filter.textChanged.connect(lambda _t: self._rebuild())

    def set_fix_of(self, fix_of: FixOf) -> None:
        self._fix_of = fix_of

    def set_shown(self, shown: Shown) -> None:
        """Which units the list shows besides the text filter (the map's status filter)."""
        self._shown = shown

    def refilter(self) -> None:
        self._rebuild()

    def _fix(self, u: UnitView) -> FixState:
        return self._fix_of(u)

    def _activated(self, index: QModelIndex) -> None:
        key = self.model.key_at(index.row())
        if key:
            self.activated.emit(key)

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return (self.model.key_at(rows[0].row()) or "") if rows else ""

    def _selected_row(self) -> UnitView | None:
        key = self.selected()
        i = self.model.row_of(key) if key else -1
        return self.model.rows[i] if i >= 0 else None

    def _update_buttons(self) -> None:
        row = self._selected_row()
        self.remove.setEnabled(row is not None)
        self.device.setEnabled(row is not None)
        self.service.setEnabled(row is not None and row.status in (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE))
        self.service.setText("Back in service" if row is not None and row.status is UnitStatus.OUT_OF_SERVICE
                             else "Out of service")

    def _remove(self) -> None:
        if self.selected():
            self.removeRequested.emit(self.selected())

    def _edit_device(self) -> None:
        if self.selected():
            self.deviceRequested.emit(self.selected())

    def _toggle_service(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.serviceRequested.emit(row.car_id, row.status is not UnitStatus.OUT_OF_SERVICE)

    def refresh(self, units: dict[str, UnitView], version: int, counts: FleetCounts) -> None:
        """Called every second: cheap unless units came or went."""
        self._units = units
        self._counts = counts
        if version != self._version:
            self._version = version
            self._rebuild()
            return
        sort = self.model.sort_state
        now = time.monotonic()
        if sort is not None and sort[0] in DYNAMIC_COLUMNS and now - self._last_sort >= RESORT_EVERY_S:
            self._last_sort = now
            self.model.sort(*sort)
        else:
            self.model.refresh_visible(self.table)
        self._update_summary()

    def _rebuild(self) -> None:
        text = self.filter.text().strip().casefold()
        shown = self._shown
        units = self._units.values() if shown is None else [u for u in self._units.values() if shown(u)]
        rows = list(units) if not text else [
            u for u in units if text in u.call_sign.casefold() or text in u.car_id.casefold()
            or text in (u.device_id or "").casefold()]
        self.model.set_rows(rows)
        self._last_sort = time.monotonic()
        self._update_summary()

    def _update_summary(self) -> None:
        text = self.filter.text().strip()
        c = self._counts
        filtered = text or len(self.model.rows) != len(self._units)
        shown = f"{len(self.model.rows)} shown · " if filtered else ""
        stale = f" · {c.stale} stale" if c.stale else ""
        self.summary.setText(f"{shown}{c.units} units · {c.live} live{stale} · {c.lost} lost")
        self._update_buttons()
