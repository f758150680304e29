"""make bench: one measurement runs, and reports what the table prints."""

import pytest

from checks import bench_trace
from checks.bench import MODES, measure


def test_measure_reports_states_speed_and_memory():
    """A tiny run measured in each mode: same verdict, the reductions explore fewer states."""
    config = dict(transport="socket", channels=2, pages=1, rounds=1, live=False)
    rows = {mode: measure("seed", config, mode, 30) for mode in MODES}
    assert {r["verdict"] for r in rows.values()} == {"pass"}
    assert rows["+symmetry"]["states"] == rows["transactions"]["states"] < \
        rows["no-symmetry"]["states"] < rows["none"]["states"]
    assert rows["no-cache"]["states"] == rows["tuples"]["states"] == \
        rows["2-threads"]["states"] == rows["transactions"]["states"]
    assert rows["rr-fingerprint"]["transitions"] == rows["rr-fp-2-threads"]["transitions"] == \
        rows["rr-2-threads"]["transitions"] == rows["round-robin"]["transitions"]
    for r in rows.values():
        assert r["states_per_second"] > 0 and r["peak_mb"] > 0 and r["bound"] is None
        assert r["transitions_per_second"] >= r["states_per_second"] // 2


def test_measure_is_bounded_in_time():
    """A run too large for its bound stops inconclusive, with the bound named."""
    r = measure("seed", dict(transport="socket", channels=3, pages=3, rounds=2), "none", 1)
    assert r["verdict"] == "inconclusive" and "time bound" in r["bound"]


def test_the_trace_bench_pads_a_real_log_that_still_conforms(tmp_path):
    """The trace bench's log: the fixture's own events among foreign ones, as many lines
    as asked, and it conforms (a log that was rejected early would measure nothing)."""
    path = tmp_path / "src.log"
    bench_trace.pad(bench_trace.FIXTURE, 5000, path)
    r = bench_trace.measure(str(path))
    assert r["conforms"] and 4900 <= r["lines"] <= 5000 and r["seconds"] >= 0


def test_a_bounded_run_leaves_no_watchdog_behind():
    """When the search sees its time bound before the watchdog does, the watchdog stands
    down: its signal, due a moment later, must not come out of the `with` block (in CI
    it once did, from Watchdog.__exit__, and the watchdog left running raised BoundHit
    in the tests that came after)."""
    import signal
    from checks.engine import bounds
    handler = signal.getsignal(signal.SIGUSR1)
    for _ in range(3):
        r = measure("seed", dict(transport="socket", channels=3, pages=3, rounds=2), "none", 1)
        assert r["verdict"] == "inconclusive"
    assert not bounds._WATCHING and signal.getsignal(signal.SIGUSR1) is handler


def test_a_signal_taken_as_the_block_ends_raises_nothing():
    """The watchdog's signal, taken inside Watchdog.__exit__ before it has stopped the
    watchdog, raises nothing there (a BoundHit out of the handler would leave it
    running); the bound is reported once the watchdog is stopped and its handler gone."""
    import signal
    import sys
    from checks.engine import bounds
    handler = signal.getsignal(signal.SIGUSR1)
    dog = bounds.Watchdog(max_seconds=3600)
    stop = dog._stop.set

    def signalled_first():
        dog.reason = "time bound 1 s reached"
        dog._raise(signal.SIGUSR1, sys._getframe())
        stop()
    with pytest.raises(bounds.BoundHit, match="time bound 1 s"):
        with dog:
            dog._stop.set = signalled_first
    assert dog._stop.is_set() and not dog._thread.is_alive()
    assert not bounds._WATCHING and signal.getsignal(signal.SIGUSR1) is handler
