"""Non-modal dialogs (opened with open()/show(), never exec(): the asyncio loop keeps running)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
)

from ..domain.dispatch import INCIDENT_TYPES, NOTES_MAX, TYPE_MAX, clean_incident_input
from ..domain.models import CAR_ID_PATTERN, DEVICE_ID_PATTERN
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


REAL_UNIT_TEXT = "Real unit: positions come from its device; the simulator never moves it"
DEVICE_HINT = f"Device id: the tracker's unique id (IMEI, Traccar Client identifier…), 1-64 of {DEVICE_ID_PATTERN}"


def _error_label() -> QLabel:
    label = plain_label("")
    label.setStyleSheet("color: #b71c1c;")
    label.setWordWrap(True)
    return label


def _hint(text: str) -> QLabel:
    label = plain_label(text)
    label.setStyleSheet("color: #666;")
    label.setWordWrap(True)
    return label


def _device_field(name: str, text: str) -> QLineEdit:
    field = QLineEdit(text)
    field.setObjectName(name)
    field.setPlaceholderText("none (e.g. 353861053849681)")
    field.setMaxLength(64)
    return field


class AddUnitDialog(QDialog):
    """A new unit; with a device id (or from the Unknown devices list) a real one."""

    submitted = Signal(str, str, str, bool)   # unit id, call sign, device id ("" for none), real

    def __init__(self, parent: Any = None, *, car_id: str = "", device_id: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("addUnitDialog")
        self.setWindowTitle("Add unit" if not device_id else f"Create a unit for device {device_id}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.car_id = QLineEdit(car_id)
        self.car_id.setObjectName("newUnitId")
        self.car_id.setPlaceholderText("e.g. PC-031")
        self.car_id.setMaxLength(32)
        self.call_sign = QLineEdit()
        self.call_sign.setObjectName("newUnitCallSign")
        self.call_sign.setPlaceholderText("e.g. Adam-12")
        self.call_sign.setMaxLength(32)
        self.device_id = _device_field("newUnitDevice", device_id)
        self.real = QCheckBox(REAL_UNIT_TEXT)
        self.real.setObjectName("newUnitReal")
        self.real.setChecked(bool(device_id))
        self.device_id.textChanged.connect(lambda t: self.real.setChecked(True) if t.strip() else None)
        self.error = _error_label()
        form = QFormLayout()
        form.addRow("Unit id", self.car_id)
        form.addRow("Call sign", self.call_sign)
        form.addRow("Device id", self.device_id)
        form.addRow("", self.real)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add unit")
        self.buttons.accepted.connect(lambda: self.submitted.emit(self.car_id.text(), self.call_sign.text(),
                                                                  self.device_id.text(), self.real.isChecked()))
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_hint(f"Unit id: 1-32 of A-Z a-z 0-9 - _ ({CAR_ID_PATTERN})"))
        layout.addWidget(_hint(DEVICE_HINT))
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def show_error(self, text: str) -> None:
        """The registry refused it: say why and keep the dialog open."""
        self.error.setText(text)


class DeviceDialog(QDialog):
    """A unit's device id and whether it is real (Fleet → Device…)."""

    submitted = Signal(str, bool)   # device id ("" for none), real

    def __init__(self, car_id: str, call_sign: str, device_id: str, real: bool, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("deviceDialog")
        self.setWindowTitle(f"Device of {call_sign}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.car_id = car_id
        self.device_id = _device_field("unitDevice", device_id)
        self.real = QCheckBox(REAL_UNIT_TEXT)
        self.real.setObjectName("unitReal")
        self.real.setChecked(real)
        self.device_id.textChanged.connect(lambda t: self.real.setChecked(True) if t.strip() else None)
        self.error = _error_label()
        form = QFormLayout()
        form.addRow("Unit", plain_label(f"{call_sign} ({car_id})"))
        form.addRow("Device id", self.device_id)
        form.addRow("", self.real)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Save")
        self.buttons.accepted.connect(lambda: self.submitted.emit(self.device_id.text(), self.real.isChecked()))
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_hint(DEVICE_HINT + ". Empty: no device."))
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def show_error(self, text: str) -> None:
        self.error.setText(text)


class AttachDeviceDialog(QDialog):
    """Attach an unknown device to a unit: the unit becomes real and the device's reports move it."""

    submitted = Signal(str)   # unit id

    def __init__(self, device_id: str, units: list[tuple[str, str]], parent: Any = None) -> None:
        """units: (car id, call sign) of the units to choose from."""
        super().__init__(parent)
        self.setObjectName("attachDeviceDialog")
        self.setWindowTitle(f"Attach device {device_id}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.device_id = device_id
        self.unit = QComboBox()
        self.unit.setObjectName("attachUnit")
        self.unit.setEditable(True)
        self.unit.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for car_id, sign in units:
            self.unit.addItem(f"{sign} ({car_id})", car_id)
        completer = self.unit.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.error = _error_label()
        form = QFormLayout()
        form.addRow("Device", plain_label(device_id))
        form.addRow("Unit", self.unit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Attach")
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_hint("The unit becomes a real unit: the simulator stops moving it and this device's "
                               "reports do."))
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def choose(self, car_id: str) -> bool:
        i = self.unit.findData(car_id)
        if i >= 0:
            self.unit.setCurrentIndex(i)
        return i >= 0

    def _submit(self) -> None:
        i = self.unit.findText(self.unit.currentText())
        car_id = self.unit.itemData(i) if i >= 0 else None
        if not isinstance(car_id, str):
            self.error.setText("Choose a unit from the list")
            return
        self.submitted.emit(car_id)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
