"""Redis names the device ingest adds to the contract (README "Data contracts"), in one place.

  cartrack:late             stream: fixes older than their unit's newest, for the history writer
  cartrack:alarms           hash: alarm id -> the raise event's fields, until acknowledged
  cartrack:devices:unknown  hash: device id -> what the Unknown devices list shows

They are defined by the rooms that read them back (services/live/keys.py: the late stream, which
history/late.py lands in the history; services/dispatch/keys.py: alarms, acknowledged by
dispatch/alarms.py, and unknown devices, cleared when a unit claims one), so that no service
imports the ingest. Positions themselves use the live contract, alarm events the dispatch events
channel.
"""

from __future__ import annotations

from ..services.dispatch.keys import ALARMS_KEY
from ..services.dispatch.keys import UNKNOWN_DEVICES_KEY as UNKNOWN_KEY
from ..services.live.keys import LATE_STREAM

__all__ = ["ALARMS_KEY", "LATE_STREAM", "UNKNOWN_KEY"]
