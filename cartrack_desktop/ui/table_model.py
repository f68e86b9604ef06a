"""A small table model over Python rows, sorted in Python (fast at 10,000 rows, unlike a
QSortFilterProxyModel that calls back into Python for every comparison)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex


def plain_label(text: str = "", parent: Any = None) -> QLabel:
    """A QLabel that never interprets its text as HTML (data is shown literally)."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def make_table(model: QAbstractTableModel, name: str, *, selection: str = "single", sort_column: int | None = None,
               fit_columns: bool = True) -> QTableView:
    """The read-only, row-selecting table every panel uses."""
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    modes = {"single": QAbstractItemView.SelectionMode.SingleSelection,
             "extended": QAbstractItemView.SelectionMode.ExtendedSelection,
             "none": QAbstractItemView.SelectionMode.NoSelection}
    table.setSelectionMode(modes[selection])
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(
        QHeaderView.ResizeMode.ResizeToContents if fit_columns else QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.setAlternatingRowColors(True)
    if sort_column is not None:
        table.setSortingEnabled(True)
        table.sortByColumn(sort_column, Qt.SortOrder.AscendingOrder)
    return table


@dataclass(frozen=True)
class Column(Generic[R]):
    title: str
    text: Callable[[R], str]
    sort_key: Callable[[R], Any] | None = None
    align_right: bool = False
    color: Callable[[R], str | None] | None = None      # a swatch (status colour)
    tooltip: str = ""


class RowModel(QAbstractTableModel, Generic[R]):
    def __init__(self, columns: Sequence[Column[R]], key: Callable[[R], str],
                 dimmed: Callable[[R], bool] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self._key = key
        self._dimmed = dimmed
        self.rows: list[R] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # ---- Qt API -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            col = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return col.title
            if role == Qt.ItemDataRole.ToolTipRole and col.tooltip:
                return col.tooltip
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and col.color is not None:
            c = col.color(row)
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.ForegroundRole and self._dimmed is not None and self._dimmed(row):
            return QColor("#8a8a8a")
        if role == Qt.ItemDataRole.UserRole:
            return self._key(row)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._apply_sort()
        self.layoutChanged.emit()

    # ---- ours -----------------------------------------------------------------------------------
    @property
    def sort_state(self) -> tuple[int, Qt.SortOrder] | None:
        return self._sort

    def refresh_visible(self, view: Any) -> None:
        """Values changed but not the rows: repaint only the rows the view shows."""
        if not self.rows:
            return
        top = view.rowAt(0)
        bottom = view.rowAt(view.viewport().height() - 1)
        first = 0 if top < 0 else top
        last = len(self.rows) - 1 if bottom < 0 else bottom
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.columns) - 1))

    def _apply_sort(self) -> None:
        if self._sort is None:
            return
        column, order = self._sort
        col = self.columns[column]
        keyf = col.sort_key or col.text
        self.rows.sort(key=lambda r: (_none_last(keyf(r)), self._key(r)),
                       reverse=order == Qt.SortOrder.DescendingOrder)

    def set_rows(self, rows: list[R]) -> None:
        """Replace the rows; keeps the sort order. Same keys in the same order: only a data refresh."""
        same = len(rows) == len(self.rows) and all(
            self._key(a) == self._key(b) for a, b in zip(rows, self.rows, strict=True))
        if same and self._sort is None:
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.layoutAboutToBeChanged.emit()
        old_keys = [self._key(r) for r in self.rows]
        self.rows = rows
        self._apply_sort()
        new = {self._key(r): i for i, r in enumerate(self.rows)}
        for idx in self.persistentIndexList():
            k = old_keys[idx.row()] if 0 <= idx.row() < len(old_keys) else None
            j = new.get(k) if k is not None else None
            self.changePersistentIndex(idx, self.index(j, idx.column()) if j is not None else QModelIndex())
        self.layoutChanged.emit()
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))

    def key_at(self, row: int) -> str | None:
        return self._key(self.rows[row]) if 0 <= row < len(self.rows) else None

    def row_of(self, key: str) -> int:
        for i, r in enumerate(self.rows):
            if self._key(r) == key:
                return i
        return -1


def _none_last(v: Any) -> Any:
    return (1, 0) if v is None else (0, v)
