"""Memory a burst of requests freed, given back to the operating system once they pause.

A cold convergence decodes, renders and discards far more than a settled fleet keeps. What
Python frees in blocks over 512 bytes goes back to glibc's heap, which returns to the system
only what lies free at its very top (above ``M_TRIM_THRESHOLD``); free pages in the middle,
between blocks still in use, stay resident for as long as the process lives. glibc's
``malloc_trim(0)`` hands those pages back too (``madvise(MADV_DONTNEED)`` on every free page of
every arena, since glibc 2.8; malloc_trim(3)). Measured at 1,000 settled clusters, one process:
the heap held 13 MiB free among 27 MiB in use, and one trim lowered VmRSS by 9.6 MiB.

`HeapTrim` trims once the process's requests have paused: each request that ends tells it
(`used`), and `QUIET_SECONDS` after the last one, with no other request since, it trims the
heap once, then waits for requests again. A trim walks the heap (milliseconds for tens of MiB,
with the allocator locked), so trims are also spaced so that their own time stays under
`DUTY` of the wall clock. Where the C library is not glibc (musl, macOS, Windows) there is no
``malloc_trim`` and `HeapTrim` trims nothing. Other upkeep that should wait for a pause
(`function.reconciler.collector`) asks to run at the same quiet moments (`at_quiet`), before
the trim, so that what it frees is returned with the rest.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import platform
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0
"""How long requests must have paused before the heap is trimmed."""
DUTY = 0.01
"""The largest share of the wall clock trims may take: after a trim of ``t`` seconds the next
waits at least ``t / DUTY``."""


def glibc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` of this process, or None where the C library is another."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> object:
        return trim(0)

    return release


def resident_kib() -> int:
    """This process's resident set (VmRSS), KiB; 0 where /proc does not tell."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


class HeapTrim:
    """Trims the C heap (``release``) once requests paused ``quiet`` seconds after any ran."""

    def __init__(
        self,
        release: Callable[[], object] | None,
        *,
        quiet: float = QUIET_SECONDS,
        duty: float = DUTY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._release = release
        self._quiet = quiet
        self._duty = duty
        self._clock = clock
        self._last_used = 0.0
        self._not_before = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chores: list[Callable[[], object]] = []
        self.trims = 0
        """Trims so far."""
        self.released_kib = 0
        """VmRSS the trims gave back, KiB in all."""

    @property
    def enabled(self) -> bool:
        """Whether there is a heap to trim (glibc)."""
        return self._release is not None

    def at_quiet(self, chore: Callable[[], object]) -> None:
        """Run ``chore`` too at every quiet moment, before the trim (it keeps its own pace)."""
        self._chores.append(chore)

    def used(self) -> None:
        """A request ended (on the running loop): trim once requests have paused."""
        if self._release is None and not self._chores:
            return
        self._last_used = self._clock()
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._loop is loop:
            return
        self._loop = loop  # a timer on a loop that has gone is dropped with it
        self._timer = loop.call_later(self._quiet, self._due)

    def cancel(self) -> None:
        """No trim pending."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        assert self._loop is not None
        now = self._clock()
        wait = max(self._last_used + self._quiet, self._not_before) - now
        if wait > 0:  # a request since, or the last trim too recent
            self._timer = self._loop.call_later(wait, self._due)
            return
        self._timer = None
        for chore in self._chores:
            chore()
        if self._release is not None:
            self._trim(self._release)

    def _trim(self, release: Callable[[], object]) -> None:
        before = resident_kib()
        started = time.perf_counter()
        release()
        took = time.perf_counter() - started
        released = max(0, before - resident_kib())
        self._not_before = self._clock() + took / self._duty
        self.trims += 1
        self.released_kib += released
        log.debug(
            "returned %d KiB of freed heap to the system in %.1f ms",
            released,
            took * 1000,
            extra={"releasedKiB": released, "seconds": round(took, 4)},
        )


heap = HeapTrim(glibc_trim())
"""The process's one heap, trimmed after the requests of every client of it."""
