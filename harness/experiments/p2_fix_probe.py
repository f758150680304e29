"""P2 with the fix's part 1 only (P2_FIX=1) or both parts (P2_FIX=2), on a QEMU 10.0.2
built with p2-fix-switch.patch (see README.md here); the destination is watched too.

    python harness/experiments/p2_fix_probe.py FIXES RUNS [late]
"""
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.qemu import Build, QMPTimeout, Qemu, ROOT
from harness.migrate import RunSpec, guest_kernel, start_socket_migration
from harness.p2 import build_shim, poll_source, judge
from checks.traces.replay import validate_files

B = ROOT / ".qemu/10.0"
SELF = os.environ.get("QEMU_P2_FIX_BINARY", "/tmp/qsrc/qemu-10.0.2/build/qemu-system-x86_64")
build = Build("10.0", (SELF, "-L", str(B / "usr/share/qemu"), "-L", str(B / "usr/share/seabios")))

def dst_outcome(dst, seconds=8.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            st = dst.qmp.cmd("query-migrate", timeout=2.0).get("status")
        except QMPTimeout:
            time.sleep(0.5)                  # a QEMU that closed QMP is on its way out
            return f"exited rc {dst.proc.poll()}" if not dst.alive() else "QMP silent (hang?)"
        if st in ("completed", "failed"):
            return st
        if not dst.alive():
            return f"exited rc {dst.proc.returncode}"
        time.sleep(0.1)
    return f"still {st} after {seconds:.0f} s"

def run(fix, n, k, out):
    rundir = Path(out) / f"fix{fix}-c{n}-r{k}"
    spec = RunSpec("10.0", channels=n)
    kernel = guest_kernel()
    with Qemu(build, rundir, "dst", ["-incoming", "defer"], kernel) as dst, \
         Qemu(build, rundir, "src", [], kernel, preload=build_shim(),
              env={"P2_FIX": str(fix), **MODE}) as src:
        release, _ = start_socket_migration(src, dst, spec)
        info = poll_source(src, release)
        s_out = judge(src, src.trace, info)
        d_out = dst_outcome(dst)
    vd = validate_files(None, rundir / "dst.trace", "10.0")
    return s_out, d_out, (vd.end or [vd.reason])[0][:160]

MODE = {}
if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "late":
        MODE = {"P2_BUSY_CHANNEL": "-1", "P2_FAIL_DELAY_US": "20000", "P2_FAIL_SYNC": "3"}
    for fix in (int(a) for a in sys.argv[1].split(",")):
        for n in ((2,) if MODE else (2, 4)):
            for k in range(int(sys.argv[2])):
                out = os.environ.get("OUT", "out/p2-fix-probe")
                print(fix, n, k, *run(fix, n, k, out), flush=True)
