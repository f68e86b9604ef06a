"""API authentication and framing as pure logic: modes, roles, rate limits, token format, frames, settings."""

from __future__ import annotations

import datetime as dt

import pytest

from cartrack_desktop.api.auth import OPEN_ACTOR_NAME, Auth, AuthError, Mode, token_from_subprotocols
from cartrack_desktop.api.limits import is_loopback_origin, text_frame
from cartrack_desktop.api.tokens import (
    Role,
    TokenRecord,
    check_name,
    hash_token,
    new_token,
    record_from_doc,
    split_token,
)
from cartrack_desktop.config import ApiBind, ConfigError, load_settings


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def record(name: str, role: Role) -> tuple[str, TokenRecord]:
    token_id, token = new_token()
    return token, TokenRecord(token_id, name, role, hash_token(token), 1.0, "t")


def test_modes_fail_closed():
    auth = Auth(loopback=True, rate_per_s=10)
    assert auth.mode is Mode.UNKNOWN
    with pytest.raises(AuthError) as info:
        auth.actor(None, Role.READ)
    assert info.value.status == 503                       # the token list is not read yet: tokens may exist
    auth.set_tokens({})
    actor = auth.actor(None, Role.ADMIN)
    assert auth.mode is Mode.OPEN and actor.name == OPEN_ACTOR_NAME and actor.token_id is None
    _token, rec = record("wall", Role.READ)
    auth.set_tokens({rec.token_id: rec})
    assert auth.mode is Mode.TOKENS
    with pytest.raises(AuthError) as info:
        auth.actor(None, Role.READ)
    assert info.value.status == 401 and info.value.ws_code == 4401
    exposed = Auth(loopback=False, rate_per_s=10)
    exposed.set_tokens({})
    assert exposed.mode is Mode.TOKENS                   # never open off loopback, even with no token


def test_tokens_roles_and_revocation():
    auth = Auth(loopback=True, rate_per_s=100)
    reader, r = record("wall", Role.READ)
    admin, a = record("ops", Role.ADMIN)
    auth.set_tokens({r.token_id: r, a.token_id: a})
    assert auth.actor(reader, Role.READ).name == "wall"
    with pytest.raises(AuthError) as info:
        auth.actor(reader, Role.DISPATCH)
    assert info.value.status == 403 and info.value.ws_code == 4403
    assert auth.actor(admin, Role.DISPATCH).role is Role.ADMIN
    for wrong in (reader[:-1] + ("x" if reader[-1] != "x" else "y"), "ctk_" + r.token_id + "_" + "A" * 43,
                  "", "Bearer " + reader, reader + " ", "ctk_zz_zz"):
        with pytest.raises(AuthError) as info:
            auth.actor(wrong, Role.READ)
        assert info.value.status == 401, wrong
    auth.set_tokens({a.token_id: a})                      # revoked
    with pytest.raises(AuthError):
        auth.actor(reader, Role.READ)


def test_rate_limit_per_token_with_bursts():
    clock = Clock()
    auth = Auth(loopback=True, rate_per_s=5, clock=clock)
    one, r1 = record("one", Role.READ)
    two, r2 = record("two", Role.READ)
    auth.set_tokens({r1.token_id: r1, r2.token_id: r2})
    for _ in range(10):                                   # a burst of twice the rate
        auth.actor(one, Role.READ)
    with pytest.raises(AuthError) as info:
        auth.actor(one, Role.READ)
    assert info.value.status == 429 and 0 < info.value.retry_after_s <= 0.2
    auth.actor(two, Role.READ)                            # the other token is not affected
    clock.t += 0.2                                        # one more request's worth
    auth.actor(one, Role.READ)
    assert auth.rate_limited == 1


def test_token_format_hash_and_names():
    token_id, token = new_token()
    assert split_token(token) == token_id and token.startswith("ctk_") and len(token) == 4 + 12 + 1 + 43
    assert hash_token(token) != hash_token(token + "x") and len(hash_token(token)) == 64
    assert split_token("ctk_" + token_id) is None and split_token(token + "=") is None
    assert check_name(" night shift 2 ") == "night shift 2"
    for bad in ("", "<b>", "a" * 65, "-lead", "x\ny", "emoji🚓"):
        with pytest.raises(ValueError):
            check_name(bad)
    assert token_from_subprotocols(["cartrack.bearer", token]) == token
    assert token_from_subprotocols(["cartrack.bearer"]) is None and token_from_subprotocols(["chat"]) is None


def test_stored_token_records_are_checked():
    now = dt.datetime.now(dt.UTC)
    good = {"_id": "0123456789ab", "name": "wall", "role": "read", "hash": "a" * 64, "created_at": now,
            "created_by": "root", "revoked_at": None}
    rec = record_from_doc(good)
    assert rec is not None and rec.role is Role.READ and rec.revoked_at is None
    for field, value in (("_id", "short"), ("name", "<script>"), ("role", "root"), ("hash", "zz"),
                         ("created_at", "yesterday")):
        assert record_from_doc({**good, field: value}) is None, field
    assert record_from_doc({**good, "revoked_at": now}).revoked_at == pytest.approx(now.timestamp())


def test_text_frames_and_loopback_origins():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")
    for origin in ("http://localhost:3000", "http://127.0.0.1", "https://[::1]:8443", "http://127.9.9.9:1"):
        assert is_loopback_origin(origin), origin
    for origin in ("null", "https://evil.example", "http://localhost.evil.example", "file://", "http://10.0.0.1"):
        assert not is_loopback_origin(origin), origin


def test_api_settings():
    s = load_settings(["--api", "8000", "--api-cors", "https://wall.example, http://10.1.2.3:8080",
                       "--api-rate", "20"], environ={})
    assert s.api == ApiBind("127.0.0.1", 8000) and s.api.loopback and str(s.api) == "127.0.0.1:8000"
    assert s.api_cors == ("https://wall.example", "http://10.1.2.3:8080") and s.api_rate == 20
    assert load_settings([], environ={}).api is None
    assert load_settings(["--api", "[::1]:0"], environ={}).api == ApiBind("::1", 0)
    with pytest.raises(ConfigError) as info:
        load_settings(["--api", "8000", "--api-cert", __file__], environ={})
    assert "go together" in str(info.value)
    with pytest.raises(ConfigError):
        load_settings(["--api-cors", "wall.example"], environ={})
    with pytest.raises(ConfigError):
        load_settings(["--api-rate", "0"], environ={})
