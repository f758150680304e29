"""`make bench` (trace part): `trace` is linear in the log's size, in time and memory.

A real source log (tests/fixtures/traces) is padded with the events of a thread multifd
does not know (a vCPU's, stamped among the log's own), to L and to 4L lines, and each is
validated in a process of its own. Linear work gives a time and a memory growth of about
4 for 4 times the lines; quadratic work would give 16. Measured as ratios in one run, as
these machines are shared.

    python -m checks.bench_trace [--lines=L] [--json=FILE]
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench import write_rows
from .traces.replay import validate_files

__all__ = ["pad", "measure", "main"]

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "traces" / \
    "qemu10.0-tcp-live-c2.src.log"
LINES = 200_000


def pad(source: Path, lines: int, path: Path) -> None:
    """Write `source` with foreign events among its own, `lines` lines in all."""
    own = source.read_text().splitlines()
    per = max(0, lines - len(own)) // len(own)
    with open(path, "w") as f:
        for line in own:
            stamp = line.split("@", 1)[1].split(":", 1)[0]
            f.writelines(f"99999@{stamp}:qemu_vcpu_event {j}\n" for j in range(per))
            f.write(line + "\n")


def measure(path: str) -> dict:
    """Validate one padded log in this process: its lines, seconds and peak memory."""
    began = time.monotonic()
    verdict = validate_files(path, None, "10.0")
    took = time.monotonic() - began
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    return {"lines": lines, "megabytes": round(os.path.getsize(path) / 2**20, 1),
            "conforms": verdict.conforms, "seconds": round(took, 2),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _child(path: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "checks.bench_trace", "--one", path],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"bench_trace: {path}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def _growth(small: dict, large: dict) -> str:
    lines = large["lines"] / small["lines"]
    time_x = large["seconds"] / max(small["seconds"], 0.01)
    memory_x = large["peak_mb"] / max(small["peak_mb"], 1)
    return (f"{lines:.1f}x the lines: {time_x:.1f}x the time, {memory_x:.1f}x the peak memory "
            f"(linear: about {lines:.0f}x; quadratic: {lines * lines:.0f}x)")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(argv[1])))
        return 0
    lines = int(next((a.split("=")[1] for a in argv if a.startswith("--lines=")), LINES))
    out = next((a.split("=", 1)[1] for a in argv if a.startswith("--json=")),
               "out/bench-trace.json")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (lines, 4 * lines):
            path = Path(tmp) / f"src-{size}.log"
            pad(FIXTURE, size, path)
            rows.append(_child(str(path)))
            r = rows[-1]
            print(f"trace {r['lines']:>10,} lines {r['megabytes']:>7.1f} MB  "
                  f"{'conforms' if r['conforms'] else 'REJECTED':<9} {r['seconds']:>7.2f} s "
                  f"{r['peak_mb']:>6,} MB peak", flush=True)
    print(_growth(*rows))
    write_rows(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
