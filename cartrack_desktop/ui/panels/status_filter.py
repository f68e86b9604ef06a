"""The map's status filter: one tool button whose menu shows or hides each status."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QMenu, QToolButton

from ...domain.models import UnitStatus
from ...domain.presentation import STATUS_COLORS

SWATCH_PX = 12
TEXT_MAX_CHARS = 48


def _swatch(color: str) -> QIcon:
    pix = QPixmap(SWATCH_PX, SWATCH_PX)
    pix.fill(QColor(color))
    return QIcon(pix)


class StatusFilterButton(QToolButton):
    """Shows the filter ("Showing all statuses" / "Hiding Out of service"); its menu toggles each status."""

    shownChanged = Signal(str, bool)    # status value, shown?
    showAllRequested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusFilter")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        menu.setObjectName("statusFilterMenu")
        self.actions_by_status: dict[UnitStatus, QAction] = {}
        for status in UnitStatus:
            action = QAction(_swatch(STATUS_COLORS[status]), status.label, menu)
            action.setCheckable(True)
            action.setChecked(True)
            action.setObjectName(f"show_{status.value}")
            action.toggled.connect(lambda on, s=status: self.shownChanged.emit(s.value, on))
            menu.addAction(action)
            self.actions_by_status[status] = action
        menu.addSeparator()
        show_all = menu.addAction("Show all")
        show_all.triggered.connect(self.showAllRequested)
        self.setMenu(menu)
        self.show_state(frozenset(), "All statuses")

    def show_state(self, hidden: frozenset[UnitStatus], description: str) -> None:
        """Reflect the filter (without echoing it back as changes)."""
        for status, action in self.actions_by_status.items():
            action.blockSignals(True)
            action.setChecked(status not in hidden)
            action.blockSignals(False)
        text = "Showing all statuses" if not hidden else description
        self.setText(text if len(text) <= TEXT_MAX_CHARS else f"Hiding {len(hidden)} statuses")
        # a filtered map does not show every unit: say so where the eye goes
        self.setStyleSheet("" if not hidden else "QToolButton { color: #8a4b00; font-weight: 600; }")
        self.setToolTip(f"Units shown on the map, in Nearby units and in Fleet: {description.lower()}. "
                        "The tracked unit and units in alarm are always shown.")
