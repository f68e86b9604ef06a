"""The Unknown devices tab: the shared list read from Redis (while the tab is visible), attaching a
device to a unit or creating a unit for it (through the dispatch service: registry, audit, fleet event)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from redis.exceptions import RedisError

from ...ingest.devices import car_id_for
from ...services.infra.timeouts import within
from ..dialogs import AttachDeviceDialog
from .context import DeskContext, guarded
from .fleet_editor import FleetEditor
from .ticker import Ticker

REFRESH_EVERY_TICKS = 2          # every 2 s while the tab is visible
READ_TIMEOUT_S = 3.0


class UnknownDevicesJob(QObject):
    listed = Signal(int)             # the list was read: how many devices
    attached = Signal(str, str)      # device id, unit id

    def __init__(self, ctx: DeskContext, ticker: Ticker, editor: FleetEditor) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._editor = editor
        self._ticks = 0
        self._loading = False
        self.dialog: AttachDeviceDialog | None = None
        panel = ctx.window.devices
        panel.refreshRequested.connect(self.refresh)
        panel.attachRequested.connect(self.open_attach_dialog)
        panel.createRequested.connect(self.create_unit)
        ticker.ticked.connect(self._tick)
        ctx.window.docks["devices"].visibilityChanged.connect(lambda shown: self.refresh() if shown else None)

    def _tick(self) -> None:
        self._ticks += 1
        if self._ticks % REFRESH_EVERY_TICKS == 0 and self._ctx.window.docks["devices"].isVisible():
            self.refresh()

    def refresh(self) -> None:
        if self._ctx.runtime.store is not None and not self._loading:
            self._loading = True
            self._ctx.spawn(self._load(), "unknown devices")

    async def _load(self) -> None:
        panel = self._ctx.window.devices
        try:
            devices = await within(self._ctx.runtime.unknown_devices(), READ_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            panel.summary.setText(f"Unknown devices unavailable (Redis: {str(exc)[:80]})")
            return
        finally:
            self._loading = False
        panel.set_devices(devices)
        self.listed.emit(len(devices))

    # ---- attach / create ---------------------------------------------------------------------------
    def open_attach_dialog(self, device_id: str) -> None:
        if self.dialog is not None:
            self.dialog.reject()
        fleet = self._ctx.fleet
        units = sorted(((u.car_id, u.call_sign) for u in fleet.units.values() if u.car_id in fleet.registered),
                       key=lambda cs: cs[1].casefold())
        dialog = AttachDeviceDialog(device_id, units, self._ctx.window)
        self.dialog = dialog
        dialog.submitted.connect(lambda car_id: self._ctx.spawn(self._attach(dialog, car_id), "attach device"))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()

    async def _attach(self, dialog: AttachDeviceDialog, car_id: str) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.fleet_edits.set_unit_device(car_id, dialog.device_id, simulated=False))
        if not r.ok:
            dialog.show_error(r.message)
            self._ctx.notices.notice.emit(r.message)
            return
        dialog.accept()
        self._ctx.notices.say(r.message)
        self.attached.emit(dialog.device_id, car_id)
        self.refresh()

    def create_unit(self, device_id: str) -> None:
        """The add-unit dialog for this device (a real unit; its id proposed from the device id)."""
        self._editor.open_add_dialog(car_id=car_id_for(device_id, 0), device_id=device_id)
