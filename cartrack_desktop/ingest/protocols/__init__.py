"""Device protocols -> DeviceReport, one small module per protocol (like Traccar's *ProtocolDecoder).

`decode_request` picks the decoder from the request itself, so one port serves every protocol:
a JSON body with `_type` is OwnTracks, with `position` + `device` a Traccar server's forwarder,
with `location` + `device_id` Traccar Client 9; anything else is an OsmAnd query (in the target
or a form body). Pure: no I/O; the JSON parser is a parameter (orjson on the hot path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from ..report import DecodeError, DeviceReport
from ..units import SpeedUnit
from . import forwarder, osmand, owntracks, traccar_json

Loads = Callable[[bytes | str], Any]


class Request(NamedTuple):
    """What the HTTP layer hands over: header names lower-case, the body already size-limited.

    A NamedTuple: one is made per request (a frozen dataclass costs several times more to build).
    Any method is taken (as Traccar does), so the method is not kept.
    """

    path: str
    query: bytes
    headers: Mapping[str, str]
    body: bytes


class Decoded(NamedTuple):
    """report None: a message that needs no position handling (an OwnTracks waypoint, ...).

    json_reply: answer `[]` with Content-Type application/json (OwnTracks expects it).
    """

    report: DeviceReport | None
    json_reply: bool = False


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    """key/value pairs of a query string or form body; invalid UTF-8 and floods are DecodeErrors.

    The common case (no percent-escapes, no '+') is split directly: parse_qsl cost ~50 µs per
    report here, a third of the whole request; escaped queries still go through parse_qsl.
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("bad_utf8") from None
    if "%" in text or "+" in text:
        try:
            return parse_qsl(text, keep_blank_values=True, max_num_fields=osmand.MAX_PARAMS, errors="strict")
        except UnicodeDecodeError:
            raise DecodeError("bad_utf8") from None
        except ValueError:
            raise DecodeError("oversize", "too many parameters") from None
    pairs = text.split("&")
    if len(pairs) > osmand.MAX_PARAMS:
        raise DecodeError("oversize", "too many parameters")
    out = []
    for pair in pairs:
        if pair:
            key, _, value = pair.partition("=")
            out.append((key, value))
    return out


_KEY_VALUE = itemgetter(0, 2)   # of str.partition("="): (key, "=", value)


def query_dict(raw: bytes) -> dict[str, str]:
    """parse_query as a dict (a repeated key: the last value wins, as the decoders take it).

    The common case (no escapes) is split and paired by C functions only (str.split, str.partition
    through map, itemgetter, dict): a Python loop over the pairs was the costliest step of a report.
    An empty pair gives the key "" (ignored by every decoder), which parse_qsl would skip."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("bad_utf8") from None
    if "%" in text or "+" in text:
        return dict(parse_query(raw))
    pairs = text.split("&")
    if len(pairs) > osmand.MAX_PARAMS:
        raise DecodeError("oversize", "too many parameters")
    return dict(map(_KEY_VALUE, map(str.partition, pairs, repeat("="))))


def _is_json(req: Request) -> bool:
    ctype = req.headers.get("content-type", "")
    return "json" in ctype or req.body.lstrip()[:1] in (b"{", b"[")


def decode_request(req: Request, *, loads: Loads, speed_unit: SpeedUnit = SpeedUnit.KNOTS) -> Decoded:
    """The report in a request, or DecodeError naming why there is none."""
    query = query_dict(req.query) if req.query else {}
    if req.body and _is_json(req):
        try:
            root = loads(req.body)
        except (ValueError, TypeError, RecursionError):
            raise DecodeError("malformed_json") from None
        if not isinstance(root, dict):
            raise DecodeError("not_object")
        return _decode_json(root, req, query)
    if not query and req.body:
        query = query_dict(req.body)
    if not query:
        raise DecodeError("empty")
    report = osmand.decode_params(query, speed_unit=speed_unit)
    _token_from_headers(report, req)
    return Decoded(report)


def _decode_json(root: dict[str, Any], req: Request, params: dict[str, str]) -> Decoded:
    if "_type" in root:
        limit = owntracks.device_from_limits(req.headers.get("x-limit-u") or params.get("u"),
                                             req.headers.get("x-limit-d") or params.get("d"))
        report = owntracks.decode(root, limit)
        if report is not None:
            report.token = params.get("token")
            _token_from_headers(report, req)
        return Decoded(report, json_reply=True)
    if isinstance(root.get("position"), dict):
        report = forwarder.decode(root)
    elif isinstance(root.get("location"), dict):
        report = traccar_json.decode(root)
    else:
        raise DecodeError("unknown_format")
    report.token = params.get("token")
    _token_from_headers(report, req)
    return Decoded(report)


def _token_from_headers(report: DeviceReport, req: Request) -> None:
    header = req.headers.get("x-device-token")
    if header:
        report.token = header
