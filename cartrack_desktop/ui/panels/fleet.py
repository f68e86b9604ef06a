"""Fleet: every registered unit, sortable, filterable by call sign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

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
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self._all: list[FleetRow] = []
        self.filter.textChanged.connect(lambda _t: self._refilter())

    def _activated(self, index: QModelIndex) -> None:
        key = self.model.key_at(index.row())
        if key:
            self.activated.emit(key)

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
