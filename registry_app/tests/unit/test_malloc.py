"""glibc keeps large freed blocks resident per thread arena unless the mmap threshold is fixed.

The subprocess touches a 19 MiB block (argon2id's memory cost) from 6 fresh threads in turn, as
the serve thread pool does when it verifies passwords, and reports how much its RSS grew. Without
the fix each thread's arena keeps its block (~6 x 19 MiB); with it every block goes back.
"""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from registry_app.cli import fixed_mmap_threshold

PROBE = r"""
import ctypes, sys, threading
from registry_app.cli import fixed_mmap_threshold
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
size = 19 * 1024 * 1024
def work():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
if sys.argv[1] == "fixed":
    assert fixed_mmap_threshold()
work()  # main thread first: this is what raises glibc's dynamic threshold
before = rss()
for _ in range(6):
    t = threading.Thread(target=work)
    t.start()
    t.join()
    # a live thread keeps its arena; hold them all, as a thread pool does
    threading.Thread(target=threading.Event().wait, daemon=True).start()
print(rss() - before)
"""

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "libc.so.6" not in (ctypes.util.find_library("c") or ""),
    reason="glibc malloc behaviour",
)


def growth(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@needs_glibc
def test_fixed_threshold_returns_large_blocks() -> None:
    assert fixed_mmap_threshold() is True
    fixed = growth("fixed")
    assert fixed < 19, f"RSS grew by {fixed} MiB with the fixed threshold"


@needs_glibc
def test_probe_detects_the_growth_without_the_fix() -> None:
    # Proves the probe above can fail: glibc's default behaviour keeps the blocks.
    default = growth("default")
    assert default >= 19, f"RSS grew by only {default} MiB without the fix; the probe measures nothing"
