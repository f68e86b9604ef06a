"""File > Import map data…: choose an OpenStreetMap extract, import it in another process, show the stages.

The import is mapdata.ImportJob (its own process at nice 10, so the live map keeps the CPU it needs);
a QTimer polls it every 100 ms on the UI thread (poll never blocks). On success the street map job
switches the page's basemap and the search index to the new map; a failure or a cancel leaves the
previous map in use and says so in the dialog. It clips to the fleet area when one is set.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog

from ...mapdata.job import CancelledEvent, DoneEvent, FailedEvent, ImportJob, ProgressEvent
from ...mapdata.manifest import BBox
from ...mapdata.store import InstalledMap
from ..import_dialog import MapImportDialog
from .context import DeskContext
from .street_map import StreetMapJob

log = logging.getLogger(__name__)

POLL_MS = 100
FILE_FILTER = "OpenStreetMap extracts (*.osm.pbf *.pbf);;All files (*)"


class MapImportJob(QObject):
    importEnded = Signal(str)        # "done", "failed" or "cancelled"

    def __init__(self, ctx: DeskContext, street_map: StreetMapJob) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._street_map = street_map
        self.job: ImportJob | None = None
        self.dialog: MapImportDialog | None = None
        self.file_dialog: QFileDialog | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        ctx.window.import_map_action.triggered.connect(self.choose_file)

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def choose_file(self) -> None:
        """The file chooser (non-blocking: open(), the loop keeps running)."""
        if self.running and self.dialog is not None:
            self.dialog.raise_()
            return
        dlg = QFileDialog(self._ctx.window, "Import map data", str(Path.home()), FILE_FILTER)
        dlg.setObjectName("mapImportFileDialog")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        dlg.fileSelected.connect(lambda path: self.start(Path(path)))
        self.file_dialog = dlg
        dlg.open()

    def start(self, source: Path) -> bool:
        """Import `source`; False if an import is already running here."""
        if self.running:
            return False
        area = self._ctx.runtime.settings.fleet_area
        bbox = BBox(*area) if area else None
        clip = (f"clipped to the fleet area {area[0]:.4f},{area[1]:.4f},{area[2]:.4f},{area[3]:.4f}" if area
                else "the whole file (set a fleet area to clip a larger extract)")
        dialog = MapImportDialog(source.name, clip, self._ctx.window)
        dialog.cancelRequested.connect(self.cancel)
        self.dialog = dialog
        dialog.open()
        try:
            self.job = ImportJob(source, self._ctx.runtime.settings.data_dir, bbox).start()
        except OSError as exc:
            self._ended("failed", f"The import could not start: {exc}. The previous map is unchanged.")
            return True
        log.info("map import started: %s (%s)", source, clip)
        self._timer.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()           # never blocks; the poll reports the end

    def _poll(self) -> None:
        job, dialog = self.job, self.dialog
        if job is None or dialog is None:
            self._timer.stop()
            return
        for event in job.poll():
            if isinstance(event, ProgressEvent):
                p = event.progress
                dialog.show_progress(p.stage, p.stage_fraction, p.fraction, p.message)
            elif isinstance(event, DoneEvent):
                self._done(event.installed)
            elif isinstance(event, FailedEvent):
                self._ended("failed", f"Import failed: {event.message}. The previous map is unchanged.")
            elif isinstance(event, CancelledEvent):
                self._ended("cancelled", "Import cancelled. The previous map is unchanged.")

    def _done(self, installed: InstalledMap) -> None:
        c = installed.manifest.counts
        text = (f"Imported {installed.manifest.source.get('name', 'the extract')}: {c.get('streets', 0):,} streets, "
                f"{c.get('addresses', 0):,} addresses, {c.get('places', 0):,} places. The map now shows it.")
        self._ctx.spawn(self._street_map.use(installed, imported=True), "use imported map")
        self._ended("done", text)

    def _ended(self, outcome: str, text: str) -> None:
        self._timer.stop()
        if self.dialog is not None:
            if outcome == "done":
                self.dialog.show_done(text)
            else:
                self.dialog.show_failed(text)
        self._ctx.notices.say(text, "info" if outcome == "done" else "warning")
        self.importEnded.emit(outcome)

    def stop(self) -> None:
        """The window is closing: an import still running is cancelled (its process is killed)."""
        self._timer.stop()
        self.cancel()
