"""`make conformance`: real migrations on 7.2 and 10.0, each trace pair validated.

`--versions 10.0-patched` runs 10.0's matrix on QEMU 10.0.2 built with patches/ (make
patched-qemu) and validates it with the series' rules (docs/upstream.md).

For every build this machine has (or can fetch), run the matrix of
docs/real-qemu.md (The conformance matrix) (socket: channels 1/2/4/8 live and paused; 10.0 also
per-section flush and mapped-ram), keep each run's traces, and validate them
with `checks.traces.replay` against that version's skeleton.  `--fixtures DIR`
also copies a small chosen set into DIR, which `make test` validates without
QEMU.
"""

import shutil
import time
from pathlib import Path

from checks.traces.replay import validate_files

from .migrate import RunError, RunSpec, migrate
from .qemu import PATCHED, BuildMissing, QMPError, QMPTimeout, fetch_build

__all__ = ["MATRIX", "FIXTURES", "run_conformance"]

MATRIX = (
    *(RunSpec("7.2", channels=n, flush="per-section") for n in (1, 2, 4, 8)),
    RunSpec("7.2", channels=2, live=False, flush="per-section"),
    *(RunSpec("10.0", channels=n) for n in (1, 2, 4, 8)),
    RunSpec("10.0", channels=2, live=False),
    RunSpec("10.0", channels=2, flush="per-section"),
    RunSpec("10.0", transport="file", channels=1),
    RunSpec("10.0", transport="file", channels=8),
    RunSpec("10.0", transport="file", channels=4, live=False),
)
# Kept in tests/fixtures/traces (small: the 7.2 and 10.0 shapes, both flushes, a file run).
FIXTURES = ("qemu7.2-tcp-paused-c2", "qemu7.2-tcp-live-c4", "qemu10.0-tcp-paused-c2",
            "qemu10.0-tcp-live-c2", "qemu10.0-tcp-live-section-c2", "qemu10.0-file-live-c8")


def _one(build, spec, out):
    """Run one spec; validate its traces with the build's rules (`10.0-patched` for the
    build with patches/, whose runs go under out/10.0-patched)."""
    rules = build.rules
    rundir = Path(out) / (rules if build.patches else "") / spec.name()
    shutil.rmtree(rundir, ignore_errors=True)
    start = time.monotonic()
    try:
        migrate(build, spec, rundir)
    except (RunError, QMPError, QMPTimeout) as exc:
        return f"{spec.name():32} RUN FAILED  {exc}", False
    verdict = validate_files(rundir / "src.trace", rundir / "dst.trace", rules)
    seconds = time.monotonic() - start
    s = verdict.summary
    word = "conforms" if verdict.conforms else \
        f"REJECTED at {verdict.event.where()}: {verdict.reason}"
    line = (f"{spec.name():32} {seconds:5.1f} s  rounds {s['src_rounds']:>2}/{s['dst_rounds']:<2} "
            f"packets {s['packets_sent']:>4}  {word}")
    return line, verdict.conforms


def _keep(out, fixtures, name):
    rundir = Path(out) / name
    if not (rundir / "src.trace").exists():
        return
    Path(fixtures).mkdir(parents=True, exist_ok=True)
    shutil.copy(rundir / "src.trace", Path(fixtures) / f"{name}.src.log")
    shutil.copy(rundir / "dst.trace", Path(fixtures) / f"{name}.dst.log")
    shutil.copy(rundir / "meta.json", Path(fixtures) / f"{name}.meta.json")


def run_conformance(out, versions=("7.2", "10.0"), fixtures=None, log=print):
    """Run the matrix for each available build; return the number of failures."""
    failures = 0
    for version in versions:
        try:
            build = fetch_build(version)
        except BuildMissing as exc:
            if version == PATCHED:           # asked for by name: no silent skip
                raise
            log(f"skip QEMU {version}: {exc}")
            continue
        log(f"# {build.describe()}")
        for spec in (s for s in MATRIX if s.version == build.version):
            line, ok = _one(build, spec, out)
            failures += not ok
            log(line)
    for name in FIXTURES if fixtures else ():
        _keep(out, fixtures, name)
    return failures
