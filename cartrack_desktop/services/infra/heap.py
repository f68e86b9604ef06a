"""Giving freed C-heap memory back to the system after a large one-off build.

Building the router of a metro-sized road network (numpy temporaries, sorting, the snapping tree)
leaves ~50 MB of freed blocks in glibc's heap, which it keeps for reuse rather than returning:
measured on the bench's metro network, the process's unique memory went from +120 MB to +73 MB
after `malloc_trim(0)`. Nothing else in the app allocates on that scale again, so it is given back
once, after the build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """glibc's malloc_trim(0): True if memory was given back; False where the C library has none."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))
