"""The only Python <-> JavaScript channel: one QObject registered on a QWebChannel.

Python -> page: signals carrying one JSON string each (built with orjson from plain data;
the page reads it with JSON.parse). No JavaScript source is ever built from data.
Page -> Python: slots; every argument is checked before it is used.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from PySide6.QtCore import QObject, Signal, Slot

from ..domain.models import is_valid_car_id

log = logging.getLogger(__name__)

MAX_REPORT_CHARS = 4_000_000
KEYS = frozenset({"Escape", "Enter"})
BASEMAP_CHOICES = frozenset({"streets", "online", "none"})


def to_json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class MapBridge(QObject):
    # ---- to the page (connected in resources/map/main.js) ---------------------------------
    fleetBatch = Signal(str)
    unitMeta = Signal(str)
    pinChanged = Signal(str)
    trackChanged = Signal(str)
    highlightChanged = Signal(str)
    centerRequested = Signal(str)
    incidentsChanged = Signal(str)
    replayChanged = Signal(str)
    replayMoved = Signal(str)
    liveChanged = Signal(str)
    routesChanged = Signal(str)
    filterChanged = Signal(str)
    alarmsChanged = Signal(str)
    basemapChanged = Signal(str)
    stateRequested = Signal(str)

    # ---- to Python --------------------------------------------------------------------------
    ready = Signal(dict)
    clicked = Signal(float, float)
    unitActivated = Signal(str)
    key = Signal(str)
    followChanged_ = Signal(bool)
    batchesApplied = Signal(list)
    stateReported = Signal(str, dict)
    pageErrorRaised = Signal(str)
    basemapPicked = Signal(str)

    @Slot(str)
    def pageReady(self, info: str) -> None:
        try:
            data = orjson.loads(info[:10_000])
        except orjson.JSONDecodeError:
            data = {}
        self.ready.emit(data if isinstance(data, dict) else {})

    @Slot(float, float)
    def mapClicked(self, lat: float, lng: float) -> None:
        if math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90:
            lng = (lng + 180.0) % 360.0 - 180.0  # the map may have been panned around the world
            self.clicked.emit(lat, lng)

    @Slot(str)
    def unitDoubleClicked(self, car_id: str) -> None:
        if is_valid_car_id(car_id):
            self.unitActivated.emit(car_id)

    @Slot(str)
    def keyPressed(self, name: str) -> None:
        if name in KEYS:
            self.key.emit(name)

    @Slot(bool)
    def followChanged(self, following: bool) -> None:
        self.followChanged_.emit(bool(following))

    @Slot(str)
    def batchApplied(self, reports: str) -> None:
        try:
            data = orjson.loads(reports[:MAX_REPORT_CHARS])
        except orjson.JSONDecodeError:
            return
        if isinstance(data, list):
            self.batchesApplied.emit([r for r in data if isinstance(r, dict)])

    @Slot(str, str)
    def reportState(self, req: str, state: str) -> None:
        try:
            data = orjson.loads(state[:MAX_REPORT_CHARS])
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            self.stateReported.emit(req[:64], data)

    @Slot(str)
    def pageError(self, message: str) -> None:
        self.pageErrorRaised.emit(message[:500])

    @Slot(str)
    def basemapChosen(self, name: str) -> None:
        if name in BASEMAP_CHOICES:
            self.basemapPicked.emit(name)
