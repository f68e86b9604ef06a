"""The basemap's pure parts: Range requests on the archive, the page's descriptor, the tile User-Agent."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartrack_desktop.basemap.online import tile_user_agent
from cartrack_desktop.basemap.ranges import Part, Refuse, Whole, plan_range
from cartrack_desktop.basemap.source import Basemap, version_of_path, zoom_to_fit

pytestmark = pytest.mark.unit

SIZE = 1000


@pytest.mark.parametrize(("header", "expected"), [
    (None, Whole()),
    ("bytes=0-0", Part(0, 0, SIZE)),                 # the first byte
    ("bytes=500-509", Part(500, 509, SIZE)),         # the middle
    ("bytes=999-999", Part(999, 999, SIZE)),         # the last byte
    ("bytes=-1", Part(999, 999, SIZE)),              # the last byte, as a suffix
    ("bytes=-5000", Part(0, 999, SIZE)),             # a suffix longer than the file: all of it
    ("bytes=990-", Part(990, 999, SIZE)),            # open-ended
    ("bytes=0-16383", Part(0, 999, SIZE)),           # a PMTiles reader's first request on a small file
    ("BYTES=1-2", Part(1, 2, SIZE)),                 # the unit is case-insensitive (RFC 9110)
    (" bytes=1-2 ", Part(1, 2, SIZE)),
])
def test_satisfiable_ranges(header, expected):
    assert plan_range(header, SIZE) == expected


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=1000-1001", "bytes=999999999999-",   # starts past the end
    "bytes=-0",                                                  # an empty suffix
    "bytes=5-2",                                                 # last before first
    "bytes=0-1,5-6",                                             # several ranges (no multipart answers)
    "bytes=x-1", "items=0-1", "bytes=", "bytes=1-2-3", "bytes=0000000000000000001-2",   # malformed / too long
])
def test_everything_else_is_refused_with_the_size(header):
    plan = plan_range(header, SIZE)
    assert isinstance(plan, Refuse) and plan.content_range == f"bytes */{SIZE}"


def test_content_range_of_a_part():
    p = plan_range("bytes=10-19", SIZE)
    assert isinstance(p, Part) and p.content_range == "bytes 10-19/1000" and p.length == 10


def test_an_empty_file_satisfies_no_range():
    assert isinstance(plan_range("bytes=0-0", 0), Refuse)
    assert isinstance(plan_range("bytes=-1", 0), Refuse)
    assert plan_range(None, 0) == Whole()


@given(size=st.integers(0, 10**6), first=st.integers(0, 2 * 10**6), length=st.integers(1, 10**6))
def test_a_served_part_is_always_inside_the_file(size, first, length):
    plan = plan_range(f"bytes={first}-{first + length - 1}", size)
    if first < size:
        assert isinstance(plan, Part)
        assert plan.first == first and plan.last == min(first + length - 1, size - 1) < size
    else:
        assert isinstance(plan, Refuse)


def test_archive_paths_name_a_safe_version():
    bm = Basemap("20261201-101010-abc123", Path("/x/basemap.pmtiles"), (1.0, 2.0, 3.0, 4.0), (2.0, 3.0), 15,
                 "© OpenStreetMap contributors")
    assert bm.url_path == "/basemap/20261201-101010-abc123.pmtiles"
    assert version_of_path(bm.url_path) == "20261201-101010-abc123"
    msg = bm.page_message("cartrack://app")
    assert msg["url"] == "cartrack://app/basemap/20261201-101010-abc123.pmtiles"
    assert msg["bounds"] == [[1.0, 2.0], [3.0, 4.0]] and msg["maxDataZoom"] == 15
    for bad in ("/basemap/../x.pmtiles", "/basemap/a/b.pmtiles", "/basemap/.pmtiles", "/index.html",
                "/basemap/x.pmtiles.js", "/basemap/%2e%2e.pmtiles"):
        assert version_of_path(bad) is None, bad


def test_zoom_to_fit():
    helsinki = (60.1641581, 24.9351852, 60.1791074, 24.953411)      # ~1 x 1.7 km
    atlanta = (33.65, -84.55, 33.89, -84.29)                        # ~27 x 24 km
    assert 14 <= zoom_to_fit(helsinki, 1000, 700) <= 16
    assert 10 <= zoom_to_fit(atlanta, 1000, 700) <= 12
    assert zoom_to_fit((0.0, 0.0, 0.00001, 0.00001)) == 16 and zoom_to_fit((-80.0, -179.0, 80.0, 179.0)) == 10


def test_tile_user_agent_names_the_app_and_the_contact():
    ua = tile_user_agent("ops@example.org")
    assert ua.startswith("CarTrackDesktop/") and "contact: ops@example.org" in ua
    assert "contact" not in tile_user_agent("")
    assert "\r" not in tile_user_agent("x\r\nInjected: 1") and "\n" not in tile_user_agent("x\r\nInjected: 1")
