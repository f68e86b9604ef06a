"""The vector-tile schema: which OSM features go to which layer, with which `kind` and from which zoom.

Layers and attributes follow the Protomaps basemap schema (v4) so a protomaps-leaflet style can draw
them: roads, transit, water, landuse, buildings (with kind=address points carrying addr_housenumber),
places, pois; each feature has `kind`, often `kind_detail` (the OSM value), `name`, and `min_zoom`.
There is no `earth` layer (no coastline processing): the style's background is the land colour.
"""

from __future__ import annotations

from .tags import Tags

MIN_ZOOM = 8
MAX_ZOOM = 15                 # the page over-zooms beyond
ADDRESS_MIN_ZOOM = 15         # drawn from 17 by the page; carried in the z15 tiles
BUILDING_MIN_ZOOM = 13
LAYERS = ("roads", "transit", "water", "landuse", "buildings", "places", "pois")

# highway value -> (kind, min zoom)
_ROADS: dict[str, tuple[str, int]] = {
    "motorway": ("highway", 8), "trunk": ("highway", 8), "motorway_link": ("highway", 11),
    "trunk_link": ("highway", 11), "primary": ("major_road", 9), "primary_link": ("major_road", 12),
    "secondary": ("major_road", 10), "secondary_link": ("major_road", 12), "tertiary": ("major_road", 11),
    "tertiary_link": ("major_road", 13), "unclassified": ("minor_road", 12), "residential": ("minor_road", 12),
    "living_street": ("minor_road", 13), "road": ("minor_road", 13), "service": ("minor_road", 14),
    "pedestrian": ("path", 13), "track": ("path", 14), "footway": ("path", 14), "path": ("path", 14),
    "cycleway": ("path", 14), "steps": ("path", 15), "bridleway": ("path", 15),
}
RAIL_KINDS: dict[str, int] = {"rail": 10, "light_rail": 11, "subway": 11, "tram": 12, "narrow_gauge": 12,
                              "monorail": 12, "funicular": 13}
WATERWAY_LINE_ZOOM: dict[str, int] = {"river": 9, "canal": 10, "stream": 13, "ditch": 14, "drain": 14}

# (tag key, value) -> (landuse kind, min zoom); the first matching key wins
_LANDUSE: dict[str, dict[str, int]] = {
    "leisure": {"park": 10, "garden": 13, "playground": 14, "pitch": 13, "nature_reserve": 9,
                "golf_course": 11, "stadium": 12, "dog_park": 14, "common": 12},
    "landuse": {"forest": 9, "grass": 12, "meadow": 11, "cemetery": 11, "residential": 12, "industrial": 11,
                "commercial": 12, "retail": 12, "railway": 12, "military": 10, "farmland": 10,
                "recreation_ground": 12, "village_green": 13, "allotments": 13, "construction": 13,
                "brownfield": 13},
    "natural": {"wood": 9, "scrub": 11, "heath": 11, "grassland": 11, "beach": 11, "sand": 11, "wetland": 11,
                "bare_rock": 12},
    "amenity": {"school": 12, "hospital": 11, "university": 11, "college": 12, "parking": 14,
                "kindergarten": 14, "grave_yard": 13},
    "aeroway": {"aerodrome": 9},
}
_WATER_LANDUSE = frozenset({"reservoir", "basin"})

# amenity values that are always pois (dispatch-relevant even unnamed), with their zoom
IMPORTANT_POIS: dict[str, int] = {"police": 13, "fire_station": 13, "hospital": 12, "clinic": 14,
                                   "school": 14, "ambulance_station": 13, "townhall": 14, "courthouse": 14,
                                   "prison": 13, "university": 13, "college": 14}
_POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "historic", "craft", "railway", "emergency")
KIND_LABELS = {"police": "Police station", "fire_station": "Fire station", "hospital": "Hospital",
               "ambulance_station": "Ambulance station", "school": "School", "clinic": "Clinic"}
# extra words indexed with a place so "fire station" or "police" finds it whatever its name is
KIND_SEARCH_WORDS = {"police": "police station", "fire_station": "fire station rescue", "hospital": "hospital er",
                     "ambulance_station": "ambulance station", "school": "school", "clinic": "clinic",
                     "university": "university", "college": "college"}

_PLACES: dict[str, tuple[str, int]] = {
    "city": ("locality", 8), "town": ("locality", 9), "village": ("locality", 11), "hamlet": ("locality", 12),
    "suburb": ("neighbourhood", 11), "quarter": ("neighbourhood", 12), "neighbourhood": ("neighbourhood", 13),
    "square": ("neighbourhood", 15), "locality": ("neighbourhood", 14),
}


def road_kind(highway: str) -> tuple[str, int] | None:
    return _ROADS.get(highway)


def place_kind(tags: Tags) -> tuple[str, str, int] | None:
    """(kind, kind_detail, min zoom) of a place node."""
    value = tags.get("place")
    if value is None or value not in _PLACES:
        return None
    kind, zoom = _PLACES[value]
    return kind, value, zoom


def poi_kind(tags: Tags) -> tuple[str, int, bool] | None:
    """(kind, min zoom, important) of a point of interest; unimportant ones count only when named."""
    amenity = tags.get("amenity")
    if amenity in IMPORTANT_POIS:
        return amenity, IMPORTANT_POIS[amenity], True
    if tags.get("emergency") == "ambulance_station":
        return "ambulance_station", 13, True
    for key in _POI_KEYS:
        value = tags.get(key)
        if value and value not in ("yes", "no") and len(value) <= 40:
            return value, 15, False
    return None


def area_layer(tags: Tags) -> tuple[str, str, int] | None:
    """(kind, kind_detail, min zoom) of an area feature, or None if no layer takes it."""
    building = tags.get("building")
    if building and building != "no":
        return "building", "" if building == "yes" else building[:32], BUILDING_MIN_ZOOM
    natural = tags.get("natural")
    if natural == "water" or tags.get("waterway") == "riverbank" or tags.get("landuse") in _WATER_LANDUSE:
        detail = tags.get("water") or tags.get("landuse") or "water"
        return "water", detail[:32], MIN_ZOOM
    for key, kinds in _LANDUSE.items():
        value = tags.get(key)
        if value in kinds:
            return value, key, kinds[value]
    return None


def layer_of(kind: str) -> str:
    """Tile layer of an area kind (area_layer's second value)."""
    if kind == "building":
        return "buildings"
    if kind == "water":
        return "water"
    return "landuse"


def building_height(tags: Tags) -> float | None:
    """height in metres from height=* or building:levels=*, None if neither is a sane number."""
    for key, scale in (("height", 1.0), ("building:levels", 3.0)):
        raw = (tags.get(key) or "").replace("m", "").strip()
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if 0.0 < value < 1000.0:
            return round(value, 1)
    return None
