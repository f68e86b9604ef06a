import math

import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import given
from hypothesis import strategies as st

from cartrack_desktop.domain import geo

WGS84 = Geodesic.WGS84
ATL = (33.7490, -84.3880)

# (name, lat1, lng1, lat2, lng2, expected km on the sphere, from published great-circle figures)
KNOWN = [
    ("one degree of latitude", 0.0, 0.0, 1.0, 0.0, 111.195),
    ("Atlanta to New York (JFK)", 33.6407, -84.4277, 40.6413, -73.7781, 1223.0),
    ("London to Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.5),
]


@pytest.mark.parametrize(("name", "lat1", "lng1", "lat2", "lng2", "km"), KNOWN)
def test_haversine_known_distances(name, lat1, lng1, lat2, lng2, km):
    assert geo.haversine_km(lat1, lng1, lat2, lng2) == pytest.approx(km, rel=0.003), name


def test_haversine_zero_and_symmetry():
    assert geo.haversine_km(*ATL, *ATL) == 0.0
    a = geo.haversine_km(33.70, -84.40, 33.80, -84.30)
    b = geo.haversine_km(33.80, -84.30, 33.70, -84.40)
    assert a == pytest.approx(b, rel=1e-12)


city_lat = st.floats(33.0, 34.5)
city_lng = st.floats(-85.0, -83.5)


@given(city_lat, city_lng, city_lat, city_lng)
def test_haversine_within_half_percent_of_wgs84_geodesic(lat1, lng1, lat2, lng2):
    reference_km = WGS84.Inverse(lat1, lng1, lat2, lng2)["s12"] / 1000
    ours = geo.haversine_km(lat1, lng1, lat2, lng2)
    if reference_km < 0.01:
        assert ours == pytest.approx(reference_km, abs=1e-4)
    else:
        assert ours == pytest.approx(reference_km, rel=0.005)


@pytest.mark.parametrize(("lat2", "lng2", "bearing"), [
    (34.0, -84.388, 0.0), (33.5, -84.388, 180.0), (33.749, -84.0, 89.89), (33.749, -84.8, 270.11),
])
def test_initial_bearing_cardinal(lat2, lng2, bearing):
    assert geo.initial_bearing_deg(*ATL, lat2, lng2) == pytest.approx(bearing, abs=0.01)


@given(city_lat, city_lng, city_lat, city_lng)
def test_initial_bearing_matches_geodesic_azimuth(lat1, lng1, lat2, lng2):
    if geo.haversine_km(lat1, lng1, lat2, lng2) < 0.5:
        return
    azi = WGS84.Inverse(lat1, lng1, lat2, lng2)["azi1"] % 360
    ours = geo.initial_bearing_deg(lat1, lng1, lat2, lng2)
    assert min(abs(ours - azi), 360 - abs(ours - azi)) < 0.3


@given(st.floats(0, 359.999), st.floats(0.001, 20.0))
def test_destination_round_trip(bearing, km):
    lat2, lng2 = geo.destination_point(*ATL, bearing, km)
    assert geo.haversine_km(*ATL, lat2, lng2) == pytest.approx(km, rel=1e-9, abs=1e-9)
    back = geo.initial_bearing_deg(*ATL, lat2, lng2)
    assert min(abs(back - bearing), 360 - abs(back - bearing)) < 1e-6


@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_normalize_heading_range(deg):
    h = geo.normalize_heading(deg)
    assert 0.0 <= h < 360.0
    assert math.isclose(math.cos(math.radians(h)), math.cos(math.radians(deg)), abs_tol=1e-6)


@pytest.mark.parametrize(("deg", "point"), [
    (0, "N"), (11.24, "N"), (11.26, "NNE"), (45, "NE"), (90, "E"), (180, "S"), (225, "SW"),
    (270, "W"), (348.76, "N"), (359.99, "N"), (-90, "W"),
])
def test_compass_point(deg, point):
    assert geo.compass_point(deg) == point


def test_interpolate_endpoints_and_middle():
    assert geo.interpolate(0, 0, 2, 4, 0.0) == (0, 0)
    assert geo.interpolate(0, 0, 2, 4, 1.0) == (2, 4)
    assert geo.interpolate(0, 0, 2, 4, 0.5) == (1, 2)
