"""Lua scripts get the Redis key and channel names they use from the Python constants.

A script is written as a template with `$NAME` placeholders (Lua itself never uses `$`), filled
in once at import with Lua string literals of the constants: a name is typed once, in Python.
"""

from __future__ import annotations

import re
import string

_SAFE_NAME = re.compile(r"[A-Za-z0-9:_.*-]+\Z")   # nothing to escape inside '...'


def lua_script(template: str, **names: str) -> str:
    """The template with each $NAME replaced by the quoted names[NAME].

    Raises KeyError for a placeholder without a name and ValueError for a name that would
    need escaping: both are programming errors, caught by the first import.
    """
    for key, value in names.items():
        if not _SAFE_NAME.match(value):
            raise ValueError(f"Redis name {key}={value!r} cannot be quoted in Lua as is")
    return string.Template(template).substitute({key: f"'{value}'" for key, value in names.items()})
