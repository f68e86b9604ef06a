"""The HTTP API against a real uvicorn server, real redis-server and secantusd-py, from real clients.

Shapes are compared with the seed's examples (REALTIME_TRACKING_SEED.md); every write is checked
where the desktops see it: the runtime's state, MongoDB, the audit log of a second instance.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from pymongo import MongoClient

from cartrack_desktop.api.models import NearbyResponse, RealtimeList
from cartrack_desktop.api.tokens import Role, TokenStore
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.api import stack_settings, start_stack
from tests.helpers.servers import free_port
from tests.helpers.waiting import async_wait_until

# The seed's curl for nearby, verbatim (REALTIME_TRACKING_SEED.md, "Find Nearby Cars"); only the port differs.
SEED_CURL = """curl -X POST http://localhost:8000/police/nearby \\
  -H "Content-Type: application/json" \\
  -d '{
    "lat": 33.7490,
    "lng": -84.3880,
    "radius_km": 3.0
  }'"""
SEED_NEARBY_KEYS = {"car_id", "lat", "lng", "speed", "heading", "distance_km"}   # the seed's response example
SEED_POSITION_KEYS = {"car_id", "lat", "lng", "speed", "heading", "timestamp"}


@pytest.fixture
async def stacks(tmp_path, redis_url, mongo_uri, mongo_db_name):
    started = []

    async def start(*extra, name="api", config=None):
        s = stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, *extra, name=name)
        stack = await start_stack(s, config)
        started.append(stack.runtime)
        return stack

    yield start
    for rt in started:
        await rt.stop()


@pytest.fixture
async def second(tmp_path, redis_url, mongo_uri, mongo_db_name):
    """Another instance on the same servers: a dispatcher's desktop, Qt-free."""
    rts: list[Runtime] = []

    async def start(*extra):
        rt = Runtime(stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, "--no-simulator", *extra,
                                    name="desk"))
        await rt.start()
        await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
        await async_wait_until(lambda: rt.events.connected, 10, "events")
        rts.append(rt)
        return rt

    yield start
    for rt in rts:
        await rt.stop()


def client(stack, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, trust_env=False, timeout=10)


async def put(stack, car_id, lat, lng, speed=30.0, heading=90.0):
    return await stack.runtime.store.update_car_location(car_id, lat, lng, speed, heading)


async def test_seed_curl_for_nearby_returns_its_documented_shape(stacks):
    stack = await stacks("--no-simulator")
    await put(stack, "PC-001", 33.7501, -84.3890, 35.0, 180.0)      # the seed's example unit
    await put(stack, "PC-002", 33.7600, -84.3880)                   # ~1.2 km
    await put(stack, "PC-003", 33.9000, -84.3880)                   # ~17 km: outside 3 km
    port = stack.host.address[1]
    proc = await asyncio.create_subprocess_exec("bash", "-c", SEED_CURL.replace("localhost:8000", f"localhost:{port}"),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    body = json.loads(out)
    assert set(body) == {"cars"}
    NearbyResponse.model_validate(body)                                # the answer fits its documented model
    cars = body["cars"]
    assert [c["car_id"] for c in cars] == ["PC-001", "PC-002"]       # nearest first, PC-003 left out
    for c in cars:
        assert SEED_NEARBY_KEYS <= set(c) <= SEED_NEARBY_KEYS | {"timestamp"}
    assert cars[0]["lat"] == 33.7501 and cars[0]["speed"] == 35.0 and cars[0]["heading"] == 180.0
    assert cars[0]["distance_km"] == pytest.approx(0.15, abs=0.005)   # the seed says "0.15"
    # the same GEO search as the window, to the metre
    window = await stack.runtime.store.get_nearby_cars(33.7490, -84.3880, 3.0)
    assert [(n.car_id, round(n.distance_km, 9)) for n in window] == [(c["car_id"], round(c["distance_km"], 9))
                                                                      for c in cars]


async def test_realtime_positions_in_the_seed_json(stacks):
    stack = await stacks("--no-simulator")
    await put(stack, "PC-001", 33.75, -84.39, 41.5, 12.0)
    await put(stack, "PC-002", 33.76, -84.40)
    async with client(stack) as c:
        one = (await c.get("/police/realtime/PC-001")).json()
        assert set(one) == SEED_POSITION_KEYS and one["speed"] == 41.5 and one["heading"] == 12.0
        assert abs(one["timestamp"] - time.time()) < 30
        every = (await c.get("/police/realtime")).json()
        assert every["count"] == 2 and {p["car_id"] for p in every["cars"]} == {"PC-001", "PC-002"}
        RealtimeList.model_validate(every)
        for path in ("/police/realtime/PC-404", "/police/realtime/" + "x" * 5000, "/police/realtime/a%20b*"):
            r = await c.get(path)
            assert r.status_code == 404 and "detail" in r.json(), path


async def test_nearby_refuses_bad_input_with_a_clear_422(stacks):
    stack = await stacks("--no-simulator")
    async with client(stack) as c:
        cases = [
            ({"lat": 95, "lng": -84.38, "radius_km": 3}, "lat"),
            ({"lat": 33.7, "lng": -184.38, "radius_km": 3}, "lng"),
            ({"lat": 33.7, "lng": -84.38, "radius_km": 0}, "radius_km"),
            ({"lat": 33.7, "lng": -84.38, "radius_km": 500}, "radius_km"),
            ({"lat": "33.7", "lng": -84.38, "radius_km": 3}, "lat"),            # strings are not numbers
            ({"lat": True, "lng": -84.38, "radius_km": 3}, "lat"),
            ({"lng": -84.38, "radius_km": 3}, "lat"),
            ({"lat": 33.7, "lng": -84.38, "radius_km": 3, "limit": 5}, "limit"),  # unknown field
        ]
        for payload, field in cases:
            r = await c.post("/police/nearby", json=payload)
            assert r.status_code == 422, payload
            assert field in r.json()["detail"], r.json()
        r = await c.post("/police/nearby", content=b'{"lat": NaN, "lng": 1, "radius_km": 3}',
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 422
        r = await c.post("/police/nearby", content=b'{"lat": 33.7, "lng": ',
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 422
        r = await c.post("/police/nearby", content=b'{"lat": 33.7, "lng": 1, "radius_km": 3}',
                         headers={"Content-Type": "text/plain"})   # a form a web page could post: not JSON
        assert r.status_code == 422


async def test_registry_cars_with_last_known_position_from_mongodb(stacks):
    stack = await stacks("--cars", "3", "--seed", "2")
    rt = stack.runtime
    await async_wait_until(lambda: rt.store.get_car_location("PC-002"), 10, "simulated units live")
    async with client(stack) as c:

        async def synced() -> bool:   # the runtime's own sync writes a cycle every 10 s
            return (await c.get("/police/cars/PC-002")).json().get("timestamp") is not None

        await async_wait_until(synced, 25, "a sync cycle with PC-002 in MongoDB")
        listing = (await c.get("/police/cars")).json()
        assert listing["count"] == 3 and [x["car_id"] for x in listing["cars"]] == ["PC-001", "PC-002", "PC-003"]
        one = (await c.get("/police/cars/PC-002")).json()
        assert one["call_sign"] == "Boy-1" and one["status"] == "available"
        assert SEED_POSITION_KEYS <= set(one) and -90 <= one["lat"] <= 90 and one["timestamp"] > 0
        assert (await c.get("/police/cars/PC-999")).status_code == 404


async def test_simulator_add_and_remove_follow_like_the_fleet_editor(stacks, mongo_uri, mongo_db_name):
    stack = await stacks("--cars", "1", "--seed", "3")
    rt = stack.runtime
    async with client(stack) as c:
        r = await c.post("/simulator/add/PC-077", params={"call_sign": "Victor-77"})
        assert r.status_code == 201 and r.json()["ok"] and r.json()["car_id"] == "PC-077"
        await async_wait_until(lambda: "PC-077" in rt.simulator.units, 5, "simulator picked it up")
        await async_wait_until(lambda: rt.store.get_car_location("PC-077"), 5, "live")
        assert (await c.post("/simulator/add/PC-077")).status_code == 409                 # already registered
        assert (await c.post("/simulator/add/bad%20id")).status_code == 422
        r = await c.post("/police/cars", json={"car_id": "DEV-9", "call_sign": "Real-9", "simulated": False})
        assert r.status_code == 201
        assert (await c.post("/police/cars", json={"car_id": "DEV-8", "call_sign": "Real-9"})).status_code == 409
        assert (await c.post("/police/cars", json={"car_id": "DEV-8", "call_sign": "a\u0007b"})).status_code == 422
        r = await c.delete("/simulator/remove/PC-077")
        assert r.status_code == 200 and r.json()["ok"]
        await async_wait_until(lambda: "PC-077" not in rt.simulator.units and "PC-077" not in rt.fleet, 5, "gone")
        assert (await c.delete("/simulator/remove/PC-077")).status_code == 404
    await async_wait_until(lambda: not rt.outbox.pending, 10, "outbox written")
    db = MongoClient(mongo_uri)[mongo_db_name]
    audit = list(db.audit_log.find({"action": {"$in": ["fleet.add", "fleet.remove"]}}))
    assert {(a["action"], a["dispatcher"]) for a in audit} == {("fleet.add", "api (no token)"),
                                                              ("fleet.remove", "api (no token)")}
    doc = db.cars.find_one({"_id": "DEV-9"})
    assert doc["simulated"] is False and doc["call_sign"] == "Real-9"


async def _token(stack, name: str, role: Role) -> str:
    token, _ = await TokenStore(stack.runtime.records.db).create(name, role, created_by="test")
    await async_wait_until(lambda: stack.host.ctx.auth.token_count >= 1
                           and stack.host.ctx.auth.mode.value == "tokens", 5, "token loaded by the API")
    await async_wait_until(lambda: any(r.name == name for r in stack.host.ctx.auth._tokens.values()), 5, "this one")
    return token


async def test_api_dispatch_shows_on_a_desktop_within_2s_and_in_its_audit_log(stacks, second):
    stack = await stacks("--no-simulator")
    desk = await second()
    token = await _token(stack, "mdt-unit-12", Role.DISPATCH)
    await put(stack, "DEV-1", 33.75, -84.39)
    async with client(stack, token) as c:
        t0 = time.monotonic()
        r = await c.post("/police/dispatch", json={"car_id": "DEV-1", "lat": 33.752, "lng": -84.391,
                                                   "type": "Burglary", "priority": 2, "notes": "rear door"})
        assert r.status_code == 200, r.text
        body = r.json()
        inc_id = body["incident"]["id"]
        assert body["ok"] and body["car_id"] == "DEV-1" and body["incident"]["created_by"] == "mdt-unit-12"
        assert [e["kind"] for e in body["incident"]["timeline"]] == ["created", "unit assigned"]
    seen = await async_wait_until(lambda: desk.dispatch.statuses.get("DEV-1"), 2.0, "status on the desktop")
    assert time.monotonic() - t0 < 2.0
    assert seen.status is UnitStatus.DISPATCHED and seen.incident_id == inc_id and seen.by == "mdt-unit-12"
    assert inc_id in desk.dispatch.incidents
    await async_wait_until(lambda: not stack.runtime.outbox.pending, 10, "outbox written")
    audit = await async_wait_until(lambda: _audit_of(desk, "unit.dispatch"), 5, "audit entry")
    assert audit[0].dispatcher == "mdt-unit-12" and "DEV-1" in audit[0].details


async def _audit_of(rt, action):
    return [a for a in await rt.records.audit() if a.action == action]


async def test_the_loser_of_a_claim_gets_409_with_who_holds_the_unit(stacks, second):
    stack = await stacks("--no-simulator")
    desk = await second()
    await put(stack, "DEV-2", 33.75, -84.39)
    inc = await desk.dispatch.create_incident(33.76, -84.40, "Robbery", 1, "")
    [won] = await desk.dispatch.dispatch(inc.incident_id, ["DEV-2"])
    assert won.ok
    await async_wait_until(lambda: stack.runtime.dispatch.statuses.get("DEV-2"), 2.0, "status reached the API side")
    async with client(stack) as c:
        r = await c.post("/police/dispatch", json={"car_id": "DEV-2", "lat": 33.74, "lng": -84.38, "type": "Alarm"})
        assert r.status_code == 409
        body = r.json()
        assert body["car_id"] == "DEV-2" and body["held_by"] == {"incident_id": inc.incident_id,
                                                                 "status": "dispatched", "by": "disp-desk"}
        assert inc.incident_id in body["detail"]
        assert body["incident_id"] and body["incident_id"] != inc.incident_id   # the new incident stays open
        # an existing incident, a closed one, an unknown one, an unknown unit
        r = await c.post("/police/dispatch", json={"car_id": "DEV-2", "incident_id": inc.incident_id})
        assert r.status_code == 409
        assert (await c.post("/police/dispatch", json={"car_id": "DEV-2", "incident_id": "INC-000000-ZZZZ"})
                ).status_code == 404
        assert (await c.post("/police/dispatch", json={"car_id": "NOPE-1", "incident_id": inc.incident_id})
                ).status_code == 404
        for bad in ({"car_id": "DEV-2"}, {"car_id": "DEV-2", "incident_id": inc.incident_id, "lat": 1.0},
                    {"car_id": "DEV-2", "incident_id": "INC-1"}):
            assert (await c.post("/police/dispatch", json=bad)).status_code == 422, bad


async def test_incidents_list_get_create_close_and_unit_status(stacks, mongo_uri, mongo_db_name):
    stack = await stacks("--no-simulator")
    await put(stack, "DEV-3", 33.75, -84.39)
    async with client(stack) as c:
        r = await c.post("/police/incidents", json={"lat": 33.75, "lng": -84.39, "type": "Theft", "priority": 3})
        assert r.status_code == 201
        inc = r.json()
        assert inc["status"] == "open" and inc["created_by"] == "api (no token)" and inc["units"] == []
        assert (await c.post("/police/incidents", json={"lat": 33.75, "lng": -84.39, "type": "T\u0000"})
                ).status_code == 422
        assert (await c.post("/police/incidents", json={"lat": 33.75, "lng": -84.39, "type": "Theft",
                                                        "priority": 9})).status_code == 422
        listed = (await c.get("/police/incidents")).json()
        assert [i["id"] for i in listed["incidents"]] == [inc["id"]]
        r = await c.post("/police/dispatch", json={"car_id": "DEV-3", "incident_id": inc["id"]})
        assert r.status_code == 200
        r = await c.post("/police/units/DEV-3/status", json={"status": "out_of_service"})
        assert r.status_code == 409   # assigned: clear it first
        r = await c.post("/police/units/DEV-3/status", json={"status": "available", "note": "false alarm"})
        assert r.status_code == 200 and r.json()["ok"]
        assert (await c.post("/police/units/DEV-3/status", json={"status": "out_of_service"})).status_code == 200
        assert stack.runtime.dispatch.status_of("DEV-3") is UnitStatus.OUT_OF_SERVICE
        assert (await c.post("/police/units/DEV-3/status", json={"status": "en_route"})).status_code == 422
        assert (await c.post("/police/units/NOPE/status", json={"status": "available"})).status_code == 404
        r = await c.post(f"/police/incidents/{inc['id']}/close")
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert (await c.post(f"/police/incidents/{inc['id']}/close")).status_code == 409
        assert (await c.post("/police/incidents/INC-000000-ZZZZ/close")).status_code == 404
        await async_wait_until(lambda: not stack.runtime.outbox.pending, 10, "outbox written")
        closed = (await c.get("/police/incidents", params={"status": "closed"})).json()
        assert [i["id"] for i in closed["incidents"]] == [inc["id"]]
        one = (await c.get(f"/police/incidents/{inc['id']}")).json()
        assert [e["kind"] for e in one["timeline"]] == ["created", "unit assigned", "cleared", "closed"]
        assert (await c.get("/police/incidents/INC-000000-ZZZZ")).status_code == 404
        assert (await c.get("/police/incidents", params={"limit": 0})).status_code == 422


async def test_stats_report_simulator_sync_live_ingest_rejections(stacks):
    stack = await stacks("--cars", "2")
    await async_wait_until(lambda: stack.runtime.simulator.stats.ticks >= 2, 10, "ticks")
    await stack.runtime.store.client.publish("car:location:stream:PC-001", b"{not json")   # counted, not shown
    async with client(stack) as c:
        s = (await c.get("/stats")).json()
    assert set(s) == {"simulator", "sync", "live", "ingest", "rejections", "api"}
    assert s["simulator"]["units"] == 2 and s["simulator"]["ticks"] >= 2 and s["simulator"]["running_here"]
    assert s["live"] == {"live_units": 2, "redis_ok": True, "mongo_ok": True}
    assert s["ingest"]["state"] == "off"
    assert set(s["rejections"]) == {"redis", "mongodb", "api"}
    assert s["api"]["auth"] == "open" and s["sync"]["failures"] == 0


async def test_ingest_figures_and_unknown_devices_when_this_instance_runs_the_ingest(stacks):
    stack = await stacks("--no-simulator")
    async with client(stack) as c:
        assert (await c.get("/ingest/devices/unknown")).status_code == 404    # no ingest here
    port = free_port()
    stack = await stacks("--no-simulator", "--ingest", str(port), name="with-ingest")
    async with client(stack) as c:
        async def running():
            return (await c.get("/stats")).json()["ingest"]["state"] == "running"
        await async_wait_until(running, 30, "the ingest running")
        # a device nobody registered reports (OsmAnd's query format): refused, and listed
        async with httpx.AsyncClient(trust_env=False, timeout=10) as device:
            r = await device.get(f"http://127.0.0.1:{port}/", params={
                "id": "tracker-9", "lat": "33.75", "lon": "-84.39", "timestamp": str(int(time.time())),
                "speed": "10"})
        assert r.status_code == 400
        async def listed():
            found = (await c.get("/ingest/devices/unknown")).json()["devices"]
            return next((d for d in found if d["device_id"] == "tracker-9"), None)
        d = await async_wait_until(listed, 10, "the unknown device listed")
        assert d["protocol"] == "osmand" and d["count"] >= 1
        assert abs(d["lat"] - 33.75) < 1e-6 and abs(d["lng"] + 84.39) < 1e-6
        s = (await c.get("/stats")).json()["ingest"]
        assert s["listening"] and s["workers"] == 1 and s["totals"].get("unknown", 0) >= 1


async def test_docs_list_every_endpoint_from_local_files(stacks):
    stack = await stacks("--no-simulator")
    async with client(stack) as c:
        spec = (await c.get("/openapi.json")).json()
        paths = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
        assert {("GET", "/police/realtime/{car_id}"), ("GET", "/police/realtime"), ("POST", "/police/nearby"),
                ("POST", "/simulator/add/{car_id}"), ("DELETE", "/simulator/remove/{car_id}"), ("GET", "/stats"),
                ("GET", "/police/cars"), ("GET", "/police/cars/{car_id}"), ("POST", "/police/cars"),
                ("POST", "/police/dispatch"), ("GET", "/police/incidents"), ("GET", "/police/incidents/{incident_id}"),
                ("POST", "/police/incidents"), ("POST", "/police/incidents/{incident_id}/close"),
                ("POST", "/police/units/{car_id}/status"), ("GET", "/ingest/devices/unknown")} <= paths
        assert "/ws/track/{car_id}" in spec["info"]["description"] and "/ws/fleet" in spec["info"]["description"]
        page = await c.get("/docs")
        assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
        assert "http://" not in page.text and "https://" not in page.text      # nothing from a CDN
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            r = await c.get(f"/docs-assets/{asset}")
            assert r.status_code == 200 and len(r.content) > 100_000
        assert (await c.get("/redoc")).status_code == 404


async def test_tokens_missing_wrong_revoked_role_and_rate_limit(stacks):
    from cartrack_desktop.api.host import ApiConfig
    from cartrack_desktop.config import ApiBind

    stack = await stacks("--no-simulator", config=ApiConfig(ApiBind("127.0.0.1", 0), rate_per_s=5.0))
    reader = await _token(stack, "wall-display", Role.READ)
    admin = await _token(stack, "ops-admin", Role.ADMIN)
    async with client(stack) as anon, client(stack, reader) as rd, client(stack, admin) as ad, \
            client(stack, reader[:-1] + ("A" if reader[-1] != "A" else "B")) as wrong:
        r = await anon.get("/stats")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert (await wrong.get("/stats")).status_code == 401
        assert (await rd.get("/stats")).status_code == 200
        assert (await rd.post("/police/incidents", json={"lat": 1.0, "lng": 1.0, "type": "Alarm"})).status_code == 403
        assert (await ad.post("/police/incidents", json={"lat": 1.0, "lng": 1.0, "type": "Alarm"})).status_code == 201
        codes = [(await rd.get("/police/realtime")).status_code for _ in range(15)]   # burst of 10 at 5/s
        assert 429 in codes and codes[0] == 200
        limited = next(r for r in [await rd.get("/police/realtime")] if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert await TokenStore(stack.runtime.records.db).revoke("ops-admin")
        await async_wait_until(lambda: _status(ad, "/stats", 401), 5, "revoked token refused")
    inc = stack.runtime.dispatch.incidents
    assert [i.created_by for i in inc.values()] == ["ops-admin"]


async def _status(c, path, code):
    return (await c.get(path)).status_code == code
