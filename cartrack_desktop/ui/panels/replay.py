"""History replay: a unit's synced track over a time window, played back at 1x-20x."""

from __future__ import annotations

import bisect
import time
from typing import Any

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...domain.geo import initial_bearing_deg, interpolate
from ...domain.models import Position
from ..formatting import fmt_heading, fmt_speed
from ..table_model import plain_label

SPEEDS = (1, 2, 5, 10, 20)
TICK_MS = 100
DEFAULT_WINDOW_S = 30 * 60


class ReplayPanel(QWidget):
    loadRequested = Signal(str, float, float)              # unit (call sign or id), since, until (epoch s)
    cursorMoved = Signal(float, float, float, float, float)  # lat, lng, heading, time, speed
    cleared = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("replayPanel")
        self.unit = QComboBox()
        self.unit.setObjectName("replayUnit")
        self.unit.setEditable(True)
        self.unit.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.since = QDateTimeEdit()
        self.until = QDateTimeEdit()
        for w in (self.since, self.until):
            w.setDisplayFormat("yyyy-MM-dd HH:mm")
            w.setCalendarPopup(True)
        self.load = QPushButton("Load track")
        self.load.setObjectName("replayLoad")
        self.clear = QPushButton("Clear")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("replaySlider")
        self.slider.setEnabled(False)
        self.play = QPushButton("Play")
        self.play.setObjectName("replayPlay")
        self.play.setEnabled(False)
        self.speed = QComboBox()
        self.speed.setObjectName("replaySpeed")
        for s in SPEEDS:
            self.speed.addItem(f"{s}×", s)
        self.info = plain_label("Choose a unit and a time window, then Load track.")
        self.info.setObjectName("replayInfo")
        self.info.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Unit", self.unit)
        form.addRow("From", self.since)
        form.addRow("To", self.until)
        row = QHBoxLayout()
        row.addWidget(self.load)
        row.addWidget(self.clear)
        row.addStretch(1)
        controls = QHBoxLayout()
        controls.addWidget(self.play)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.speed)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addLayout(controls)
        layout.addWidget(self.info)
        layout.addStretch(1)
        self.points: list[Position] = []
        self._times: list[float] = []
        self.t = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.load.clicked.connect(self._request)
        self.clear.clicked.connect(self.reset)
        self.play.clicked.connect(self.toggle)
        self.slider.valueChanged.connect(self._slider_moved)
        self.reset_window()

    def reset_window(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.until.setDateTime(QDateTime.fromSecsSinceEpoch(int(now) + 60))
        self.since.setDateTime(QDateTime.fromSecsSinceEpoch(int(now - DEFAULT_WINDOW_S)))

    def set_units(self, labels: list[str]) -> None:
        current = self.unit.currentText()
        self.unit.clear()
        self.unit.addItems(labels)
        self.unit.setCurrentText(current)

    def _request(self) -> None:
        self.loadRequested.emit(self.unit.currentText().strip(), float(self.since.dateTime().toSecsSinceEpoch()),
                                float(self.until.dateTime().toSecsSinceEpoch()))

    def set_track(self, label: str, points: list[Position]) -> None:
        self.pause()
        self.points = points
        self._times = [p.timestamp for p in points]
        has = len(points) >= 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(points) - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(has)
        self.play.setEnabled(len(points) >= 2)
        if not has:
            self.info.setText(f"No history for {label} in this window (history is written every 10 s).")
            return
        self.t = self._times[0]
        self._emit_cursor()

    def reset(self) -> None:
        self.pause()
        self.points, self._times = [], []
        self.slider.setEnabled(False)
        self.play.setEnabled(False)
        self.info.setText("Choose a unit and a time window, then Load track.")
        self.cleared.emit()

    def toggle(self) -> None:
        if self._timer.isActive():
            self.pause()
        else:
            if self._times and self.t >= self._times[-1]:
                self.t = self._times[0]
            self._timer.start()
            self.play.setText("Pause")

    def pause(self) -> None:
        self._timer.stop()
        self.play.setText("Play")

    def _tick(self) -> None:
        if not self._times:
            self.pause()
            return
        self.t += TICK_MS / 1000.0 * int(self.speed.currentData())
        if self.t >= self._times[-1]:
            self.t = self._times[-1]
            self.pause()
        self._emit_cursor()

    def _slider_moved(self, index: int) -> None:
        if 0 <= index < len(self._times):
            self.t = self._times[index]
            self._emit_cursor(from_slider=True)

    def _emit_cursor(self, *, from_slider: bool = False) -> None:
        pts = self.points
        i = max(0, bisect.bisect_right(self._times, self.t) - 1)
        a = pts[i]
        if i + 1 < len(pts) and pts[i + 1].timestamp > a.timestamp:
            b = pts[i + 1]
            f = (self.t - a.timestamp) / (b.timestamp - a.timestamp)
            lat, lng = interpolate(a.lat, a.lng, b.lat, b.lng, min(1.0, max(0.0, f)))
            heading = initial_bearing_deg(a.lat, a.lng, b.lat, b.lng) if (a.lat, a.lng) != (b.lat, b.lng) \
                else a.heading
            speed = a.speed + (b.speed - a.speed) * min(1.0, max(0.0, f))
        else:
            lat, lng, heading, speed = a.lat, a.lng, a.heading, a.speed
        if not from_slider:
            self.slider.blockSignals(True)
            self.slider.setValue(i)
            self.slider.blockSignals(False)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.t))
        self.info.setText(f"{stamp} · {fmt_speed(speed)} · {fmt_heading(heading)} · fix {i + 1} of {len(pts)}")
        self.cursorMoved.emit(lat, lng, heading, self.t, speed)
