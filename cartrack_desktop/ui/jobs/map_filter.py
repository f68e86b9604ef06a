"""What the map, Nearby units and Fleet show: the dispatcher's status filter (remembered between runs)
and the units always shown (the tracked unit; others, such as units in alarm, join through
`ctx.map_filter.always.set(reason, ids)`)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QSettings

from ...domain.models import UnitStatus
from ...view.session import Aspect, Changes
from ..main_window import SETTINGS_APP, SETTINGS_ORG
from .context import DeskContext

log = logging.getLogger(__name__)

HIDDEN_STATUSES_KEY = "map/hiddenStatuses"


class MapFilterJob(QObject):
    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        f = ctx.map_filter
        button = ctx.window.status_filter
        f.statuses.restore(QSettings(SETTINGS_ORG, SETTINGS_APP).value(HIDDEN_STATUSES_KEY, []))
        button.shownChanged.connect(lambda value, on: f.statuses.set_shown(UnitStatus(value), on))
        button.showAllRequested.connect(lambda: f.statuses.set_hidden(()))
        f.statuses.changed.subscribe(lambda _hidden: self._on_statuses())
        f.always.changed.subscribe(lambda _ids: self._on_always())
        ctx.session.subscribe(self._on_session)
        ctx.window.fleet.set_shown(lambda u: f.shows(u.car_id, u.status))
        self._show()

    def _on_statuses(self) -> None:
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        s.setValue(HIDDEN_STATUSES_KEY, self._ctx.map_filter.statuses.names())
        s.sync()
        log.info("status filter: %s", self._ctx.map_filter.statuses.describe())
        self._show()
        self._ctx.window.fleet.refilter()
        self.send()

    def _show(self) -> None:
        statuses = self._ctx.map_filter.statuses
        self._ctx.window.status_filter.show_state(statuses.hidden, statuses.describe())

    def _on_always(self) -> None:
        if self._ctx.map_filter.statuses.hidden:   # only a filter can have hidden one of them
            self._ctx.window.fleet.refilter()
        self.send()

    def _on_session(self, changes: Changes) -> None:
        if Aspect.TRACKING in changes:   # the tracked unit is shown whatever the filter
            tracked = self._ctx.session.tracked
            self._ctx.map_filter.always.set("tracked", [] if tracked is None else [tracked])

    def send(self) -> None:
        f = self._ctx.map_filter
        self._ctx.channel.set_filter(f.statuses.names(), sorted(f.always.ids()))
