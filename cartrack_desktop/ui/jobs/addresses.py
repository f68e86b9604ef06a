"""Where the incident pin is, in words: the nearest address or intersection (reverse geocoding).

The pin's label, Nearby's header and a new incident's record use it. Looked up off the UI thread
(view/places.py) whenever the pin moves or another map is imported; a place chosen in the search
box names the pin itself ("1180 Peachtree St NE"), without a lookup.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ...view.places import Places, near_label
from ...view.session import Aspect, Changes
from .context import DeskContext
from .street_map import StreetMapJob

Point = tuple[float, float]


class PinAddress(QObject):
    changed = Signal(str)           # the pin's address text ("" when unknown or no pin)

    def __init__(self, ctx: DeskContext, places: Places, street_map: StreetMapJob) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._places = places
        self.text = ""
        self._point: Point | None = None        # where `text` was found for
        self._known: tuple[Point, str] | None = None
        ctx.session.subscribe(self._on_session)
        street_map.mapChanged.connect(self.refresh)

    def name_next_pin(self, point: Point, label: str) -> None:
        """The pin about to be placed at `point` is this place (chosen in the search box)."""
        self._known = (point, label)

    def _on_session(self, changes: Changes) -> None:
        if Aspect.PIN in changes:
            self.refresh()

    def refresh(self) -> None:
        pin = self._ctx.session.pin
        if pin is None:
            self._set(None, "")
            return
        if self._known is not None and self._known[0] == pin:
            self._set(pin, self._known[1])
            return
        self._known = None
        self._set(None, "")
        self._ctx.spawn(self._lookup(pin), "pin address")

    async def _lookup(self, pin: Point) -> None:
        result = await self._places.reverse(*pin)
        if self._ctx.session.pin == pin:
            self._set(pin, near_label(result))

    async def for_point(self, point: Point) -> str:
        """The address text of `point`: the pin's if it is there and known, else looked up now."""
        if self._point == point and self.text:
            return self.text
        return near_label(await self._places.reverse(*point))

    def _set(self, point: Point | None, text: str) -> None:
        changed = text != self.text
        self._point, self.text = point, text
        if changed:
            self.changed.emit(text)
