"""`make repro-p1 BUILD=patched`, `make repro-p2 BUILD=patched`: P1's and P2's faults on
a build, each run judged for a clean failure (docs/upstream.md).

The faults are the reproducers' and their neighbours:

  P1  a damaged mapped-ram image, loaded with multifd: the last block's pages_offset set to
      1<<63 (P1 on 10.0.2: a hang), pc.ram's (a failure while jobs are still handed out:
      P1b, a crash), or the file cut inside pc.ram's pages (a short read: P1a, a crash);
  P2  `shim/p2shim.c` fails a SYNC write: channel 1's in the `busy` setting of `make
      repro-p2` (the hang of the source), the last channel's in the `late` one of
      harness/experiments/ (the migration thread already waits on it: the hang of the
      destination, which P2's first part alone leaves).

Each QEMU that must fail is judged, with exit-on-error off on the destination so that it
stays to be asked:

  clean      QMP answers, query-migrate says failed (the source also ran
             migration_cleanup), and QMP `quit` ends QEMU with status 0;
  hang       neither failed, completed nor died within the bound (20 s), QMP silent or
             not (a load runs on the main thread: QMP may be slow while it does);
  crash      QEMU died on a signal;
  exited     QEMU left by itself;
  unclean    it failed, but `quit` did not end it (it was killed by PID);
  completed  the fault never stopped the migration;
  not judged the destination, when the source never failed.

A run is clean when every side is clean and its traces conform to the skeleton of the
patched rules (`10.0-patched`, checks/traces/replay.py); the command fails on any other
run. The first run of each setting is also matched to a model path of
`qemu-10.0-patched` on which every thread ends (checks/traces/match.py), and a setting
whose trace matches none fails too.
"""

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from checks.traces.replay import validate_files

from .migrate import RunSpec, guest_kernel, set_capabilities, start_socket_migration
from .p1image import blocks, damage_block
from .p2 import SETTLE, build_shim, poll_source
from .qemu import QMPClosed, QMPTimeout, Qemu
from .repro import model_match, path_matched, save_image

__all__ = ["P1_DAMAGE", "P2_SETTINGS", "p1_runs", "p2_runs"]

LOAD_TIMEOUT = 20.0          # seconds for a damaged load to fail
DST_TIMEOUT = 20.0           # seconds for the P2 destination to fail after the source did

P1_DAMAGE = ("last-block", "first-block", "truncated")
P2_SETTINGS = ("busy", "late")


def _shim_env(setting, channels):
    """busy: the shim's defaults; late: the last channel's third SYNC write fails 20 ms in,
    with no channel slowed, so the migration thread already waits on it."""
    if setting == "busy":
        return {}
    return {"P2_BUSY_CHANNEL": "-1", "P2_FAIL_DELAY_US": "20000", "P2_FAIL_SYNC": "3",
            "P2_FAIL_CHANNEL": str(channels - 1)}


def _damage(image, kind):
    """Damage a copy of the image; return one line saying how."""
    if kind == "truncated":
        ram = blocks(image)[0]
        cut = ram.pages_offset + ram.length // 2
        with open(image, "r+b") as f:
            f.truncate(cut)
        return f"cut at 0x{cut:x}, inside {ram.name}'s pages"
    block = damage_block(image, -1 if kind == "last-block" else 0)
    return f"{block.name}: pages_offset 0x{block.pages_offset:x} -> 1<<63"


def _gone(q):
    return "crash" if q.proc.returncode < 0 else "exited"


def watch(q, timeout):
    """(word, error-desc): QEMU's end as 'failed', 'completed', 'hang', 'crash' or
    'exited' (`settle` makes a failure clean or unclean once QEMU is stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not q.alive():
            return _gone(q), ""
        try:
            info = q.qmp.cmd("query-migrate", timeout=2.0)
        except QMPClosed:
            time.sleep(0.2)               # QEMU is on its way out
            continue
        except QMPTimeout:
            continue
        if info.get("status") in ("completed", "failed"):
            return info["status"], info.get("error-desc", "")
        time.sleep(0.1)
    return "hang", ""


def settle(q, word):
    """After QEMU was stopped: a failure is clean only if `quit` ended it with status 0;
    a crash names its signal."""
    if word == "crash":
        return f"crash ({signal.Signals(-q.proc.returncode).name})"
    if word != "failed":
        return word
    return "clean" if not q.killed and q.proc.returncode == 0 else "unclean"


def _load(build, rundir, image, spec):
    with Qemu(build, rundir, "dst", ["-incoming", "defer"], guest_kernel()) as dst:
        set_capabilities(dst, spec)
        dst.qmp.cmd("migrate-incoming", uri=f"file:{image}", **{"exit-on-error": False})
        word, error = watch(dst, LOAD_TIMEOUT)
    return settle(dst, word), error


def conforms(word, src, dst, build):
    """A clean run whose traces the build's rules reject is not clean."""
    if word != "clean":
        return word
    verdict = validate_files(src, dst, build.rules)
    return word if verdict.conforms else f"clean, trace REJECTED: {verdict.reason}"


def matched(trace, n, side, fault, transport, log):
    """Match one trace to qemu-10.0-patched (a path on which every thread ends); log the
    answer and return whether it matched."""
    _, lines = model_match(trace, n, side, fault, transport, suffix=transport == "socket",
                           variant="qemu-10.0-patched", ending="end")
    ok = path_matched(lines, "qemu-10.0-patched")
    log(f"    model: {side} trace {'matches a path of ' if ok else ''}{lines[0]}")
    return ok


def p1_runs(build, out, channels=(2, 4), runs=5, log=print):
    """Every damage `runs` times at each channel count; return the runs not clean."""
    outcomes, misses = Counter(), 0
    for n in channels:
        rundir = Path(out) / f"p1-c{n}"
        rundir.mkdir(parents=True, exist_ok=True)
        image, spec = save_image(build, rundir, n)
        for kind in P1_DAMAGE:
            for k in range(runs):
                run = rundir / f"{kind}-r{k + 1}"
                word, error, how = _p1_run(build, run, image, spec, kind)
                outcomes[(n, kind, word)] += 1
                log(f"P1 {n} channels, {kind:11} run {k + 1:2}: {word}   ({how})" +
                    (f"\n    error-desc: {error}" if error else ""))
                if k == 0 and build.patches:
                    fault = "short-read" if kind == "truncated" else "recv-read-error"
                    misses += not matched(run / "dst.trace", n, "dst", fault, "file", log)
        image.unlink(missing_ok=True)
    return _summary("P1", build, outcomes, log) + misses


def _p1_run(build, run, image, spec, kind):
    run.mkdir(parents=True, exist_ok=True)
    copy = run / "p1.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(copy)], check=True)
    how = _damage(copy, kind)
    word, error = _load(build, run, copy, spec)
    copy.unlink()
    return conforms(word, None, run / "dst.trace", build), error, how


def _p2_run(build, rundir, channels, shim, env):
    spec = RunSpec("10.0", channels=channels)
    kernel = guest_kernel()
    with Qemu(build, rundir, "dst", ["-incoming", "defer"], kernel) as dst, \
         Qemu(build, rundir, "src", [], kernel, preload=shim, env=env) as src:
        release, _ = start_socket_migration(src, dst, spec, exit_on_error=False)
        info = poll_source(src, release)
        src_word = _source_word(src, info)
        dst_word = watch(dst, DST_TIMEOUT)[0] if src_word == "failed" else "not judged"
    return (conforms(settle(src, src_word), src.trace, None, build),
            conforms(settle(dst, dst_word), None, dst.trace, build))


def _source_word(src, info):
    """Stricter than `p2.judge`: a failure needs query-migrate's `failed` and a traced
    migration_cleanup (judge also takes a migration thread that is gone)."""
    if info == "qmp-silent":
        return "hang"
    if info == "qmp-closed":
        return _gone(src)
    status = info.get("status")
    if status != "failed":
        return "completed" if status == "completed" else "hang"
    time.sleep(SETTLE)
    return "failed" if "migration_cleanup" in Path(src.trace).read_text() else "hang"


def p2_runs(build, out, channels=(2, 4), runs=4, log=print):
    """Each setting `runs` times at each channel count; return the runs not clean."""
    shim = build_shim()
    outcomes, misses = Counter(), 0
    for n in channels:
        for setting in P2_SETTINGS:
            for k in range(runs):
                rundir = Path(out) / f"p2-c{n}-{setting}-r{k + 1}"
                src_word, dst_word = _p2_run(build, rundir, n, shim, _shim_env(setting, n))
                word = "clean" if src_word == dst_word == "clean" else \
                    f"source {src_word}, destination {dst_word}"
                outcomes[(n, setting, word)] += 1
                log(f"P2 {n} channels, {setting:4} run {k + 1:2}: source {src_word}, "
                    f"destination {dst_word}")
                if k == 0 and build.patches:
                    misses += sum(not matched(rundir / f"{side}.trace", n, side,
                                              "send-write-error", "socket", log)
                                  for side in ("src", "dst"))
    return _summary("P2", build, outcomes, log) + misses


def _summary(name, build, outcomes, log):
    total = sum(outcomes.values())
    bad = sum(c for (_, _, word), c in outcomes.items() if word != "clean")
    words = Counter()
    for (_, _, word), c in outcomes.items():
        words[word] += c
    counts = ", ".join(f"{w} {c}" for w, c in sorted(words.items()))
    log(f"{name} on {build.describe()}: {total} runs: {counts}")
    for (n, kind, word), c in sorted(outcomes.items()):
        log(f"  {n} channels, {kind:11} {word:10} {c}")
    log(f"{name}: {'every run failed cleanly' if not bad else f'{bad} runs NOT clean'}")
    return bad
