"""Fleet: every registered unit, sortable, filterable by call sign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...domain.models import UnitStatus
from ...services.fleet_view import FixState
from ..formatting import fmt_age, fmt_speed
from ..table_model import STALE_COLOR, STATUS_COLORS, Column, RowModel, plain_label


@dataclass(frozen=True, slots=True)
class FleetRow:
    car_id: str
    call_sign: str
    status: UnitStatus
    speed: float | None
    age_s: float | None
    fix: FixState


_FIX_ORDER = {FixState.LIVE: 0, FixState.FADED: 1, FixState.STALE: 2, FixState.LOST: 3, FixState.NO_FIX: 4}

COLUMNS: list[Column[FleetRow]] = [
    Column("Call sign", lambda r: r.call_sign, lambda r: r.call_sign.casefold(),
           color=lambda r: STALE_COLOR if r.fix in (FixState.STALE, FixState.LOST, FixState.NO_FIX)
           else STATUS_COLORS[r.status]),
    Column("Unit", lambda r: r.car_id),
    Column("Status", lambda r: r.status.label, lambda r: r.status.value),
    Column("Speed", lambda r: "—" if r.speed is None else fmt_speed(r.speed), lambda r: r.speed, align_right=True),
    Column("Fix age", lambda r: fmt_age(r.age_s), lambda r: r.age_s, align_right=True),
    Column("Fix", lambda r: r.fix.value, lambda r: _FIX_ORDER[r.fix],
           tooltip="live; faded after 15 s without an update; stale after 60 s; lost when expired in Redis"),
]


class FleetPanel(QWidget):
    activated = Signal(str)
    addRequested = Signal()
    removeRequested = Signal(str)
    serviceRequested = Signal(str, bool)   # unit, out of service?

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("fleetPanel")
        self.filter = QLineEdit()
        self.filter.setObjectName("fleetFilter")
        self.filter.setPlaceholderText("Filter by call sign or unit id")
        self.filter.setClearButtonEnabled(True)
        self.summary = plain_label("")
        self.model: RowModel[FleetRow] = RowModel(
            COLUMNS, key=lambda r: r.car_id, dimmed=lambda r: r.fix in (FixState.LOST, FixState.NO_FIX))
        self.table = QTableView()
        self.table.setObjectName("fleetTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.doubleClicked.connect(self._activated)
        self.table.activated.connect(self._activated)
        self.add = QPushButton("Add unit…")
        self.add.setObjectName("addUnit")
        self.remove = QPushButton("Remove")
        self.remove.setObjectName("removeUnit")
        self.service = QPushButton("Out of service")
        self.service.setObjectName("fleetService")
        for b in (self.remove, self.service):
            b.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add)
        buttons.addWidget(self.remove)
        buttons.addWidget(self.service)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        self.add.clicked.connect(self.addRequested)
        self.remove.clicked.connect(self._remove)
        self.service.clicked.connect(self._toggle_service)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._all: list[FleetRow] = []
        self.filter.textChanged.connect(lambda _t: self._refilter())

    def _activated(self, index: QModelIndex) -> None:
        key = self.model.key_at(index.row())
        if key:
            self.activated.emit(key)

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return (self.model.key_at(rows[0].row()) or "") if rows else ""

    def _selected_row(self) -> FleetRow | None:
        key = self.selected()
        i = self.model.row_of(key) if key else -1
        return self.model.rows[i] if i >= 0 else None

    def _update_buttons(self) -> None:
        row = self._selected_row()
        self.remove.setEnabled(row is not None)
        self.service.setEnabled(row is not None and row.status in (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE))
        self.service.setText("Back in service" if row is not None and row.status is UnitStatus.OUT_OF_SERVICE
                             else "Out of service")

    def _remove(self) -> None:
        if self.selected():
            self.removeRequested.emit(self.selected())

    def _toggle_service(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.serviceRequested.emit(row.car_id, row.status is not UnitStatus.OUT_OF_SERVICE)

    def set_rows(self, rows: list[FleetRow]) -> None:
        self._all = rows
        self._refilter()

    def _refilter(self) -> None:
        text = self.filter.text().strip().casefold()
        rows = self._all if not text else [
            r for r in self._all if text in r.call_sign.casefold() or text in r.car_id.casefold()]
        self.model.set_rows(rows)
        live = sum(1 for r in self._all if r.fix in (FixState.LIVE, FixState.FADED))
        lost = sum(1 for r in self._all if r.fix is FixState.LOST)
        shown = f"{len(rows)} shown · " if text else ""
        self.summary.setText(f"{shown}{len(self._all)} units · {live} live · {lost} lost")
        self._update_buttons()
