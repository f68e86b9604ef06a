"""Audit log: every dispatcher action, newest first (from MongoDB `audit_log`)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ...services.dispatch.records import AuditEntry
from ..table_model import Column, RowModel, make_table, plain_label

COLUMNS: list[Column[AuditEntry]] = [
    Column("Time", lambda e: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at)), lambda e: e.at),
    Column("Dispatcher", lambda e: e.dispatcher),
    Column("Action", lambda e: e.action),
    Column("Details", lambda e: e.details),
]


class AuditPanel(QWidget):
    refreshRequested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditPanel")
        self.model: RowModel[AuditEntry] = RowModel(COLUMNS, key=lambda e: f"{e.at:.6f}{e.action}{e.details}")
        self.table = make_table(self.model, "auditTable", selection="extended")
        self.summary = plain_label("")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refreshRequested)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def set_entries(self, entries: list[AuditEntry], note: str = "") -> None:
        self.model.set_rows(entries)
        self.summary.setText(note or f"Latest {len(entries)} action(s)")
