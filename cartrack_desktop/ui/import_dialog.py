"""File > Import map data…: the progress dialog (widgets only; ui/jobs/map_import.py drives it).

Non-modal to the event loop (open(), never exec()): the live map keeps moving while an import runs in
its own process. One row per stage of the import, an overall bar, the current message, and Cancel
(which becomes Close once the import has ended).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QProgressBar, QVBoxLayout

from ..mapdata.progress import STAGE_NAMES
from .table_model import plain_label

PENDING, RUNNING, DONE = "\u25cb", "\u25b6", "\u2713"


class MapImportDialog(QDialog):
    cancelRequested = Signal()

    def __init__(self, source_name: str, clip: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("mapImportDialog")
        self.setWindowTitle("Import map data")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumWidth(460)
        self.source = plain_label(f"{source_name} \u2014 {clip}")
        self.source.setWordWrap(True)
        grid = QGridLayout()
        self.marks: dict[str, QLabel] = {}
        self.fractions: dict[str, QLabel] = {}
        for row, stage in enumerate(STAGE_NAMES):
            mark, name, frac = plain_label(PENDING), plain_label(stage.capitalize()), plain_label("")
            mark.setObjectName(f"stage_{stage.replace(' ', '_')}")
            grid.addWidget(mark, row, 0)
            grid.addWidget(name, row, 1)
            grid.addWidget(frac, row, 2, Qt.AlignmentFlag.AlignRight)
            self.marks[stage], self.fractions[stage] = mark, frac
        grid.setColumnStretch(1, 1)
        self.bar = QProgressBar()
        self.bar.setObjectName("mapImportProgress")
        self.bar.setRange(0, 1000)
        self.message = plain_label("Starting…")
        self.message.setObjectName("mapImportMessage")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self._cancel_or_close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addLayout(grid)
        layout.addWidget(self.bar)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.seen: list[str] = []        # stages in the order they were reported (tests read it)
        self.finished_ok: bool | None = None

    def _cancel_or_close(self) -> None:
        if self.finished_ok is None:
            self.message.setText("Cancelling…")
            self.cancelRequested.emit()
        else:
            self.close()

    def reject(self) -> None:
        """Esc or the window's close button: cancel a running import, close an ended one."""
        self._cancel_or_close()

    def show_progress(self, stage: str, stage_fraction: float, fraction: float, message: str) -> None:
        if stage not in self.seen:
            self.seen.append(stage)
        for name in STAGE_NAMES:
            if name == stage:
                self.marks[name].setText(RUNNING)
                self.fractions[name].setText(f"{stage_fraction:.0%}")
                break
            self.marks[name].setText(DONE)   # every stage before the running one is over (or skipped)
            if name in self.seen:
                self.fractions[name].setText("100%")
        self.bar.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.message.setText(message or f"{stage.capitalize()}…")

    def _ended(self, ok: bool, text: str) -> None:
        self.finished_ok = ok
        self.message.setText(text)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)

    def show_done(self, text: str) -> None:
        for name in STAGE_NAMES:
            self.marks[name].setText(DONE)
        self.bar.setValue(self.bar.maximum())
        self._ended(True, text)

    def show_failed(self, text: str) -> None:
        self._ended(False, text)
