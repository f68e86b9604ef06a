"""Builds the base map page with folium and the vendored assets. Never imports Qt."""
