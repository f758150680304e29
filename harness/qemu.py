"""QEMU builds and processes: find or fetch a build, start it, talk QMP, always end it.

QMP goes through the QEMU project's `qemu.qmp` library; `QMPSession` only bounds its waits
and keeps two exception names for the callers.

Two builds (docs/real-qemu.md, Getting QEMU 7.2 and 10.0): 7.2 from Debian (`apt-get install
qemu-system-x86`) and 10.0 from bookworm-backports, unpacked under
`.qemu/10.0` by `harness/get-qemu-10.0.sh` (no install, no change to /etc/apt). A third,
`10.0-patched`, is QEMU 10.0.2 built with the series in patches/ by `make patched-qemu`
(harness/build-patched-qemu.sh, docs/upstream.md); it is never fetched on demand.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from qemu.qmp import ConnectError, ExecInterruptedError, ExecuteError, QMPClient, StateError
from qemu.qmp import QMPError as LibraryError

__all__ = ["Build", "BuildMissing", "find_build", "fetch_build", "Qemu", "QMPSession",
           "QMPError", "QMPTimeout", "QMPClosed", "VERSIONS"]

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ("7.2", "10.0")
PATCHED = "10.0-patched"
TRACE_EVENTS = (
    "multifd_*", "migrate_set_state", "migration_bitmap_sync_start",
    "migration_bitmap_sync_end", "migration_thread_setup_complete",
    "savevm_state_setup", "ram_load_complete",
)
VERSION_EVENTS = {"7.2": ("savevm_state_complete_precopy",),
                  "10.0": ("ram_load_start", "migration_cleanup", "migrate_error")}


class BuildMissing(Exception):
    """The QEMU build asked for is not on this machine (and could not be fetched)."""


@dataclass(frozen=True)
class Build:
    """How to run one QEMU build: the command prefix and its environment."""

    version: str                    # the trace rules it follows: "7.2" or "10.0"
    argv: tuple
    env: dict = field(default_factory=dict)
    patches: tuple = ()             # the series applied (file names), for a self-built QEMU

    def describe(self):
        out = subprocess.run([*self.argv, "--version"], capture_output=True, text=True,
                             env={**os.environ, **self.env}, timeout=30)
        text = out.stdout.splitlines()[0] if out.stdout else f"QEMU {self.version}"
        return text + (f" + patches/ ({len(self.patches)} patches)" if self.patches else "")

    @property
    def rules(self) -> str:
        """The trace rules its traces follow (checks/traces/replay.py): the version's, or
        `10.0-patched` for the build with patches/."""
        return self.version + ("-patched" if self.patches else "")


def _unpacked_10(root):
    base = Path(root) / "10.0"
    binary = base / "usr/bin/qemu-system-x86_64"
    if not binary.exists():
        return None
    env = {"QEMU_MODULE_DIR": str(base / "usr/lib/x86_64-linux-gnu/qemu")}
    argv = (str(binary), "-L", str(base / "usr/share/qemu"), "-L", str(base / "usr/share/seabios"))
    return Build("10.0", argv, env)


def _patched_10(root):
    """The self-built 10.0.2 with patches/, using the unpacked 10.0's firmware."""
    binary = Path(root) / PATCHED / "qemu-system-x86_64"
    base = _unpacked_10(root)
    if not binary.exists() or base is None:
        return None
    patches = tuple(p.name for p in sorted((ROOT / "patches").glob("*.patch"))
                    if "cover-letter" not in p.name)
    return Build("10.0", (str(binary), *base.argv[1:]), patches=patches)


def _system_72():
    binary = shutil.which("qemu-system-x86_64")
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return Build("7.2", (binary,)) if "version 7.2" in out.stdout else None


def find_build(version, root=None):
    """The build for `version` ("7.2", "10.0" or "10.0-patched"), or BuildMissing."""
    root = root or os.environ.get("MULTIFD_QEMU_DIR", str(ROOT / ".qemu"))
    finders = {"7.2": _system_72, "10.0": lambda: _unpacked_10(root),
               PATCHED: lambda: _patched_10(root)}
    if version not in finders:
        raise BuildMissing(f"no QEMU build called {version!r} (known: {', '.join(finders)})")
    build = finders[version]()
    if build is None:
        how = "make patched-qemu builds it" if version == PATCHED else "make qemu fetches it"
        raise BuildMissing(f"QEMU {version} is not available here ({how})")
    return build


def fetch_build(version, root=None):
    """Fetch the build if it is missing (root and apt needed); return it."""
    root = root or os.environ.get("MULTIFD_QEMU_DIR", str(ROOT / ".qemu"))
    try:
        return find_build(version, root)
    except BuildMissing:
        if version not in VERSIONS:      # a self-built QEMU is built by make, not here
            raise
    if version == "7.2" or _system_72() is None:
        subprocess.run(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                        "apt-get install -y -qq --no-install-recommends qemu-system-x86"],
                       check=False, capture_output=True, timeout=900)
    if version == "10.0":
        subprocess.run(["sh", str(ROOT / "harness/get-qemu-10.0.sh"), str(Path(root) / "10.0")],
                       check=False, capture_output=True, timeout=900)
    return find_build(version, root)


class QMPError(Exception):
    """QEMU answered a command with an error."""


class QMPTimeout(Exception):
    """QEMU did not answer within the bound, or closed the connection: for a hung main loop
    this is the verdict."""


class QMPClosed(QMPTimeout):
    """The connection went away (QEMU exited or crashed): no answer either, but no hang;
    callers that can tell the two apart catch this first."""


class QMPSession:
    """A synchronous QMP session on `qemu.qmp.QMPClient`, every wait bounded.

    Each call runs the session's own event loop until the answer or the bound, whichever
    comes first. A session whose last call timed out is `silent`: `Qemu.stop` sends it no
    `quit` and kills QEMU by PID.
    """

    def __init__(self, path, name, timeout=10.0):
        self.loop = asyncio.new_event_loop()
        self.client = QMPClient(name)
        self.silent = False
        deadline = time.monotonic() + timeout
        while True:                      # QEMU makes the socket a moment after it starts
            try:
                self._wait(self.client.connect(str(path)), deadline - time.monotonic())
                return
            except (ConnectError, QMPTimeout):
                if time.monotonic() >= deadline:
                    self.loop.close()
                    raise QMPTimeout(f"no QMP session at {path} within {timeout} s") from None
                time.sleep(0.02)

    def _wait(self, coroutine, timeout):
        """Run `coroutine` for at most `timeout` s; no answer or a lost connection is QMPTimeout."""
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coroutine, max(0.0, timeout)))
        except asyncio.TimeoutError:
            self.silent = True
            raise QMPTimeout("QMP did not answer") from None
        except (ExecInterruptedError, StateError, EOFError, OSError) as exc:
            self.silent = True
            raise QMPClosed("QMP connection closed") from exc

    def cmd(self, name, timeout=5.0, **args):
        """The `return` value of command `name` (QMPError if QEMU refuses it, or answers
        what the library cannot read)."""
        try:
            answer = self._wait(self.client.execute(name, args or None), timeout)
        except ExecuteError as exc:
            raise QMPError(f"{name}: {exc}") from None
        except LibraryError as exc:           # a reply that breaks the protocol
            raise QMPError(f"{name}: {type(exc).__name__}: {exc}") from None
        self.silent = False                   # it answers (again)
        return answer

    def close(self, timeout=2.0):
        """Disconnect (an error from a QEMU already gone is expected) and end the loop."""
        if self.loop.is_closed():
            return
        try:
            self._wait(self.client.disconnect(), timeout)
        except Exception:          # disconnect re-raises the EOF of a QEMU that hung up
            pass
        self.loop.close()


class Qemu:
    """One QEMU process in its own run folder, with QMP and a trace log.

    Use as a context manager: on exit it sends QMP `quit` (unless QMP went silent) and, if
    the process is still there after a bounded wait, kills it by PID.
    """

    def __init__(self, build, rundir, role, extra=(), kernel=None, preload=None, env=None):
        self.build, self.role = build, role
        self.dir = Path(rundir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.trace = self.dir / f"{role}.trace"
        self.qmp_path = self.dir / f"{role}.qmp"
        self.argv = self._argv(extra, kernel)
        self.env = {**os.environ, **build.env, **(env or {})}
        if preload:
            self.env["LD_PRELOAD"] = str(preload)
        self.proc = None
        self.qmp = None
        self.killed = False        # stop() had to SIGKILL it: `quit` did not end it

    def _argv(self, extra, kernel):
        events = self.dir / "events"
        events.write_text("\n".join(TRACE_EVENTS + VERSION_EVENTS[self.build.version]) + "\n")
        argv = [*self.build.argv, "-name", f"{self.role},debug-threads=on",
                "-machine", "pc,dump-guest-core=off", "-accel", "tcg", "-m", "256",
                "-nodefaults", "-display", "none",
                "-serial", f"file:{self.dir / (self.role + '.serial')}",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-msg", "timestamp=on", "-trace", f"events={events}", "-D", str(self.trace)]
        if kernel:
            argv += ["-kernel", str(kernel)]
        return argv + list(extra)

    def __enter__(self):
        (self.dir / f"{self.role}.cmdline").write_text(" ".join(self.argv) + "\n")
        self.stderr = open(self.dir / f"{self.role}.stderr", "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        try:
            self.qmp = QMPSession(self.qmp_path, self.role)
        except Exception:          # no QMP: __exit__ will not run, so end QEMU here
            self.stop()
            raise
        return self

    def threads(self):
        """TID -> thread name, read from /proc while QEMU runs."""
        names = {}
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                names[task.name] = (task / "comm").read_text().strip()
            except OSError:
                pass
        return dict(sorted(names.items(), key=lambda kv: int(kv[0])))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc):
        self.stop()

    def stop(self, grace=5.0):
        """QMP quit (unless QMP went silent), then SIGKILL by PID if QEMU is still there."""
        if self.proc is None:
            return
        try:
            if self.alive() and self.qmp is not None and not self.qmp.silent:
                self.qmp.cmd("quit", timeout=2.0)
        except Exception:          # a hung or dead QEMU: the kill below ends it anyway
            pass
        self._wait_or_kill(grace)
        if self.qmp is not None:
            self.qmp.close()
        self.stderr.close()

    def _wait_or_kill(self, grace):
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.alive():
            self.killed = True
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
