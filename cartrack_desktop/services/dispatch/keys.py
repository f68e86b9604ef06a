"""Redis names of dispatch (README "Dispatch state in Redis"), for Python and the Lua script."""

from __future__ import annotations

STATUS_KEY = "cartrack:status"      # hash: car_id -> status record JSON
EVENTS_CHANNEL = "cartrack:events"  # pub/sub: status, incident and fleet events between instances
