"""`make repro-p1` / `make repro-p2`: the predicted hangs, on real QEMU 10.0.

P1 (docs/hangs.md): save a mapped-ram + multifd image, set the last RAM
block's `pages_offset` to 1<<63 so its `pread` fails with EINVAL, load it with
multifd.  A hang is: QMP stops answering, the trace ends at
`multifd_recv_sync_main_wait`, no recv thread is left.  QEMU is then sent
SIGTERM (which it ignores) and killed by PID.

P2 (docs/hangs.md): see `repro_p2`.

Each reproduction is then judged twice: the real trace must conform to the
`qemu-10.0` skeleton and end in the same hang, and the model must have a
path whose traced events are exactly the real trace's and which ends in a
deadlock (`checks.traces.match`).  The report is short enough to paste into a bug.
"""

import os
import signal
import time
from pathlib import Path

from checks.traces.replay import validate_files
from checks.engine.explorer import default_progress
from checks.traces.match import SERIES_NAMES, MatchError, match_trace, render_path
from checks.traces.tracelog import parse_log

from .migrate import RunSpec, guest_kernel, poll_migration, set_capabilities
from .p1image import damage_last_block
from .qemu import QMPTimeout, Qemu, fetch_build

__all__ = ["repro_p1", "main"]

HANG_TIMEOUT = 15.0       # seconds from migrate-incoming to declaring a hang
QMP_REPLY = 2.0           # a QMP reply slower than this counts as none


def save_image(build, rundir, channels):
    image = Path(rundir) / "p1.img"
    spec = RunSpec("10.0", transport="file", channels=channels, live=False)
    with Qemu(build, rundir, "save", [], guest_kernel()) as src:
        time.sleep(1.5)                      # the guest fills 48 MiB
        src.qmp.cmd("stop")
        set_capabilities(src, spec)
        src.qmp.cmd("migrate", uri=f"file:{image}")
        poll_migration(src, ("completed",))
    return image, spec


def _watch(dst, timeout):
    """'completed', 'failed', 'exited rc N', or 'qmp-timeout' (the hang's first sign)."""
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    while time.monotonic() < deadline:
        try:
            status = dst.qmp.cmd("query-migrate", timeout=QMP_REPLY).get("status")
        except QMPTimeout:
            return "qmp-timeout", time.monotonic() - start
        if status in ("completed", "failed"):
            return status, time.monotonic() - start
        if not dst.alive():
            return f"exited rc {dst.proc.returncode}", time.monotonic() - start
        time.sleep(0.1)
    return "no verdict", timeout


def _main_thread_state(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
        return f"state {stat[0]}, wchan {wchan or '-'}, utime {stat[11]}"
    except OSError:
        return "gone"


def _hang_evidence(q):
    """Threads left, the main thread's state twice, and whether SIGTERM ends it."""
    first = _main_thread_state(q.proc.pid)
    time.sleep(1.0)
    evidence = {"threads": sorted(set(q.threads().values())),
                "main thread": f"{first} -> {_main_thread_state(q.proc.pid)}"}
    os.kill(q.proc.pid, signal.SIGTERM)
    time.sleep(2.0)
    evidence["SIGTERM"] = "ignored for 2 s" if q.alive() else "ended it"
    return evidence                          # QMP went silent: Qemu.stop kills by PID


def _load(build, rundir, image, spec):
    with Qemu(build, rundir, "dst", ["-incoming", "defer"], guest_kernel()) as dst:
        set_capabilities(dst, spec)
        dst.qmp.cmd("migrate-incoming", uri=f"file:{image}")
        outcome, seconds = _watch(dst, HANG_TIMEOUT)
        evidence = _hang_evidence(dst) if outcome == "qmp-timeout" else {}
    return outcome, seconds, evidence, dst.trace


# Product states the model search may visit (some 40 s and 1 GB): the 4-channel P2
# traces need 152,246 to 251,188 (tests/test_match.py); N=2 needs far fewer.
MATCH_LIMIT = 5_000_000


def path_matched(model_lines, variant="qemu-10.0") -> bool:
    """Whether `model_match`'s lines report a matched model path (they then start with
    the model's name)."""
    return model_lines[0].startswith(f"{variant} at ")


def model_match(trace, channels, side, faults, transport, suffix=False, variant="qemu-10.0",
                ending="deadlock"):
    """(skeleton verdict, model path lines or a reason) for a real hang trace (or, with
    `ending="end"`, a clean failure's), matched under QEMU's round-robin pick with as many
    pages as `checks.traces.match.pages_needed`."""
    src, dst = (trace, None) if side == "src" else (None, trace)
    verdict = validate_files(src, dst, "10.0-patched" if variant in SERIES_NAMES else "10.0")
    if not verdict.conforms:
        return verdict, [f"the trace does not conform: {verdict.reason}"]
    events = parse_log(trace, side, "10.0")
    try:
        system, real, path = match_trace(events, side, channels, transport, faults, suffix,
                                         None, limit=MATCH_LIMIT, pick="round-robin",
                                         progress=default_progress, variant=variant,
                                         ending=ending)
    except MatchError as exc:
        return verdict, [f"model search not run: {exc}"]
    label = system.config.label()
    if path is None:
        return verdict, [f"NO model path of {variant} at {label} matches the trace"]
    return verdict, [f"{variant} at {label}", *render_path(system, path, side, real, ending)]


def skeleton_lines(verdict):
    """The skeleton's verdict on a real hang trace; a rejection names its line."""
    if verdict.conforms:
        return [f"  skeleton conforms; {verdict.end[0]}"]
    lines = [f"  skeleton REJECTED; {verdict.reason}"]
    if verdict.event is not None:
        lines.append(f"           at {verdict.event.where()}: {verdict.event.text}")
    return lines


def _last_lines(trace, n=8):
    """The trace's last `n` multifd lines (all of them if n is None), and migrate_error:
    a terminating thread logs it after setting `exiting`."""
    lines = [line for line in Path(trace).read_text().splitlines()
             if "multifd" in line or ":migrate_error " in line]
    return lines[-n:] if n else lines


def repro_p1(out, channels=(2, 4), log=print):
    """Reproduce P1 once per channel count; return the number not reproduced."""
    build = fetch_build("10.0")
    misses = 0
    for n in channels:
        rundir = Path(out) / f"p1-c{n}"
        rundir.mkdir(parents=True, exist_ok=True)
        image, spec = save_image(build, rundir, n)
        block = damage_last_block(image)
        outcome, seconds, evidence, trace = _load(build, rundir, image, spec)
        image.unlink(missing_ok=True)
        verdict, model = model_match(trace, n, "dst", "recv-read-error", "file")
        hung = outcome == "qmp-timeout" and not any("recv" in t for t in evidence["threads"])
        ok = hung and verdict.conforms and verdict.end[0].startswith("HANG") and \
            path_matched(model)
        misses += not ok
        log("\n".join(_p1_report(build, n, block, outcome, seconds, evidence, trace, verdict,
                                 model, ok)))
    return misses


def _p1_report(build, n, block, outcome, seconds, evidence, trace, verdict, model, ok):
    word = "REPRODUCED" if ok else "NOT reproduced"
    lines = [f"P1 {word}: {build.describe()}, mapped-ram + multifd, {n} channels",
             f"  damage   last RAM block {block.name!r}: "
             f"pages_offset 0x{block.pages_offset:x} -> 1<<63",
             f"  outcome  {outcome} after {seconds:.1f} s (query-migrate gave no reply within "
             f"{QMP_REPLY:.0f} s)" if outcome == "qmp-timeout" else f"  outcome  {outcome}"]
    lines += [f"  {k:<8} {v if isinstance(v, str) else ', '.join(v)}" for k, v in evidence.items()]
    shown = _last_lines(trace, 8 if ok else None)      # a miss shows all: it may be new
    lines += [f"  real trace, {'last' if ok else 'all'} multifd lines:",
              *[f"    {x}" for x in shown]]
    lines += skeleton_lines(verdict)
    lines += [f"  model    {model[0]}", *[f"    {x}" for x in model[1:]]]
    lines += [f"  repeat   python -m harness repro-p1 --channels {n}   (make repro-p1)", ""]
    return lines


def main(args):
    channels = tuple(int(c) for c in (args.channels or "2,4").split(","))
    if args.build == "patched" or args.clean:
        return _clean_check(args, channels)
    if args.command == "repro-p1":
        return 1 if repro_p1(args.out, channels) else 0
    from .p2 import repro_p2
    return 1 if repro_p2(args.out, channels, args.runs) else 0


def _clean_check(args, channels):
    """harness/series.py's runs on the build asked for: rc 1 if any run is not clean."""
    from .qemu import PATCHED, find_build
    from .series import p1_runs, p2_runs
    build = find_build(PATCHED) if args.build == "patched" else fetch_build("10.0")
    out = Path(args.out) / ("patched" if args.build == "patched" else "clean-check")
    if args.command == "repro-p1":
        return 1 if p1_runs(build, out, channels, args.runs or 5) else 0
    return 1 if p2_runs(build, out, channels, args.runs or 8) else 0
