"""Redis key and channel names used inside the Lua scripts come from the Python constants."""

import re

import pytest

from cartrack_desktop.services.dispatch import keys as dispatch_keys
from cartrack_desktop.services.dispatch import service
from cartrack_desktop.services.infra.lua import lua_script
from cartrack_desktop.services.live import keys as live_keys
from cartrack_desktop.services.live import live_store

LITERAL_NAME = re.compile(r"'(?:car:|cartrack:)[^']*'")
SCRIPTS = [   # (template, script, names it must contain)
    (live_store._WRITE_TEMPLATE, live_store._WRITE_LUA,
     [live_keys.BATCH_CHANNEL, live_keys.KEY_PREFIX, live_keys.GEO_KEY, live_keys.SEEN_KEY, live_keys.LATE_STREAM]),
    (live_store._PUBLISH_EACH_TEMPLATE, live_store._PUBLISH_EACH_LUA, [live_keys.KEY_PREFIX, live_keys.CHANNEL_PREFIX]),
    (live_store._NEARBY_TEMPLATE, live_store._NEARBY_LUA, [live_keys.GEO_KEY]),
    (live_store._PRUNE_TEMPLATE, live_store._PRUNE_LUA, [live_keys.KEY_PREFIX, live_keys.GEO_KEY, live_keys.SEEN_KEY]),
    (service._CAS_TEMPLATE, service._CAS_LUA, [dispatch_keys.STATUS_KEY, dispatch_keys.EVENTS_CHANNEL]),
]


@pytest.mark.parametrize(("template", "script", "names"), SCRIPTS)
def test_scripts_name_redis_keys_only_through_the_constants(template, script, names):
    assert LITERAL_NAME.findall(template) == [], "a Redis name typed in Lua: use a $NAME placeholder"
    assert "$" not in script
    for name in names:
        assert f"'{name}'" in script


def test_lua_script_refuses_names_it_cannot_quote_and_missing_ones():
    assert lua_script("redis.call('GET', $K)", K="car:location:x") == "redis.call('GET', 'car:location:x')"
    with pytest.raises(ValueError):
        lua_script("redis.call('GET', $K)", K="x') redis.call('FLUSHALL")
    with pytest.raises(KeyError):
        lua_script("redis.call('GET', $OTHER)", K="cartrack:geo")
