"""One per window: builds the jobs around the Qt-free session and wires them to the page.

No logic of its own. Each job owns one thing the dispatcher sees (ui/jobs/); they react to the
session (view/session.py) and to each other's signals, and talk to the map only through the
typed PageChannel. Tests and benchmarks get this object from gui_main's ready hook.
"""

from __future__ import annotations

from pathlib import Path

from ..services.infra.errors import ErrorBus
from ..services.runtime import Runtime
from ..view.fleet_view import FleetState
from ..view.map_filter import MapFilter
from ..view.places import Places
from ..view.session import Session
from .jobs.addresses import PinAddress
from .jobs.alarms import AlarmsJob
from .jobs.arrivals import Arrivals
from .jobs.audit import AuditJob
from .jobs.context import DeskContext, Notices
from .jobs.devices import UnknownDevicesJob
from .jobs.dispatch_link import DispatchLink
from .jobs.dispatching import DispatchJob
from .jobs.feed import FeedLink
from .jobs.fleet import FleetLink
from .jobs.fleet_editor import FleetEditor
from .jobs.frames import FramePump
from .jobs.incidents import IncidentsJob
from .jobs.keys import Keys
from .jobs.map_filter import MapFilterJob
from .jobs.map_import import MapImportJob
from .jobs.nearby import NearbyJob
from .jobs.replay import ReplayJob
from .jobs.routes import RoutesJob
from .jobs.screenshot import ScreenshotJob, save_screenshot
from .jobs.search import SearchJob
from .jobs.stats import StatsJob
from .jobs.status_bar import StatusBar
from .jobs.street_map import StreetMapJob
from .jobs.ticker import Ticker
from .jobs.tracking import TrackingJob
from .jobs.unit_actions import UnitActions
from .main_window import MainWindow
from .map_view import MapView
from .page_channel import PageChannel
from .tray import Tray


class Desk:
    def __init__(self, window: MainWindow, runtime: Runtime, errors: ErrorBus) -> None:
        self.session = Session()
        self.channel = PageChannel(window)
        self.ctx = ctx = DeskContext(window, runtime, errors, FleetState(on_reject=runtime.redis_rejections.reject),
                                     self.session, self.channel, Notices(window), MapFilter())
        # live side
        self.map_filter = MapFilterJob(ctx)
        self.frames = FramePump(ctx)
        self.feed = FeedLink(ctx, self.frames)
        self.ticker = Ticker(ctx)
        self.fleet_link = FleetLink(ctx, self.ticker)
        self.status_bar = StatusBar(ctx, self.feed, self.ticker)
        # the street map: basemap, search index, import, addresses
        self.places = Places()
        self.street_map = StreetMapJob(ctx, self.places)
        self.stats = StatsJob(ctx, self.feed, self.ticker, self.street_map)
        self.dispatch_link = DispatchLink(ctx)
        self.map_import = MapImportJob(ctx, self.street_map)
        self.pin_address = PinAddress(ctx, self.places, self.street_map)
        self.routes = RoutesJob(ctx, self.frames, self.dispatch_link)
        self.tracking = TrackingJob(ctx, self.frames, self.ticker, self.dispatch_link, self.routes, self.places)
        self.nearby = NearbyJob(ctx, self.pin_address)
        self.search = SearchJob(ctx, self.places, self.pin_address)
        # dispatch side
        self.incidents = IncidentsJob(ctx, self.dispatch_link, self.pin_address)
        self.dispatching = DispatchJob(ctx, self.incidents, self.nearby)
        self.unit_actions = UnitActions(ctx)
        self.fleet_editor = FleetEditor(ctx)
        self.audit = AuditJob(ctx, self.dispatch_link)
        self.replay = ReplayJob(ctx)
        self.tray = Tray(window)
        self.arrivals = Arrivals(ctx, self.dispatch_link, self.tray)
        self.keys = Keys(ctx, self.incidents)
        self.screenshots = ScreenshotJob(ctx, self.frames, self.ticker)
        # real devices
        self.devices = UnknownDevicesJob(ctx, self.ticker, self.fleet_editor)
        self.alarms = AlarmsJob(ctx, self.tray)
        self.alarms.raised.connect(lambda *_: self.audit.refresh_soon())
        self.alarms.acknowledged.connect(lambda *_: self.audit.refresh_soon())
        self.channel.pageReady.connect(self._on_page_ready)

    # ---- what tests and tools reach for --------------------------------------------------------
    @property
    def window(self) -> MainWindow:
        return self.ctx.window

    @property
    def runtime(self) -> Runtime:
        return self.ctx.runtime

    @property
    def fleet(self) -> FleetState:
        return self.ctx.fleet

    @property
    def notices(self) -> Notices:
        return self.ctx.notices

    @property
    def view(self) -> MapView | None:
        return self.channel.view

    # ---- lifecycle ------------------------------------------------------------------------------
    def attach_view(self, view: MapView) -> None:
        """What the page tells us goes to the job that owns it."""
        self.channel.attach(view)
        self.street_map.attach(view)
        self.ctx.spawn(self.street_map.load(), "street map")
        b = view.bridge
        b.clicked.connect(self.session.place_pin)
        b.unitActivated.connect(self.tracking.track)
        b.key.connect(self.keys.on_page_key)
        b.followChanged_.connect(self.session.set_following)
        b.batchesApplied.connect(self.frames.on_batches_applied)

    def _on_page_ready(self) -> None:
        """A (re)loaded page gets everything again: the units first, so the overlays can refer to them."""
        self.map_filter.send()
        self.frames.push_all()
        self.street_map.send()
        self.nearby.send_pin()
        self.tracking.resend()
        self.incidents.refresh()
        self.routes.send()
        self.feed.send_live_state()
        self.alarms.send()

    def start(self) -> None:
        """The runtime has started: follow dispatch and alarms, then subscribe to live positions."""
        self.dispatch_link.attach()
        self.routes.attach()
        self.alarms.attach()
        self.incidents.refresh()
        self.audit.refresh_soon()
        self.feed.start()

    async def stop(self) -> None:
        self.map_import.stop()
        self.places.close()
        await self.feed.stop()
        self.ticker.stop()
        self.nearby.stop()
        self.frames.stop()
        self.status_bar.stop()

    def save_screenshot(self, path: Path) -> bool:
        """The window now (scripts); --screenshot waits for the panels to agree (ScreenshotJob.take)."""
        self.ticker.refresh()  # panels and status bar as of now
        return save_screenshot(self.window, path, self.ctx.errors)
