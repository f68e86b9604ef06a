"""Detects (and, for measuring only, neutralises) PySide6's None reference leak.

PySide6 6.12.0 on CPython 3.11 drops one reference to None every time a Python override of
QAbstractItemModel.data() returns None. The app's table models do that for every empty cell
and role, so at 10,000 units None's refcount reaches zero within seconds and the process dies
with "Fatal Python error: none_dealloc" (CPython >= 3.12 makes None immortal, so it is immune).
That is a product/dependency bug, reported as such; to still measure latency, loop lag and
memory, GUI workers can pin None's refcount high (as 3.12 does). Conditions record that
this was done.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

PROBE_CALLS = 200
PIN = 1 << 40


def leak_per_call() -> float:
    """References to None lost per data() call returning None (needs a Q*Application)."""
    from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

    Index = QModelIndex | QPersistentModelIndex

    class Probe(QAbstractTableModel):
        def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
            return 1

        def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
            return 1

        def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
            return None

    model = Probe()
    idx = model.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(PROBE_CALLS):
        idx.data(Qt.ItemDataRole.DisplayRole)
    return (sys.getrefcount(None) - before) / PROBE_CALLS


def guard(enabled: bool = True) -> dict[str, Any]:
    """Probe for the leak; when present and enabled, pin None's refcount (CPython < 3.12 only)."""
    leak = leak_per_call()
    info: dict[str, Any] = {"pyside_none_leak_per_data_call": leak, "python": sys.version.split()[0]}
    if leak < -0.5 and enabled and sys.version_info < (3, 12):
        ctypes.c_ssize_t.from_address(id(None)).value += PIN
        info["none_refcount_pinned"] = True
        info["note"] = ("PySide6 leaks a reference to None per model data() call returning None; the app would "
                        "abort with 'Fatal Python error: none_dealloc'. This worker pinned None's refcount (as "
                        "CPython 3.12 does) so the measurement could finish.")
    else:
        info["none_refcount_pinned"] = False
    return info
