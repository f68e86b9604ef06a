"""The dispatcher window: map in the centre, docks for the panels, a status bar."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from .panels.alarm_banner import AlarmBanner
from .panels.audit import AuditPanel
from .panels.devices import UnknownDevicesPanel
from .panels.fleet import FleetPanel
from .panels.incidents import IncidentsPanel
from .panels.nearby import NearbyPanel
from .panels.replay import ReplayPanel
from .panels.stats import StatsPanel
from .panels.status_filter import StatusFilterButton
from .panels.unit_detail import UnitPanel
from .table_model import plain_label

SETTINGS_ORG = "CarTrack"
SETTINGS_APP = "CarTrack Desktop"
LAYOUT_VERSION = 4   # bump when docks change: an older saved layout is then ignored
NOTICE_SHOW_MS = 15_000


class StatusField(QFrame):
    """A label in the status bar, coloured by state."""

    def __init__(self, name: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"status_{name}")
        self.label = plain_label("")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.label)

    def set(self, text: str, level: str = "ok") -> None:
        color = {"ok": "#2e7d32", "warn": "#ef6c00", "bad": "#c62828", "plain": "palette(window-text)"}[level]
        self.label.setText(text)
        self.label.setStyleSheet(f"color: {color};")

    def text(self) -> str:
        return self.label.text()


class Banner(QFrame):
    """Errors and warnings from the background, visible until dismissed or replaced."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = plain_label("")
        self.text.setWordWrap(True)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self.hide()

    def show_notice(self, text: str, level: str) -> None:
        bg, fg = {"error": ("#fdecea", "#b71c1c"), "warning": ("#fff4e5", "#8a4b00"),
                  "info": ("#e8f4fd", "#0b4f88")}.get(level, ("#e8f4fd", "#0b4f88"))
        self.setStyleSheet(f"#banner {{ background: {bg}; border-bottom: 1px solid {fg}; }}"
                           f" #banner QLabel {{ color: {fg}; }}")
        self.text.setText(text)
        self.show()


class MainWindow(QMainWindow):
    closeRequested = Signal()
    escapePressed = Signal()
    searchSubmitted = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("CarTrack Desktop — Dispatch")
        self.resize(1280, 800)
        self._init_menu()
        self._init_centre()
        self._init_search_bar()
        self._init_filter_bar()
        self._init_docks()
        self._init_status_bar()
        self._init_shortcuts()

    def _init_centre(self) -> None:
        """The alarm banner and the banner above the map (a placeholder until the map page is built)."""
        self.alarm_banner = AlarmBanner()
        self.banner = Banner()
        self.map_stack = QStackedWidget()
        self.map_placeholder = plain_label("Starting…")
        self.map_placeholder.setObjectName("mapPlaceholder")
        self.map_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.map_placeholder.setStyleSheet("font-size: 18px; color: #555; background: #e6e9ec;")
        self.map_stack.addWidget(self.map_placeholder)
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.alarm_banner)
        cl.addWidget(self.banner)
        cl.addWidget(self.map_stack, 1)
        self.setCentralWidget(centre)

    def _init_menu(self) -> None:
        """File: Import map data…, Quit."""
        file_menu = self.menuBar().addMenu("&File")
        self.import_map_action = QAction("&Import map data…", self)
        self.import_map_action.setObjectName("importMapAction")
        self.import_map_action.setStatusTip("Import an OpenStreetMap extract (.osm.pbf) as the offline street map")
        file_menu.addAction(self.import_map_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.closeRequested.emit)
        file_menu.addAction(quit_action)

    def _init_search_bar(self) -> None:
        """The toolbar: one search box for units and places (ui/jobs/search.py fills its list)."""
        tb = QToolBar("Search")
        tb.setObjectName("searchToolbar")
        tb.setMovable(False)
        self.search = QLineEdit()
        self.search.setObjectName("unitSearch")
        self.search.setPlaceholderText("Unit, street, intersection, address or place (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(300)
        self.search.setMaximumWidth(440)
        self.search.returnPressed.connect(lambda: self.searchSubmitted.emit(self.search.text()))
        tb.addWidget(self.search)
        self.search_result = plain_label("")
        tb.addWidget(self.search_result)
        self.addToolBar(tb)

    def _init_filter_bar(self) -> None:
        """The status filter: what the map, Nearby units and Fleet show."""
        tb = QToolBar("Status filter")
        tb.setObjectName("filterToolbar")
        tb.setMovable(False)
        self.status_filter = StatusFilterButton()
        tb.addWidget(self.status_filter)
        self.addToolBar(tb)

    def _init_docks(self) -> None:
        """Nearby | Incidents on top, Unit details, then Fleet | Unknown devices | Replay | Audit log | Stats."""
        self.nearby = NearbyPanel()
        self.incidents = IncidentsPanel()
        self.unit = UnitPanel()
        self.fleet = FleetPanel()
        self.replay = ReplayPanel()
        self.audit = AuditPanel()
        self.stats = StatsPanel()
        self.devices = UnknownDevicesPanel()
        self.docks: dict[str, QDockWidget] = {}
        for name, title, widget in (("nearby", "Nearby units", self.nearby), ("incidents", "Incidents", self.incidents),
                                    ("unit", "Unit details", self.unit), ("fleet", "Fleet", self.fleet),
                                    ("devices", "Unknown devices", self.devices), ("replay", "Replay", self.replay),
                                    ("audit", "Audit log", self.audit),
                                    ("stats", "Stats", self.stats)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            # scrollable, so the window still fits a small (768 px) screen
            scroller = QScrollArea()
            scroller.setWidget(widget)
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QFrame.Shape.NoFrame)
            dock.setWidget(scroller)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.docks[name] = dock
        self.tabifyDockWidget(self.docks["nearby"], self.docks["incidents"])
        self.tabifyDockWidget(self.docks["fleet"], self.docks["devices"])
        self.tabifyDockWidget(self.docks["devices"], self.docks["replay"])
        self.tabifyDockWidget(self.docks["replay"], self.docks["audit"])
        self.tabifyDockWidget(self.docks["audit"], self.docks["stats"])
        self.docks["nearby"].raise_()
        self.docks["fleet"].raise_()
        self.resizeDocks([self.docks["nearby"]], [520], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["nearby"], self.docks["unit"], self.docks["fleet"]], [340, 250, 260],
                         Qt.Orientation.Vertical)

    def _init_status_bar(self) -> None:
        sb = self.statusBar()
        self.st_redis = StatusField("redis")
        self.st_mongo = StatusField("mongo")
        self.st_units = StatusField("units")
        self.st_rate = StatusField("rate")
        self.st_sync = StatusField("sync")
        self.st_rejected = StatusField("rejected")
        self.st_ingest = StatusField("ingest")   # shown when this instance runs the device ingest
        self.st_ingest.hide()
        for w in (self.st_redis, self.st_mongo, self.st_units, self.st_rate, self.st_sync, self.st_ingest,
                  self.st_rejected):
            sb.addPermanentWidget(w)
        self.st_redis.set("Redis: starting…", "warn")
        self.st_mongo.set("MongoDB: starting…", "warn")

    def _init_shortcuts(self) -> None:
        """Ctrl+F and Esc; the jobs add their own (Ctrl+N, Ctrl+D)."""
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        find.activated.connect(self.focus_search)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.activated.connect(self.escapePressed.emit)

    # ---- map ---------------------------------------------------------------------------------
    def set_map(self, view: QWidget) -> None:
        self.map_stack.addWidget(view)
        self.map_stack.setCurrentWidget(view)

    def show_progress(self, text: str) -> None:
        self.map_placeholder.setText(text)
        self.statusBar().showMessage(text, 5000)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def show_notice(self, text: str, level: str) -> None:
        if level in ("error", "warning"):
            self.banner.show_notice(text, level)
        self.statusBar().showMessage(text, NOTICE_SHOW_MS)

    # ---- persistence -------------------------------------------------------------------------
    def restore_layout(self) -> None:
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        geometry = s.value("window/geometry")
        state = s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The window stays until main() has shut everything down; it then deletes it.
        event.ignore()
        self.closeRequested.emit()
