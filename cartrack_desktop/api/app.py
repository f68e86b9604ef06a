"""The FastAPI application factory: routes, error answers, limits, docs served from local files."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from starlette.middleware.cors import CORSMiddleware

from .auth import WS_SUBPROTOCOL
from .context import ApiContext
from .limits import BodyLimit, OriginGuard
from .port import RuntimeUnavailable
from .routes_dispatch import router as dispatch_router
from .routes_fleet import router as fleet_router
from .routes_live import router as live_router
from .routes_ws import router as ws_router

log = logging.getLogger(__name__)

SWAGGER_DIR = Path(__file__).resolve().parents[2] / "resources" / "swagger-ui"
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
MAX_ERRORS_SHOWN = 10
DESCRIPTION = f"""
The seed's HTTP and WebSocket interface to CarTrack's live fleet, plus incidents and dispatch.

**Authentication.** Bound to loopback with no token created, no authentication (as the seed).
Otherwise every call needs `Authorization: Bearer ctk_…` (`cartrack-desktop api-token create NAME --role
read|dispatch|admin`). WebSockets: `new WebSocket(url, ["{WS_SUBPROTOCOL}", token])`, or a first message
`{{"type": "auth", "token": "ctk_…"}}`.

**WebSockets** (not listed below, OpenAPI cannot describe them): `WS /ws/track/{{car_id}}` sends the seed's
position JSON on every update of that unit (current position first); `WS /ws/fleet` sends
`{{"v": 1, "type": "snapshot"|"batch", "cars": [[car_id, lat, lng, speed, heading, timestamp], …]}}` and
`{{"v": 1, "type": "status", "car_id", "status", "incident_id", "by"}}`. Close codes: 1001 server stopping,
1013 too many clients / token list not loaded, 4401 token missing or invalid, 4403 role or origin not allowed,
4404 unknown unit; a client too slow to read is dropped (1006).
"""


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field, without echoing the (untrusted) input back."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()[:MAX_ERRORS_SHOWN]]
    detail = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return JSONResponse({"detail": detail[:2000], "errors": errors}, status_code=422)


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    what = ("live data (Redis)" if isinstance(exc, RedisError | OSError)
            else "the database (MongoDB)" if isinstance(exc, PyMongoError) else "the service")
    log.warning("API: %s unavailable: %s", what, exc)
    return JSONResponse({"detail": f"{what} is unavailable; try again"}, status_code=503,
                        headers={"Retry-After": "2"})


def create_app(ctx: ApiContext, *, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    from .. import __version__

    app = FastAPI(title="CarTrack Desktop API", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.ctx = ctx
    for router in (live_router, fleet_router, dispatch_router, ws_router):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in (RedisError, PyMongoError, RuntimeUnavailable, ConnectionError, TimeoutError):
        app.add_exception_handler(error, _unavailable)
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="CarTrack Desktop API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    # outermost last: CORS answers preflights, then the origin check, then the body limit
    app.add_middleware(BodyLimit)
    app.add_middleware(OriginGuard, allowed=cors_origins)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                           max_age=600)
    return app
