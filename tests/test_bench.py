"""make bench: one measurement runs, and reports what the table prints."""

from checks import bench_trace
from checks.bench import MODES, measure


def test_measure_reports_states_speed_and_memory():
    """A tiny run measured in each mode: same verdict, the reductions explore fewer states."""
    config = dict(transport="socket", channels=2, pages=1, rounds=1, live=False)
    rows = {mode: measure("seed", config, mode, 30) for mode in MODES}
    assert {r["verdict"] for r in rows.values()} == {"pass"}
    assert rows["+symmetry"]["states"] < rows["transactions"]["states"] < rows["none"]["states"]
    assert rows["no-cache"]["states"] == rows["tuples"]["states"] == rows["transactions"]["states"]
    for r in rows.values():
        assert r["states_per_second"] > 0 and r["peak_mb"] > 0 and r["bound"] is None


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
