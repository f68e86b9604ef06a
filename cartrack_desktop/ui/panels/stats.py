"""Stats: what the app is doing and what it refused, refreshed every second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..table_model import Column, RowModel, make_table


@dataclass(frozen=True, slots=True)
class StatRow:
    section: str
    item: str
    value: str


COLUMNS: list[Column[StatRow]] = [
    Column("Area", lambda r: r.section),
    Column("Measure", lambda r: r.item),
    Column("Value", lambda r: r.value, align_right=True),
]


class StatsPanel(QWidget):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("statsPanel")
        self.model: RowModel[StatRow] = RowModel(COLUMNS, key=lambda r: f"{r.section}/{r.item}")
        self.table = make_table(self.model, "statsTable", selection="none")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)

    def set_rows(self, rows: list[StatRow]) -> None:
        self.model.set_rows(rows)

    def value(self, section: str, item: str) -> str | None:
        for r in self.model.rows:
            if r.section == section and r.item == item:
                return r.value
        return None
