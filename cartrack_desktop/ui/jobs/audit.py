"""The Audit log tab: every dispatcher action, reloaded from MongoDB shortly after dispatch events."""

from __future__ import annotations

from pymongo.errors import PyMongoError
from PySide6.QtCore import QObject, QTimer

from ...services.infra.timeouts import within
from .context import DeskContext
from .dispatch_link import DispatchLink

AUDIT_REFRESH_MS = 1500
AUDIT_TIMEOUT_S = 5.0


class AuditJob(QObject):
    def __init__(self, ctx: DeskContext, dispatch: DispatchLink) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        ctx.window.audit.refreshRequested.connect(self.refresh)
        dispatch.changed.connect(self.refresh_soon)

    def refresh_soon(self) -> None:
        """Several events in a row cost one reload."""
        self._timer.start(AUDIT_REFRESH_MS)

    def refresh(self) -> None:
        if self._ctx.runtime.records is not None:
            self._ctx.spawn(self._load(), "audit log")

    async def _load(self) -> None:
        rt, panel = self._ctx.runtime, self._ctx.window.audit
        records = rt.records
        assert records is not None
        try:
            entries = await within(records.audit(), AUDIT_TIMEOUT_S)
        except (PyMongoError, OSError, TimeoutError) as exc:
            pending = len(rt.outbox.pending) if rt.outbox else 0
            panel.summary.setText(f"Audit log unavailable (MongoDB: {str(exc)[:80]}); "
                                  f"{pending} action(s) waiting to be written")
            return
        panel.set_entries(entries)
