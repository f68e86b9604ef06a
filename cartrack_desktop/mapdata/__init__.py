"""Offline street map: OSM import (pyosmium), vector tiles (PMTiles), search index (geocoding), road network.

Qt-free. The API the window uses (see README "Street map"):
- ImportJob(source, data_dir, bbox).start(), .poll(), .cancel(), .wait()       the import, in another process
- current_map(data_dir) -> InstalledMap | None: .tiles_path, .search_path, .roads_path, .manifest
- patrol_area(data_dir) -> ((s, w, n, e), (lat, lng)) | None                   the simulator's default area
- Geocoder(installed.search_path).search(text, near, limit) / .reverse(lat, lng)
- load_road_network(installed.roads_path) -> RoadNetwork
Import from the submodules (cartrack_desktop.mapdata.job, .store, .geocoder, .roads): this package
imports nothing itself, so the window does not load pyosmium or numpy until it uses them.
"""

