"""The street basemap as the map page sees it, Qt-free: byte ranges of the tile archive, the page's
basemap descriptor, and the identity sent to an online tile server (ui/scheme.py and ui/map_view.py
serve them)."""
