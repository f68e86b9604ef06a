"""Redis names the device ingest adds to the contract (README "Data contracts"), in one place.

  cartrack:late             stream: fixes older than their unit's newest, for the history writer
  cartrack:alarms           hash: alarm id -> the raise event's fields, until acknowledged
  cartrack:devices:unknown  hash: device id -> what the Unknown devices list shows

Positions themselves use the live contract (services/live/keys.py), alarm events the dispatch
events channel (services/dispatch/keys.py).
"""

from __future__ import annotations

LATE_STREAM = "cartrack:late"
ALARMS_KEY = "cartrack:alarms"
UNKNOWN_KEY = "cartrack:devices:unknown"
