"""Incidents: open incidents with their age and assigned units, and the selected one's timeline."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelection, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...domain.dispatch import Incident
from ...domain.presentation import PRIORITY_COLORS
from ..formatting import fmt_age, fmt_latlng
from ..table_model import Column, RowModel, make_table, plain_label


@dataclass(frozen=True, slots=True)
class IncidentRow:
    incident: Incident
    units_text: str
    age_s: float


COLUMNS: list[Column[IncidentRow]] = [
    Column("Incident", lambda r: r.incident.incident_id, color=lambda r: PRIORITY_COLORS[r.incident.priority]),
    Column("P", lambda r: str(r.incident.priority), lambda r: r.incident.priority, align_right=True,
           tooltip="Priority: 1 emergency, 2 urgent, 3 prompt, 4 routine"),
    Column("Type", lambda r: r.incident.kind, lambda r: r.incident.kind.casefold()),
    Column("Age", lambda r: fmt_age(r.age_s), lambda r: r.age_s, align_right=True),
    Column("Units", lambda r: r.units_text),
]


class IncidentsPanel(QWidget):
    selected = Signal(str)          # incident id
    closeRequested = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("incidentsPanel")
        self.model: RowModel[IncidentRow] = RowModel(COLUMNS, key=lambda r: r.incident.incident_id)
        self.table = make_table(self.model, "incidentsTable", sort_column=1)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.summary = plain_label("No open incidents")
        self.close_button = QPushButton("Close incident")
        self.close_button.setObjectName("closeIncident")
        self.close_button.setEnabled(False)
        self.close_button.setToolTip("Clear every assigned unit and close the incident")
        self.close_button.clicked.connect(self._close)
        self.timeline = QPlainTextEdit()
        self.timeline.setObjectName("incidentTimeline")
        self.timeline.setReadOnly(True)
        self.timeline.setPlaceholderText("Select an incident to see its timeline")
        self.timeline.setMaximumHeight(150)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.timeline)
        self._incidents: dict[str, Incident] = {}

    def _close(self) -> None:
        if self._current():
            self.closeRequested.emit(self._current())

    def _current(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return (self.model.key_at(rows[0].row()) or "") if rows else ""

    def _selection_changed(self, _a: QItemSelection, _b: QItemSelection) -> None:
        iid = self._current()
        self.close_button.setEnabled(bool(iid))
        self._show_timeline(iid)
        if iid:
            self.selected.emit(iid)

    def select(self, incident_id: str) -> None:
        row = self.model.row_of(incident_id)
        if row >= 0:
            self.table.selectRow(row)

    def _show_timeline(self, incident_id: str) -> None:
        inc = self._incidents.get(incident_id)
        if inc is None:
            self.timeline.setPlainText("")
            return
        where = f"{inc.address} ({fmt_latlng(inc.lat, inc.lng)})" if inc.address else fmt_latlng(inc.lat, inc.lng)
        lines = [f"{inc.incident_id} · {inc.kind} · priority {inc.priority} · {where}"]
        if inc.notes:
            lines.append(f"Notes: {inc.notes}")
        for e in inc.timeline:
            at = time.strftime("%H:%M:%S", time.localtime(e.at))
            unit = f" {e.car_id}" if e.car_id else ""
            note = f" — {e.note}" if e.note and e.kind != "created" else ""
            who = f"{e.by}, seen by {e.instance}" if e.instance else e.by   # the system's entries name the instance
            lines.append(f"{at}  {e.kind}{unit}  ({who}){note}")
        self.timeline.setPlainText("\n".join(lines))  # plain text: nothing in it is interpreted

    def set_incidents(self, incidents: list[Incident], unit_text: dict[str, str]) -> None:
        now = time.time()
        self._incidents = {i.incident_id: i for i in incidents}
        open_ = [i for i in incidents if i.is_open]
        self.model.set_rows([IncidentRow(i, unit_text.get(i.incident_id, ""), max(0.0, now - i.created_at))
                             for i in open_])
        self.summary.setText(f"{len(open_)} open incident(s)" if open_ else "No open incidents")
        self._show_timeline(self._current())
