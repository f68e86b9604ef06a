"""Guards against Qt-binding regressions that would crash the dispatcher window."""

import sys

from PySide6.QtCore import QSortFilterProxyModel, Qt

from cartrack_desktop.ui.table_model import Column, RowModel


def test_models_returning_none_do_not_eat_references_to_none(qapp):
    """PySide6 6.12.0 lost one reference to None per C++ call of a Python data() returning None,
    aborting the app ('none_dealloc') after a few minutes with large fleets. Pinned below 6.12."""
    model: RowModel[str] = RowModel([Column("x", str)], key=str)
    model.set_rows(["a", "b", "c"])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    index = proxy.index(1, 0)
    before = sys.getrefcount(None)
    for _ in range(50_000):
        proxy.data(index, Qt.ItemDataRole.DecorationRole)   # our data() returns None for this role
    assert sys.getrefcount(None) >= before - 100
