"""The emergency banner above the map: red, not dismissable, until a dispatcher acknowledges."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton

from ..table_model import plain_label

ALARM_BG = "#b71c1c"
ALARM_FG = "#ffffff"


class AlarmBanner(QFrame):
    showRequested = Signal(str)         # alarm id: bring its unit into view
    acknowledgeRequested = Signal(str)  # alarm id

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        self.setStyleSheet(f"#alarmBanner {{ background: {ALARM_BG}; }} #alarmBanner QLabel {{ color: {ALARM_FG};"
                           " font-size: 15px; font-weight: 700; }")
        self.text = plain_label("")
        self.text.setObjectName("alarmText")
        self.text.setWordWrap(True)
        self.show_unit = QPushButton("Show on map")
        self.show_unit.setObjectName("alarmShow")
        self.acknowledge = QPushButton("Acknowledge")
        self.acknowledge.setObjectName("alarmAcknowledge")
        self.acknowledge.setStyleSheet("font-weight: 700;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.show_unit)
        layout.addWidget(self.acknowledge)
        self.alarm_id = ""
        self.show_unit.clicked.connect(lambda: self.showRequested.emit(self.alarm_id))
        self.acknowledge.clicked.connect(lambda: self.acknowledgeRequested.emit(self.alarm_id))
        self.hide()

    def set_alarm(self, alarm_id: str, text: str) -> None:
        """The alarm the buttons act on (the newest open one) and its text; shown until cleared."""
        self.alarm_id = alarm_id
        self.text.setText(text)
        self.acknowledge.setEnabled(True)
        self.show()

    def clear(self) -> None:
        self.alarm_id = ""
        self.hide()
