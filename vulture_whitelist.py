"""Names vulture reports as unused that are used, by frameworks or by design (make lint: vulture).

Each group says why. Add a name here only with its reason; anything else vulture finds is dead
code to remove.
"""
# ruff: noqa
from types import SimpleNamespace

_ = SimpleNamespace()

# Qt calls these overrides itself (virtual methods of the classes we subclass).
_.rowCount  # QAbstractTableModel (ui/table_model.py, bench/qtguard.py)
_.columnCount
_.headerData
_.closeEvent  # QWidget (ui/main_window.py)
_.eventFilter  # QObject (ui/panels/nearby.py)
_.requestStarted  # QWebEngineUrlSchemeHandler (ui/map_view.py)
_.interceptRequest  # QWebEngineUrlRequestInterceptor
_.acceptNavigationRequest  # QWebEnginePage
nav_type  # ... its parameter, part of Qt's signature
_.createWindow
_.javaScriptConsoleMessage  # QWebEnginePage (ui/map_view.py, bench/page.py)

# The map page calls these slots and connects to these signals through the QWebChannel (JavaScript).
_.pageReady  # ui/bridge.py, bench/page.py
_.mapClicked
_.unitDoubleClicked
_.keyPressed
_.followChanged
_.batchApplied
_.reportState
_.pageError
_.basemapChosen  # ui/bridge.py: the page reports the layer the dispatcher picked
incidentsChanged
replayChanged
replayMoved
routesChanged

# folium reads these attributes of its Map when it renders the page (mapgen/page.py: vendored assets).
_.default_js
_.default_css

# The seed's single-unit operations of the live store: the public API other producers and consumers
# use (README "Data contracts"); the tests and the ACL test exercise them.
_.update_car_location
_.get_car_location

# The window's jobs: the Desk builds and owns them (they react to signals; tests and
# scripts/demo_screenshot.py reach them as desk.X).
_.fleet_link
_.dispatching
_.unit_actions
_.fleet_editor
_.arrivals
_.file_dialog  # ui/jobs/map_import.py: the open file chooser, kept for tests to reach

# mapdata: fields of the installed map's data structures (RoadNetwork arrays, manifest, geocode results)
# read by their users and tests, and the API the window (Import dialog, basemap, search) and routing use.
_.schema_version
_.node_osm_id
_.edge_speed_tagged
_.segment_way_id
_.out_edges
_.edge_name
_.edge_geometry
_.edge_class_name
_.LAYERS
_.max_zoom

# asyncio and httptools call these on the ingest's connection (asyncio.Protocol and the parser's
# callbacks, ingest/http_server.py).
_.connection_made
_.connection_lost
_.pause_writing
_.resume_writing
_.data_received
_.on_url
_.on_header
_.on_body
_.on_message_complete

# What the window tests drive or read where a real desktop has a person (ui/): choosing a unit in
# the attach dialog, and how many times the alarm sounded (no audio device under Xvfb to listen to).
_.choose
_.played
# Decoded as the protocols define them (the Unit details step shows battery and altitude).
_.altitude_m
_.battery_pct

# The API (cartrack_desktop/api/): FastAPI calls the route functions it registers; pydantic reads model_config,
# the validators and every field of the request/response models (they are the JSON on the wire).
_.realtime_one
_.realtime_all
_.simulator_add
_.simulator_remove
_.unit_status
_.model_config
_._incident_or_location
_.held_by
_.running_here
_.last_tick_ms
_.live_units
_.ws_track_clients
_.ws_fleet_clients
_.ws_dropped_slow
_.device_id
_.last_seen
_.feed_live  # FleetHub: tests wait until the fleet feed is subscribed (tests/integration/test_api_ws.py)
