"""Non-modal dialogs (opened with open()/show(), never exec(): the asyncio loop keeps running)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
)

from ..domain.dispatch import INCIDENT_TYPES, NOTES_MAX, TYPE_MAX, clean_incident_input
from ..domain.models import CAR_ID_PATTERN
from .formatting import fmt_latlng
from .table_model import plain_label

PRIORITY_LABELS = {1: "1 — Emergency", 2: "2 — Urgent", 3: "3 — Prompt", 4: "4 — Routine"}


class IncidentDialog(QDialog):
    """Type, priority and notes for a new incident at a point."""

    submitted = Signal(str, int, str)   # type, priority, notes

    def __init__(self, point: tuple[float, float], parent: Any = None, *, address: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("incidentDialog")
        self.setWindowTitle("Create incident")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        where = f"{address} ({fmt_latlng(*point)})" if address else fmt_latlng(*point)
        self.where = plain_label(f"Location: {where}")
        self.kind = QComboBox()
        self.kind.setObjectName("incidentType")
        self.kind.setEditable(True)
        self.kind.addItems(list(INCIDENT_TYPES))
        line = self.kind.lineEdit()
        assert line is not None
        line.setMaxLength(TYPE_MAX)
        self.priority = QComboBox()
        self.priority.setObjectName("incidentPriority")
        for p, label in PRIORITY_LABELS.items():
            self.priority.addItem(label, p)
        self.priority.setCurrentIndex(1)
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("incidentNotes")
        self.notes.setPlaceholderText("What was reported, by whom, hazards…")
        self.notes.setTabChangesFocus(True)
        self.error = plain_label("")
        self.error.setStyleSheet("color: #b71c1c;")
        form = QFormLayout()
        form.addRow("Type", self.kind)
        form.addRow("Priority", self.priority)
        form.addRow("Notes", self.notes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create incident")
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(420, 320)

    def _submit(self) -> None:
        text = self.notes.toPlainText()
        if len(text) > NOTES_MAX:
            self.error.setText(f"Notes must be at most {NOTES_MAX} characters")
            return
        try:
            kind, priority, notes = clean_incident_input(self.kind.currentText(), self.priority.currentData(), text)
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.submitted.emit(kind, priority, notes)
        self.accept()


class AddUnitDialog(QDialog):
    submitted = Signal(str, str)   # unit id, call sign

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("addUnitDialog")
        self.setWindowTitle("Add unit")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.car_id = QLineEdit()
        self.car_id.setObjectName("newUnitId")
        self.car_id.setPlaceholderText("e.g. PC-031")
        self.car_id.setMaxLength(32)
        self.call_sign = QLineEdit()
        self.call_sign.setObjectName("newUnitCallSign")
        self.call_sign.setPlaceholderText("e.g. Adam-12")
        self.call_sign.setMaxLength(32)
        self.error = plain_label("")
        self.error.setStyleSheet("color: #b71c1c;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Unit id", self.car_id)
        form.addRow("Call sign", self.call_sign)
        hint = plain_label(f"Unit id: 1-32 of A-Z a-z 0-9 - _ ({CAR_ID_PATTERN})")
        hint.setStyleSheet("color: #666;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add unit")
        self.buttons.accepted.connect(lambda: self.submitted.emit(self.car_id.text(), self.call_sign.text()))
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def show_error(self, text: str) -> None:
        """The registry refused it: say why and keep the dialog open."""
        self.error.setText(text)
