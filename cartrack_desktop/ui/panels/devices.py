"""Unknown devices: trackers that reported but belong to no unit, most recently seen first.

A dispatcher attaches one to a unit (the unit becomes real and the device's reports move it)
or creates a unit for it. The list is the device ingest's shared Redis hash, read by the job.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ...domain.models import UnknownDevice
from ..formatting import fmt_age, fmt_latlng
from ..table_model import Column, RowModel, make_table, plain_label


def _seen_ago(d: UnknownDevice) -> float:
    return max(0.0, time.time() - d.last_seen)


def _position(d: UnknownDevice) -> str:
    if d.lat is None or d.lng is None:
        return "—"
    return f"{fmt_latlng(d.lat, d.lng)} (fix {fmt_age(max(0.0, time.time() - d.fix_at))})"


COLUMNS: list[Column[UnknownDevice]] = [
    Column("Device", lambda d: d.device_id),
    Column("Protocol", lambda d: d.protocol or "—"),
    Column("Last position", _position, tooltip="its last reported position and the age of that fix"),
    Column("Reports", lambda d: f"{d.count:,}", lambda d: d.count, align_right=True),
    Column("Last seen", lambda d: fmt_age(_seen_ago(d)), lambda d: -d.last_seen, align_right=True),
    Column("First seen", lambda d: time.strftime("%Y-%m-%d %H:%M", time.localtime(d.first_seen)),
           lambda d: d.first_seen),
]


class UnknownDevicesPanel(QWidget):
    attachRequested = Signal(str)    # device id: attach it to a unit
    createRequested = Signal(str)    # device id: create a unit for it
    refreshRequested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("unknownDevicesPanel")
        self.model: RowModel[UnknownDevice] = RowModel(COLUMNS, key=lambda d: d.device_id)
        self.table = make_table(self.model, "unknownDevicesTable")
        self.summary = plain_label("")
        self.summary.setWordWrap(True)
        self.attach = QPushButton("Attach to unit…")
        self.attach.setObjectName("attachDevice")
        self.create_unit = QPushButton("Create unit…")
        self.create_unit.setObjectName("createUnitForDevice")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refreshRequested)
        for b in (self.attach, self.create_unit):
            b.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.attach)
        buttons.addWidget(self.create_unit)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.attach.clicked.connect(lambda: self._emit(self.attachRequested))
        self.create_unit.clicked.connect(lambda: self._emit(self.createRequested))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return (self.model.key_at(rows[0].row()) or "") if rows else ""

    def _emit(self, signal: Any) -> None:
        if self.selected():
            signal.emit(self.selected())

    def _update_buttons(self) -> None:
        for b in (self.attach, self.create_unit):
            b.setEnabled(bool(self.selected()))

    def set_devices(self, devices: list[UnknownDevice], note: str = "") -> None:
        """The whole list; the selection stays on the same device if it is still listed."""
        keep = self.selected()
        self.model.set_rows(devices)
        if keep and (row := self.model.row_of(keep)) >= 0:
            self.table.selectRow(row)
        self._update_buttons()
        self.summary.setText(note or (f"{len(devices)} device(s) reported that belong to no unit; their reports "
                                      "are refused until one is attached" if devices else "No unknown devices"))
