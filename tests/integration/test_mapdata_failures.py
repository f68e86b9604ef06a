"""Bad input, cancel and concurrent imports: one clear message, and the current map keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cartrack_desktop.mapdata.geocoder import Geocoder
from cartrack_desktop.mapdata.job import CancelledEvent, ImportCancelled, ImportJob, ProgressEvent
from cartrack_desktop.mapdata.manifest import BBox
from cartrack_desktop.mapdata.progress import MapImportError
from cartrack_desktop.mapdata.store import ImportLock, InstalledMap, current_map
from tests.helpers.mapdata import IMPORT_TIMEOUT_S, import_map, leftovers
from tests.helpers.osm_data import helsinki_pbf
from tests.helpers.synthetic_city import CityInfo, build_city

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> CityInfo:
    return build_city(tmp_path_factory.mktemp("city") / "city.osm.pbf", rows=10, cols=10)


@pytest.fixture
def data_dir(tmp_path: Path, city: CityInfo) -> Path:
    """A data directory with a working map already in it (the one that must survive)."""
    import_map(city.path, tmp_path)
    return tmp_path


def _assert_unchanged(data_dir: Path, before: InstalledMap) -> None:
    after = current_map(data_dir)
    assert after == before
    assert after is not None and all(p.is_file() for p in (after.tiles_path, after.search_path, after.roads_path))
    g = Geocoder(after.search_path)
    assert g.search("1st St NE")[0].label == "1st St NE"
    g.close()
    assert leftovers(data_dir) == []


def _fails(source: Path, data_dir: Path, bbox: BBox | None = None) -> str:
    before = current_map(data_dir)
    assert before is not None
    with pytest.raises(MapImportError) as info:
        import_map(source, data_dir, bbox)
    _assert_unchanged(data_dir, before)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_not_a_pbf(data_dir: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "map.osm.pbf"
    bogus.write_text("<osm><node id='1'/></osm>\n" * 100)
    assert "not an OpenStreetMap PBF file" in _fails(bogus, data_dir)
    assert "no such file" in _fails(tmp_path / "missing.osm.pbf", data_dir)
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    assert "not an OpenStreetMap PBF file" in _fails(empty, data_dir)


def test_truncated_pbf(data_dir: Path, tmp_path: Path) -> None:
    data = helsinki_pbf().read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in _fails(cut, data_dir)
    with_bbox = _fails(cut, data_dir, BBox(60.165, 24.94, 60.17, 24.95))   # osmium extract reads it first
    assert "truncated" in with_bbox or "could not be read" in with_bbox


def test_bbox_with_nothing_in_it(data_dir: Path, city: CityInfo) -> None:
    assert "nothing to import inside the bbox" in _fails(city.path, data_dir, BBox(10.0, 10.0, 10.1, 10.1))


def test_area_without_roads(data_dir: Path, city: CityInfo) -> None:
    (s, w), (n, e) = city.intersection(2.3, 2.3), city.intersection(2.7, 2.7)   # one block's building only
    assert "no roads in this area" in _fails(city.path, data_dir, BBox(s, w, n, e))


def test_bad_bbox_values() -> None:
    for text in ("1,2,3", "a,b,c,d", "10,0,5,1", "0,10,1,5", "0,0,91,1", "nan,0,1,1"):
        with pytest.raises(ValueError, match="bbox"):
            BBox.parse(text)


def test_cancel_midway_leaves_the_old_map(data_dir: Path, tmp_path: Path) -> None:
    before = current_map(data_dir)
    assert before is not None
    bigger = build_city(tmp_path / "bigger.osm.pbf", rows=60, cols=60)
    job = ImportJob(bigger.path, data_dir).start()
    stage = ""
    while stage not in ("reading", "search index", "tiles"):       # wait until it is really working
        events = job.next_events(timeout=IMPORT_TIMEOUT_S)
        assert events, "no progress from the import"
        stage = next((e.progress.stage for e in reversed(events) if isinstance(e, ProgressEvent)), stage)
        assert job.running, job.error
    pgid = job.pid or 0
    job.cancel()
    with pytest.raises(ImportCancelled):
        job.wait(60)
    assert job.state == "cancelled"
    assert any(isinstance(e, CancelledEvent) for e in job.poll())
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)          # the worker and its tools (tippecanoe) are gone
    _assert_unchanged(data_dir, before)


def test_one_import_at_a_time(data_dir: Path, city: CityInfo) -> None:
    before = current_map(data_dir)
    assert before is not None
    with ImportLock(data_dir), pytest.raises(MapImportError, match="another map import is running"):
        import_map(city.path, data_dir)
    _assert_unchanged(data_dir, before)


def test_cli_import_map(city: CityInfo, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CARTRACK_DATA_DIR", None)
    run = subprocess.run([sys.executable, "-m", "cartrack_desktop.app", "import-map", str(city.path),
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300,
                         check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "map imported into" in run.stdout and "© OpenStreetMap contributors" in run.stdout
    for stage in ("reading", "search index", "tiles"):
        assert stage in run.stderr
    assert current_map(tmp_path) is not None
    assert "PySide6" not in run.stderr
    bad = subprocess.run([sys.executable, "-m", "cartrack_desktop.app", "import-map", str(tmp_path / "nope.pbf"),
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120,
                         check=False, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].endswith("no such file; the current map is unchanged")
    usage = subprocess.run([sys.executable, "-m", "cartrack_desktop.app", "import-map", str(city.path),
                            "--bbox", "1,2,3"], capture_output=True, text=True, env=env, timeout=120, check=False,
                           cwd=tmp_path)
    assert usage.returncode == 2 and "bbox" in usage.stderr


def test_cli_never_imports_qt(city: CityInfo, tmp_path: Path) -> None:
    code = ("import sys; from cartrack_desktop.app import main; rc = main(['import-map', sys.argv[1], '--data-dir', "
            "sys.argv[2]]); assert 'PySide6' not in sys.modules; sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code, str(city.path), str(tmp_path)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300, check=False)
    assert run.returncode == 0, run.stderr


def _hostile_pbf(path: Path) -> None:
    """Two streets and a house whose tags try everything an OSM editor could type."""
    import osmium
    from osmium.osm import mutable

    evil = "<script>alert(1)</script>\x07\x1b[31m Evil\u202e  Rd\n"   # (a NUL crashes pyosmium's writer)
    w = osmium.SimpleWriter(str(path), overwrite=True)
    coords = [(60.0, 25.0), (60.0, 25.002), (60.002, 25.001), (59.998, 25.001), (60.0001, 25.0005)]
    for i, (lat, lng) in enumerate(coords, start=1):
        tags = {}
        if i == 5:
            tags = {"addr:housenumber": "7" * 100, "addr:street": evil, "name": "x" * 1000, "amenity": "police"}
        w.add_node(mutable.Node(id=i, location=osmium.osm.Location(lng, lat), tags=tags))
    w.add_way(mutable.Way(id=1, nodes=[1, 2], tags={"highway": "residential", "name": evil, "maxspeed": "999999",
                                                     "oneway": "yes;no", "ref": "R" * 500}))
    w.add_way(mutable.Way(id=2, nodes=[3, 1, 4], tags={"highway": "primary", "name": "Main St",
                                                        "maxspeed": "-5 mph", "junction": "\u202e"}))
    w.close()


def test_hostile_tags_are_cleaned(tmp_path: Path) -> None:
    src = tmp_path / "hostile.osm.pbf"
    _hostile_pbf(src)
    installed = import_map(src, tmp_path / "data")
    g = Geocoder(installed.search_path)
    street = g.search("Evil Rd")[0]
    assert street.label == "<script>alert(1)</script>[31m Evil Rd"   # control characters gone; the rest is text
    assert all(ch.isprintable() for ch in street.label)
    corner = g.search("Main St & Evil")[0]
    assert corner.kind == "intersection" and "\x1b" not in corner.label
    police = [r for r in g.search("police") if r.kind == "place"]
    assert police and len(police[0].label) <= 120
    g.close()
    from cartrack_desktop.mapdata.roads import load_road_network

    net = load_road_network(installed.roads_path)
    assert float(net.edge_speed_kmh.max()) <= 60.0                    # 999999 and -5 mph ignored: class defaults
    assert net.edge_reversed.any()                                    # "yes;no" is not a one-way


def test_leftovers_of_a_killed_import_are_removed(data_dir: Path) -> None:
    from cartrack_desktop.mapdata.store import mapdata_dir, remove_stale_builds

    before = current_map(data_dir)
    assert before is not None
    root = mapdata_dir(data_dir)
    (root / "build-20260101-000000-abcdef").mkdir()
    (root / "versions" / "20260101-000000-orphan").mkdir()       # renamed, but the link was never swapped
    (root / ".current-dead").symlink_to("versions/nowhere")
    with ImportLock(data_dir):
        remove_stale_builds(data_dir)
    _assert_unchanged(data_dir, before)
    assert not (root / ".current-dead").is_symlink()
