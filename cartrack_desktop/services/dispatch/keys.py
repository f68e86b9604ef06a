"""Redis names of dispatch (README "Dispatch state in Redis"), for Python and the Lua script."""

from __future__ import annotations

STATUS_KEY = "cartrack:status"      # hash: car_id -> status record JSON
EVENTS_CHANNEL = "cartrack:events"  # pub/sub: status, incident, fleet and alarm events between instances
ALARMS_KEY = "cartrack:alarms"      # hash: alarm id -> the raise event's fields, until acknowledged
UNKNOWN_DEVICES_KEY = "cartrack:devices:unknown"   # hash: device id -> what the Unknown devices list shows
