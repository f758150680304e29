"""Bounds a run cannot overrun: time and memory, watched from a second thread.

The explorer checks its bounds between states. A guard or effect that never returns, an
analysis after the search that runs long, or a trace that grows without end never gets
back to it; a watchdog thread does. When a bound is passed it sends the main thread
SIGUSR1, whose handler raises `BoundHit` there, at the next bytecode (or out of the
system call it sits in). `BoundHit` is a BaseException, as KeyboardInterrupt is, so a
user's `except Exception` in a guard does not swallow it.
"""

import os
import resource
import signal
import threading
import time
from typing import Optional

__all__ = ["BoundHit", "Watchdog", "acknowledge", "default_memory_mb",
           "memory_available_bytes", "rss_kb", "stop_reason", "RECURSION"]

_WATCHING = []      # the watchdogs whose blocks are running, innermost last


class BoundHit(BaseException):
    """A resource bound was hit before a verdict; str() says which."""


RECURSION = ("Python's recursion limit: a state's values, or a step's calls, nest deeper "
             "than it allows (a field that grows without end?)")


def stop_reason(e: BaseException) -> str:
    """Why a run stopped before its verdict: a BoundHit's bound, or the recursion limit."""
    return str(e) if isinstance(e, BoundHit) else RECURSION


_STATM = {}         # pid -> a descriptor of its /proc/<pid>/statm, kept open (a fork's own)


def rss_kb() -> int:
    """The resident memory of this process now, in KiB (its peak where /proc is absent).
    The file stays open: a read is 2 µs, an open and a read 22 µs, and the compiled loop
    asks every 1,024 states."""
    try:
        return int(os.pread(_statm(), 128, 0).split()[1]) * (_PAGE_SIZE // 1024)
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _statm() -> int:
    pid = os.getpid()
    if pid not in _STATM:
        for fd in _STATM.values():             # a parent's, inherited over a fork
            try:
                os.close(fd)
            except OSError:
                pass
        _STATM.clear()
        _STATM[pid] = os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
    return _STATM[pid]


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def memory_available_bytes(root: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup"):
    """The memory this process may use: the machine's, or its cgroup's limit if lower
    (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`, at the root and at the
    process's own group); None if neither can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        pass
    for path in _cgroup_files(root, proc):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 1 << 60:     # "max" or v1's huge value: none
            limits.append(int(text))
    return min(limits) if limits else None


def _cgroup_files(root: str, proc: str) -> list:
    files = [os.path.join(root, "memory.max"),
             os.path.join(root, "memory", "memory.limit_in_bytes")]
    try:
        with open(proc) as f:
            lines = f.read().splitlines()
    except OSError:
        return files
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        path = path.lstrip("/")
        if not path:
            continue
        if controllers == "":
            files.append(os.path.join(root, path, "memory.max"))
        elif "memory" in controllers.split(","):
            files.append(os.path.join(root, "memory", path, "memory.limit_in_bytes"))
    return files


def default_memory_mb(share: int = 1) -> int:
    """3/4 of the memory this process may use (see above), split `share` ways; 0 if
    unknown (no bound)."""
    total = memory_available_bytes()
    return int(total * 3 / 4) // share // (1 << 20) if total else 0


class Watchdog:
    """`with Watchdog(max_seconds, max_memory_mb):` raises BoundHit in the main thread
    once the block has run longer, or the process holds more memory, than given.

    `started`: the time.monotonic() the time bound counts from (default: now). Outside
    the main thread, or with no bound, it watches nothing. Once it has fired it fires
    again every `again` seconds while the block runs (a handler that swallowed it)."""

    def __init__(self, max_seconds: Optional[float] = None,
                 max_memory_mb: Optional[int] = None, started: Optional[float] = None,
                 period: float = 0.05, again: float = 2.0):
        self.deadline = (started or time.monotonic()) + max_seconds if max_seconds else None
        self.max_seconds, self.max_kb = max_seconds, (max_memory_mb or 0) * 1024
        self.period, self.again = period, again
        self.reason = None
        self.acknowledged = False
        self._stop = threading.Event()
        self._thread = self._previous = None

    def __enter__(self):
        armed = self.deadline is not None or self.max_kb
        if armed and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR1, self._raise)
            self._main = threading.main_thread().ident
            self._thread = threading.Thread(target=self._watch, daemon=True,
                                            name="watchdog")
            self._thread.start()
            _WATCHING.append(self)
        return self

    def __exit__(self, kind, value, traceback):
        """Stop watching; a bound passed and never acknowledged ends the block here with
        BoundHit, though the block ran on: its BoundHit was swallowed (raised inside a
        finalizer or a gc callback, which Python ignores), and the block finished before
        the watchdog fired again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            _WATCHING.remove(self)
            signal.signal(signal.SIGUSR1, self._previous)
        if kind is None and self.reason is not None and not self.acknowledged:
            raise BoundHit(self.reason)
        return False

    def _raise(self, signum, frame):
        """Raise BoundHit in the main thread, unless the block is over: a signal taken as
        __exit__ begins would leave this watchdog running for good."""
        if self.reason is not None and not (self._stop.is_set() or self.acknowledged or
                                            _leaving(frame)):
            raise BoundHit(self.reason)

    def _watch(self):
        while not self._stop.wait(self.period):
            reason = None if self.acknowledged else self._over()
            if reason is None:
                continue
            self.reason = reason
            while not (self._stop.is_set() or self.acknowledged):
                signal.pthread_kill(self._main, signal.SIGUSR1)
                self._stop.wait(self.again)

    def _over(self) -> Optional[str]:
        if self.deadline is not None and time.monotonic() > self.deadline:
            return f"time bound {self.max_seconds:g} s reached"
        if self.max_kb and rss_kb() > self.max_kb:
            return f"memory bound {self.max_kb // 1024} MB reached"
        return None


def _leaving(frame) -> bool:
    """Whether the main thread is inside a Watchdog's __exit__."""
    while frame is not None:
        if frame.f_code is Watchdog.__exit__.__code__:
            return True
        frame = frame.f_back
    return False


def acknowledge() -> None:
    """A bound was hit and caught, and the verdict is inconclusive: the watchdogs of the
    running blocks stand down so that it can be written (unacknowledged, a watchdog
    fires again every few seconds, through a guard that swallowed its BoundHit)."""
    for dog in _WATCHING:
        dog.acknowledged = True
