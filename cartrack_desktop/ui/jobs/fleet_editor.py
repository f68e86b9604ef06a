"""The fleet editor: add a unit (a dialog that stays open until the registry accepts), remove one,
set a unit's device and whether it is real."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox

from ..dialogs import AddUnitDialog, DeviceDialog
from .context import DeskContext, guarded


class FleetEditor(QObject):
    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self.add_dialog: AddUnitDialog | None = None
        self.device_dialog: DeviceDialog | None = None
        ctx.window.fleet.addRequested.connect(self.open_add_dialog)
        ctx.window.fleet.removeRequested.connect(self.confirm_remove)
        ctx.window.fleet.deviceRequested.connect(self.open_device_dialog)

    def open_add_dialog(self, car_id: str = "", device_id: str = "") -> None:
        """The add-unit dialog; from the Unknown devices list, prefilled for that device."""
        if self.add_dialog is not None:
            self.add_dialog.raise_()
            return
        dialog = AddUnitDialog(self._ctx.window, car_id=car_id, device_id=device_id)
        self.add_dialog = dialog

        def submitted(car_id: str, sign: str, device: str, real: bool) -> None:
            self._ctx.spawn(self._add(dialog, car_id, sign, device, real), "add unit")

        dialog.submitted.connect(submitted)
        dialog.finished.connect(lambda _r: setattr(self, "add_dialog", None))
        dialog.open()

    async def _add(self, dialog: AddUnitDialog, car_id: str, sign: str, device: str, real: bool) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.fleet_edits.add_unit(car_id, sign, device_id=device or None, simulated=not real))
        if r.ok:
            dialog.accept()
            self._ctx.notices.say(r.message)
        else:
            dialog.show_error(r.message)
            self._ctx.notices.notice.emit(r.message)

    def open_device_dialog(self, car_id: str) -> None:
        u = self._ctx.fleet.units.get(car_id)
        if u is None:
            return
        if self.device_dialog is not None:
            self.device_dialog.reject()
        dialog = DeviceDialog(car_id, u.call_sign, u.device_id or "", not u.simulated, self._ctx.window)
        self.device_dialog = dialog

        def submitted(device: str, real: bool) -> None:
            self._ctx.spawn(self._set_device(dialog, device, real), "set unit device")

        dialog.submitted.connect(submitted)
        dialog.finished.connect(lambda _r: setattr(self, "device_dialog", None) if self.device_dialog is dialog
                                else None)
        dialog.open()

    async def _set_device(self, dialog: DeviceDialog, device: str, real: bool) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.fleet_edits.set_unit_device(dialog.car_id, device or None, simulated=not real))
        if r.ok:
            dialog.accept()
            self._ctx.notices.say(r.message)
        else:
            dialog.show_error(r.message)
            self._ctx.notices.notice.emit(r.message)

    def confirm_remove(self, car_id: str) -> None:
        sign = self._ctx.call_sign(car_id)
        box = QMessageBox(QMessageBox.Icon.Question, "Remove unit",
                          f"Remove {sign} ({car_id}) from the fleet?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self._ctx.window)
        box.setObjectName("confirmRemove")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def done(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self._ctx.spawn(self._remove(car_id), "remove unit")

        box.finished.connect(done)
        box.open()

    async def _remove(self, car_id: str) -> None:
        d = self._ctx.runtime.dispatch
        assert d is not None
        r = await guarded(d.fleet_edits.remove_unit(car_id))
        self._ctx.notices.say(r.message, "info" if r.ok else "warning")
