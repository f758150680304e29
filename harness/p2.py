"""`make repro-p2`: a send-channel write error hangs the QEMU 10.0 source (P2).

The source runs under `shim/p2shim.c` (built here with gcc): channel 1's
SYNC packet write fails with EPIPE while channel 0 is inside a slowed page
write (docs/real-qemu.md, The busy setting).  A run ends as:

  hang       query-migrate says failed (or QMP stops answering), and 3 s later
             the migration thread `mig/src/main` is still there and
             `migration_cleanup` was never traced;
  clean      failed, and cleanup ran;
  completed  the fault never fired.

Every QEMU is ended (QMP quit, then SIGKILL by PID).
"""

import subprocess
import time
from pathlib import Path

from checks.verify import verify
from model.config import Config
from model.variants import get_variant

from .migrate import RunSpec, guest_kernel, start_socket_migration
from .qemu import ROOT, QMPClosed, QMPTimeout, Qemu, fetch_build
from .repro import _last_lines, model_match, path_matched, skeleton_lines

__all__ = ["build_shim", "repro_p2", "poll_source", "judge", "model_finds_p2"]

SETTLE = 3.0              # seconds after `failed` before judging the migration thread
RUN_TIMEOUT = 60.0


def build_shim(out_dir=None):
    """Compile the LD_PRELOAD shim once; return its path."""
    src = ROOT / "harness/shim/p2shim.c"
    out = Path(out_dir or ROOT / ".qemu") / "p2shim.so"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(src), "-ldl"],
                       check=True)
    return out


def judge(src, trace, info):
    """hang / clean / completed / exited (QEMU gone: no hang), from QMP, /proc and the
    trace."""
    if info == "qmp-silent":
        return "hang"
    if info == "qmp-closed":
        return "exited"
    if info.get("status") == "completed":
        return "completed"
    time.sleep(SETTLE)
    alive = "mig/src/main" in src.threads().values()
    cleaned = "migration_cleanup" in Path(trace).read_text()
    return "hang" if alive and not cleaned else "clean"


def poll_source(src, release):
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            info = src.qmp.cmd("query-migrate", timeout=2.0)
        except QMPClosed:
            return "qmp-silent" if src.alive() else "qmp-closed"
        except QMPTimeout:
            return "qmp-silent"
        release(info)
        if info.get("status") in ("completed", "failed"):
            return info
        time.sleep(0.02)
    return {"status": "timeout"}


def _run(build, rundir, channels, shim):
    spec = RunSpec("10.0", channels=channels)
    kernel = guest_kernel()
    with Qemu(build, rundir, "dst", ["-incoming", "defer"], kernel) as dst, \
         Qemu(build, rundir, "src", [], kernel, preload=shim) as src:
        release, _ = start_socket_migration(src, dst, spec)
        info = poll_source(src, release)
        outcome = judge(src, src.trace, info)
    return outcome, src.trace                # a silent QMP (completion-phase hang): killed by PID


def _shim_lines(rundir):
    text = (Path(rundir) / "src.stderr").read_text(errors="replace")
    return [line for line in text.splitlines() if "FAIL" in line]


def repro_p2(out, channels=(2, 4), runs=None, log=print):
    """Run each channel count `runs` times; return how many counts never hung."""
    build = fetch_build("10.0")
    shim = build_shim()
    misses = 0   # a channel count with no hang, or whose hang the checks do not confirm
    for n in channels:
        outcomes, hangs = [], []
        for k in range(runs or 5):
            rundir = Path(out) / f"p2-c{n}-r{k + 1}"
            outcome, trace = _run(build, rundir, n, shim)
            outcomes.append(outcome)
            if outcome == "hang":
                hangs.append((rundir, trace))
        lines, confirmed = _report(build, n, outcomes, hangs)
        misses += not confirmed
        log("\n".join(lines))
    return misses


def _other_hangs(hangs, n):
    """The hang traces after the one shown: each matched to a model deadlock too (a
    report, not a condition of `confirmed`)."""
    matched, missed = [], []
    for rundir, trace in hangs:
        verdict, model = model_match(trace, n, "src", "send-write-error", "socket",
                                     suffix=True)
        if verdict.conforms and path_matched(model):
            matched.append(Path(rundir).name)
        else:
            missed.append(f"{Path(rundir).name}: {model[0]}")
    lines = [f"  others   {', '.join(matched)}: conform and match a model deadlock"] \
        if matched else []
    return lines + [f"  others   {line}" for line in missed]


def model_finds_p2(n):
    """(found, line): whether the model of qemu-10.0 at `n` channels, with QEMU's
    round-robin pick, breaks no_deadlock under send-write-error on its own (used where
    the real trace is too long to match a model path)."""
    config = Config(channels=n, pages=1, rounds=1, live=False, faults=("send-write-error",),
                    pick="round-robin")
    _, result = verify(config, get_variant("qemu-10.0"))
    found = "no_deadlock" in result.violations
    return found, (f"on its own, qemu-10.0 at {config.label()} "
                   f"{'breaks no_deadlock' if found else 'does NOT deadlock'} "
                   f"({result.states:,} states)")


def _shown_lines(trace, matched):
    """The trace's last 10 multifd lines; where the checks did not confirm it, every
    line from the `signal 0` of the round before the last (the match reads the last
    round, and the packets before it), so the trace can be rebuilt from the report."""
    every = _last_lines(trace, None)
    starts = [k for k, x in enumerate(every) if ":multifd_send_sync_main_signal channel 0" in x]
    if matched or not starts:
        return ["  real trace, last multifd lines:", *[f"    {x}" for x in every[-10:]]]
    first = starts[-2] if len(starts) > 1 else starts[-1]
    return ["  real trace, its last two rounds' multifd lines:",
            *[f"    {x}" for x in every[first:]]]


def _report(build, n, outcomes, hangs):
    kinds = ("hang", "clean", "completed", "exited")
    counts = ", ".join(f"{w} {outcomes.count(w)}" for w in kinds if outcomes.count(w))
    word = "REPRODUCED" if hangs else "NOT reproduced"
    lines = [f"P2 {word}: {build.describe()}, socket multifd, {n} channels, "
             f"{len(outcomes)} runs: {counts}",
             "  fault    LD_PRELOAD p2shim: channel 1's SYNC write fails (EPIPE) while "
             "channel 0 is in a slowed page write"]
    confirmed = False
    if hangs:
        rundir, trace = hangs[0]
        lines += [f"  shim     {x}" for x in _shim_lines(rundir)]
        verdict, model = model_match(trace, n, "src", "send-write-error", "socket",
                                     suffix=True)
        found = path_matched(model)
        lines += _shown_lines(trace, verdict.conforms and found)
        lines += skeleton_lines(verdict)
        lines += [f"  model    {model[0]}", *[f"    {x}" for x in model[1:]]]
        # Where the trace search hits its bound, the model must find the hang itself.
        if not found:
            found, line = model_finds_p2(n)
            lines.append(f"  model    {line}")
        confirmed = verdict.conforms and verdict.end[0].startswith("HANG") and found
        lines += _other_hangs(hangs[1:], n)
    lines += [f"  repeat   python -m harness repro-p2 --channels {n}   (make repro-p2)", ""]
    return lines, confirmed
