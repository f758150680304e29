"""Run one real multifd migration and keep both sides' traces.

Socket runs go source -> destination on 127.0.0.1 (the destination listens on
port 0 and reports its port back).  File runs save a mapped-ram image, then
load it into a fresh destination.  Live runs boot `dirty32m.elf`, start with
downtime-limit 1 ms and a bandwidth cap to force several rounds, and release
both once `dirty-sync-count` reaches `rounds`.  Paused runs use `-S` and no
kernel (docs/real-qemu.md, How a migration is run).
"""

import json
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .qemu import Qemu, ROOT

__all__ = ["RunSpec", "RunError", "migrate", "guest_kernel", "set_capabilities",
           "poll_migration", "throttle", "start_socket_migration"]

POLL = 0.02
TIMEOUT = 120.0


class RunError(Exception):
    """A migration did not complete as a healthy run should."""


@dataclass(frozen=True)
class RunSpec:
    """What one run is: the build, the transport and the multifd settings."""

    version: str = "10.0"
    transport: str = "socket"      # socket | file (mapped-ram, 10.0 only)
    channels: int = 2
    live: bool = True
    flush: str = "per-round"       # per-round | per-section (7.2 has only per-section)
    rounds: int = 4                # dirty-bitmap syncs before the migration may converge

    def name(self):
        mode = "live" if self.live else "paused"
        flush = "" if self.flush == "per-round" or self.version == "7.2" else "-section"
        kind = "tcp" if self.transport == "socket" else "file"
        return f"qemu{self.version}-{kind}-{mode}{flush}-c{self.channels}"


def guest_kernel(out_dir=None):
    """Build (once) the dirty32m.elf guest with binutils; return its path."""
    out = Path(out_dir or ROOT / ".qemu") / "dirty32m.elf"
    src = ROOT / "harness/guest/dirty32m.S"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    obj = out.with_suffix(".o")
    subprocess.run(["as", "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x100000", "-e", "_start",
                    "-o", str(out), str(obj)], check=True)
    return out


def _extra(spec):
    extra = []
    if spec.flush == "per-section" and spec.version != "7.2":
        extra += ["-global", "migration.multifd-flush-after-each-section=on"]
    if not spec.live:
        extra += ["-S"]
    return extra


def set_capabilities(q, spec):
    caps = [{"capability": "multifd", "state": True}]
    if spec.transport == "file":
        caps.append({"capability": "mapped-ram", "state": True})
    q.qmp.cmd("migrate-set-capabilities", capabilities=caps)
    q.qmp.cmd("migrate-set-parameters", **{"multifd-channels": spec.channels})


def poll_migration(q, until, timeout=TIMEOUT, each=None):
    """Poll query-migrate until its status is in `until`; return the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = q.qmp.cmd("query-migrate", timeout=5.0)
        if each:
            each(info)
        if info.get("status") in until:
            return info
        if not q.alive():
            raise RunError(f"{q.role} QEMU exited (rc {q.proc.returncode})")
        time.sleep(POLL)
    raise RunError(f"{q.role}: no {'/'.join(until)} within {timeout:.0f} s")


def throttle(src, spec):
    if spec.live:
        src.qmp.cmd("migrate-set-parameters", **{"downtime-limit": 1, "max-bandwidth": 100_000_000})

    released = []

    def release(info):
        syncs = info.get("ram", {}).get("dirty-sync-count", 0)
        if spec.live and not released and syncs >= spec.rounds:
            src.qmp.cmd("migrate-set-parameters",
                        **{"downtime-limit": 2000, "max-bandwidth": 1 << 30})
            released.append(syncs)
    return release, released


def start_socket_migration(src, dst, spec, exit_on_error=True):
    """Set both sides up, listen on 127.0.0.1 port 0, and start the migration; return
    `throttle`'s (release, released) for the caller's poll of the source. `exit_on_error`
    False keeps a destination whose load failed running, to be asked over QMP."""
    for q in (dst, src):
        set_capabilities(q, spec)
    extra = {} if exit_on_error else {"exit-on-error": False}
    dst.qmp.cmd("migrate-incoming", uri="tcp:127.0.0.1:0", **extra)
    port = dst.qmp.cmd("query-migrate")["socket-address"][0]["port"]
    if spec.live:
        time.sleep(0.3)                      # let the guest fill its window
    release, released = throttle(src, spec)
    src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
    return release, released


def _migrate_socket(build, spec, rundir, kernel):
    extra = _extra(spec)
    with Qemu(build, rundir, "dst", ["-incoming", "defer", *extra], kernel) as dst, \
         Qemu(build, rundir, "src", extra, kernel if spec.live else None) as src:
        release, released = start_socket_migration(src, dst, spec)
        src_info = poll_migration(src, ("completed", "failed"), each=release)
        dst_info = poll_migration(dst, ("completed", "failed"))
        meta = _meta(spec, build, src, dst, src_info, dst_info, released)
    return meta


def _migrate_file(build, spec, rundir, kernel):
    image = Path(rundir) / "migration.img"
    extra = _extra(spec)
    with Qemu(build, rundir, "src", extra, kernel if spec.live else None) as src:
        set_capabilities(src, spec)
        if spec.live:
            time.sleep(0.3)
        release, released = throttle(src, spec)
        src.qmp.cmd("migrate", uri=f"file:{image}")
        src_info = poll_migration(src, ("completed", "failed"), each=release)
        src_threads = src.threads()
    with Qemu(build, rundir, "dst", ["-incoming", "defer", *extra], kernel) as dst:
        set_capabilities(dst, spec)
        dst.qmp.cmd("migrate-incoming", uri=f"file:{image}")
        dst_info = poll_migration(dst, ("completed", "failed"))
        meta = _meta(spec, build, None, dst, src_info, dst_info, released)
        meta["threads_tid_to_name"]["src"] = src_threads
    image.unlink(missing_ok=True)
    return meta


def _meta(spec, build, src, dst, src_info, dst_info, released):
    return {"qemu": build.describe(), "spec": asdict(spec),
            "threads_tid_to_name": {"src": src.threads() if src else {}, "dst": dst.threads()},
            "src_query_migrate_final": src_info, "dst_query_migrate_final": dst_info,
            "released_at_dirty_sync_count": released[0] if released else None}


def migrate(build, spec, rundir):
    """Run `spec` with `build` in `rundir`; return the run's metadata.

    Leaves `src.trace`, `dst.trace` and `meta.json` in `rundir`.  Raises
    RunError when a side fails or a poll runs out of time; no QEMU outlives it.
    """
    rundir = Path(rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    kernel = guest_kernel()
    run = _migrate_file if spec.transport == "file" else _migrate_socket
    meta = run(build, spec, rundir, kernel)
    (rundir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    for side in ("src", "dst"):
        status = meta[f"{side}_query_migrate_final"].get("status")
        if status != "completed":
            raise RunError(f"{spec.name()}: {side} ended {status}")
    return meta
