"""How the app identifies itself to an online tile server (OpenStreetMap's tile usage policy).

tile.openstreetmap.org asks for a User-Agent that identifies the application (a library's or a
browser's default one is not enough, faking another's gets blocked) and, where one is known, a
Referer. A page served from cartrack:// has no web origin to send as a Referer, so none is sent;
the User-Agent names the app, its version and, when configured, a contact (the policy's way for the
operators to reach a heavy user instead of blocking it).
"""

from __future__ import annotations

from .. import __version__

APP_PRODUCT = "CarTrackDesktop"
MAX_CONTACT_CHARS = 120


def tile_user_agent(contact: str = "") -> str:
    """`CarTrackDesktop/0.1.0 (police dispatch console; contact: ops@example.org)`."""
    contact = "".join(ch for ch in contact if ch.isprintable() and ch not in "()")[:MAX_CONTACT_CHARS].strip()
    detail = f"police dispatch console; contact: {contact}" if contact else "police dispatch console"
    return f"{APP_PRODUCT}/{__version__} ({detail})"
