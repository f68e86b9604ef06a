"""The search box: units by call sign or id, and streets, intersections, addresses and places of the
imported street map, in one ranked list that follows what is typed.

Units are matched at once (in memory); the street map is asked off the UI thread, and only the
answer to the latest text is shown (a slower answer to older text is dropped). Enter takes the
highlighted row, the first by default: a unit is centred and ringed; a place gets the incident pin
(so Nearby units lists the nearest units) and the map centred on it. Arrow keys move in the list.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QCompleter

from ...mapdata.geocoder import GeocodeResult
from ...view.places import Places
from ...view.search import KIND_LABELS, SearchHit, combine, unit_hits
from ..formatting import fmt_latlng
from .addresses import PinAddress
from .context import DeskContext

HIGHLIGHT_FOUND_MS = 4000
FOUND_ZOOM = 15
PLACE_ZOOM = 16
HIT_ROLE = Qt.ItemDataRole.UserRole + 1
# What the box shows while a row is highlighted: the text typed (QStandardItem keeps EditRole and
# DisplayRole in one slot, so the completion text needs a role of its own, or highlighting a row
# would replace the typed text with the row's label and the next key would append to that).
TYPED_ROLE = Qt.ItemDataRole.UserRole + 2


class SearchJob(QObject):
    resultsShown = Signal(list)      # list[SearchHit], after every refresh of the list (tests wait on it)
    hitChosen = Signal(object)       # the SearchHit acted on

    def __init__(self, ctx: DeskContext, places: Places, pin_address: PinAddress) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._places = places
        self._pin_address = pin_address
        self.hits: list[SearchHit] = []
        self._text = ""               # what the list shows results for
        self._strong = 0              # how many of the hits are units matching exactly or by prefix
        self._answered: str | None = None   # the text the street map's answer in the list is for
        self._asking: str | None = None
        self._pending_enter = False   # Enter came before the street map answered the current text
        self._just_chosen: SearchHit | None = None
        self.model = QStandardItemModel(self)
        w = ctx.window
        self.completer = QCompleter(self.model, self)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setMaxVisibleItems(12)
        self.completer.setCompletionRole(TYPED_ROLE)
        w.search.setCompleter(self.completer)
        self.completer.activated[QModelIndex].connect(self._activated)  # type: ignore[index]
        w.search.textEdited.connect(self._edited)
        w.searchSubmitted.connect(self.submit)
        self._unhighlight = QTimer(self)
        self._unhighlight.setSingleShot(True)
        self._unhighlight.timeout.connect(lambda: ctx.channel.highlight(""))

    # ---- as you type ----------------------------------------------------------------------------
    def _edited(self, text: str) -> None:
        self._pending_enter = False
        self._answered = None
        self._show(text, [])          # units at once; the street map's answer follows
        self._ask(text)

    def _ask(self, text: str) -> None:
        if not self._places.available or not text.strip():
            return
        if self._asking is not None:
            return                    # one question at a time; the latest text is asked when it returns
        self._asking = text
        self._ctx.spawn(self._lookup(text), "search")

    async def _lookup(self, text: str) -> None:
        try:
            results = await self._places.search(text, near=self._near())
        finally:
            self._asking = None
        current = self._ctx.window.search.text()
        if current != text:
            self._ask(current)        # typed on meanwhile: this answer is stale
            return
        self._answered = text
        self._show(text, results)
        if self._pending_enter:
            self._pending_enter = False
            self.submit(text)

    def _near(self) -> tuple[float, float] | None:
        """Rank places near where the dispatcher is looking (the pin, else the tracked unit)."""
        s, fleet = self._ctx.session, self._ctx.fleet
        if s.pin is not None:
            return s.pin
        u = fleet.units.get(s.tracked) if s.tracked else None
        return (u.position.lat, u.position.lng) if u and u.position else None

    def _show(self, text: str, places: list[GeocodeResult]) -> None:
        strong, weak = unit_hits(self._ctx.fleet.units.values(), text)
        self.hits = combine(strong, places, weak)
        self._strong = len(strong)
        self._text = text
        self.model.clear()
        for hit in self.hits:
            item = QStandardItem(hit.text)
            item.setData(text, TYPED_ROLE)                    # highlighting a row keeps the typed text
            item.setData(hit, HIT_ROLE)
            item.setEditable(False)
            self.model.appendRow(item)
        w = self._ctx.window
        popup = self.completer.popup()
        assert popup is not None
        if self.hits and (w.search.hasFocus() or popup.isVisible()):
            self.completer.complete()
            popup.selectionModel().setCurrentIndex(self.model.index(0, 0),
                                                   QItemSelectionModel.SelectionFlag.ClearAndSelect)
        elif not self.hits:
            popup.hide()
        self.resultsShown.emit(list(self.hits))

    # ---- choosing -------------------------------------------------------------------------------
    def _activated(self, index: QModelIndex) -> None:
        hit = index.data(HIT_ROLE)
        if isinstance(hit, SearchHit) and hit is not self._just_chosen:
            self.choose(hit)

    def _forget_choice(self) -> None:
        self._just_chosen = None

    def submit(self, text: str) -> None:
        """Enter with no row highlighted (the list closed, or not shown yet): the first result.

        A unit matching by call sign or id is taken at once; otherwise the street map's answer for
        this very text decides (Enter waits for it if it is still coming)."""
        popup = self.completer.popup()
        if popup is not None and popup.isVisible() and popup.currentIndex().isValid():
            self._activated(popup.currentIndex())    # the highlighted row (the list forwards Enter to the box)
            return
        if not text.strip():
            return
        if text != self._text:
            self._answered = None
            self._show(text, [])
        if self._strong:
            self.choose(self.hits[0])
            return
        if self._places.available and self._answered != text:
            self._pending_enter = True
            self._ask(text)
            return
        if self.hits:
            self.choose(self.hits[0])
            return
        self._ctx.window.search_result.setText(f"  Nothing matches {text.strip()[:40]!r}")

    def choose(self, hit: SearchHit) -> None:
        # one Enter can reach us twice (the box's returnPressed, then the list's activation): act once
        self._just_chosen = hit
        QTimer.singleShot(0, self._forget_choice)
        popup = self.completer.popup()
        if popup is not None:
            popup.hide()
        if hit.kind == "unit":
            self._go_to_unit(hit)
        else:
            self._go_to_place(hit)
        self.hitChosen.emit(hit)

    def _go_to_unit(self, hit: SearchHit) -> None:
        ctx = self._ctx
        u = ctx.fleet.units.get(hit.car_id or "")
        label = ctx.window.search_result
        if u is None:
            label.setText(f"  {hit.label} is no longer in the fleet")
            return
        if u.position is None or u.lost:
            label.setText(f"  {u.call_sign} ({u.car_id}) has no live position")
            return
        label.setText(f"  {u.call_sign} ({u.car_id}) at {fmt_latlng(u.position.lat, u.position.lng)}")
        if ctx.channel.is_ready:
            ctx.channel.centre(u.position.lat, u.position.lng, FOUND_ZOOM)
            ctx.channel.highlight(u.car_id)
            self._unhighlight.start(HIGHLIGHT_FOUND_MS)

    def _go_to_place(self, hit: SearchHit) -> None:
        ctx = self._ctx
        if hit.lat is None or hit.lng is None:
            return
        point = (hit.lat, hit.lng)
        if hit.kind != "street":        # the pin is at this very place: it names it
            self._pin_address.name_next_pin(point, hit.label + (" (approx.)" if hit.approximate else ""))
        ctx.session.place_pin(*point)
        ctx.channel.centre(hit.lat, hit.lng, PLACE_ZOOM)
        what = KIND_LABELS[hit.kind] + (" (approximate)" if hit.approximate else "")
        ctx.window.search_result.setText(f"  {what}: {hit.label} \u2014 incident pin placed, nearest units listed")
