"""Freed C-heap memory is given back after a big build (glibc's malloc_trim; Linux CI has glibc)."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import psutil
import pytest

from cartrack_desktop.services.infra.heap import release_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_memory_freed_in_the_middle_of_the_heap_is_returned_to_the_system():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 MB in 16 KB blocks, each followed by a small block that stays: free() alone cannot shrink the
    # heap (as after the router's build), the freed pages stay resident until they are trimmed
    big, kept = [], []
    for _ in range(4096):
        block = libc.malloc(16384)
        ctypes.memset(block, 1, 16384)
        big.append(block)
        kept.append(libc.malloc(64))
    for block in big:
        libc.free(block)
    me = psutil.Process()
    before = me.memory_info().rss
    assert release_freed_memory() is True
    assert before - me.memory_info().rss > 32 * 2**20
    for block in kept:
        libc.free(block)
